package node

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/machine/placement"
)

// groupCluster is a loopback cluster of n nodes running one group,
// preferring n1, of two NodeSvc resources that keep their state in dir.
func groupCluster(t *testing.T, n int, failback messages.AutoFailback) (func(i int) *config.Effective, string) {
	t.Helper()
	c, addrs := loopbackCluster(t, n, "100ms", "500ms")
	c.Timing.Initdead = "1s"
	dir := t.TempDir()
	haDir, err := filepath.Abs("testdata/ha.d")
	if err != nil {
		t.Fatal(err)
	}
	c.AgentDirs = &messages.AgentDirs{HaDir: haDir}
	c.AutoFailback = failback
	res := func(id string) *messages.Resource {
		return &messages.Resource{Id: id, MonitorInterval: "200ms",
			Agent: &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: "NodeSvc", Args: []string{filepath.Join(dir, id)}}}}
	}
	for _, id := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(dir, id), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.Groups = []*messages.ResourceGroup{{Name: "web", PreferredNode: "n1", Resources: []*messages.Resource{res("a"), res("b")}}}
	return func(i int) *config.Effective { return nodeConfig(t, c, addrs, i) }, dir
}

// runningOn lists the nodes whose resources run, by their state files, and
// fails the test if the group runs in part or twice.
func runningOn(t *testing.T, dir string, nodes ...string) []string {
	t.Helper()
	var on []string
	for _, n := range nodes {
		_, errA := os.Stat(filepath.Join(dir, "a", n))
		_, errB := os.Stat(filepath.Join(dir, "b", n))
		if errA == nil && errB == nil {
			on = append(on, n)
		}
		if errA != nil && errB == nil {
			t.Fatalf("b runs on %s without a", n)
		}
	}
	if len(on) > 1 {
		t.Fatalf("group runs on %v at once", on)
	}
	return on
}

// waitRunning waits until the group runs (per the state files) on want
// ("" for nowhere) and every given node's status agrees.
func waitRunning(t *testing.T, dir, want string, nodes map[string]*Node) {
	t.Helper()
	names := []string{"n1", "n2", "n3"}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		on := runningOn(t, dir, names...)
		ok := (want == "" && len(on) == 0) || (len(on) == 1 && on[0] == want)
		for name, n := range nodes {
			s, err := n.Status(context.Background())
			if err != nil || len(s.Groups) != 1 {
				ok = false
				continue
			}
			g := s.Groups[0]
			if name == want && g.LocalPhase != messages.GroupPhase_GROUP_PHASE_RUNNING {
				ok = false
			}
			if want == "" {
				ok = ok && len(g.RunningOn) == 0
			} else {
				ok = ok && len(g.RunningOn) == 1 && g.RunningOn[0] == want && g.DesiredNode == want
			}
		}
		if ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	var views []string
	for name, n := range nodes {
		s, _ := n.Status(context.Background())
		views = append(views, name+": "+s.GetGroups()[0].String())
	}
	t.Fatalf("group not running on %q within 10s: files say %v; views %v", want, runningOn(t, dir, names...), views)
}

func TestGroupRunsOnPreferredNodeAndMovesOnCleanStop(t *testing.T) {
	cfg, dir := groupCluster(t, 2, messages.AutoFailback_AUTO_FAILBACK_ON)
	state1 := t.TempDir() // n1's generation survives its restart
	n1 := startNode(t, cfg(1), Options{StateDir: state1})
	n2 := startNode(t, cfg(2), Options{})
	waitRunning(t, dir, "n1", map[string]*Node{"n1": n1, "n2": n2})

	s, _ := n1.Status(context.Background())
	for _, r := range s.Groups[0].Resources {
		if !r.Up || r.LastAction == "" {
			t.Errorf("resource %s on n1: %v", r.Id, r)
		}
	}

	// A clean stop hands the group over at once, well before deadtime.
	stopped := time.Now()
	if err := n1.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, dir, "n2", map[string]*Node{"n2": n2})
	t.Logf("hand-over took %v after Stop returned", time.Since(stopped))

	// auto_failback on: it returns to n1 when n1 is back.
	n1 = startNode(t, cfg(1), Options{StateDir: state1})
	waitRunning(t, dir, "n1", map[string]*Node{"n1": n1, "n2": n2})
}

func TestStandbyAndTakeover(t *testing.T) {
	cfg, dir := groupCluster(t, 2, messages.AutoFailback_AUTO_FAILBACK_ON)
	n1 := startNode(t, cfg(1), Options{})
	n2 := startNode(t, cfg(2), Options{})
	nodes := map[string]*Node{"n1": n1, "n2": n2}
	waitRunning(t, dir, "n1", nodes)

	groups, err := n1.Placement(context.Background(), false, placement.All)
	if err != nil || len(groups) != 1 || groups[0] != "web" {
		t.Fatalf("standby: %v %v", groups, err)
	}
	waitRunning(t, dir, "n2", nodes)

	// hb_standby foreign on n2 gives away what prefers another node.
	if _, err := n2.Placement(context.Background(), false, placement.Foreign); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, dir, "n1", nodes)

	if _, err := n2.Placement(context.Background(), true, placement.All); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, dir, "n2", nodes)
	// local on n2 selects nothing: web prefers n1.
	if groups, err := n2.Placement(context.Background(), true, placement.Local); err != nil || len(groups) != 0 {
		t.Fatalf("takeover local on n2: %v %v", groups, err)
	}
}

