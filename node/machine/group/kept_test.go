package group

import (
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/resource"
)

// newKeptWorld is newWorld with a runner of the given configuration.
func newKeptWorld(t *testing.T, n int, cfg Config) *world {
	w := newWorld(t, n, cfg.MonitorInterval)
	cfg.Name, cfg.Resources = "g", w.r.cfg.Resources
	cfg.StopRetries, cfg.StopRetryDelay = 2, time.Second
	w.r = New(cfg)
	return w
}

// A Kept runner starts its resources after the probes, with nobody asking,
// settles once they run, and stops them (right to left) only when told.
func TestKeptRunsFromItsStartUntilStopped(t *testing.T) {
	w := newKeptWorld(t, 2, Config{Kept: true})
	if w.r.Settled() {
		t.Fatal("settled before anything ran")
	}
	w.drive(w.r.Begin(w.now))
	rep := w.reports
	w.expect("begin", w.ops, "monitor 0, monitor 1, start 0, start 1")
	w.expect("reports", rep, "starting, running")
	if !w.r.Settled() {
		t.Fatal("not settled once running")
	}
	// Start (placement's word) changes nothing: it runs already.
	w.drive(w.r.Start(w.now))
	w.expect("start", w.ops, "")
	w.drive(w.r.Stop(w.now))
	rep = w.reports
	w.expect("stop", w.ops, "stop 1, stop 0")
	w.expect("stop reports", rep, "stopping, stopped")
}

// Found running at start (an earlier life of the node left it), a Kept
// resource is kept as it is: no stop, no second start.
func TestKeptLeftoverIsKept(t *testing.T) {
	w := newKeptWorld(t, 2, Config{Kept: true})
	w.up[0], w.up[1] = true, true
	w.drive(w.r.Begin(w.now))
	w.expect("begin", w.ops, "monitor 0, monitor 1")
	if !w.r.Settled() || w.r.Phase() != messages.GroupPhase_GROUP_PHASE_RUNNING {
		t.Fatalf("settled %v, phase %v", w.r.Settled(), w.r.Phase())
	}
}

// A failed start of a Kept resource is reported and rolled back (it and
// what is on its right), what runs on its left is still checked, and the
// start is tried again RetryDelay later: it is never given up on.
func TestKeptFailedStartIsRetried(t *testing.T) {
	w := newKeptWorld(t, 3, Config{Kept: true, MonitorInterval: 3 * time.Second, RetryDelay: 5 * time.Second})
	w.up[2] = true // left over: to the right of what fails
	w.fail["start 1"] = 2
	w.drive(w.r.Begin(w.now))
	rep := w.reports
	w.expect("first go", w.ops, "monitor 0, monitor 1, monitor 2, start 0, start 1, stop 2, stop 1")
	w.expect("reports", rep, "starting, starting failed")
	if !w.r.Settled() {
		t.Fatal("a failed first start does not settle the runner: the group's other part would wait for ever")
	}
	failedAt := w.now
	// The check of r0 comes first (3s), then the retry (5s).
	if d := w.r.NextDeadline().Sub(failedAt); d > 3*time.Second {
		t.Fatalf("next deadline in %v, want r0's check", d)
	}
	w.now = failedAt.Add(3 * time.Second)
	w.drive(w.r.Tick(w.now))
	w.expect("check while waiting", w.ops, "monitor 0")
	retry := w.r.NextDeadline()
	if d := retry.Sub(failedAt); d <= 4900*time.Millisecond || d > 5*time.Second {
		t.Fatalf("retry at +%v, want about +5s", d)
	}
	w.drive(w.r.Tick(retry.Add(-time.Millisecond)))
	w.expect("before the retry", w.ops, "")
	w.now = retry
	w.drive(w.r.Tick(w.now))
	rep = w.reports
	w.expect("second try fails too", w.ops, "start 1, stop 1")
	w.expect("reported again", rep, "starting failed")
	// Both r0's check and the retry are due.
	w.now = retry.Add(5*time.Second + 10*time.Millisecond)
	w.drive(w.r.Tick(w.now))
	rep = w.reports
	w.expect("third try", w.ops, "start 1, start 2, monitor 0")
	w.expect("running", rep, "running")
}

// Failed checks of a Kept resource restart it in place; MaxFailures of
// them are reported, and it is restarted again: nothing stops it but Stop.
func TestKeptCheckFailuresNeverGiveUp(t *testing.T) {
	w := newKeptWorld(t, 2, Config{Kept: true, MonitorInterval: 10 * time.Second})
	w.drive(w.r.Begin(w.now))
	w.ops, w.reports = nil, nil
	for i := 1; i <= 5; i++ {
		w.up[0] = false
		w.now = w.now.Add(11 * time.Second)
		w.drive(w.r.Tick(w.now))
		if !w.up[0] || !w.up[1] {
			t.Fatalf("failure %d: not restarted: %v", i, w.up)
		}
	}
	w.expect("reports", w.reports, "starting, running, starting, running, starting failed, running, starting failed, running, starting failed, running")
}

// A Held runner does nothing, probes included, before Release; a Start
// asked for meanwhile waits too.
func TestHeldWaitsForRelease(t *testing.T) {
	w := newKeptWorld(t, 2, Config{Held: true, MonitorInterval: time.Second})
	w.drive(w.r.Begin(w.now))
	w.drive(w.r.Start(w.now))
	w.expect("held", w.ops, "")
	if d := w.r.NextDeadline(); !d.IsZero() {
		t.Fatalf("a held runner has a deadline: %v", d)
	}
	if w.r.Phase() == messages.GroupPhase_GROUP_PHASE_STOPPED {
		t.Fatal("a held runner says stopped before it probed")
	}
	w.drive(w.r.Release(w.now))
	rep := w.reports
	w.expect("released", w.ops, "monitor 0, monitor 1, start 0, start 1")
	w.expect("reports", rep, "starting, running")
}

// An ordinary runner is unchanged: a failed start gives the group up here
// (want false) rather than trying again.
func TestOrdinaryFailedStartIsNotRetried(t *testing.T) {
	w := newWorld(t, 1, time.Second)
	w.drive(w.r.Begin(w.now))
	w.fail["start 0"] = 1
	w.drive(w.r.Start(w.now))
	w.ops = nil
	w.now = w.now.Add(time.Minute)
	w.drive(w.r.Tick(w.now))
	w.expect("after a minute", w.ops, "")
	if out := w.r.Done(w.now, resource.Result{}); out.Run != nil {
		t.Fatalf("a result without an action in flight ran %+v", out.Run)
	}
}

// Failures further apart than FailureWindow never add up to MaxFailures,
// and the runner forgets them (a Kept runner lives as long as the node).
func TestFailuresOutsideTheWindowAreForgotten(t *testing.T) {
	w := newKeptWorld(t, 1, Config{Kept: true, MonitorInterval: time.Second, FailureWindow: time.Minute})
	w.drive(w.r.Begin(w.now))
	w.ops, w.reports = nil, nil
	for i := 0; i < 50; i++ {
		w.up[0] = false
		w.now = w.now.Add(61 * time.Second)
		w.drive(w.r.Tick(w.now))
	}
	for _, rep := range w.reports {
		if strings.Contains(rep, "failed") {
			t.Fatalf("failures a window apart reported: %v", w.reports)
		}
	}
	if n := len(w.r.failures); n != 1 {
		t.Fatalf("%d failures remembered, want the last one", n)
	}
}
