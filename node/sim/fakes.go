package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hanode/hanode/node/host/agents"
	"github.com/hanode/hanode/node/host/fence"
)

// Behaviour is how fake agents and devices act, drawn from the schedule's
// random stream (one draw per action, under the world's lock).
type Behaviour struct {
	mu  sync.Mutex
	rng *rand.Rand
	// Start and stop durations are uniform in [MinOp, MaxOp]; a start
	// fails with StartFail, and hangs until its timeout with StartHang; a
	// stop fails with StopFail (only with fencing: a stop that keeps
	// failing gets the node fenced).
	MinOp, MaxOp            time.Duration
	StartFail, StartHang    float64
	StopFail                float64
	FenceMin, FenceMax      time.Duration
	fenceMode               FenceMode
	fenceTimeout            time.Duration
	BootAfterFenceMin       time.Duration
	BootAfterFenceMax       time.Duration
	RebootFencedProbability float64
}

// FenceMode is how the fencing devices behave for now.
type FenceMode int

const (
	// FenceWorks powers the target off.
	FenceWorks FenceMode = iota
	// FenceFails reports an error.
	FenceFails
	// FenceHangs runs into its timeout.
	FenceHangs
)

// odds are the failure probabilities now (calm sets them to zero).
func (b *Behaviour) odds() (startHang, startFail, stopFail float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.StartHang, b.StartFail, b.StopFail
}

func (b *Behaviour) float() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rng.Float64()
}

func (b *Behaviour) between(lo, hi time.Duration) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(b.rng.Int64N(int64(hi-lo)))
}

// SetFenceMode changes how devices behave from now on.
func (b *Behaviour) SetFenceMode(m FenceMode) {
	b.mu.Lock()
	b.fenceMode = m
	b.mu.Unlock()
}

func (b *Behaviour) mode() FenceMode {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fenceMode
}

// fakeAgent is one resource of one group on one node: start and stop take
// a random time and sometimes fail; monitor reports the world's truth.
type fakeAgent struct {
	c        *Cluster
	node     string
	group    string
	resource int
}

func (a *fakeAgent) Run(ctx context.Context, action agents.Action, timeout time.Duration) agents.Result {
	w, b := a.c.world, a.c.behaviour
	began := time.Now()
	w.mu.Lock()
	// The run belongs to this life of the machine and of its hanode: a
	// crash ends it, and a new hanode kills the agents its previous life
	// left running before it probes (it must not probe a resource a
	// leftover agent is still starting).
	epoch := life{w.machines[a.node].epoch, w.machines[a.node].life}
	cur := w.res[a.group][a.node][a.resource]
	w.mu.Unlock()
	res := agents.Result{Action: action}
	switch action {
	case agents.Monitor:
		res.Outcome = agents.Stopped
		if cur != resStopped {
			// Running, or left half started or half stopped by a killed
			// agent: it may be up.
			res.Outcome = agents.Running
		}
		return res
	case agents.Start:
		a.change(epoch, resStarting, "")
		d := b.between(b.MinOp, b.MaxOp)
		outcome := agents.Succeeded
		hang, fail, _ := b.odds()
		switch r := b.float(); {
		case r < hang:
			d, outcome = timeout, agents.TimedOut
		case r < hang+fail:
			outcome = agents.Failed
		}
		time.Sleep(min(d, timeout))
		res.Outcome, res.Duration = outcome, time.Since(began)
		if outcome == agents.Succeeded {
			a.change(epoch, resRunning, "")
		} else {
			// A failed start may have left it half up: the runner stops
			// it (rollback), so it stays active until that stop.
			if a.change(epoch, resRunning, "") {
				a.c.world.mu.Lock()
				a.c.world.ban(time.Now(), a.group, a.node)
				a.c.world.mu.Unlock()
				a.c.trace.add(a.node, fmt.Sprintf("fake %s r%d: start %s", a.group, a.resource, outcome))
			}
		}
		return res
	case agents.Stop:
		if cur == resStopped {
			return agents.Result{Action: action, Outcome: agents.Succeeded}
		}
		a.change(epoch, resStopping, "")
		time.Sleep(b.between(b.MinOp, b.MaxOp))
		res.Duration = time.Since(began)
		if _, _, stopFail := b.odds(); a.c.opts.Fencing && b.float() < stopFail {
			res.Outcome = agents.Failed
			a.change(epoch, resRunning, "")
			a.c.trace.add(a.node, fmt.Sprintf("fake %s r%d: stop failed", a.group, a.resource))
			return res
		}
		a.change(epoch, resStopped, "stop")
		res.Outcome = agents.Succeeded
		return res
	}
	return agents.Result{Action: action, Outcome: agents.Failed, Err: errors.New("unknown action")}
}

