package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/internal/lab/testhosts/hacluster"
)

// TestPingNodeLossMovesGroup is Heartbeat's ipfail, built in: two nodes
// heartbeat on one network and watch a router (a test host) on a second
// one as a ping node. node1 serves the virtual IP; its link to the router
// is cut: node2, which still reaches the router, takes the group over;
// when node1 reaches the router again, the group returns (auto_failback
// on).
func TestPingNodeLossMovesGroup(t *testing.T) {
	pingLossGap(t)
}

// pingLossGap runs TestPingNodeLossMovesGroup's scenario and returns the
// gap: from the cut to node2's first answer.
func pingLossGap(t *testing.T) time.Duration {
	hacluster.Require(t)
	lab := testhosts.New(t, testhosts.Options{Hosts: 4, SecondNetwork: true})
	hosts := lab.Hosts()
	router, client := hosts[2], hosts[3]
	c := hacluster.New(t, hacluster.Options{
		Nodes: hosts[:2], Keepalive: "100ms", Deadtime: "500ms", Warntime: "300ms", Initdead: "5",
		AutoFailback: "on", VIP: testVIP, Service: hanodeBin,
		HaCf: fmt.Sprintf("deadping 500ms\nping %s\n", router.Addr2()),
	})
	p, err := testhosts.NewProbe(client, fmt.Sprintf("%s:%d", testVIP, hacluster.Port), 5*time.Millisecond, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	l := &failoverLab{lab: lab, cluster: c, client: client, probe: p}
	n1, n2 := c.Nodes[0], c.Nodes[1]
	start := time.Now()
	n1.Start(hanodeBin)
	n2.Start(hanodeBin)
	l.waitServedBy(t, "node1", start, 15*time.Second)

	ping := router.Addr2()
	for _, n := range c.Nodes {
		testhosts.WaitFor(t, 5*time.Second, 20*time.Millisecond, n.Name+" sees the ping node", func() (bool, string) {
			_, out, _ := runCLI("cl_status", "--socket", n.Socket, "nodestatus", ping)
			_, typ, _ := runCLI("cl_status", "--socket", n.Socket, "nodetype", ping)
			return out == "ping\n" && typ == "ping\n", out + typ
		})
	}
	if _, out, _ := runCLI("cl_status", "--socket", n1.Socket, "listnodes", "-p"); out != ping+"\n" {
		t.Fatalf("listnodes -p: %q", out)
	}

	// Cut node1 from the router's network.
	cut := time.Now()
	if err := n1.Host.LinkDown("eth1"); err != nil {
		t.Fatal(err)
	}
	first := l.waitServedBy(t, "node2", cut, 10*time.Second)
	gap := first.At.Sub(cut)
	t.Logf("group moved to node2 %v after node1 lost the ping node (deadping 500ms, hold-off 500ms)", first.At.Sub(cut).Round(time.Millisecond))
	if _, out, _ := runCLI("cl_status", "--socket", n1.Socket, "nodestatus", ping); out != "dead\n" {
		t.Errorf("node1: ping node %q", out)
	}
	// node1 is alive and well otherwise: no failover by death.
	if _, out, _ := runCLI("cl_status", "--socket", n2.Socket, "nodestatus", "node1"); out != "active\n" {
		t.Errorf("node2 sees node1 %q", strings.TrimSpace(out))
	}

	// The router is back for node1: the group returns.
	back := time.Now()
	if err := n1.Host.LinkUp("eth1"); err != nil {
		t.Fatal(err)
	}
	first = l.waitServedBy(t, "node1", back, 10*time.Second)
	t.Logf("group back on node1 %v after it reached the ping node again", first.At.Sub(back).Round(time.Millisecond))
	if who := p.Answerers(start); strings.Join(who, ",") != "node1,node2" {
		t.Errorf("answered by %v", who)
	}
	return gap
}
