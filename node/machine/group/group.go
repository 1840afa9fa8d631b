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
//
// A group whose resources are partly kept running on every node
// (Resource.everywhere) is two runners on each node: the part placement
// moves, an ordinary runner, and the part kept here, a Kept runner. The
// invariants:
//
//   - a Kept runner wants its resources from its start (after the probes)
//     until Stop, which only the end of a clean shutdown asks for, after
//     the moving part has stopped: no input from placement reaches it, and
//     no failure makes it give up (a failed start is rolled back and tried
//     again after RetryDelay; MaxFailures failed checks are reported and
//     the resources restarted again);
//   - the moving part's runner is Held: it does not probe before Release,
//     which the node gives once the Kept runner has Settled (came up, or
//     failed to). A node probing a group is no candidate for it and
//     grants no claim on it, so the group starts on no node before the
//     resources it keeps everywhere have been started on every live node.
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
	// Kept makes the runner keep its resources running here for the
	// node's whole life (the resources of a group kept on every node):
	// wanted from the start, a failed start retried RetryDelay later
	// (default: the monitor interval, else 10s), failed checks never
	// given up on; only Stop stops them.
	Kept       bool
	RetryDelay time.Duration
	// Held makes the runner wait for Release before it probes anything
	// (the moving part of a group, until its Kept part has settled).
	Held bool
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
	if c.RetryDelay <= 0 {
		c.RetryDelay = c.MonitorInterval
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = 10 * time.Second
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
	// failure is a failure to report with the next output: monitors that
	// failed MaxFailures times, or (Kept) a failed start.
	failure      string
	failures     []time.Time
	nextCheck    []time.Time
	stopAttempts []int
	retryAt      time.Time
	// held: waiting for Release before probing (Held).
	held bool
	// settled: the resources came up, or failed to, since the probes
	// (Settled).
	settled bool
	// restartAt (Kept) is when a start that failed is tried again.
	restartAt time.Time
}

// New returns the runner of a group that has not been probed yet.
func New(cfg Config) *Runner {
	cfg.defaults()
	n := len(cfg.Resources)
	return &Runner{cfg: cfg, res: make([]rstate, n), last: make([]resource.Result, n), lastAt: make([]time.Time, n),
		nextCheck: make([]time.Time, n), stopAttempts: make([]int, n), reported: messages.GroupPhase_GROUP_PHASE_UNSPECIFIED,
		want: cfg.Kept, held: cfg.Held}
}

// Start asks for the group to run here.
func (r *Runner) Start(now time.Time) Out {
	r.want = true
	r.startFailure, r.failure = "", ""
	return r.step(now)
}

// Stop asks for the group to stop here.
func (r *Runner) Stop(now time.Time) Out {
	r.want = false
	return r.step(now)
}

// Begin starts the probes (a Held runner's wait for Release); call it
// once, first.
func (r *Runner) Begin(now time.Time) Out { return r.step(now) }

// Release lets a Held runner begin its probes.
func (r *Runner) Release(now time.Time) Out {
	r.held = false
	return r.step(now)
}

