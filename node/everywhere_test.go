package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanode/hanode/actors"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/placement"
)

// everywhereLab is a loopback cluster of two nodes running one group,
// preferring n1, of a service kept running on every node (KeptSvc, a real
// process per node) and, after it, a resource that moves (NodeSvc, the
// address's stand-in), both keeping their state and log in dir.
type everywhereLab struct {
	t   *testing.T
	dir string
	n1  *Node
	n2  *Node
}

func newEverywhereLab(t *testing.T) *everywhereLab {
	c, addrs := loopbackCluster(t, 2, "100ms", "500ms")
	// n2 is heard long before initdead: the group waits for its state.
	c.Timing.Initdead = "5s"
	dir := t.TempDir()
	haDir, err := filepath.Abs("testdata/ha.d")
	if err != nil {
		t.Fatal(err)
	}
	c.AgentDirs = &messages.AgentDirs{HaDir: haDir}
	c.AutoFailback = messages.AutoFailback_AUTO_FAILBACK_ON
	script := func(name string) *messages.Resource_Heartbeat {
		return &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: name, Args: []string{dir}}}
	}
	// The kept service first: its place in the line does not matter.
	c.Groups = []*messages.ResourceGroup{{Name: "web", PreferredNode: "n1", Resources: []*messages.Resource{
		{Id: "svc", Everywhere: true, MonitorInterval: "200ms", Agent: script("KeptSvc")},
		{Id: "addr", MonitorInterval: "200ms", Agent: script("NodeSvc")},
	}}}
	l := &everywhereLab{t: t, dir: dir}
	// A crashed node leaves its service running, as a machine would:
	// the test ends it (registered first, so it runs after the nodes
	// have stopped).
	t.Cleanup(func() {
		for _, n := range []string{"n1", "n2"} {
			if pid := l.pid(n); pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	l.n1 = startNode(t, nodeConfig(t, c, addrs, 1), Options{})
	l.n2 = startNode(t, nodeConfig(t, c, addrs, 2), Options{})
	return l
}

// pid is the kept service's process on node n, 0 when none runs.
func (l *everywhereLab) pid(n string) int {
	b, err := os.ReadFile(filepath.Join(l.dir, n+".pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || syscall.Kill(pid, 0) != nil {
		return 0
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil && strings.Contains(string(st), "State:\tZ") {
		return 0
	}
	return pid
}

// addrOn says whether the moving resource is up on node n.
func (l *everywhereLab) addrOn(n string) bool {
	_, err := os.Stat(filepath.Join(l.dir, n))
	return err == nil
}

// log is the agents' log: NodeSvc's "NODE start|stop|status" and KeptSvc's
// "NODE kept-start|kept-stop" lines, in order.
func (l *everywhereLab) log() []string {
	b, _ := os.ReadFile(filepath.Join(l.dir, "log"))
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// waitUntil polls cond every 10ms until it holds, failing after timeout
// with what it last said.
func (l *everywhereLab) waitUntil(timeout time.Duration, what string, cond func() (bool, string)) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		time.Sleep(10 * time.Millisecond)
	}
	l.t.Fatalf("%s: not within %v: %s", what, timeout, last)
}

// runsOn waits until the group runs on want alone, as every given node
// sees it, each showing its own instance of the kept service up and
// every node as where it runs.
func (l *everywhereLab) runsOn(want string, nodes ...*Node) {
	l.t.Helper()
	l.waitUntil(10*time.Second, "group on "+want, func() (bool, string) {
		if !l.addrOn(want) {
			return false, "addr not up on " + want
		}
		for _, n := range nodes {
			s, err := n.Status(context.Background())
			if err != nil || len(s.Groups) != 1 {
				return false, fmt.Sprint(err)
			}
			g := s.Groups[0]
			if !slices.Equal(g.RunningOn, []string{want}) {
				return false, fmt.Sprintf("%s sees it on %v", n.rt.cfg.Local, g.RunningOn)
			}
			if len(g.Resources) != 1 || g.Resources[0].Id != "addr" || len(g.Everywhere) != 1 || g.Everywhere[0].Id != "svc" || !g.Everywhere[0].Up {
				return false, fmt.Sprintf("%s shows resources %v, everywhere %v", n.rt.cfg.Local, g.Resources, g.Everywhere)
			}
		}
		return true, ""
	})
}

// index is the position of the first line equal to s, -1 if none.
func index(lines []string, s string) int { return slices.Index(lines, s) }

// keptActions are KeptSvc's lines of the log.
func keptActions(lines []string) string {
	var out []string
	for _, line := range lines {
		if strings.Contains(line, " kept-") {
			out = append(out, line)
		}
	}
	return strings.Join(out, ", ")
}

// TestEverywhereServiceStaysWhileTheAddressMoves: a service kept running on
// every node runs on both from the start, before the group starts
// anywhere; a standby, a takeover and a crash move only the address while
// the service keeps its process on both nodes; a clean stop stops it
// last, after the group's own resources.
func TestEverywhereServiceStaysWhileTheAddressMoves(t *testing.T) {
	l := newEverywhereLab(t)
	l.runsOn("n1", l.n1, l.n2)
	pid1, pid2 := l.pid("n1"), l.pid("n2")
	if pid1 == 0 || pid2 == 0 {
		t.Fatalf("service not running on both nodes: n1 %d, n2 %d", pid1, pid2)
	}

	// Up before the group starts anywhere: each node probes the group's
	// moving part only once its kept part has started, and the group
	// starts (on n1) only once both have.
	lines := l.log()
	for _, n := range []string{"n1", "n2"} {
		kept, probe := index(lines, n+" kept-start"), index(lines, n+" status")
		if kept < 0 || probe < kept {
			t.Errorf("%s probed the group (line %d) before its kept service started (line %d): %q", n, probe, kept, lines)
		}
	}
	if start := index(lines, "n1 start"); start < index(lines, "n1 kept-start") || start < index(lines, "n2 kept-start") {
		t.Errorf("the group started on n1 (line %d) before the service ran on both nodes: %q", start, lines)
	}

	// hanode standby on n1: only the address moves.
	if _, err := l.n1.Placement(context.Background(), false, placement.All); err != nil {
		t.Fatal(err)
	}
	l.runsOn("n2", l.n1, l.n2)
	if l.addrOn("n1") {
		t.Fatal("addr still up on n1 after its standby")
	}
	// And back, by takeover.
	if _, err := l.n1.Placement(context.Background(), true, placement.All); err != nil {
		t.Fatal(err)
	}
	l.runsOn("n1", l.n1, l.n2)
	if p1, p2 := l.pid("n1"), l.pid("n2"); p1 != pid1 || p2 != pid2 {
		t.Fatalf("the service was restarted by the moves: pids n1 %d -> %d, n2 %d -> %d", pid1, p1, pid2, p2)
	}

	// n1 crashes (hanode killed: what it ran keeps running): n2 takes
	// the address; its service is the one that ran all along.
	l.n1.Halt()
	l.runsOn("n2", l.n2)
	if p2 := l.pid("n2"); p2 != pid2 {
		t.Fatalf("n2's service was restarted by the failover: pid %d -> %d", pid2, p2)
	}
	if keptActions(l.log()) != "n1 kept-start, n2 kept-start" && keptActions(l.log()) != "n2 kept-start, n1 kept-start" {
		t.Fatalf("the service was stopped or started again: %q", l.log())
	}

	// A clean stop of n2 stops the group's own resource, then the
	// service, last.
	if err := l.n2.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l.addrOn("n2") || l.pid("n2") != 0 {
		t.Fatalf("after n2's clean stop: addr up %v, service pid %d", l.addrOn("n2"), l.pid("n2"))
	}
	lines = l.log()
	stop, keptStop := index(lines, "n2 stop"), index(lines, "n2 kept-stop")
	if stop < 0 || keptStop < stop || keptStop != len(lines)-1 {
		t.Fatalf("n2's clean stop: addr stopped at line %d, service at %d, of %d: %q", stop, keptStop, len(lines), lines)
	}
	// n1 crashed: its service was left running, as a crash leaves it.
	if l.pid("n1") != pid1 {
		t.Fatalf("n1's service did not outlive hanode's crash")
	}
}

// TestEverywhereFailuresDoNotMoveTheGroup: the kept service dies on the
// node running the group, again and again: each failed check restarts it
// there; the third failure is reported (log, timeline) and the group
// neither moves nor is kept off the node.
func TestEverywhereFailuresDoNotMoveTheGroup(t *testing.T) {
	l := newEverywhereLab(t)
	l.runsOn("n1", l.n1, l.n2)
	pid2 := l.pid("n2")
	for i := 1; i <= 3; i++ {
		old := l.pid("n1")
		syscall.Kill(old, syscall.SIGKILL)
		l.waitUntil(10*time.Second, fmt.Sprintf("service restarted on n1 after kill %d", i), func() (bool, string) {
			p := l.pid("n1")
			return p != 0 && p != old, fmt.Sprintf("pid %d", p)
		})
	}
	l.waitUntil(5*time.Second, "the third failure reported", func() (bool, string) {
		for _, e := range l.n1.Timeline(0) {
			if e.Kind == messages.EventKind_EVENT_KIND_GROUP && strings.Contains(e.Summary, "kept on every node failed on n1") &&
				strings.Contains(e.Reason, "failed its check 3 times") {
				return true, ""
			}
		}
		return false, "no such event"
	})
	l.runsOn("n1", l.n1, l.n2)
	s, err := l.n1.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if g := s.Groups[0]; len(g.BannedOn) != 0 || g.LastFailure != "" {
		t.Fatalf("a failure of the kept service counted against the group: %v", g)
	}
	if l.addrOn("n2") || l.pid("n2") != pid2 {
		t.Fatalf("n2 was touched: addr up %v, service pid %d -> %d", l.addrOn("n2"), pid2, l.pid("n2"))
	}
}

// A group's part kept everywhere is its own Kept runner, the moving part
// Held until it settles; the stop budget (the partition wait) counts the
// moving part only, a clean stop's bounds both.
func TestEverywhereSplitAndBudgets(t *testing.T) {
	c, addrs := loopbackCluster(t, 2, "100ms", "500ms")
	hb := func(name string) *messages.Resource_Heartbeat {
		return &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: name}}
	}
	c.Groups = []*messages.ResourceGroup{{Name: "web", PreferredNode: "n1", Resources: []*messages.Resource{
		{Id: "php", Everywhere: true, StopTimeout: "20s", Agent: hb("php")},
		{Id: "addr", StopTimeout: "5s", Agent: hb("addr")},
		{Id: "httpd", Everywhere: true, StopTimeout: "10s", MonitorInterval: "3s", Agent: hb("httpd")},
	}}}
	eff := nodeConfig(t, c, addrs, 1)
	g := eff.Groups[0]
	moving, kept := splitGroup(g, make([]actors.AgentRunner, len(g.Resources)))
	if !slices.Equal(moving.cfg.Resources, []string{"addr"}) || !moving.cfg.Held || moving.cfg.Kept {
		t.Errorf("moving part: %+v", moving.cfg)
	}
	if !slices.Equal(kept.cfg.Resources, []string{"php", "httpd"}) || !kept.cfg.Kept || kept.cfg.Held || kept.cfg.MonitorInterval != 3*time.Second {
		t.Errorf("kept part: %+v", kept.cfg)
	}
	if d := stopBudget(g); d != 5*time.Second {
		t.Errorf("stop budget %v, want the moving part's 5s", d)
	}
	if d := retireTimeout(eff); d != 32*time.Second {
		t.Errorf("retire timeout %v, want 30s and a little", d)
	}
	if d := LeaveTimeout(eff); d != 40*time.Second {
		t.Errorf("leave timeout %v, want every stop timeout and a little", d)
	}
	// A group with nothing kept everywhere is one ordinary runner.
	c.Groups[0].Resources = c.Groups[0].Resources[1:2]
	g = nodeConfig(t, c, addrs, 1).Groups[0]
	moving, kept = splitGroup(g, make([]actors.AgentRunner, 1))
	if moving.cfg.Held || len(kept.resources) != 0 {
		t.Errorf("without kept resources: moving %+v, kept %+v", moving.cfg, kept.cfg)
	}
}
