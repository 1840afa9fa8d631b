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
	// name heads the system's column; key selects it in
	// HANODE_BENCH_SYSTEMS.
	name, key string
	// options changes the cluster's /etc/ha.d (nil: the usual one, a
	// group of IPaddr2 and the HTTP service preferring node1).
	options func(o *hacluster.Options)
	// require ends the system's subtest when what it runs is missing
	// (nil: nothing beyond the cluster's own needs).
	require func(t testing.TB)
	// prepare writes what the system needs beyond /etc/ha.d, once per
	// lab (keepalived.conf).
	prepare func(c *hacluster.Cluster, tm benchTiming) error
	start   func(t testing.TB, n *hacluster.Node)
	stop    func(n *hacluster.Node) error
	// standby is nil when the system has no such command.
	standby func(n *hacluster.Node) error
	// stable says whether node1 holds the address and node2 is ready to
	// take it over, with what it saw.
	stable func(n1, n2 *hacluster.Node) (bool, string)
	// describe is the system's configuration, for the notes below the
	// table.
	describe func(tm benchTiming) string
}

var hanodeSystem = haSystem{
	name:  "hanode",
	key:   "hanode",
	start: func(t testing.TB, n *hacluster.Node) { n.Start(hanodeBin) },
	stop:  func(n *hacluster.Node) error { return n.Stop(time.Minute) },
	standby: func(n *hacluster.Node) error {
		if code, out, errOut := runCLI("standby", "--socket", n.Socket, "all"); code != 0 {
			return fmt.Errorf("hanode standby: %d %s %s", code, out, errOut)
		}
		return nil
	},
	stable: rscstatusStable(hanodeRscstatus),
	describe: func(benchTiming) string {
		return "haresources node1 IPaddr2::VIP/24/eth0 httpsvc::8080 (Debian's IPaddr2 script; the service starts and stops with the address)"
	},
}

// hanodeNativeSystem is hanode with the same haresources, the address run
// by hanode itself (hanode_native_addresses on) and the service kept
// running on both nodes (hanode_everywhere): only the address moves, as
// under keepalived.
var hanodeNativeSystem = haSystem{
	name: "hanode native+everywhere",
	key:  "hanode-native",
	options: func(o *hacluster.Options) {
		o.HaCf += fmt.Sprintf("hanode_native_addresses on\nhanode_everywhere httpsvc::%d\n", hacluster.Port)
	},
	start:   hanodeSystem.start,
	stop:    hanodeSystem.stop,
	standby: hanodeSystem.standby,
	stable: func(n1, n2 *hacluster.Node) (bool, string) {
		ok, seen := rscstatusStable(hanodeRscstatus)(n1, n2)
		p1, p2 := n1.ServicePID(), n2.ServicePID()
		return ok && p1 != 0 && p2 != 0, fmt.Sprintf("%s, services %d / %d", seen, p1, p2)
	},
	describe: func(benchTiming) string {
		return fmt.Sprintf("the same haresources, ha.cf + hanode_native_addresses on, hanode_everywhere httpsvc::%d (built-in address; the service runs on both nodes)", hacluster.Port)
	},
}

var heartbeatSystem = haSystem{
	name:  "Heartbeat 3.0.6",
	key:   "heartbeat",
	start: func(t testing.TB, n *hacluster.Node) { n.StartHeartbeat() },
	stop:  func(n *hacluster.Node) error { return n.StopHeartbeat(2 * time.Minute) },
	standby: func(n *hacluster.Node) error {
		out, err := n.InHeartbeat("/usr/share/heartbeat/hb_standby", "all")
		if err != nil {
			return fmt.Errorf("hb_standby: %v: %s", err, out)
		}
		return nil
	},
	stable: rscstatusStable(func(n *hacluster.Node) string {
		out, _ := n.InHeartbeat("cl_status", "rscstatus")
		return strings.TrimSpace(out)
	}),
	describe: func(benchTiming) string { return "the same /etc/ha.d as hanode's, under Debian's heartbeat" },
}