// Settled says whether the runner has had its first go since its probes:
// its resources came up, a start failed, it was told to stop, or it is
// unmanaged. It stays true. The moving part of a group is Released once
// its Kept part has settled.
func (r *Runner) Settled() bool { return r.settled }

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
		} else if r.cfg.Kept {
			// Kept here whatever happens: stop it (and what depends on
			// it, on its right) and try again later.
			r.res[i] = needStop // a failed start may leave some of it up
			r.restartFrom(i)
			r.restartAt = now.Add(r.cfg.RetryDelay)
			r.failure = fmt.Sprintf("%s: %s", id, res.Summary())
			r.settled = true
			out.logf("%s: start of %s failed (%s): it is kept running on every node: stopping it, starting it again in %v", r.cfg.Name, id, res.Summary(), r.cfg.RetryDelay)
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
		// Only the failures within the window count: those before it
		// are dropped, so that a resource that fails now and then for
		// ever (Kept) costs no more memory than one that fails often.
		kept := r.failures[:0]
		for _, t := range r.failures {
			if now.Sub(t) < r.cfg.FailureWindow {
				kept = append(kept, t)
			}
		}
		r.failures = append(kept, now)
		n := len(r.failures)
		switch {
		case n < r.cfg.MaxFailures:
			out.logf("%s: %s failed its check (%s): restarting it in place (failure %d of %d)", r.cfg.Name, id, res.Summary(), n, r.cfg.MaxFailures)
		case r.cfg.Kept:
			// Reported, never given up on: the group is not this
			// resource's to move.
			r.failure = fmt.Sprintf("%s failed its check %d times in %v (last: %s)", id, n, r.cfg.FailureWindow, res.Summary())
			out.logf("%s: %s: it is kept running on every node: restarting it in place again", r.cfg.Name, r.failure)
		default:
			r.failure = fmt.Sprintf("%s failed its check %d times in %v (last: %s)", id, n, r.cfg.FailureWindow, res.Summary())
			out.logf("%s: %s", r.cfg.Name, r.failure)
		}
		r.restartFrom(i)
	}
	sub := r.step(now)
	out.Run, out.Report = sub.Run, sub.Report
	out.Log = append(out.Log, sub.Log...)
	if r.failure != "" && out.Report == nil {
		out.Report = &Report{Phase: r.phase(), Failed: true, Reason: r.failure}
		r.failure = ""
	}
	return out
}

// restartFrom marks resource i and those to its right, which may depend
// on it, to be stopped (then started again while the group is wanted).
func (r *Runner) restartFrom(i int) {
	for j := i; j < len(r.res); j++ {
		if r.res[j] != stopped {
			r.res[j] = needStop
		}
	}
}

// Tick runs checks and retries due at now.
func (r *Runner) Tick(now time.Time) Out { return r.step(now) }

// NextDeadline is when Tick has something to do (zero: nothing).
func (r *Runner) NextDeadline() time.Time {
	if r.inflight != nil || r.unmanaged || r.held {
		return time.Time{}
	}
	if !r.retryAt.IsZero() {
		return r.retryAt
	}
	if !r.want {
		return time.Time{}
	}
	next := r.restartAt
	if r.cfg.MonitorInterval > 0 {
		for i, s := range r.res {
			if s == running && (next.IsZero() || r.nextCheck[i].Before(next)) {
				next = r.nextCheck[i]
			}
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
	p := r.phase()
	if !r.settled && r.probed == len(r.res) && (p == messages.GroupPhase_GROUP_PHASE_RUNNING || p == messages.GroupPhase_GROUP_PHASE_UNMANAGED || !r.want) {
		r.settled = true
	}
	if p != r.reported && r.probed == len(r.res) {
		r.reported = p
		rep := &Report{Phase: p}
		if p == messages.GroupPhase_GROUP_PHASE_STOPPED && r.startFailure != "" {
			rep.Failed, rep.Reason = true, r.startFailure
			r.startFailure = ""
		}
		if r.failure != "" {
			rep.Failed, rep.Reason = true, r.failure
			r.failure = ""
		}
		if p == messages.GroupPhase_GROUP_PHASE_UNMANAGED {
			rep.Failed, rep.Reason = true, "a stop failed"
		}
		out.Report = rep
	}
	return out
}

func (r *Runner) next(now time.Time) *Op {
	if r.held {
		return nil
	}
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
		if s == running {
			continue
		}
		if now.Before(r.restartAt) {
			// A Kept start that failed waits to be tried again; what
			// runs is still checked meanwhile.
			break
		}
		r.restartAt = time.Time{}
		return &Op{Resource: i, Action: resource.Start}
	}
	if r.cfg.MonitorInterval > 0 {
		for i, s := range r.res {
			if s == running && !now.Before(r.nextCheck[i]) {
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