// keptAgent is a group's resource kept running on every node, on one
// node: start and stop take a random time and always succeed; monitor
// says whether it was started in this life of the machine. The World does
// not count it as the group being active (it runs everywhere by design);
// it checks that the group's other part starts on no node before it runs
// there (World.kept).
type keptAgent struct {
	c     *Cluster
	node  string
	group string
}

func (a *keptAgent) Run(ctx context.Context, action agents.Action, timeout time.Duration) agents.Result {
	w, b := a.c.world, a.c.behaviour
	began := time.Now()
	w.mu.Lock()
	epoch := life{w.machines[a.node].epoch, w.machines[a.node].life}
	up := w.kept[a.group][a.node] == epoch.epoch
	w.mu.Unlock()
	res := agents.Result{Action: action}
	switch action {
	case agents.Monitor:
		res.Outcome = agents.Stopped
		if up {
			res.Outcome = agents.Running
		}
		return res
	case agents.Start, agents.Stop:
		time.Sleep(min(b.between(b.MinOp, b.MaxOp), timeout))
		w.mu.Lock()
		// A run of an earlier life of the machine or of its hanode
		// changes nothing (a crash ended it; a new hanode ends the runs
		// its previous life left).
		if m := w.machines[a.node]; m.epoch == epoch.epoch && m.life == epoch.hanode {
			state, word := 0, "stopped"
			if action == agents.Start {
				state, word = epoch.epoch, "running"
			}
			w.kept[a.group][a.node] = state
			w.trace.add(a.node, fmt.Sprintf("world: %s kept part %s", a.group, word))
		}
		w.mu.Unlock()
		res.Outcome, res.Duration = agents.Succeeded, time.Since(began)
		return res
	}
	return agents.Result{Action: action, Outcome: agents.Failed, Err: errors.New("unknown action")}
}

// life is a machine's epoch and its hanode's life.
type life struct{ epoch, hanode int }

// change sets the resource's state, unless the machine died or its hanode
// restarted since the run began (then the run was cut short there).
func (a *fakeAgent) change(at life, s resState, how string) bool {
	w := a.c.world
	w.mu.Lock()
	defer w.mu.Unlock()
	if m := w.machines[a.node]; m.epoch != at.epoch || m.life != at.hanode {
		return false
	}
	w.setRes(time.Now(), a.group, a.node, a.resource, s, how)
	return true
}

// fakeDevice is a fencing device that powers simulated machines off.
type fakeDevice struct {
	c *Cluster
}

func (d *fakeDevice) Check(context.Context) error             { return nil }
func (d *fakeDevice) Hosts(context.Context) ([]string, error) { return nil, nil }

func (d *fakeDevice) Fence(_ context.Context, target string, _ fence.Action) error {
	b := d.c.behaviour
	switch b.mode() {
	case FenceFails:
		time.Sleep(b.between(b.FenceMin, b.FenceMax))
		return errors.New("fake device: failed")
	case FenceHangs:
		time.Sleep(b.fenceTimeout)
		return fmt.Errorf("fake device: timed out after %v", b.fenceTimeout)
	}
	time.Sleep(b.between(b.FenceMin, b.FenceMax))
	d.c.PowerOff(target, "fenced")
	return nil
}
