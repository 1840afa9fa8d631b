package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/probe"
	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/internal/lab/testhosts/hacluster"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/ops/control"
)

const testVIP = "10.201.0.100"

// failoverLab is n nodes serving testVIP and one client host probing it.
type failoverLab struct {
	lab     *testhosts.Lab
	cluster *hacluster.Cluster
	client  *testhosts.Host
	probe   *probe.Probe
}

func newFailoverLab(t *testing.T, nodes int, failback string) *failoverLab {
	t.Helper()
	return newFailoverLabProbe(t, nodes, failback, 5*time.Millisecond)
}

// newFailoverLabProbe is newFailoverLab with the client probing every
// interval.
func newFailoverLabProbe(t *testing.T, nodes int, failback string, interval time.Duration) *failoverLab {
	t.Helper()
	hacluster.Require(t)
	lab := testhosts.New(t, testhosts.Options{Hosts: nodes + 1})
	hosts := lab.Hosts()
	c := hacluster.New(t, hacluster.Options{
		Nodes: hosts[:nodes], Keepalive: "100ms", Deadtime: "500ms", Warntime: "300ms", Initdead: "5",
		AutoFailback: failback, VIP: testVIP, Service: hanodeBin,
	})
	client := hosts[nodes]
	p, err := testhosts.NewProbe(client, fmt.Sprintf("%s:%d", testVIP, hacluster.Port), interval, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return &failoverLab{lab: lab, cluster: c, client: client, probe: p}
}

// waitServedBy waits until the probe's latest answers come from who, and
// returns the first of them sent after since.
func (l *failoverLab) waitServedBy(t *testing.T, who string, since time.Time, timeout time.Duration) probe.Sample {
	t.Helper()
	var first probe.Sample
	testhosts.WaitFor(t, timeout, 10*time.Millisecond, "VIP served by "+who, func() (bool, string) {
		last := l.probe.Last()
		s, ok := l.probe.FirstAnswerBy(who, since)
		first = s
		return ok && last.Answer == who, fmt.Sprintf("latest answer %q at %s", last.Answer, last.At.Format("15:04:05.000"))
	})
	return first
}

func nodeStatusOf(t *testing.T, n *hacluster.Node) *messages.ClusterStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := (&control.Client{Path: n.Socket}).Status(ctx)
	if err != nil {
		t.Fatalf("%s status: %v", n.Name, err)
	}
	return s
}

func rscstatus(t *testing.T, n *hacluster.Node) string {
	_, out, _ := runCLI("cl_status", "--socket", n.Socket, "rscstatus")
	return strings.TrimSpace(out)
}

