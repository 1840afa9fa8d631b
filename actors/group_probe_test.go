package actors

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/host/agents"
	"github.com/hanode/hanode/node/host/procrun"
	"github.com/hanode/hanode/node/machine/group"
)

// probeScript is a resource.d script run as `NAME DIR NAME ACTION`. Its
// status (the probe) marks itself running in DIR while it runs, records
// how many probes it saw running (itself included: seen.NAME) and its
// nice value and its child's; it then waits for DIR/go when it is told to
// (hold.NAME), hangs when it is told to (hang.NAME). Every action
// records its nice value and its child's (nice.NAME); start and stop
// succeed; status says running between them.
const probeScript = `#!/bin/sh
dir=$1 name=$2 action=$3
echo "$action $(cut -d' ' -f19 /proc/$$/stat) $(/bin/sh -c "cut -d' ' -f19 /proc/\$\$/stat")" >> "$dir/nice.$name"
case $action in
start) : > "$dir/up.$name"; exit 0 ;;
stop) rm -f "$dir/up.$name"; exit 0 ;;
esac
if [ -e "$dir/up.$name" ]; then echo running; exit 0; fi
: > "$dir/run.$name"
ls "$dir" | grep -c '^run\.' > "$dir/seen.$name"
if [ -e "$dir/hold.$name" ]; then
	while [ ! -e "$dir/go" ]; do sleep 0.01; done
fi
[ -e "$dir/hang.$name" ] && exec sleep 30
sleep 0.05
rm "$dir/run.$name"
`

// probeRig runs group actors whose resources are probeScript agents,
// their reports going to one recorder.
type probeRig struct {
	t     *testing.T
	sys   *actor.ActorSystem
	dir   string
	hadir string
	slots *procrun.Slots
	to    *recorder
	// reports are every report received, by group.
	reports map[string][]*GroupReported
}

func newProbeRig(t *testing.T, slots int) *probeRig {
	t.Helper()
	dir := t.TempDir()
	hadir := filepath.Join(dir, "ha.d")
	for _, d := range []string{filepath.Join(hadir, "resource.d"), filepath.Join(dir, "state")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sys := newTestSystem(t)
	return &probeRig{t: t, sys: sys, dir: filepath.Join(dir, "state"), hadir: hadir, slots: procrun.NewSlots(slots),
		to: newRecorder(t, sys), reports: map[string][]*GroupReported{}}
}

// agent writes the script NAME and resolves it.
func (r *probeRig) agent(name string) *agents.Agent {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.hadir, "resource.d", name), []byte(probeScript), 0o755); err != nil {
		r.t.Fatal(err)
	}
	a, err := agents.Resolve(&messages.Resource{Agent: &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{
		Name: name, Args: []string{r.dir, name}}}}, agents.Dirs{HaDir: r.hadir}, agents.Env{Local: "n1"})
	if err != nil {
		r.t.Fatal(err)
	}
	return a
}

// mark creates DIR/what.
func (r *probeRig) mark(what string) {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, what), nil, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// spawn starts the actor of a group of agent a alone; incarnations
// counts the actor instances made (restarts included).
func (r *probeRig) spawn(name string, a *agents.Agent, monitorTimeout time.Duration, incarnations *atomic.Int32) *actor.PID {
	r.t.Helper()
	st := NewGroupState(GroupConfig{Name: name,
		Runner: group.New(group.Config{Name: name, Resources: []string{a.ID}, StopRetries: 1, StopRetryDelay: 10 * time.Millisecond,
			MonitorInterval: 50 * time.Millisecond}),
		Resources: []GroupResource{{ID: a.ID, Agent: a, StartTimeout: 5 * time.Second, StopTimeout: 5 * time.Second, MonitorTimeout: monitorTimeout}},
		Probes:    r.slots})
	produce := NewGroup(st, r.to.pid, nil, slog.New(slog.DiscardHandler))
	return r.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		if incarnations != nil {
			incarnations.Add(1)
		}
		return produce()
	}))
}