// hanodeRscstatus is hanode's cl_status rscstatus on the node.
func hanodeRscstatus(n *hacluster.Node) string {
	_, out, _ := runCLI("cl_status", "--socket", n.Socket, "rscstatus")
	return strings.TrimSpace(out)
}

// rscstatusStable is stable by cl_status rscstatus on both nodes:
// Heartbeat defers a takeover while resources are in transition.
func rscstatusStable(rscstatus func(n *hacluster.Node) string) func(n1, n2 *hacluster.Node) (bool, string) {
	return func(n1, n2 *hacluster.Node) (bool, string) {
		a, b := rscstatus(n1), rscstatus(n2)
		// node2 holds nothing of node1's (Heartbeat says "local" for a
		// node that holds its own, empty, set of groups).
		return (a == "local" || a == "all") && (b == "none" || b == "local"), a + " / " + b
	}
}

// benchTiming is one row of timings of the side-by-side: ha.cf's
// keepalive, deadtime and warntime (keepalived's advert_int is the
// keepalive).
type benchTiming struct{ keepalive, deadtime, warntime time.Duration }

// String is the timing as HANODE_BENCH_TIMINGS names it: "20ms/100ms".
func (tm benchTiming) String() string { return fmt.Sprintf("%v/%v", tm.keepalive, tm.deadtime) }

// benchTimings are the rows: the usual 100ms/500ms first, then issue
// 13's shorter ones (its targets are at 20ms/100ms).
var benchTimings = []benchTiming{
	{100 * time.Millisecond, 500 * time.Millisecond, 300 * time.Millisecond},
	{50 * time.Millisecond, 250 * time.Millisecond, 150 * time.Millisecond},
	{20 * time.Millisecond, 100 * time.Millisecond, 60 * time.Millisecond},
}

// gaps are the measured gaps of one system, by scenario.
type gaps map[string][]time.Duration

const (
	scenarioCrash   = "crash (SIGKILL all, link down)"
	scenarioStop    = "clean stop (SIGTERM)"
	scenarioStandby = "standby (hb_standby all)"
)

// The targets for hanode with the native address and the service
// everywhere, at keepalive 20ms / deadtime 100ms: crash gap at most
// deadtime + crashMargin, clean hand-over under cleanTarget (medians).
const (
	crashMargin = 20 * time.Millisecond
	cleanTarget = 10 * time.Millisecond
)

// selected keeps the items whose name is listed in the comma-separated
// environment variable env, all of them when it is unset.
func selected[T any](t *testing.T, env string, items []T, name func(T) string) []T {
	v := strings.TrimSpace(os.Getenv(env))
	if v == "" {
		return items
	}
	want := map[string]bool{}
	for _, w := range strings.Split(v, ",") {
		want[strings.TrimSpace(w)] = true
	}
	var out []T
	for _, it := range items {
		if want[name(it)] {
			out = append(out, it)
			delete(want, name(it))
		}
	}
	if len(want) > 0 || len(out) == 0 {
		var all []string
		for _, it := range items {
			all = append(all, name(it))
		}
		t.Fatalf("%s=%q: choose among %s", env, v, strings.Join(all, ", "))
	}
	return out
}