func TestAutoFailbackOffKeepsGroupWhereItRuns(t *testing.T) {
	cfg, dir := groupCluster(t, 2, messages.AutoFailback_AUTO_FAILBACK_OFF)
	n2 := startNode(t, cfg(2), Options{})
	// Alone, n2 runs it once n1 is given up on (initdead).
	waitRunning(t, dir, "n2", map[string]*Node{"n2": n2})
	n1 := startNode(t, cfg(1), Options{})
	nodes := map[string]*Node{"n1": n1, "n2": n2}
	waitRunning(t, dir, "n2", nodes)
	// It stays: check for a while that it does not move (both views agree
	// and the files never show n1).
	until := time.Now().Add(time.Second)
	for time.Now().Before(until) {
		if on := runningOn(t, dir, "n1", "n2"); len(on) != 1 || on[0] != "n2" {
			t.Fatalf("group moved with auto_failback off: %v", on)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHungStartTimesOutAndGroupMoves: a start that hangs on n1 is killed
// with its process group at its timeout, the group is rolled back there,
// kept off n1 and started on n2.
func TestHungStartTimesOutAndGroupMoves(t *testing.T) {
	c, addrs := loopbackCluster(t, 2, "100ms", "500ms")
	c.Timing.Initdead = "1s"
	dir := t.TempDir()
	haDir, err := filepath.Abs("testdata/ha.d")
	if err != nil {
		t.Fatal(err)
	}
	c.AgentDirs = &messages.AgentDirs{HaDir: haDir}
	c.AutoFailback = messages.AutoFailback_AUTO_FAILBACK_ON
	c.Groups = []*messages.ResourceGroup{{Name: "web", PreferredNode: "n1", Resources: []*messages.Resource{
		{Id: "a", StartTimeout: "300ms", Agent: &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: "HangOn", Args: []string{dir, "n1"}}}},
	}}}
	n1 := startNode(t, nodeConfig(t, c, addrs, 1), Options{})
	n2 := startNode(t, nodeConfig(t, c, addrs, 2), Options{})
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := os.Stat(filepath.Join(dir, "n2"))
		s, serr := n1.Status(context.Background())
		if err == nil && serr == nil && len(s.Groups) == 1 {
			g := s.Groups[0]
			if len(g.RunningOn) == 1 && g.RunningOn[0] == "n2" && len(g.BannedOn) == 1 && g.BannedOn[0] == "n1" {
				if !strings.Contains(g.LastFailure, "timed out") {
					t.Errorf("last failure on n1: %q", g.LastFailure)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			s, _ := n1.Status(context.Background())
			t.Fatalf("group not moved to n2 after a hung start on n1: %v", s.GetGroups())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "n1")); err == nil {
		t.Fatal("the hung start on n1 completed")
	}
	b, err := os.ReadFile(filepath.Join(dir, "child.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for i := 0; syscall.Kill(pid, 0) == nil; i++ {
		if i > 500 {
			t.Fatalf("the hung agent's child %d survived its timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = n2
}

// TestStopDuringStartWaitsForTheGroup: a node stopped while its group is
// still starting finishes the start, stops the group, and only then exits.
func TestStopDuringStartWaitsForTheGroup(t *testing.T) {
	c, addrs := loopbackCluster(t, 1, "100ms", "500ms")
	dir := t.TempDir()
	haDir, _ := filepath.Abs("testdata/ha.d")
	c.AgentDirs = &messages.AgentDirs{HaDir: haDir}
	c.Groups = []*messages.ResourceGroup{{Name: "slow", PreferredNode: "n1", Resources: []*messages.Resource{
		{Id: "s", Agent: &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: "SlowSvc", Args: []string{dir}}}}}}}
	n := startNode(t, nodeConfig(t, c, addrs, 1), Options{})
	// Wait for the start to be under way.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := n.Status(context.Background())
		if err == nil && len(s.Groups) == 1 && s.Groups[0].LocalPhase == messages.GroupPhase_GROUP_PHASE_STARTING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never starting")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Stop returned: the start had ended and the stop had run.
	if b, _ := os.ReadFile(filepath.Join(dir, "log")); string(b) != "start\nstop\n" {
		t.Fatalf("actions when Stop returned: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "n1")); err == nil {
		t.Fatal("the node exited with its group running")
	}
}
