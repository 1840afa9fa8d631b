package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/internal/lab/testhosts/hacluster"
)

// TestNativeAddressFailover runs the usual /etc/ha.d (IPaddr2 and an HTTP
// service, preferring node1) with hanode_native_addresses on: the IPaddr2
// entry runs as the built-in address resource, under its own name, and the
// virtual IP moves on a clean stop and on a crash as with the script.
func TestNativeAddressFailover(t *testing.T) {
	hacluster.Require(t)
	lab := testhosts.New(t, testhosts.Options{Hosts: 3})
	hosts := lab.Hosts()
	c := hacluster.New(t, hacluster.Options{
		Nodes: hosts[:2], Keepalive: "100ms", Deadtime: "500ms", Warntime: "300ms", Initdead: "5",
		AutoFailback: "on", VIP: testVIP, Service: hanodeBin, HaCf: "hanode_native_addresses on\n",
	})
	p, err := testhosts.NewProbe(hosts[2], fmt.Sprintf("%s:%d", testVIP, hacluster.Port), 5*time.Millisecond, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	l := &failoverLab{lab: lab, cluster: c, client: hosts[2], probe: p}
	n1, n2 := c.Nodes[0], c.Nodes[1]

	code, out, errOut := runCLI("check", "--hacf", n1.HaDir(), "--name", "node1")
	if code != 0 || !strings.Contains(out, "IPaddr2::"+testVIP+"/24/eth0 (builtin address)") ||
		!strings.Contains(out, "hanode_native_addresses: hanode's own directive") {
		t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
	}

	start := time.Now()
	n1.Start(hanodeBin)
	n2.Start(hanodeBin)
	l.waitServedBy(t, "node1", start, 15*time.Second)
	for _, r := range nodeStatusOf(t, n1).Groups[0].Resources {
		t.Logf("node1: %s", r)
	}

	stopAt := time.Now()
	if err := n1.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	first := l.waitServedBy(t, "node2", stopAt, 10*time.Second)
	last, _ := l.probe.LastAnswerBy("node1", first.At)
	t.Logf("clean hand-over: node2 answers %v after SIGTERM; no answer for %v", first.At.Sub(stopAt).Round(time.Millisecond), first.At.Sub(last.At).Round(time.Millisecond))
	if on := l.vipHoldersOf(n1); len(on) != 0 {
		t.Errorf("the VIP stayed on node1 after its clean stop")
	}

	back := time.Now()
	n1.Start(hanodeBin)
	l.waitServedBy(t, "node1", back, 15*time.Second)
	crash := time.Now()
	n1.Crash()
	first = l.waitServedBy(t, "node2", crash, 10*time.Second)
	t.Logf("crash failover: node2 answers %v after the crash (deadtime 500ms)", first.At.Sub(crash).Round(time.Millisecond))
}
