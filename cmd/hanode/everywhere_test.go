package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/internal/lab/testhosts/hacluster"
)

// TestEverywhereServiceOnlyTheAddressMoves runs a keepalived-style /etc/ha.d
// on two test hosts: a group of the built-in address and the HTTP service
// (listening on every address), with `hanode_everywhere httpsvc::8080` in
// ha.cf and haresources as Heartbeat reads it. The service runs on both
// nodes from the start; a clean stop, a failback and a crash move only
// the address while the survivor's service keeps its process; a clean
// stop stops the node's service last. The gaps are logged (make bench
// measures them at the timings).
func TestEverywhereServiceOnlyTheAddressMoves(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 3})
	hosts := lab.Hosts()
	svc := fmt.Sprintf("httpsvc::%d", hacluster.Port)
	c := hacluster.New(t, hacluster.Options{
		Nodes: hosts[:2], Keepalive: "100ms", Deadtime: "500ms", Warntime: "300ms", Initdead: "5",
		AutoFailback: "on", VIP: testVIP, Service: hanodeBin,
		Resources: []string{"hanode-address::" + testVIP + "/24/eth0", svc},
		HaCf:      "hanode_everywhere " + svc + "\n",
	})
	p, err := testhosts.NewProbe(hosts[2], fmt.Sprintf("%s:%d", testVIP, hacluster.Port), 2*time.Millisecond, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	l := &failoverLab{lab: lab, cluster: c, client: hosts[2], probe: p}
	n1, n2 := c.Nodes[0], c.Nodes[1]

	code, out, errOut := runCLI("check", "--hacf", n1.HaDir(), "--name", "node1")
	if code != 0 || !strings.Contains(out, svc+" (heartbeat ") || !strings.Contains(out, "kept running on every node)") ||
		!strings.Contains(out, "hanode_everywhere: hanode's own directive") {
		t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
	}

	start := time.Now()
	n1.Start(hanodeBin)
	n2.Start(hanodeBin)
	l.waitServedBy(t, "node1", start, 15*time.Second)
	testhosts.WaitFor(t, 10*time.Second, 20*time.Millisecond, "the service on both nodes", func() (bool, string) {
		return n1.ServicePID() != 0 && n2.ServicePID() != 0, fmt.Sprintf("node1 %d, node2 %d", n1.ServicePID(), n2.ServicePID())
	})
	pid2 := n2.ServicePID()
	if code, out, _ := runCLI("status", "--socket", n2.Socket); code != 0 || !strings.Contains(out, "every node") {
		t.Fatalf("status on node2 does not show the service on every node: %d\n%s", code, out)
	}
	g := nodeStatusOf(t, n2).Groups[0]
	if len(g.Everywhere) != 1 || g.Everywhere[0].Id != svc || !g.Everywhere[0].Up || len(g.Resources) != 1 {
		t.Fatalf("node2's status of the group: %v", g)
	}

	// A clean stop of node1: the address moves, node2's service stays,
	// node1's stops after the address has gone.
	stopAt := time.Now()
	if err := n1.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	first := l.waitServedBy(t, "node2", stopAt, 10*time.Second)
	last, _ := l.probe.LastAnswerBy("node1", first.At)
	t.Logf("clean hand-over: no answer for %v (node2 answers %v after SIGTERM)", first.At.Sub(last.At).Round(time.Millisecond), first.At.Sub(stopAt).Round(time.Millisecond))
	if n1.ServicePID() != 0 {
		t.Error("node1's service still runs after its clean stop")
	}
	if len(l.vipHoldersOf(n1)) != 0 {
		t.Error("the address stayed on node1 after its clean stop")
	}

	// node1 back (auto_failback on): its service starts first, then the
	// address returns to it.
	back := time.Now()
	n1.Start(hanodeBin)
	first = l.waitServedBy(t, "node1", back, 15*time.Second)
	last, _ = l.probe.LastAnswerBy("node2", first.At)
	t.Logf("failback: no answer for %v", first.At.Sub(last.At).Round(time.Millisecond))
	pid1 := n1.ServicePID()
	if pid1 == 0 {
		t.Fatal("node1 serves without its service")
	}

	// node1 crashes: node2 answers with the service it ran all along.
	crash := time.Now()
	n1.Crash()
	first = l.waitServedBy(t, "node2", crash, 10*time.Second)
	t.Logf("crash failover: node2 answers %v after the crash (deadtime 500ms)", first.At.Sub(crash).Round(time.Millisecond))
	if got := n2.ServicePID(); got != pid2 {
		t.Fatalf("node2's service was restarted by the moves: pid %d -> %d", pid2, got)
	}
}
