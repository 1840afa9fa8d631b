// Package group runs one resource group on this node: a pure state machine
// that works toward what placement wants (the group running here or not),
// one agent action at a time, and says which action to run next.
//
// Resources start left to right and stop right to left. A resource that
// fails to start stops the partly started group in reverse and reports the
// failure. A running group is monitored: a failed check restarts the
// failed resource and those to its right in place; MaxFailures failures
// within FailureWindow report the group failed, so that it moves away. A
// stop that fails is retried; if it keeps failing the group is unmanaged
// here (it may still run) and nothing else is done to it.
//
// At start the runner probes every resource once, so that resources left
// running by an earlier life of the node are known.
package group

import (
	"fmt"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/resource"
)

// Config describes a group.
type Config struct {
	Name string
	// Resources are their ids, left to right.
	Resources []string
	// MonitorInterval between checks of each resource; 0 disables them.
	MonitorInterval time.Duration
	// MaxFailures within FailureWindow make the group fail here.
	MaxFailures   int
	FailureWindow time.Duration
	// StopRetries is how many times a failed stop is tried again,
	// StopRetryDelay apart.
	StopRetries    int
	StopRetryDelay time.Duration
}

func (c *Config) defaults() {
	if c.MaxFailures <= 0 {
		c.MaxFailures = 3
	}
	if c.FailureWindow <= 0 {
		c.FailureWindow = 10 * time.Minute
	}
	if c.StopRetries <= 0 {
		c.StopRetries = 10
	}
	if c.StopRetryDelay <= 0 {
		c.StopRetryDelay = time.Second
	}
}

// Phase is where the group stands here (as placement names it).
type Phase = messages.GroupPhase

// Op is an agent action to run.
type Op struct {
	Resource int
	Action   resource.Action
	// Probe marks the checks run at start, before anything else.
	Probe bool
}

// Report tells placement where the group stands.
type Report struct {
	Phase  Phase
	Failed bool
	Reason string
}

// Out is what the runner asks for after an input.
type Out struct {
	// Run is the next action, nil when none is due now.
	Run *Op
	// Report is set when the phase changed or the group failed.
	Report *Report
	// Log explains what happened.
	Log []string
}

func (o *Out) logf(format string, args ...any) { o.Log = append(o.Log, fmt.Sprintf(format, args...)) }

type rstate int

const (
	unknown rstate = iota
	stopped
	running
	needStop // to be stopped: failed, or to the right of a failed one
)

// Resource is one resource as the runner knows it, for status.
type Resource struct {
	ID   string
	Up   bool
	Last resource.Result
	// LastAt is when Last finished.
	LastAt time.Time
}

// Runner is the state of one group on this node. Not safe for concurrent
// use: one actor owns it.
type Runner struct {
	cfg       Config
	res       []rstate
	last      []resource.Result
	lastAt    []time.Time
	want      bool
	probed    int
	inflight  *Op
	reported  Phase
	unmanaged bool
	// startFailure holds why the last start failed, until the rollback
	// ends and the failure is reported.
	startFailure string
	// gaveUp is set when monitors failed MaxFailures times.
	gaveUp       string
	failures     []time.Time
	nextCheck    []time.Time
	stopAttempts []int
	retryAt      time.Time
}

// New returns the runner of a group that has not been probed yet.
func New(cfg Config) *Runner {
	cfg.defaults()
	n := len(cfg.Resources)
	return &Runner{cfg: cfg, res: make([]rstate, n), last: make([]resource.Result, n), lastAt: make([]time.Time, n),
		nextCheck: make([]time.Time, n), stopAttempts: make([]int, n), reported: messages.GroupPhase_GROUP_PHASE_UNSPECIFIED}
}

// Start asks for the group to run here.
func (r *Runner) Start(now time.Time) Out {
	r.want = true
	r.startFailure, r.gaveUp = "", ""
	return r.step(now)
}

// Stop asks for the group to stop here.
func (r *Runner) Stop(now time.Time) Out {
	r.want = false
	return r.step(now)
}

// Begin starts the probes; call it once, first.
func (r *Runner) Begin(now time.Time) Out { return r.step(now) }

