package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/probe"
	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/internal/lab/testhosts/hacluster"
)

// haSystem drives one cluster manager on the failover lab.
type haSystem struct {
	name    string
	start   func(n *hacluster.Node)
	stop    func(n *hacluster.Node) error
	standby func(n *hacluster.Node) error
	// rscstatus is cl_status rscstatus on the node.
	rscstatus func(n *hacluster.Node) string
}

var hanodeSystem = haSystem{
	name:  "hanode",
	start: func(n *hacluster.Node) { n.Start(hanodeBin) },
	stop:  func(n *hacluster.Node) error { return n.Stop(time.Minute) },
	standby: func(n *hacluster.Node) error {
		if code, out, errOut := runCLI("standby", "--socket", n.Socket, "all"); code != 0 {
			return fmt.Errorf("hanode standby: %d %s %s", code, out, errOut)
		}
		return nil
	},
	rscstatus: func(n *hacluster.Node) string {
		_, out, _ := runCLI("cl_status", "--socket", n.Socket, "rscstatus")
		return strings.TrimSpace(out)
	},
}

var heartbeatSystem = haSystem{
	name:  "Heartbeat 3.0.6",
	start: func(n *hacluster.Node) { n.StartHeartbeat() },
	stop:  func(n *hacluster.Node) error { return n.StopHeartbeat(2 * time.Minute) },
	standby: func(n *hacluster.Node) error {
		out, err := n.InHeartbeat("/usr/share/heartbeat/hb_standby", "all")
		if err != nil {
			return fmt.Errorf("hb_standby: %v: %s", err, out)
		}
		return nil
	},
	rscstatus: func(n *hacluster.Node) string {
		out, _ := n.InHeartbeat("cl_status", "rscstatus")
		return strings.TrimSpace(out)
	},
}

// gaps are the measured gaps of one system, by scenario.
type gaps map[string][]time.Duration

const (
	scenarioCrash   = "crash (SIGKILL all, link down)"
	scenarioStop    = "clean stop (SIGTERM)"
	scenarioStandby = "standby (hb_standby all)"
)

