package group

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/resource"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// world plays the agents: every resource is up or down, and the test says
// which actions fail.
type world struct {
	t       *testing.T
	r       *Runner
	now     time.Time
	up      []bool
	fail    map[string]int // "start 1" -> how many more times it fails
	hang    map[string]bool
	ops     []string
	reports []string
}

func newWorld(t *testing.T, n int, monitor time.Duration) *world {
	var ids []string
	for i := 0; i < n; i++ {
		ids = append(ids, fmt.Sprintf("r%d", i))
	}
	w := &world{t: t, now: t0, up: make([]bool, n), fail: map[string]int{}, hang: map[string]bool{},
		r: New(Config{Name: "g", Resources: ids, MonitorInterval: monitor, StopRetries: 2, StopRetryDelay: time.Second})}
	return w
}

// drive runs the actions the runner asks for until it asks for none.
func (w *world) drive(out Out) {
	for i := 0; i < 100; i++ {
		w.record(out)
		if out.Run == nil {
			return
		}
		op := out.Run
		key := fmt.Sprintf("%s %d", op.Action, op.Resource)
		w.ops = append(w.ops, key)
		res := resource.Result{Action: op.Action}
		switch {
		case w.hang[key]:
			res.Outcome = resource.TimedOut
		case w.fail[key] > 0:
			w.fail[key]--
			res.Outcome = resource.Failed
		case op.Action == resource.Start:
			w.up[op.Resource] = true
			res.Outcome = resource.Succeeded
		case op.Action == resource.Stop:
			w.up[op.Resource] = false
			res.Outcome = resource.Succeeded
		case w.up[op.Resource]:
			res.Outcome = resource.Running
		default:
			res.Outcome = resource.Stopped
		}
		w.now = w.now.Add(time.Millisecond)
		out = w.r.Done(w.now, res)
	}
	w.t.Fatal("runner never settles")
}

func (w *world) record(out Out) {
	if rep := out.Report; rep != nil {
		s := strings.ToLower(strings.TrimPrefix(rep.Phase.String(), "GROUP_PHASE_"))
		if rep.Failed {
			s += " failed"
		}
		w.reports = append(w.reports, s)
	}
}

func (w *world) expect(what string, got []string, want string) {
	w.t.Helper()
	if strings.Join(got, ", ") != want {
		w.t.Fatalf("%s:\n got: %s\nwant: %s", what, strings.Join(got, ", "), want)
	}
	w.ops, w.reports = nil, nil
}

func TestProbeThenStartLeftToRightStopRightToLeft(t *testing.T) {
	w := newWorld(t, 3, 0)
	w.drive(w.r.Begin(w.now))
	w.expect("probe", w.ops, "monitor 0, monitor 1, monitor 2")
	w.drive(w.r.Start(w.now))
	w.expect("start", w.ops, "start 0, start 1, start 2")
	w.drive(w.r.Stop(w.now))
	w.expect("stop", w.ops, "stop 2, stop 1, stop 0")
}

func TestReportsPhases(t *testing.T) {
	w := newWorld(t, 2, 0)
	w.drive(w.r.Begin(w.now))
	w.expect("probe", w.reports, "stopped")
	w.drive(w.r.Start(w.now))
	w.expect("start", w.reports, "starting, running")
	w.drive(w.r.Stop(w.now))
	w.expect("stop", w.reports, "stopping, stopped")
}

func TestLeftoversFoundAtStartAreStopped(t *testing.T) {
	w := newWorld(t, 3, 0)
	w.up[0], w.up[1] = true, true
	w.drive(w.r.Begin(w.now))
	w.expect("leftovers", w.ops, "monitor 0, monitor 1, monitor 2, stop 1, stop 0")
}

func TestFailedStartRollsBackInReverse(t *testing.T) {
	w := newWorld(t, 3, 0)
	w.drive(w.r.Begin(w.now))
	w.ops, w.reports = nil, nil
	w.fail["start 1"] = 1
	w.drive(w.r.Start(w.now))
	w.expect("ops", w.ops, "start 0, start 1, stop 1, stop 0")
	if w.up[0] || w.up[1] || w.up[2] {
		t.Fatalf("left running: %v", w.up)
	}
	w.expect("reports", w.reports, "")
}

func TestFailedStartReportsFailure(t *testing.T) {
	w := newWorld(t, 2, 0)
	w.drive(w.r.Begin(w.now))
	w.ops, w.reports = nil, nil
	w.fail["start 1"] = 1
	w.drive(w.r.Start(w.now))
	w.expect("reports", w.reports, "starting, stopping, stopped failed")
}