// TestFailoverBench is the failover benchmark of `make bench` (set
// HANODE_BENCH_FAILOVER=1): the same two test hosts, virtual IP and HTTP
// service under Heartbeat 3.0.6 and hanode (the same /etc/ha.d: IPaddr2
// and the service), hanode with the built-in address and the service
// kept running on both nodes, and keepalived (one VRRP instance per host,
// the service on both), a client probing the virtual IP every 2ms, at
// keepalive 100ms / deadtime 500ms, 50ms/250ms and 20ms/100ms. Each trial
// starts a fresh cluster, crashes, stops or puts node1 in standby and
// measures the gap: from the crash to the first answer by node2, or, for
// the clean moves, the time nobody answered. The tables, and the verdict
// on issue 13's targets for hanode native+everywhere, go to standard
// output. HANODE_BENCH_TIMINGS (say 20ms/100ms) and HANODE_BENCH_SYSTEMS
// (heartbeat, hanode, hanode-native, keepalived) run a part of it;
// HANODE_BENCH_SYSTEMS can also name keepalived-deadtime, keepalived
// waiting deadtime's worth of adverts before it takes over.
func TestFailoverBench(t *testing.T) {
	if os.Getenv("HANODE_BENCH_FAILOVER") == "" {
		t.Skip("benchmark: run by make bench (HANODE_BENCH_FAILOVER=1)")
	}
	trials := 7
	if v, err := strconv.Atoi(os.Getenv("HANODE_BENCH_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	timings := selected(t, "HANODE_BENCH_TIMINGS", benchTimings, benchTiming.String)
	all := []haSystem{heartbeatSystem, hanodeSystem, hanodeNativeSystem, keepalivedSystem(false)}
	if os.Getenv("HANODE_BENCH_SYSTEMS") != "" {
		// Opt-in: keepalived with detection as slow as deadtime.
		all = append(all, keepalivedSystem(true))
	}
	systems := selected(t, "HANODE_BENCH_SYSTEMS", all, func(s haSystem) string { return s.key })
	for _, sys := range systems {
		if sys.key == heartbeatSystem.key {
			hacluster.RequireHeartbeat(t)
		}
	}
	// results[timing][system]
	results := map[string]map[string]gaps{}
	for _, tm := range timings {
		results[tm.String()] = map[string]gaps{}
		for _, sys := range systems {
			t.Run(strings.ReplaceAll(tm.String(), "/", "-")+"/"+sys.key, func(t *testing.T) {
				if sys.require != nil {
					// Only this column is skipped (outside CI).
					sys.require(t)
				}
				results[tm.String()][sys.key] = benchSystem(t, sys, tm, trials)
			})
		}
	}
	width := 22
	for _, sys := range systems {
		width = max(width, len(sys.name))
	}
	var b strings.Builder
	for _, tm := range timings {
		fmt.Fprintf(&b, "\nFailover gaps, 2 hosts, keepalive %v, deadtime %v, one virtual IP + HTTP service, %d trials each (median / max):\n\n", tm.keepalive, tm.deadtime, trials)
		fmt.Fprintf(&b, "%-32s", "scenario")
		for _, sys := range systems {
			fmt.Fprintf(&b, "  %-*s", width, sys.name)
		}
		b.WriteString("\n")
		for _, sc := range []string{scenarioCrash, scenarioStop, scenarioStandby} {
			fmt.Fprintf(&b, "%-32s", sc)
			for _, sys := range systems {
				s := summary(results[tm.String()][sys.key][sc])
				if sc == scenarioStandby && sys.standby == nil {
					s = "n/a"
				}
				fmt.Fprintf(&b, "  %-*s", width, s)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
		for _, sys := range systems {
			fmt.Fprintf(&b, "%s: %s\n", sys.name, sys.describe(tm))
		}
		for _, sys := range systems {
			if sys.key == hanodeNativeSystem.key {
				b.WriteString(nativeVerdict(tm, results[tm.String()][sys.key]))
			}
		}
	}
	b.WriteString("\ncrash: from the kill to the first answer by node2; clean stop and standby: how long nobody answered.\n")
	fmt.Print(b.String())
}

// nativeVerdict checks issue 13's targets for hanode native+everywhere
// against its medians at tm: crash gap at most deadtime + 20ms, clean
// hand-over (SIGTERM) under 10ms. The issue sets them at 20ms/100ms; at
// the other timings the line is for information.
func nativeVerdict(tm benchTiming, g gaps) string {
	crash, okCrash := median(g[scenarioCrash])
	clean, okClean := median(g[scenarioStop])
	if !okCrash || !okClean {
		return ""
	}
	var b strings.Builder
	if tm.keepalive == 20*time.Millisecond && tm.deadtime == 100*time.Millisecond {
		fmt.Fprintf(&b, "issue 13 targets, hanode native+everywhere at %v:\n", tm)
	} else {
		fmt.Fprintf(&b, "issue 13 targets (set at 20ms/100ms), for information, hanode native+everywhere at %v:\n", tm)
	}
	crashMax := tm.deadtime + crashMargin
	fmt.Fprintf(&b, "  crash gap median %v <= deadtime + %v = %v: %s\n", crash.Round(time.Millisecond), crashMargin, crashMax, targetVerdict(crash <= crashMax, crash))
	fmt.Fprintf(&b, "  clean hand-over median %v < %v: %s\n", clean.Round(100*time.Microsecond), cleanTarget, targetVerdict(clean < cleanTarget, clean))
	return b.String()
}

// targetVerdict is "target met", or "NOT met" with the figure.
func targetVerdict(ok bool, got time.Duration) string {
	if ok {
		return "target met"
	}
	return fmt.Sprintf("NOT met: %.1f ms", float64(got)/float64(time.Millisecond))
}

// median is the middle of ds (the upper one of an even count, as summary
// prints it).
func median(ds []time.Duration) (time.Duration, bool) {
	if len(ds) == 0 {
		return 0, false
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], true
}

func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return fmt.Sprintf("%v / %v", s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

// newBenchLab is newFailoverLabProbe (failback on, a probe every 2ms) at
// the timing tm, with the system's changes to /etc/ha.d.
func newBenchLab(t *testing.T, sys haSystem, tm benchTiming) *failoverLab {
	t.Helper()
	hacluster.Require(t)
	lab := testhosts.New(t, testhosts.Options{Hosts: 3})
	hosts := lab.Hosts()
	o := hacluster.Options{
		Nodes: hosts[:2], Keepalive: tm.keepalive.String(), Deadtime: tm.deadtime.String(), Warntime: tm.warntime.String(), Initdead: "5",
		AutoFailback: "on", VIP: testVIP, Service: hanodeBin,
	}
	if sys.options != nil {
		sys.options(&o)
	}
	c := hacluster.New(t, o)
	if sys.prepare != nil {
		if err := sys.prepare(c, tm); err != nil {
			t.Fatal(err)
		}
	}
	p, err := testhosts.NewProbe(hosts[2], fmt.Sprintf("%s:%d", testVIP, hacluster.Port), 2*time.Millisecond, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return &failoverLab{lab: lab, cluster: c, client: hosts[2], probe: p}
}

func benchSystem(t *testing.T, sys haSystem, tm benchTiming, trials int) gaps {
	l := newBenchLab(t, sys, tm)
	n1, n2 := l.cluster.Nodes[0], l.cluster.Nodes[1]
	res := gaps{}
	// fresh starts both nodes from scratch (each trial gets a cluster in
	// the same state, whatever the previous one left behind) and waits
	// until node1 serves and the system says it is stable, then a second
	// more for monitors and retransmissions.
	fresh := func() {
		for _, n := range []*hacluster.Node{n1, n2} {
			n.CrashHost()
			n.Recover(testVIP)
		}
		begin := time.Now()
		sys.start(t, n1)
		sys.start(t, n2)
		l.waitServedBy(t, "node1", begin, 2*time.Minute)
		testhosts.WaitFor(t, 2*time.Minute, 50*time.Millisecond, sys.name+" stable", func() (bool, string) {
			return sys.stable(n1, n2)
		})
		stableAt := time.Now()
		time.Sleep(time.Second)
		// A takeover by node2 while both run (a false death) would make
		// the next gap meaningless: said, not hidden.
		if who := l.probe.Answerers(stableAt); len(who) != 1 || who[0] != "node1" {
			t.Logf("%s at %v: answers from %v in the second before the trial (node1 alone expected)", sys.name, tm, who)
		}
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

		standby := "n/a"
		if sys.standby != nil {
			fresh()
			at = time.Now()
			if err := sys.standby(n1); err != nil {
				t.Fatal(err)
			}
			res[scenarioStandby] = append(res[scenarioStandby], unanswered(t, l.probe, at))
			standby = res[scenarioStandby][i].Round(time.Millisecond).String()
		}
		t.Logf("%s at %v, trial %d: crash %v, stop %v, standby %s", sys.name, tm, i+1,
			res[scenarioCrash][i].Round(time.Millisecond), res[scenarioStop][i].Round(100*time.Microsecond), standby)
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