// TestFailoverBench is the failover benchmark of `make bench` (set
// HANODE_BENCH_FAILOVER=1): the same two-host /etc/ha.d (keepalive 100ms,
// deadtime 500ms, IPaddr2 and an HTTP service) run under Heartbeat 3.0.6
// and under hanode, a client probing the virtual IP every 2ms. Each trial
// starts a fresh cluster, crashes, stops or puts node1 in standby and
// measures the gap: from the
// crash to the first answer by node2, or, for the clean moves, the time
// nobody answered. The table goes to standard output.
func TestFailoverBench(t *testing.T) {
	if os.Getenv("HANODE_BENCH_FAILOVER") == "" {
		t.Skip("benchmark: run by make bench (HANODE_BENCH_FAILOVER=1)")
	}
	trials := 7
	if v, err := strconv.Atoi(os.Getenv("HANODE_BENCH_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	systems := []haSystem{heartbeatSystem, hanodeSystem}
	results := map[string]gaps{}
	for _, sys := range systems {
		if sys.name != "hanode" {
			hacluster.RequireHeartbeat(t)
		}
		t.Run(strings.Fields(sys.name)[0], func(t *testing.T) {
			results[sys.name] = benchSystem(t, sys, trials)
		})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nFailover gaps, 2 hosts, keepalive 100ms, deadtime 500ms, IPaddr2 + HTTP service, %d trials each (median / max):\n\n", trials)
	fmt.Fprintf(&b, "%-32s", "scenario")
	for _, sys := range systems {
		fmt.Fprintf(&b, "  %-22s", sys.name)
	}
	b.WriteString("\n")
	for _, sc := range []string{scenarioCrash, scenarioStop, scenarioStandby} {
		fmt.Fprintf(&b, "%-32s", sc)
		for _, sys := range systems {
			fmt.Fprintf(&b, "  %-22s", summary(results[sys.name][sc]))
		}
		b.WriteString("\n")
	}
	b.WriteString("\ncrash: from the kill to the first answer by node2; clean stop and standby: how long nobody answered.\n")
	fmt.Print(b.String())
}

func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return fmt.Sprintf("%v / %v", s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

func benchSystem(t *testing.T, sys haSystem, trials int) gaps {
	l := newFailoverLabProbe(t, 2, "on", 2*time.Millisecond)
	n1, n2 := l.cluster.Nodes[0], l.cluster.Nodes[1]
	res := gaps{}
	// fresh starts both nodes from scratch (each trial gets a cluster in
	// the same state, whatever the previous one left behind) and waits
	// until node1 serves and both nodes say the cluster is stable
	// (cl_status rscstatus: Heartbeat defers a takeover while resources
	// are in transition), then a second more for monitors and
	// retransmissions.
	fresh := func() {
		for _, n := range []*hacluster.Node{n1, n2} {
			n.CrashHost()
			n.Recover(testVIP)
		}
		begin := time.Now()
		sys.start(n1)
		sys.start(n2)
		l.waitServedBy(t, "node1", begin, 2*time.Minute)
		testhosts.WaitFor(t, 2*time.Minute, 50*time.Millisecond, sys.name+" stable", func() (bool, string) {
			a, b := sys.rscstatus(n1), sys.rscstatus(n2)
			// node2 holds nothing of node1's (Heartbeat says "local" for
			// a node that holds its own, empty, set of groups).
			return (a == "local" || a == "all") && (b == "none" || b == "local"), a + " / " + b
		})
		time.Sleep(time.Second)
	}
	for i := 0; i < trials; i++ {
		fresh()
		at := time.Now()
		n1.CrashHost()
		first := l.waitServedBy(t, "node2", at, time.Minute)
		res[scenarioCrash] = append(res[scenarioCrash], first.At.Sub(at))

		fresh()
		at = time.Now()
		if err := sys.stop(n1); err != nil {
			t.Fatal(err)
		}
		res[scenarioStop] = append(res[scenarioStop], unanswered(t, l.probe, at))

		fresh()
		at = time.Now()
		if err := sys.standby(n1); err != nil {
			t.Fatal(err)
		}
		res[scenarioStandby] = append(res[scenarioStandby], unanswered(t, l.probe, at))
		t.Logf("%s trial %d: crash %v, stop %v, standby %v", sys.name, i+1,
			res[scenarioCrash][i].Round(time.Millisecond), res[scenarioStop][i].Round(time.Millisecond), res[scenarioStandby][i].Round(time.Millisecond))
	}
	return res
}

// unanswered waits until node2 serves the VIP after at, and returns how
// long nobody answered: from node1's last answer to node2's first.
func unanswered(t *testing.T, p *probe.Probe, at time.Time) time.Duration {
	t.Helper()
	var first probe.Sample
	testhosts.WaitFor(t, time.Minute, 5*time.Millisecond, "VIP served by node2", func() (bool, string) {
		s, ok := p.FirstAnswerBy("node2", at)
		first = s
		return ok && p.Last().Answer == "node2", p.Last().Answer
	})
	last, ok := p.LastAnswerBy("node1", first.At)
	if !ok || last.At.Before(at.Add(-time.Second)) {
		last.At = at
	}
	return first.At.Sub(last.At)
}

// TestFencingAndIpfailBench is the second failover benchmark of `make
// bench` (HANODE_BENCH_FAILOVER=1), hanode only: the gap (from the event to
// the first answer by node2) when node1, serving the virtual IP, is cut
// off from node2 and must be fenced first (a fence agent that powers test
// hosts off), and when node1 loses its router (a ping node) that node2
// still reaches (deadping 500ms, hold-off 500ms).
func TestFencingAndIpfailBench(t *testing.T) {
	if os.Getenv("HANODE_BENCH_FAILOVER") == "" {
		t.Skip("benchmark: run by make bench (HANODE_BENCH_FAILOVER=1)")
	}
	trials := 7
	if v, err := strconv.Atoi(os.Getenv("HANODE_BENCH_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	var fenced, ipfail []time.Duration
	for i := 0; i < trials; i++ {
		t.Run(fmt.Sprintf("fenced-%d", i+1), func(t *testing.T) { fenced = append(fenced, fencedPartitionGap(t)) })
		t.Run(fmt.Sprintf("ipfail-%d", i+1), func(t *testing.T) { ipfail = append(ipfail, pingLossGap(t)) })
	}
	fmt.Printf("\nhanode, 2 hosts, keepalive 100ms, deadtime 500ms, %d trials each (median / max):\n\n", trials)
	fmt.Printf("%-58s  %s\n", "partition, node1 fenced first (split -> node2 answers)", summary(fenced))
	fmt.Printf("%-58s  %s\n", "router lost by node1 (ping node, ipfail; cut -> node2)", summary(ipfail))
	fmt.Println()
}