// await collects reports until done holds for those received, or fails
// the test after timeout.
func (r *probeRig) await(what string, timeout time.Duration, done func() bool) {
	r.t.Helper()
	deadline := time.After(timeout)
	for !done() {
		select {
		case rec := <-r.to.got:
			if m, ok := rec.msg.(*GroupReported); ok {
				r.reports[m.Group] = append(r.reports[m.Group], m)
			}
		case <-deadline:
			var got []string
			for g, ms := range r.reports {
				got = append(got, fmt.Sprintf("%s: %s", g, ms[len(ms)-1].TraceSummary()))
			}
			r.t.Fatalf("%s: not within %v; last reports: %v", what, timeout, got)
		}
	}
}

// phase is the last phase group reported, UNSPECIFIED before any.
func (r *probeRig) phase(group string) messages.GroupPhase {
	for i := len(r.reports[group]) - 1; i >= 0; i-- {
		if rep := r.reports[group][i].Report; rep != nil {
			return rep.Phase
		}
	}
	return messages.GroupPhase_GROUP_PHASE_UNSPECIFIED
}

// waitLoad waits until the slots are as said.
func (r *probeRig) waitLoad(busy, waiting int) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, w := r.slots.Load()
		if b == busy && w == waiting {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("slots: %d busy, %d waiting; want %d, %d", b, w, busy, waiting)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// read is the content of DIR/name, "" when missing.
func (r *probeRig) read(name string) string {
	b, _ := os.ReadFile(filepath.Join(r.dir, name))
	return string(b)
}

// TestProbesShareTheNodesSlots: with more groups than probe slots, the
// probes that run at once, as the scripts themselves count them, never
// exceed the slots; the others wait, in order, and every group is
// probed.
func TestProbesShareTheNodesSlots(t *testing.T) {
	const slots, groups = 2, 7
	r := newProbeRig(t, slots)
	var names []string
	for i := range groups {
		name := "Probe" + strconv.Itoa(i)
		names = append(names, name)
		a := r.agent(name)
		r.mark("hold." + name) // every probe waits for DIR/go
		r.spawn(name, a, 5*time.Second, nil)
	}
	// The first probes fill the slots and wait for go; the others queue.
	r.waitLoad(slots, groups-slots)
	r.mark("go")
	r.await("every group probed and stopped", 20*time.Second, func() bool {
		for _, n := range names {
			if r.phase(n) != messages.GroupPhase_GROUP_PHASE_STOPPED {
				return false
			}
		}
		return true
	})
	for _, n := range names {
		seen, err := strconv.Atoi(strings.TrimSpace(r.read("seen." + n)))
		if err != nil || seen < 1 || seen > slots {
			t.Errorf("%s: saw %q probes running at once (%v); the bound is %d", n, r.read("seen."+n), err, slots)
		}
	}
	if busy, w := r.slots.Load(); busy != 0 || w != 0 || r.slots.Peak() != slots {
		t.Fatalf("slots at the end: %d busy, %d waiting, peak %d; want 0, 0, %d", busy, w, r.slots.Peak(), slots)
	}
}

// TestProbesRunAtALowerPriority: a probe, and what it starts, runs
// ProbeNice steps below the node; a start, a regular check and a stop of
// the same resource run at the node's priority.
func TestProbesRunAtALowerPriority(t *testing.T) {
	r := newProbeRig(t, 1)
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	base, _ := strconv.Atoi(f[16])
	low := min(base+ProbeNice, 19)
	pid := r.spawn("Nice", r.agent("Nice"), 5*time.Second, nil)
	r.await("probed", 10*time.Second, func() bool { return r.phase("Nice") == messages.GroupPhase_GROUP_PHASE_STOPPED })
	r.sys.Root.Send(pid, &GroupCommand{Run: true})
	// Running, then a regular check (status) has run.
	r.await("started and checked", 10*time.Second, func() bool {
		ms := r.reports["Nice"]
		return r.phase("Nice") == messages.GroupPhase_GROUP_PHASE_RUNNING && ms[len(ms)-1].Resources[0].LastAction == string(agents.Monitor)
	})
	r.sys.Root.Send(pid, &GroupCommand{Run: false})
	r.await("stopped", 10*time.Second, func() bool {
		ms := r.reports["Nice"]
		return r.phase("Nice") == messages.GroupPhase_GROUP_PHASE_STOPPED && ms[len(ms)-1].Resources[0].LastAction == string(agents.Stop)
	})
	lines := strings.Split(strings.TrimSpace(r.read("nice.Nice")), "\n")
	if len(lines) < 4 {
		t.Fatalf("runs recorded: %q", lines)
	}
	for i, l := range lines {
		f := strings.Fields(l)
		want := base
		if i == 0 {
			want = low // the probe
		}
		if len(f) != 3 || f[1] != strconv.Itoa(want) || f[2] != strconv.Itoa(want) {
			t.Errorf("run %d: %q (action, its nice, its child's); want nice %d (node at %d)", i, l, want, base)
		}
	}
	if !strings.HasPrefix(lines[0], "status ") || !strings.HasPrefix(lines[1], "start ") ||
		!strings.HasPrefix(lines[2], "status ") || !strings.HasPrefix(lines[len(lines)-1], "stop ") {
		t.Errorf("runs: %q; want the probe (status), start, checks (status), stop", lines)
	}
}

// TestProbeSlotsAreGivenBack: one slot, held by a probe whose group
// actor restarts meanwhile; the probes queued behind it wait longer than
// their timeout without being timed out (the timeout counts from a
// probe's start); one then hangs and times out, one cannot even start,
// one belongs to a group actor stopped while it waits; each gives the
// slot back, and the last group is probed.
func TestProbeSlotsAreGivenBack(t *testing.T) {
	r := newProbeRig(t, 1)
	const hangTimeout = 300 * time.Millisecond
	var holdLives atomic.Int32
	r.mark("hold.Hold")
	r.mark("hang.Hang")
	hold := r.spawn("Hold", r.agent("Hold"), 5*time.Second, &holdLives)
	r.waitLoad(1, 0)
	queuedAt := time.Now()
	r.spawn("Hang", r.agent("Hang"), hangTimeout, nil)
	r.waitLoad(1, 1)
	broken := r.agent("Broken")
	if err := os.Remove(broken.Path); err != nil { // it cannot start
		t.Fatal(err)
	}
	r.spawn("Broken", broken, 5*time.Second, nil)
	r.waitLoad(1, 2)
	dropped := r.spawn("Dropped", r.agent("Dropped"), 5*time.Second, nil)
	r.waitLoad(1, 3)
	r.spawn("Last", r.agent("Last"), 5*time.Second, nil)
	r.waitLoad(1, 4)

	// The actor whose probe holds the slot restarts; the one whose probe
	// waits stops for good.
	p, _ := r.sys.ProcessRegistry.Get(hold)
	p.SendSystemMessage(hold, &actor.Restart{})
	if err := r.sys.Root.StopFuture(dropped).Wait(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for holdLives.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the Hold group's actor did not restart")
		}
		time.Sleep(2 * time.Millisecond)
	}
	r.waitLoad(1, 4)
	// Hang has waited for twice its timeout before its probe may start.
	time.Sleep(time.Until(queuedAt.Add(2 * hangTimeout)))
	r.mark("go")

	r.await("every live group probed", 20*time.Second, func() bool {
		return r.phase("Hold") == messages.GroupPhase_GROUP_PHASE_STOPPED && r.phase("Hang") == messages.GroupPhase_GROUP_PHASE_STOPPED &&
			r.phase("Broken") == messages.GroupPhase_GROUP_PHASE_UNMANAGED && r.phase("Last") == messages.GroupPhase_GROUP_PHASE_STOPPED
	})
	// The restarted Hold actor got its probe's result (its report).
	// Hang's probe ran, and timed out after its own timeout.
	var probe *messages.ResourceStatus
	for _, m := range r.reports["Hang"] {
		if rs := m.Resources[0]; rs.LastAction == string(agents.Monitor) {
			probe = rs
			break
		}
	}
	if probe == nil || probe.LastOutcome != agents.TimedOut.String() || probe.LastDuration.AsDuration() < hangTimeout ||
		r.read("nice.Hang") == "" {
		t.Fatalf("Hang's probe: %v, recorded %q; want timed out after %v, having run", probe, r.read("nice.Hang"), hangTimeout)
	}
	// The stopped group's probe ran in its turn, before Last's.
	if r.read("seen.Dropped") == "" {
		t.Errorf("the probe of the group whose actor stopped never ran")
	}
	if busy, w := r.slots.Load(); busy != 0 || w != 0 || r.slots.Peak() != 1 {
		t.Fatalf("slots at the end: %d busy, %d waiting, peak %d; want 0, 0, 1", busy, w, r.slots.Peak())
	}
}