// Done takes the result of the action in flight.
func (r *Runner) Done(now time.Time, res resource.Result) Out {
	var out Out
	op := r.inflight
	if op == nil {
		return out
	}
	r.inflight = nil
	i := op.Resource
	r.last[i], r.lastAt[i] = res, now
	id := r.cfg.Resources[i]
	switch {
	case op.Probe:
		r.probed++
		if res.Outcome == resource.Stopped {
			r.res[i] = stopped
		} else {
			// Running, or a check that failed: it may be up; treat it as
			// running so it is stopped unless the group stays here.
			r.res[i] = running
			out.logf("%s: %s found %s at start", r.cfg.Name, id, res.Outcome)
		}
	case op.Action == resource.Start:
		if res.Outcome == resource.Succeeded {
			r.res[i] = running
			r.nextCheck[i] = now.Add(r.cfg.MonitorInterval)
		} else {
			r.res[i] = needStop
			r.startFailure = fmt.Sprintf("%s: %s", id, res.Summary())
			r.want = false
			out.logf("%s: start of %s failed (%s): stopping the group in reverse", r.cfg.Name, id, res.Summary())
		}
	case op.Action == resource.Stop:
		if res.Outcome == resource.Succeeded {
			r.res[i] = stopped
			r.stopAttempts[i] = 0
		} else {
			r.stopAttempts[i]++
			if r.stopAttempts[i] > r.cfg.StopRetries {
				r.unmanaged = true
				out.logf("%s: stop of %s failed %d times (%s): unmanaged, it may still run here", r.cfg.Name, id, r.stopAttempts[i], res.Summary())
			} else {
				r.retryAt = now.Add(r.cfg.StopRetryDelay)
				out.logf("%s: stop of %s failed (%s); retrying in %v", r.cfg.Name, id, res.Summary(), r.cfg.StopRetryDelay)
			}
		}
	case op.Action == resource.Monitor:
		if res.Outcome == resource.Running {
			r.nextCheck[i] = now.Add(r.cfg.MonitorInterval)
			break
		}
		r.failures = append(r.failures, now)
		n := 0
		for _, t := range r.failures {
			if now.Sub(t) < r.cfg.FailureWindow {
				n++
			}
		}
		if n >= r.cfg.MaxFailures {
			r.gaveUp = fmt.Sprintf("%s failed its check %d times in %v (last: %s)", id, n, r.cfg.FailureWindow, res.Summary())
			out.logf("%s: %s", r.cfg.Name, r.gaveUp)
		} else {
			out.logf("%s: %s failed its check (%s): restarting it in place (failure %d of %d)", r.cfg.Name, id, res.Summary(), n, r.cfg.MaxFailures)
		}
		// Restart in place: this resource and those to its right.
		for j := i; j < len(r.res); j++ {
			if r.res[j] != stopped {
				r.res[j] = needStop
			}
		}
	}
	sub := r.step(now)
	out.Run, out.Report = sub.Run, sub.Report
	out.Log = append(out.Log, sub.Log...)
	if r.gaveUp != "" && out.Report == nil {
		out.Report = &Report{Phase: r.phase(), Failed: true, Reason: r.gaveUp}
		r.gaveUp = ""
	}
	return out
}

// Tick runs checks and retries due at now.
func (r *Runner) Tick(now time.Time) Out { return r.step(now) }

// NextDeadline is when Tick has something to do (zero: nothing).
func (r *Runner) NextDeadline() time.Time {
	if r.inflight != nil || r.unmanaged {
		return time.Time{}
	}
	if !r.retryAt.IsZero() {
		return r.retryAt
	}
	if !r.want || r.cfg.MonitorInterval <= 0 {
		return time.Time{}
	}
	var next time.Time
	for i, s := range r.res {
		if s == running && (next.IsZero() || r.nextCheck[i].Before(next)) {
			next = r.nextCheck[i]
		}
	}
	return next
}

// step chooses the next action toward what is wanted, and reports phase
// changes.
func (r *Runner) step(now time.Time) Out {
	var out Out
	if r.inflight == nil && !r.unmanaged {
		r.inflight = r.next(now)
		out.Run = r.inflight
	}
	if p := r.phase(); p != r.reported && r.probed == len(r.res) {
		r.reported = p
		rep := &Report{Phase: p}
		if p == messages.GroupPhase_GROUP_PHASE_STOPPED && r.startFailure != "" {
			rep.Failed, rep.Reason = true, r.startFailure
			r.startFailure = ""
		}
		if r.gaveUp != "" {
			rep.Failed, rep.Reason = true, r.gaveUp
			r.gaveUp = ""
		}
		if p == messages.GroupPhase_GROUP_PHASE_UNMANAGED {
			rep.Failed, rep.Reason = true, "a stop failed"
		}
		out.Report = rep
	}
	return out
}

func (r *Runner) next(now time.Time) *Op {
	if r.probed < len(r.res) {
		return &Op{Resource: r.probed, Action: resource.Monitor, Probe: true}
	}
	if now.Before(r.retryAt) {
		return nil
	}
	r.retryAt = time.Time{}
	// First whatever must stop, right to left.
	for i := len(r.res) - 1; i >= 0; i-- {
		if r.res[i] == needStop || (!r.want && r.res[i] == running) {
			return &Op{Resource: i, Action: resource.Stop}
		}
	}
	if !r.want {
		return nil
	}
	for i, s := range r.res {
		if s != running {
			return &Op{Resource: i, Action: resource.Start}
		}
	}
	if r.cfg.MonitorInterval > 0 {
		for i := range r.res {
			if !now.Before(r.nextCheck[i]) {
				return &Op{Resource: i, Action: resource.Monitor}
			}
		}
	}
	return nil
}

// phase is where the group stands now.
func (r *Runner) phase() Phase {
	switch {
	case r.unmanaged:
		return messages.GroupPhase_GROUP_PHASE_UNMANAGED
	case r.want && r.allRunning():
		return messages.GroupPhase_GROUP_PHASE_RUNNING
	case r.want:
		return messages.GroupPhase_GROUP_PHASE_STARTING
	case r.allStopped():
		return messages.GroupPhase_GROUP_PHASE_STOPPED
	}
	// Not wanted and something may run: it is being stopped (leftovers
	// found at start included: a group runs only where placement says).
	return messages.GroupPhase_GROUP_PHASE_STOPPING
}

func (r *Runner) allRunning() bool {
	for _, s := range r.res {
		if s != running {
			return false
		}
	}
	return true
}

func (r *Runner) allStopped() bool {
	if r.inflight != nil && r.inflight.Action == resource.Start {
		// A start under way may leave the resource running.
		return false
	}
	for _, s := range r.res {
		if s != stopped {
			return false
		}
	}
	return true
}

// Resources describes each resource, for status.
func (r *Runner) Resources() []Resource {
	out := make([]Resource, len(r.res))
	for i, id := range r.cfg.Resources {
		out[i] = Resource{ID: id, Up: r.res[i] == running, Last: r.last[i], LastAt: r.lastAt[i]}
	}
	return out
}

// Phase is the group's phase here.
func (r *Runner) Phase() Phase { return r.phase() }
