package main

import (
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/internal/lab/testhosts/hacluster"
)

// hangstop is a resource script whose stop hangs on one node:
// hangstop NODE start|stop|status.
const hangstop = `#!/bin/sh
ns=$(readlink /proc/self/ns/net | tr -cd 0-9)
state=/tmp/hanode-test/hangstop-$ns-$HA_CURHOST
mkdir -p /tmp/hanode-test
case $2 in
start) touch "$state"; echo "hangstop started" ;;
stop)
	[ "$HA_CURHOST" = "$1" ] && sleep 300
	rm -f "$state"; echo "hangstop stopped" ;;
status) if [ -e "$state" ]; then echo "hangstop is running"; else echo "hangstop is stopped"; fi ;;
esac
`

// TestMinorityThatCannotStopResetsItself: three nodes, quorum, no
// fencing. node1, which runs the group (IPaddr2, the HTTP service, and a
// resource whose stop hangs there), is cut off from its peers: it loses
// quorum and cannot stop the group within its stop budget (3 x 1s), so it
// resets itself (here: its test host's processes killed and its network
// down, by --reset-command) before the majority, which waited that budget
// after declaring node1 dead, starts the group. The VIP is never on two
// hosts that are up.
func TestMinorityThatCannotStopResetsItself(t *testing.T) {
	hacluster.Require(t)
	lab := testhosts.New(t, testhosts.Options{Hosts: 4})
	hosts := lab.Hosts()
	c := hacluster.New(t, hacluster.Options{
		Nodes: hosts[:3], Keepalive: "100ms", Deadtime: "500ms", Warntime: "300ms", Initdead: "5",
		AutoFailback: "on", VIP: testVIP, Service: hanodeBin,
		Resources:    []string{"IPaddr2::" + testVIP + "/24/eth0", fmt.Sprintf("httpsvc::%d", hacluster.Port), "hangstop::node1"},
		ExtraScripts: map[string][]byte{"hangstop": hacluster.Scripted(hangstop)},
	})
	p, err := testhosts.NewProbe(hosts[3], fmt.Sprintf("%s:%d", testVIP, hacluster.Port), 5*time.Millisecond, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	l := &failoverLab{lab: lab, cluster: c, client: hosts[3], probe: p}
	start := time.Now()
	for _, n := range c.Nodes {
		startWithStopTimeout(t, n, "1s")
	}
	l.waitServedBy(t, "node1", start, 15*time.Second)
	n1 := c.Nodes[0]
	watch, err := testhosts.WatchAddr(hosts[:3], netip.MustParseAddr(testVIP), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Stop()
	split := time.Now()
	if err := n1.Host.BlockUDP(694, true); err != nil {
		t.Fatal(err)
	}
	testhosts.WaitFor(t, 10*time.Second, 10*time.Millisecond, "node1 reset", func() (bool, string) { return n1.WasReset(), "" })
	st, _ := os.Stat(n1.Dir + "/reset")
	resetAt := st.ModTime()
	first := l.waitServedBy(t, "node2", split, 10*time.Second)
	watch.Stop()
	worst, at, on := watch.Overlaps(func(host int, t time.Time) bool { return host == 0 && !t.Before(resetAt) })
	if worst > 0 {
		t.Fatalf("VIP on hosts %v, all up, for %v from %v after the split", on, worst, at.Sub(split))
	}
	if !first.At.After(resetAt) {
		t.Fatalf("node2 served at %v, before node1 reset at %v", first.At.Sub(split), resetAt.Sub(split))
	}
	// The reset comes at node1's quorum loss + 3s; node2 starts at its
	// death verdict + 3s + 200ms.
	if d := resetAt.Sub(split); d < 3*time.Second || d > 5*time.Second {
		t.Errorf("node1 reset %v after the split, want about 3.5s (quorum lost after deadtime, then the 3s stop budget)", d)
	}
	t.Logf("node1 reset %v after the split; node2 serves %v after it (%v after the reset)",
		resetAt.Sub(split).Round(time.Millisecond), first.At.Sub(split).Round(time.Millisecond), first.At.Sub(resetAt).Round(time.Millisecond))
}
