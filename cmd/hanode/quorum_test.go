package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/internal/lab/testhosts/hacluster"
)

// vipHolders lists the nodes whose host has the virtual IP configured.
func (l *failoverLab) vipHolders() []string {
	var on []string
	for _, n := range l.cluster.Nodes {
		on = append(on, l.vipHoldersOf(n)...)
	}
	return on
}

// vipHoldersOf is [n's name] if n's host has the virtual IP configured.
func (l *failoverLab) vipHoldersOf(n *hacluster.Node) []string {
	out, _, _, err := n.Host.Run(context.Background(), "ip", "-4", "-o", "addr", "show", "dev", "eth0")
	if err == nil && strings.Contains(out, " "+testVIP+"/") {
		return []string{n.Name}
	}
	return nil
}

// TestQuorumSplitTwoOne splits a 3-node cluster 2|1 by dropping the
// heartbeats of node1 (which serves the virtual IP): node1, alone, has no
// quorum and stops the group; the pair has quorum and node2 starts it. The
// hosts holding the VIP are sampled throughout: it is never on two at once
// for longer than the moment both sides take to notice the split.
func TestQuorumSplitTwoOne(t *testing.T) {
	l := newFailoverLab(t, 3, "on")
	n1, n2 := l.cluster.Nodes[0], l.cluster.Nodes[1]
	start := time.Now()
	for _, n := range l.cluster.Nodes {
		startWithStopTimeout(t, n, "2s")
	}
	l.waitServedBy(t, "node1", start, 15*time.Second)

	var hosts []*testhosts.Host
	for _, n := range l.cluster.Nodes {
		hosts = append(hosts, n.Host)
	}
	watch, err := testhosts.WatchAddr(hosts, netip.MustParseAddr(testVIP), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Stop()
	split := time.Now()
	if err := n1.Host.BlockUDP(694, true); err != nil {
		t.Fatal(err)
	}
	// The majority waits for node1 to have stopped the group by itself
	// (it lost quorum at the same silence): its stop budget, 2 x 2s.
	testhosts.WaitFor(t, 15*time.Second, 10*time.Millisecond, "VIP on node2 alone", func() (bool, string) {
		on := l.vipHolders()
		return len(on) == 1 && on[0] == "node2", fmt.Sprint(on)
	})
	if d := time.Since(split); d < 4*time.Second {
		t.Errorf("node2 runs the group %v after the split: it did not wait for node1's stop budget (4s)", d)
	}
	time.Sleep(time.Second) // and it stays so
	watch.Stop()
	if on := l.vipHolders(); len(on) != 1 || on[0] != "node2" {
		t.Fatalf("VIP on %v a second later", on)
	}
	// Without fencing, the majority starts the group only once node1,
	// which lost quorum at the same silence, must have stopped it.
	worst, at, both := watch.Overlaps(nil)
	if worst > 0 {
		t.Errorf("VIP on hosts %v at once for %v, from %v after the split", both, worst, at.Sub(split))
	} else {
		t.Logf("VIP on node2 only; %d samples per host: never on two hosts at once", watch.Count(0))
	}
	s := nodeStatusOf(t, n1)
	if !s.NoQuorum || len(s.Groups[0].RunningOn) != 0 {
		t.Errorf("node1 alone: no_quorum %v, group on %v", s.NoQuorum, s.Groups[0].RunningOn)
	}
	if _, out, _ := runCLI("status", "--socket", n1.Socket); !strings.Contains(out, "NO QUORUM") {
		t.Errorf("node1's status does not say it lacks quorum:\n%s", out)
	}
	s = nodeStatusOf(t, n2)
	if s.NoQuorum || fmt.Sprint(s.Groups[0].RunningOn) != "[node2]" {
		t.Errorf("node2: no_quorum %v, group on %v", s.NoQuorum, s.Groups[0].RunningOn)
	}

	// Healed: node1 is back with the same generation; the group returns to
	// it (auto_failback on), on one host at a time.
	heal := time.Now()
	if err := n1.Host.BlockUDP(694, false); err != nil {
		t.Fatal(err)
	}
	testhosts.WaitFor(t, 10*time.Second, 10*time.Millisecond, "VIP back on node1 alone", func() (bool, string) {
		on := l.vipHolders()
		if len(on) > 1 {
			t.Fatalf("VIP on %v at once after the partition healed", on)
		}
		return len(on) == 1 && on[0] == "node1", fmt.Sprint(on)
	})
	l.waitServedBy(t, "node1", heal, 10*time.Second)
}