// TestFailoverOfVirtualIP runs two hosts with the same /etc/ha.d (a group
// of Debian's IPaddr2 and an HTTP service, preferring node1) and a client
// polling the virtual IP: node1 serves it; a killed service is restarted in
// place; a clean stop of node1 hands it to node2 at once; node1 back takes
// it back (auto_failback on); a crash of node1 moves it to node2.
func TestFailoverOfVirtualIP(t *testing.T) {
	l := newFailoverLab(t, 2, "on")
	n1, n2 := l.cluster.Nodes[0], l.cluster.Nodes[1]
	start := time.Now()
	n1.Start(hanodeBin)
	n2.Start(hanodeBin)
	l.waitServedBy(t, "node1", start, 15*time.Second)
	testhosts.WaitFor(t, 5*time.Second, 20*time.Millisecond, "rscstatus", func() (bool, string) {
		// node2 holds its own (empty) role, as under Heartbeat.
		a, b := rscstatus(t, n1), rscstatus(t, n2)
		return a == "local" && b == "local", a + " / " + b
	})
	if code, out, _ := runCLI("status", "--socket", n2.Socket); code != 0 || !strings.Contains(out, "httpsvc::8080") {
		t.Fatalf("status on node2: %d\n%s", code, out)
	}

	// The service dies: the monitor (every 10s by default) restarts it in
	// place; the group does not move.
	oldPID := n1.ServicePID()
	if oldPID == 0 {
		t.Fatal("no service pid on node1")
	}
	killed := time.Now()
	syscall.Kill(oldPID, syscall.SIGKILL)
	testhosts.WaitFor(t, 20*time.Second, 50*time.Millisecond, "service restarted on node1", func() (bool, string) {
		pid := n1.ServicePID()
		return pid != 0 && pid != oldPID, fmt.Sprintf("pid %d", pid)
	})
	l.waitServedBy(t, "node1", killed, 5*time.Second)
	if who := l.probe.Answerers(start); len(who) != 1 {
		t.Fatalf("answered by %v: the group moved instead of restarting in place", who)
	}
	t.Logf("killed service restarted in place %v after the kill", time.Since(killed).Round(time.Millisecond))
	testhosts.WaitFor(t, 5*time.Second, 20*time.Millisecond, "httpsvc shown restarted on node1", func() (bool, string) {
		for _, r := range nodeStatusOf(t, n1).Groups[0].Resources {
			if r.Id == "httpsvc::8080" {
				return r.Up && r.LastAction == "start", r.String()
			}
		}
		return false, "no httpsvc resource"
	})

	// hb_standby and hb_takeover, as links to the binary: node1 gives the
	// group away and takes it back.
	links := t.TempDir()
	for _, name := range []string{"hb_standby", "hb_takeover"} {
		if err := os.Symlink(hanodeBin, filepath.Join(links, name)); err != nil {
			t.Fatal(err)
		}
	}
	hb := func(tool string, args ...string) (int, string) {
		cmd := exec.Command(filepath.Join(links, tool), args...)
		cmd.Env = append(os.Environ(), "HANODE_SOCKET="+n1.Socket)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out)
	}
	if code, out := hb("hb_standby", "sideways"); code != 1 || out != "usage: hb_standby [all|foreign|local|failback]\n" {
		t.Fatalf("hb_standby sideways: %d %q", code, out)
	}
	if code, out := hb("hb_standby", "all", "local"); code != 1 || !strings.HasPrefix(out, "usage: hb_standby") {
		t.Fatalf("hb_standby with two arguments: %d %q", code, out)
	}
	standbyAt := time.Now()
	if code, out := hb("hb_standby", "local"); code != 0 || !strings.Contains(out, "Going standby [local]") {
		t.Fatalf("hb_standby local: %d %q", code, out)
	}
	l.waitServedBy(t, "node2", standbyAt, 10*time.Second)
	takeoverAt := time.Now()
	if code, out := hb("hb_takeover"); code != 0 || !strings.Contains(out, "Taking over [all]") {
		t.Fatalf("hb_takeover: %d %q", code, out)
	}
	l.waitServedBy(t, "node1", takeoverAt, 10*time.Second)

	// A clean stop: node1 releases the group and node2 takes it over
	// without waiting for deadtime.
	stopAt := time.Now()
	if err := n1.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	first := l.waitServedBy(t, "node2", stopAt, 10*time.Second)
	last, _ := l.probe.LastAnswerBy("node1", first.At)
	t.Logf("clean hand-over: node2 answers %v after SIGTERM; no answer for %v", first.At.Sub(stopAt).Round(time.Millisecond), first.At.Sub(last.At).Round(time.Millisecond))
	if d := first.At.Sub(stopAt); d > 2*time.Second {
		t.Errorf("clean hand-over took %v", d)
	}
	if n1.ServicePID() != 0 {
		t.Errorf("node1 left its service running after a clean stop")
	}

	// node1 returns: auto_failback on moves the group back.
	back := time.Now()
	n1.Start(hanodeBin)
	l.waitServedBy(t, "node1", back, 15*time.Second)

	// node1 crashes: node2 serves the VIP once it declares node1 dead.
	crash := time.Now()
	n1.Crash()
	first = l.waitServedBy(t, "node2", crash, 10*time.Second)
	t.Logf("crash failover: node2 answers %v after the crash", first.At.Sub(crash).Round(time.Millisecond))
	if d := first.At.Sub(crash); d > 3*time.Second {
		t.Errorf("crash failover took %v", d)
	}
	testhosts.WaitFor(t, 5*time.Second, 20*time.Millisecond, "rscstatus all on node2", func() (bool, string) {
		got := rscstatus(t, n2)
		return got == "all", got
	})

	// The timeline on node2 names each move, its cause and its gap.
	code, out, errOut := runCLI("events", "--socket", n2.Socket, "--kind", "group_moved")
	if code != 0 {
		t.Fatalf("events: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	t.Logf("node2's group moves:\n%s", out)
	if len(lines) < 4 {
		t.Fatalf("expected the clean stop's and the crash's moves (with reasons): %q", out)
	}
	crashMove, crashWhy := lines[len(lines)-2], lines[len(lines)-1]
	if !strings.Contains(crashMove, "moved from node1 (died) to node2: running here ") || !strings.Contains(crashMove, "s after node1's last heartbeat") ||
		!strings.Contains(crashWhy, "because: node1 dead: no heartbeat on eth0 for") {
		t.Errorf("crash move: %q / %q", crashMove, crashWhy)
	}
	if !strings.Contains(out, "moved from node1 (released) to node2") || !strings.Contains(out, "because: node1 gave it up") {
		t.Errorf("no standby move in %q", out)
	}
	if !strings.Contains(out, "moved from node1 (stopped) to node2") || !strings.Contains(out, "because: node1 shut down cleanly") {
		t.Errorf("no clean-stop move in %q", out)
	}
	if _, out, _ := runCLI("events", "--socket", n2.Socket, "--kind", "membership", "-n", "1"); !strings.Contains(out, "node1 dead") {
		t.Errorf("last membership event: %q", out)
	}
}

// TestThreeNodesNeverRunGroupTwice crashes the active node of three: the
// two survivors agree on one of them (Heartbeat 3.0.6 has both take the
// VIP), once the crashed node, had it only been cut off, must have stopped
// the group by itself (no fencing: its stop budget, 2 x 1s here). The
// VIP's presence on each host is sampled throughout.
func TestThreeNodesNeverRunGroupTwice(t *testing.T) {
	l := newFailoverLab(t, 3, "on")
	start := time.Now()
	for _, n := range l.cluster.Nodes {
		startWithStopTimeout(t, n, "1s")
	}
	l.waitServedBy(t, "node1", start, 15*time.Second)

	// Sample where the VIP is configured, on the survivors.
	holders := func() []string {
		var on []string
		for _, n := range l.cluster.Nodes[1:] {
			out, _, _, err := n.Host.Run(context.Background(), "ip", "-4", "-o", "addr", "show", "dev", "eth0")
			if err == nil && strings.Contains(out, " "+testVIP+"/") {
				on = append(on, n.Name)
			}
		}
		return on
	}
	crash := time.Now()
	l.cluster.Nodes[0].Crash()
	var winner string
	deadline := time.Now().Add(5 * time.Second)
	samples := 0
	for time.Now().Before(deadline) {
		on := holders()
		samples++
		if len(on) > 1 {
			t.Fatalf("VIP on %v at once, %v after the crash", on, time.Since(crash))
		}
		if len(on) == 1 {
			if winner != "" && winner != on[0] {
				t.Fatalf("VIP moved from %s to %s", winner, on[0])
			}
			winner = on[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if winner != "node2" {
		t.Fatalf("VIP taken by %q, want node2 (first live node in order)", winner)
	}
	first := l.waitServedBy(t, "node2", crash, 5*time.Second)
	t.Logf("node2 serves the VIP %v after the crash; %d samples of both survivors never saw it twice",
		first.At.Sub(crash).Round(time.Millisecond), samples)
	for _, n := range l.cluster.Nodes[1:] {
		s := nodeStatusOf(t, n)
		if g := s.Groups[0]; len(g.RunningOn) != 1 || g.RunningOn[0] != "node2" {
			t.Errorf("%s sees the group on %v", n.Name, g.RunningOn)
		}
	}
}

// hangsvc is a resource script that hangs in its start on one node,
// leaving a child that must die with it: hangsvc NODE start|stop|status.
const hangsvc = `#!/bin/sh
ns=$(readlink /proc/self/ns/net | tr -cd 0-9)
state=/tmp/hanode-test/hangsvc-$ns-$HA_CURHOST
mkdir -p /tmp/hanode-test
case $2 in
start)
	if [ "$HA_CURHOST" = "$1" ]; then
		sleep 300 &
		echo $! > /tmp/hanode-test/hangsvc-child-$ns
		sleep 300
	fi
	touch "$state"; echo "hangsvc started" ;;
stop) rm -f "$state"; echo "hangsvc stopped" ;;
status) if [ -e "$state" ]; then echo "hangsvc is running"; else echo "hangsvc is stopped"; fi ;;
esac
`

// TestHungAgentTimesOutAndGroupMoves: the group's last resource hangs in
// its start on node1; at its timeout (1s, native configuration) it is
// killed with its process group, the group is stopped in reverse there,
// and node2 serves the virtual IP.
func TestHungAgentTimesOutAndGroupMoves(t *testing.T) {
	hacluster.Require(t)
	lab := testhosts.New(t, testhosts.Options{Hosts: 3})
	hosts := lab.Hosts()
	c := hacluster.New(t, hacluster.Options{
		Nodes: hosts[:2], Keepalive: "100ms", Deadtime: "500ms", Warntime: "300ms", Initdead: "5",
		AutoFailback: "on", VIP: testVIP, Service: hanodeBin,
		Resources:    []string{"IPaddr2::" + testVIP + "/24/eth0", fmt.Sprintf("httpsvc::%d", hacluster.Port), "hangsvc::node1"},
		ExtraScripts: map[string][]byte{"hangsvc": hacluster.Scripted(hangsvc)},
	})
	p, err := testhosts.NewProbe(hosts[2], fmt.Sprintf("%s:%d", testVIP, hacluster.Port), 5*time.Millisecond, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	l := &failoverLab{lab: lab, cluster: c, client: hosts[2], probe: p}
	n1, n2 := c.Nodes[0], c.Nodes[1]
	code, native, errOut := runCLI("config", "convert", n1.HaDir())
	if code != 0 {
		t.Fatalf("convert: %d %s", code, errOut)
	}
	const hangRes = "heartbeat: {\n      name: \"hangsvc\""
	if !strings.Contains(native, hangRes) {
		t.Fatalf("converted configuration:\n%s", native)
	}
	native = strings.Replace(native, hangRes, "start_timeout: \"1s\"\n    "+hangRes, 1)
	config := filepath.Join(t.TempDir(), "cluster.textproto")
	os.WriteFile(config, []byte(native), 0o600)
	start := time.Now()
	n1.StartConfig(hanodeBin, config)
	n2.StartConfig(hanodeBin, config)
	l.waitServedBy(t, "node2", start, 20*time.Second)
	s := nodeStatusOf(t, n1)
	g := s.Groups[0]
	if !strings.Contains(g.LastFailure, "timed out") || fmt.Sprint(g.BannedOn) != "[node1]" || fmt.Sprint(g.RunningOn) != "[node2]" {
		t.Fatalf("node1's view: failure %q, banned on %v, running on %v", g.LastFailure, g.BannedOn, g.RunningOn)
	}
	for _, r := range g.Resources {
		if r.Up {
			t.Errorf("%s still up on node1 after the rollback", r.Id)
		}
	}
	if on := l.vipHoldersOf(n1); len(on) != 0 {
		t.Error("the VIP stayed on node1")
	}
	// The hung start's child died with its process group.
	var ino uint64
	if st, err := os.Stat("/run/netns/" + n1.Host.Netns()); err == nil {
		ino = st.Sys().(*syscall.Stat_t).Ino
	}
	b, err := os.ReadFile(fmt.Sprintf("%s/hangsvc-child-%d", hacluster.StateDir, ino))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	testhosts.WaitFor(t, 5*time.Second, 10*time.Millisecond, "the hung agent's child gone", func() (bool, string) {
		gone := syscall.Kill(pid, 0) != nil
		if !gone {
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil && strings.Contains(string(st), "State:\tZ") {
				gone = true
			}
		}
		return gone, fmt.Sprintf("pid %d", pid)
	})
}