func TestMonitorFailureRestartsInPlaceThenGivesUp(t *testing.T) {
	w := newWorld(t, 3, 10*time.Second)
	w.drive(w.r.Begin(w.now))
	w.drive(w.r.Start(w.now))
	w.ops, w.reports = nil, nil
	if d := w.r.NextDeadline(); d.Sub(w.now) > 10*time.Second || d.IsZero() {
		t.Fatalf("next check %v", d.Sub(w.now))
	}
	// r1 dies: checks find it, r2 and r1 are restarted, r0 untouched.
	w.up[1] = false
	w.now = w.now.Add(11 * time.Second)
	w.drive(w.r.Tick(w.now))
	rep := w.reports
	w.expect("restart in place", w.ops, "monitor 0, monitor 1, stop 2, stop 1, start 1, start 2")
	w.expect("reports while restarting", rep, "starting, running")
	for i := 2; i <= 3; i++ {
		w.up[1] = false
		w.now = w.now.Add(11 * time.Second)
		w.drive(w.r.Tick(w.now))
	}
	// The third failure in the window is reported (placement then moves
	// the group away).
	w.expect("after three failures", w.reports, "starting, running, starting failed, running")
}

func TestStopFailureRetriesThenUnmanaged(t *testing.T) {
	w := newWorld(t, 2, 0)
	w.drive(w.r.Begin(w.now))
	w.drive(w.r.Start(w.now))
	w.ops, w.reports = nil, nil
	w.fail["stop 1"] = 1
	w.drive(w.r.Stop(w.now))
	w.expect("first stop fails", w.ops, "stop 1")
	if d := w.r.NextDeadline().Sub(w.now); d != time.Second-0 && d > time.Second {
		t.Fatalf("retry in %v", d)
	}
	w.now = w.now.Add(time.Second)
	w.drive(w.r.Tick(w.now))
	w.expect("retry succeeds", w.ops, "stop 1, stop 0")
	w.reports = nil

	w.drive(w.r.Start(w.now))
	w.ops, w.reports = nil, nil
	w.hang["stop 1"] = true
	w.drive(w.r.Stop(w.now))
	for i := 0; i < 3; i++ {
		w.now = w.now.Add(time.Second)
		w.drive(w.r.Tick(w.now))
	}
	if w.r.Phase() != messages.GroupPhase_GROUP_PHASE_UNMANAGED {
		t.Fatalf("phase %v after stops that time out", w.r.Phase())
	}
	w.expect("reports", w.reports, "stopping, unmanaged failed")
	if !w.up[0] {
		t.Fatal("r0 was stopped although r1 on its right could not be")
	}
}

func TestStopDuringStartFinishesTheActionThenReverses(t *testing.T) {
	w := newWorld(t, 3, 0)
	w.drive(w.r.Begin(w.now))
	w.ops = nil
	out := w.r.Start(w.now) // asks for start 0
	if out.Run == nil || out.Run.Action != resource.Start {
		t.Fatalf("first op %+v", out.Run)
	}
	w.up[0] = true
	out = w.r.Stop(w.now) // while start 0 runs
	if out.Run != nil {
		t.Fatal("a second action while one is in flight")
	}
	w.drive(w.r.Done(w.now, resource.Result{Action: resource.Start, Outcome: resource.Succeeded}))
	w.expect("reversed", w.ops, "stop 0")
}

// TestStopDuringStartIsNotStoppedUntilTheStartEnds: a stop asked for while
// a start runs reports stopping, not stopped, and stops the resource once
// the start is done.
func TestStopDuringStartIsNotStoppedUntilTheStartEnds(t *testing.T) {
	r := New(Config{Name: "g", Resources: []string{"a"}})
	out := r.Begin(t0)
	out = r.Done(t0, resource.Result{Action: resource.Monitor, Outcome: resource.Stopped})
	out = r.Start(t0)
	if out.Run == nil || out.Run.Action != resource.Start {
		t.Fatalf("start: %+v", out)
	}
	out = r.Stop(t0)
	if out.Report == nil || out.Report.Phase != messages.GroupPhase_GROUP_PHASE_STOPPING {
		t.Fatalf("stop during start reported %+v", out.Report)
	}
	out = r.Done(t0, resource.Result{Action: resource.Start, Outcome: resource.Succeeded})
	if out.Run == nil || out.Run.Action != resource.Stop {
		t.Fatalf("after the start: %+v", out)
	}
	out = r.Done(t0, resource.Result{Action: resource.Stop, Outcome: resource.Succeeded})
	if out.Report == nil || out.Report.Phase != messages.GroupPhase_GROUP_PHASE_STOPPED {
		t.Fatalf("after the stop: %+v", out.Report)
	}
}
