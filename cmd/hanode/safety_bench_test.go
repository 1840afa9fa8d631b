package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/probe"
	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/internal/lab/testhosts/hacluster"
)

// TestSafetyBench is the end-to-end safety benchmark (make bench-safety,
// HANODE_BENCH_SAFETY=1; root, network namespaces, Debian's heartbeat and
// resource-agents): a Heartbeat-style virtual IP cluster on test hosts, a
// client probing the VIP's HTTP service every 10 ms, and every change of
// the VIP on every host recorded exactly from the kernel's notifications
// (testhosts.RecordAddr). Faults are injected over and over; the figures
// are the time the VIP spent on two hosts at once (split brain), on no
// host, the failed probes, and what each scenario is about. Each scenario
// is a subtest on a fresh lab and cluster:
//
//	partition/isolate-4s            (a) 3 nodes, quorum, no fencing: the holder cut off from its peers
//	partition/isolate-15s-stop5s    (a) the same, stop_timeout 5s on every resource, 15 s cut
//	crash-boot/failback-off         (b) 2 nodes: crash of the holder, boot again; no failback wanted
//	crash-boot/failback-on          (b) the same with auto_failback on: the failback gap
//	loss/hanode, loss/heartbeat     (c) 2 nodes, 20% heartbeat loss for 120 s: false deaths
//	fencing/3nodes/{crash,kill,isolate}, fencing/5nodes/...   (d) faults of the holder with a fence device
//
// Environment: HANODE_BIN (the hanode binary measured, default the one
// built from this tree), HANODE_BENCH_TRIALS (trials of every scenario,
// default 10), HANODE_BENCH_ISOLATION (default 4s),
// HANODE_BENCH_ISOLATION_LONG (default 15s), HANODE_BENCH_LOSS_DURATION
// (default 120s), HANODE_BENCH_STOPPED_BOUND (how long a group may stay
// stopped after a fault before it counts as left stopped, default 30s),
// HANODE_BENCH_FENCING_NODES (the cluster sizes of (d), default 3,5).
func TestSafetyBench(t *testing.T) {
	if os.Getenv("HANODE_BENCH_SAFETY") == "" {
		t.Skip("benchmark: run by make bench-safety (HANODE_BENCH_SAFETY=1)")
	}
	env := safetyEnvFromOS(t)
	rep := &safetyReport{loadBefore: loadAvg()}
	began := time.Now()
	t.Run("partition", func(t *testing.T) {
		t.Run("isolate-"+shortDur(env.isolation), func(t *testing.T) {
			rep.add(t, partitionScenario(t, env, env.isolation, ""))
		})
		t.Run("isolate-"+shortDur(env.isolationLong)+"-stop5s", func(t *testing.T) {
			rep.add(t, partitionScenario(t, env, env.isolationLong, "5s"))
		})
	})
	t.Run("crash-boot", func(t *testing.T) {
		t.Run("failback-off", func(t *testing.T) { rep.add(t, crashBootScenario(t, env, "off")) })
		t.Run("failback-on", func(t *testing.T) { rep.add(t, crashBootScenario(t, env, "on")) })
	})
	t.Run("loss", func(t *testing.T) { lossScenario(t, env, rep) })
	t.Run("fencing", func(t *testing.T) {
		for _, nodes := range env.fencingNodes {
			t.Run(fmt.Sprintf("%dnodes", nodes), func(t *testing.T) {
				for _, kind := range []string{faultCrash, faultKill, faultIsolate} {
					t.Run(kind, func(t *testing.T) { rep.add(t, fencingScenario(t, env, nodes, kind)) })
				}
			})
		}
	})
	rep.print(t, env, time.Since(began))
}

// safetyEnv is the bench's parameters.
type safetyEnv struct {
	bin, version  string
	trials        int // 0: each scenario's default
	isolation     time.Duration
	isolationLong time.Duration
	lossDuration  time.Duration
	stoppedBound  time.Duration
	fencingNodes  []int
}

func safetyEnvFromOS(t *testing.T) *safetyEnv {
	e := &safetyEnv{bin: hanodeBin, isolation: 4 * time.Second, isolationLong: 15 * time.Second,
		lossDuration: 120 * time.Second, stoppedBound: 30 * time.Second}
	if b := os.Getenv("HANODE_BIN"); b != "" {
		// A relative path is taken from the package directory (where go
		// test runs), else from the repository's root (bin/hanode).
		if !filepath.IsAbs(b) {
			if _, err := os.Stat(b); err != nil {
				b = filepath.Join("..", "..", b)
			}
		}
		abs, err := filepath.Abs(b)
		if err != nil {
			t.Fatal(err)
		}
		e.bin = abs
	}
	if _, err := os.Stat(e.bin); err != nil {
		t.Fatalf("HANODE_BIN: %v", err)
	}
	if v, err := strconv.Atoi(os.Getenv("HANODE_BENCH_TRIALS")); err == nil && v > 0 {
		e.trials = v
	}
	e.fencingNodes = []int{3, 5}
	if v := os.Getenv("HANODE_BENCH_FENCING_NODES"); v != "" {
		e.fencingNodes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 2 || n > 16 {
				t.Fatalf("HANODE_BENCH_FENCING_NODES=%q: cluster sizes between 2 and 16, such as 3,5", v)
			}
			e.fencingNodes = append(e.fencingNodes, n)
		}
	}
	for env, p := range map[string]*time.Duration{"HANODE_BENCH_ISOLATION": &e.isolation, "HANODE_BENCH_ISOLATION_LONG": &e.isolationLong,
		"HANODE_BENCH_LOSS_DURATION": &e.lossDuration, "HANODE_BENCH_STOPPED_BOUND": &e.stoppedBound} {
		if v := os.Getenv(env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				t.Fatalf("%s=%q: a positive duration, such as 4s", env, v)
			}
			*p = d
		}
	}
	_, out, _ := binCLI(e.bin, "version")
	e.version = strings.TrimSpace(out)
	return e
}

func (e *safetyEnv) trialsOr(def int) int {
	if e.trials > 0 {
		return e.trials
	}
	return def
}

// shortDur names a duration in a subtest: 4s, 15s, 1m30s, 2m.
func shortDur(d time.Duration) string { return strings.Replace(d.String(), "m0s", "m", 1) }

// binCLI runs the measured hanode binary (not this tree's code: the
// binary under test may differ) and returns its exit code and output.
func binCLI(bin string, args ...string) (int, string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
		errOut.WriteString(err.Error())
	}
	return code, out.String(), errOut.String()
}

// --- the report -----------------------------------------------------------

// safetyRow is one line of the table.
type safetyRow struct {
	name     string
	trials   int
	took     time.Duration
	overlap  time.Duration
	worst    string // the worst overlap: length, hosts, when
	vacancy  time.Duration
	failed   int
	probes   int
	extra    []string
	complete bool
}

type safetyReport struct {
	mu         sync.Mutex
	rows       []safetyRow
	loadBefore string
}

// loadAvg is the machine's load (1, 5, 15 minutes): timings move with it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func (r *safetyReport) add(t *testing.T, row safetyRow) {
	r.mu.Lock()
	r.rows = append(r.rows, row)
	r.mu.Unlock()
	s := formatRows([]safetyRow{row})
	fmt.Print(s)
	t.Log("\n" + s)
}

func formatRows(rows []safetyRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-40s %6s %9s %12s  %-44s %12s %16s\n", "scenario", "trials", "took", "on 2+ hosts", "worst overlap", "on no host", "failed probes")
	for _, r := range rows {
		name := r.name
		if !r.complete {
			name += " (INCOMPLETE)"
		}
		fmt.Fprintf(&b, "%-40s %6d %9s %12s  %-44s %12s %16s\n", name, r.trials, r.took.Round(time.Second), ms(r.overlap), r.worst, ms(r.vacancy),
			fmt.Sprintf("%d / %d", r.failed, r.probes))
		for _, x := range r.extra {
			fmt.Fprintf(&b, "    %s\n", x)
		}
	}
	return b.String()
}

func (r *safetyReport) print(t *testing.T, env *safetyEnv, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rows) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nSafety bench: %s (%s), %v in all, load average %s at the start, %s at the end (%d CPUs)\n",
		env.version, env.bin, took.Round(time.Second), r.loadBefore, loadAvg(), runtime.NumCPU())
	b.WriteString("VIP on 2+ hosts / on no host: from the kernel's address notifications on every host, summed over the trials' windows\n" +
		"(from each fault to the cluster stable again: one holder, answering, quiet); a crashed or fenced host holds nothing.\n" +
		"failed probes: HTTP probes of the VIP from a client every 10 ms without an answer within 50 ms, in the same windows.\n\n")
	b.WriteString(formatRows(r.rows))
	fmt.Print(b.String())
	t.Log(b.String())
}

func ms(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return d.Round(100 * time.Microsecond).String()
}

// durs summarises durations: min, (lower) median, max, n.
func durs(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return fmt.Sprintf("min %v, median %v, max %v (n=%d)", s[0].Round(time.Millisecond), s[(len(s)-1)/2].Round(time.Millisecond),
		s[len(s)-1].Round(time.Millisecond), len(s))
}

// tally accumulates the figures of a scenario's trial windows.
type tally struct {
	s       *safetyLab
	overlap time.Duration
	worst   testhosts.Stretch
	worstAt string
	vacancy time.Duration
	failed  int
	probes  int
	why     map[string]int // failed probes by cause
	trials  int
	// overlapped counts the windows with the VIP on two hosts at some
	// moment.
	overlapped int
	shown      int // overlap timelines printed
}

// window adds [from, to] (of a trial, named by label): the recorder's
// overlaps and vacancies, the failed probes; the timeline is printed when
// the VIP was on two hosts. It returns the window's overlap and vacancy.
func (y *tally) window(t *testing.T, label string, from, to time.Time) (overlap, vacancy time.Duration) {
	ov := y.s.rec.Overlaps(from, to)
	overlap, w := testhosts.Total(ov)
	vacancy, _ = testhosts.Total(y.s.rec.Vacancies(from, to))
	y.overlap += overlap
	y.vacancy += vacancy
	if w.Duration() > y.worst.Duration() {
		y.worst = w
		y.worstAt = fmt.Sprintf("%s %s, %s +%v", ms(w.Duration()), strings.Join(w.Hosts, "+"), label, w.Start.Sub(from).Round(time.Millisecond))
	}
	f, n, why := y.s.failedProbesWhy(from, to)
	y.failed += f
	y.probes += n
	if y.why == nil {
		y.why = map[string]int{}
	}
	for k, v := range why {
		y.why[k] += v
	}
	if overlap > 0 {
		y.overlapped++
	}
	if overlap > 0 && y.shown < 10 {
		y.shown++
		tl := fmt.Sprintf("%s %s: VIP on two hosts for %v in all (%d stretches); address timeline:\n%s",
			t.Name(), label, overlap, len(ov), y.s.rec.Timeline(from.Add(-time.Second), to))
		fmt.Println(tl)
		t.Log(tl)
	}
	return overlap, vacancy
}

func (y *tally) row(name string, took time.Duration, complete bool, extra ...string) safetyRow {
	worst := "-"
	if y.worstAt != "" {
		worst = y.worstAt
	}
	if y.trials > 1 {
		extra = append([]string{fmt.Sprintf("windows with the VIP on 2+ hosts: %d/%d", y.overlapped, y.trials)}, extra...)
	}
	if y.failed > 0 {
		extra = append(extra, "failed probes by cause: "+mapCounts(y.why)+" (timeout: no host answered in 50 ms; refused: the address is up, the service not)")
	}
	return safetyRow{name: name, trials: y.trials, took: took, overlap: y.overlap, worst: worst, vacancy: y.vacancy,
		failed: y.failed, probes: y.probes, extra: extra, complete: complete}
}

// --- the lab ----------------------------------------------------------------

// safetyLab is a cluster on test hosts, a client probing the VIP every
// 10 ms, and a recorder of the VIP on every node's host.
type safetyLab struct {
	t       *testing.T
	bin     string
	lab     *testhosts.Lab
	cluster *hacluster.Cluster
	client  *testhosts.Host
	probe   *probe.Probe
	rec     *testhosts.AddrRecorder
	// configs: native configuration by node ("": ha.d).
	configs map[string]string
	// markers: the test fence agent's marker directory ("" without).
	markers string
	// heartbeat: the nodes run Heartbeat 3.0.6, not hanode.
	heartbeat bool
	mu        sync.Mutex
	off       map[string]bool // hosts powered off (crashed, fenced)
}

func newSafetyLab(t *testing.T, bin string, nodes int, o hacluster.Options) *safetyLab {
	t.Helper()
	hacluster.Require(t)
	lab := testhosts.New(t, testhosts.Options{Hosts: nodes + 1})
	hosts := lab.Hosts()
	o.Nodes, o.VIP, o.Service = hosts[:nodes], testVIP, bin
	if o.Keepalive == "" {
		o.Keepalive, o.Deadtime, o.Warntime = "100ms", "500ms", "300ms"
	}
	if o.Initdead == "" {
		o.Initdead = "5"
	}
	c := hacluster.New(t, o)
	s := &safetyLab{t: t, bin: bin, lab: lab, cluster: c, client: hosts[nodes], configs: map[string]string{}, off: map[string]bool{}}
	var names []string
	for _, n := range c.Nodes {
		names = append(names, n.Name)
	}
	rec, err := testhosts.RecordAddr(lab, netip.MustParseAddr(testVIP), hosts[:nodes], names)
	if err != nil {
		t.Fatal(err)
	}
	s.rec = rec
	p, err := testhosts.NewProbe(s.client, fmt.Sprintf("%s:%d", testVIP, hacluster.Port), 10*time.Millisecond, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	s.probe = p
	t.Cleanup(func() {
		if err := rec.Err(); err != nil {
			t.Errorf("address record: %v", err)
		}
	})
	return s
}

// native writes every node's native configuration: `hanode config
// convert` of its ha.d, changed by edit.
func (s *safetyLab) native(edit func(string) string) {
	t := s.t
	t.Helper()
	for _, n := range s.cluster.Nodes {
		code, out, errOut := binCLI(s.bin, "config", "convert", n.HaDir())
		if code != 0 {
			t.Fatalf("config convert: %d %s", code, errOut)
		}
		p := filepath.Join(n.Dir, "cluster.textproto")
		if err := os.WriteFile(p, []byte(edit(out)), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := binCLI(s.bin, "check", "--config", p, "--name", n.Name); code != 0 {
			t.Fatalf("check %s: %d %s %s", p, code, out, errOut)
		}
		s.configs[n.Name] = p
	}
}

// withFencing adds the test fence agent as a device every node may use,
// able to fence every node.
func (s *safetyLab) withFencing() {
	s.markers = s.t.TempDir()
	agent := hacluster.WriteFenceAgent(s.t, s.t.TempDir())
	var opts strings.Builder
	// hanode asks the agent for reboot (it has no setting for off); the
	// test agent powers the host off for both: it stays off. (An option
	// action=off would also replace the device check's action=monitor.)
	fmt.Fprintf(&opts, "    options { key: \"marker_dir\" value: %q }\n", s.markers)
	for _, n := range s.cluster.Nodes {
		fmt.Fprintf(&opts, "    options { key: \"ns_%s\" value: %q }\n", n.Name, n.Host.Netns())
	}
	s.native(func(native string) string {
		return native + fmt.Sprintf("fence_devices {\n  name: \"testhosts\"\n  fence_agent {\n    agent: %q\n%s  }\n}\n", agent, opts.String())
	})
}

func (s *safetyLab) node(name string) *hacluster.Node {
	for _, n := range s.cluster.Nodes {
		if n.Name == name {
			return n
		}
	}
	s.t.Fatalf("no node %q", name)
	return nil
}

func (s *safetyLab) start(n *hacluster.Node) {
	switch {
	case s.heartbeat:
		n.StartHeartbeat()
	case s.configs[n.Name] != "":
		n.StartConfig(s.bin, s.configs[n.Name])
	default:
		n.Start(s.bin)
	}
}

func (s *safetyLab) startAll() time.Time {
	at := time.Now()
	for _, n := range s.cluster.Nodes {
		s.start(n)
	}
	return at
}

func (s *safetyLab) isOff(n *hacluster.Node) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.off[n.Name]
}

// crash is the machine of n dying: everything in its namespace SIGKILLed,
// its network down; it holds nothing from then on.
func (s *safetyLab) crash(n *hacluster.Node) time.Time {
	at := time.Now()
	s.powerOff(n, at)
	n.CrashHost()
	return at
}

func (s *safetyLab) powerOff(n *hacluster.Node, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.off[n.Name] {
		s.off[n.Name] = true
		s.rec.PowerOff(n.Host, at)
	}
}

// boot brings n's machine back: what the crash left (the service, the
// address) is gone, the network up; the cluster manager is not started.
func (s *safetyLab) boot(n *hacluster.Node) time.Time {
	if err := n.Host.Isolate(nil, false); err != nil {
		s.t.Fatal(err)
	}
	if s.markers != "" {
		os.Remove(filepath.Join(s.markers, "off-"+n.Host.Netns()))
	}
	n.Recover(testVIP)
	at := time.Now()
	s.mu.Lock()
	if s.off[n.Name] {
		s.off[n.Name] = false
		s.rec.PowerOn(n.Host, at)
	}
	s.mu.Unlock()
	return at
}

// checkFenced records as powered off the hosts the test fence agent has
// powered off (its marker), from the moment it began.
func (s *safetyLab) checkFenced() {
	if s.markers == "" {
		return
	}
	for _, n := range s.cluster.Nodes {
		if !s.isOff(n) && hacluster.IsOff(n.Host, s.markers) {
			s.powerOff(n, hacluster.OffSince(n.Host, s.markers))
			s.rec.Note(hacluster.OffSince(n.Host, s.markers), n.Name+" fenced (fence agent began)")
		}
	}
}

// failedProbes counts the probes sent in [from, to) and those nobody
// answered.
func (s *safetyLab) failedProbes(from, to time.Time) (failed, total int) {
	failed, total, _ = s.failedProbesWhy(from, to)
	return failed, total
}

// failedProbesWhy is failedProbes with the failures counted by cause.
func (s *safetyLab) failedProbesWhy(from, to time.Time) (failed, total int, why map[string]int) {
	why = map[string]int{}
	for _, p := range s.probe.Samples() {
		if p.At.Before(from) || !p.At.Before(to) {
			continue
		}
		total++
		if p.Answer == "" {
			failed++
			why[p.Fail]++
		}
	}
	return failed, total, why
}

// statusJSON is `hanode status --json` of the measured binary on n,
// decoded loosely (its schema may differ from this tree's).
func (s *safetyLab) statusJSON(n *hacluster.Node) (map[string]any, error) {
	code, out, errOut := binCLI(s.bin, "status", "--json", "--socket", n.Socket)
	if code != 0 {
		return nil, fmt.Errorf("status on %s: exit %d: %s", n.Name, code, strings.TrimSpace(errOut))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		return nil, fmt.Errorf("status on %s: %v", n.Name, err)
	}
	return m, nil
}

// groupView is where n's status says the group should run and runs.
func groupView(st map[string]any) (desired string, running []string) {
	gs, _ := st["groups"].([]any)
	if len(gs) == 0 {
		return "", nil
	}
	g, _ := gs[0].(map[string]any)
	desired, _ = g["desired_node"].(string)
	rs, _ := g["running_on"].([]any)
	for _, r := range rs {
		if v, ok := r.(string); ok {
			running = append(running, v)
		}
	}
	return desired, running
}

// running are the nodes whose cluster manager runs (hanode only), but
// exclude.
func (s *safetyLab) running(exclude *hacluster.Node) []*hacluster.Node {
	var out []*hacluster.Node
	for _, n := range s.cluster.Nodes {
		if n != exclude && !s.isOff(n) && n.Proc != nil && !n.Proc.Exited() {
			out = append(out, n)
		}
	}
	return out
}

// stableQuiet is how long the VIP must not have moved for the cluster to
// count as stable.
const stableQuiet = 1500 * time.Millisecond

// waitStable waits, up to timeout, until the cluster is stable: the VIP
// on exactly one powered-on host, unchanged for stableQuiet, the last
// probes (at least 5, sent after since and after the last change) all
// answered by that node, and (hanode) every running node's status saying
// the group runs there and should. exclude, when given, is a faulty node:
// it must not be the holder, and its status is not asked. It returns the
// holder and when stability was seen; ok false at the timeout (with what
// was seen).
func (s *safetyLab) waitStable(since time.Time, timeout time.Duration, exclude ...*hacluster.Node) (holder string, at time.Time, ok bool, detail string) {
	deadline := time.Now().Add(timeout)
	var ex *hacluster.Node
	if len(exclude) > 0 {
		ex = exclude[0]
	}
	for {
		s.checkFenced()
		ok, holder, detail = s.stableNow(since, ex)
		if ok {
			return holder, time.Now(), true, ""
		}
		if time.Now().After(deadline) {
			return "", time.Now(), false, detail
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *safetyLab) stableNow(since time.Time, exclude *hacluster.Node) (bool, string, string) {
	holders := s.rec.Holders()
	if len(holders) != 1 {
		return false, "", fmt.Sprintf("VIP held by %v", holders)
	}
	h := holders[0]
	if exclude != nil && h == exclude.Name {
		return false, h, "VIP still on " + h
	}
	last := s.rec.LastChange()
	if q := time.Since(last); q < stableQuiet {
		return false, h, fmt.Sprintf("VIP on %s, moved %v ago", h, q.Round(time.Millisecond))
	}
	from := since
	if last.After(from) {
		from = last
	}
	var answers []string
	for _, p := range s.probe.Samples() {
		if !p.At.Before(from) {
			answers = append(answers, p.Answer)
		}
	}
	if len(answers) < 5 {
		return false, h, fmt.Sprintf("VIP on %s, %d probes since", h, len(answers))
	}
	for _, a := range answers[len(answers)-5:] {
		if a != h {
			return false, h, fmt.Sprintf("VIP on %s, answered by %q", h, a)
		}
	}
	if s.heartbeat {
		return true, h, ""
	}
	for _, n := range s.running(exclude) {
		st, err := s.statusJSON(n)
		if err != nil {
			return false, h, err.Error()
		}
		desired, running := groupView(st)
		if desired != h || len(running) != 1 || running[0] != h {
			return false, h, fmt.Sprintf("VIP on %s; %s says desired %q, running on %v", h, n.Name, desired, running)
		}
	}
	return true, h, ""
}

// mustStable is waitStable failing the test at the timeout.
func (s *safetyLab) mustStable(since time.Time, timeout time.Duration, what string) (string, time.Time) {
	s.t.Helper()
	h, at, ok, detail := s.waitStable(since, timeout)
	if !ok {
		s.t.Fatalf("%s: cluster not stable within %v: %s\naddress timeline:\n%s", what, timeout, detail, s.rec.Timeline(since.Add(-time.Second), time.Time{}))
	}
	return h, at
}

// holdersAt lists who held the VIP at instant at.
func (s *safetyLab) holdersAt(at time.Time) []string {
	var out []string
	for _, ivs := range s.rec.AllIntervals() {
		for _, iv := range ivs {
			if !iv.Start.After(at) && iv.End.After(at) {
				out = append(out, iv.Name)
				break
			}
		}
	}
	return out
}

// waitFor waits for d (a planned duration of the scenario, not a guess of
// how long something takes).
func waitFor(d time.Duration) { <-time.After(d) }

// unanswered describes the stretches of unanswered probes in [from, to]
// (offsets from from, lengths from the first failed probe to the next
// answer), longest first, at most five.
func (s *safetyLab) unanswered(from, to time.Time) string {
	type run struct{ start, end time.Time }
	var runs []run
	var cur *run
	for _, p := range s.probe.Samples() {
		if p.At.Before(from) || p.At.After(to) {
			continue
		}
		switch {
		case p.Answer == "" && cur == nil:
			cur = &run{start: p.At, end: p.At}
		case p.Answer == "":
			cur.end = p.At
		case cur != nil:
			cur.end = p.At
			runs = append(runs, *cur)
			cur = nil
		}
	}
	if cur != nil {
		runs = append(runs, *cur)
	}
	if len(runs) == 0 {
		return "none"
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].end.Sub(runs[i].start) > runs[j].end.Sub(runs[j].start) })
	var parts []string
	for i, r := range runs {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("... %d more", len(runs)-5))
			break
		}
		parts = append(parts, fmt.Sprintf("%v at +%v", r.end.Sub(r.start).Round(time.Millisecond), r.start.Sub(from).Round(time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}

// --- (a) partition of the holder, 3 nodes, quorum, no fencing ---------------

func partitionScenario(t *testing.T, env *safetyEnv, isolation time.Duration, stopTimeout string) safetyRow {
	began := time.Now()
	trials := env.trialsOr(10)
	s := newSafetyLab(t, env.bin, 3, hacluster.Options{AutoFailback: "on"})
	name := fmt.Sprintf("(a) partition 3 nodes, cut %v", isolation)
	if stopTimeout != "" {
		name += ", stop_timeout " + stopTimeout
		s.native(func(native string) string {
			out := strings.ReplaceAll(native, "  resources: {\n", "  resources: {\n    stop_timeout: \""+stopTimeout+"\"\n")
			if strings.Count(out, "stop_timeout") != strings.Count(native, "  resources: {\n") || !strings.Contains(out, "stop_timeout") {
				t.Fatalf("could not set stop_timeout in:\n%s", native)
			}
			return out
		})
	}
	start := s.startAll()
	holder, _ := s.mustStable(start, time.Minute, "start")
	y := &tally{s: s}
	var atCut []string
	majority, minorityKept := 0, 0
	complete := true
	for i := 1; i <= trials; i++ {
		h := s.node(holder)
		var peers, peerNames []string
		for _, n := range s.cluster.Nodes {
			if n != h {
				peers, peerNames = append(peers, n.Host.Addr()), append(peerNames, n.Name)
			}
		}
		fault := time.Now()
		s.rec.Note(fault, fmt.Sprintf("trial %d: %s cut off from %s", i, h.Name, strings.Join(peerNames, ", ")))
		if err := h.Host.Isolate(peers, true); err != nil {
			t.Fatal(err)
		}
		waitFor(isolation)
		heal := time.Now()
		during := s.holdersAt(heal.Add(-time.Millisecond))
		if err := h.Host.Isolate(nil, false); err != nil {
			t.Fatal(err)
		}
		s.rec.Note(heal, "healed")
		next, stable, ok, detail := s.waitStable(heal, time.Minute)
		y.trials++
		ov, vac := y.window(t, fmt.Sprint("trial ", i), fault, stable)
		f, n := s.failedProbes(fault, stable)
		atCut = append(atCut, strings.Join(during, "+"))
		if len(during) == 1 && during[0] != h.Name {
			majority++
		}
		for _, d := range during {
			if d == h.Name {
				minorityKept++
			}
		}
		t.Logf("trial %d: %s cut %v; at the heal the VIP was on [%s]; stable %v after the heal on %s; on two hosts %v, on none %v, failed probes %d/%d (unanswered: %s)",
			i, h.Name, isolation, strings.Join(during, " "), stable.Sub(heal).Round(time.Millisecond), next, ms(ov), ms(vac), f, n, s.unanswered(fault, stable))
		if !ok {
			t.Errorf("trial %d: not stable within a minute of the heal: %s", i, detail)
			complete = false
			break
		}
		holder = next
	}
	counts := map[string]int{}
	for _, a := range atCut {
		if a == "" {
			a = "nobody"
		}
		counts[a]++
	}
	return y.row(name, time.Since(began), complete,
		fmt.Sprintf("VIP at the end of the cut: %s; a majority node alone in %d/%d trials, still on the cut-off holder in %d/%d",
			mapCounts(counts), majority, y.trials, minorityKept, y.trials))
}

func mapCounts(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// --- (b) crash and boot of the holder, 2 nodes --------------------------------

func crashBootScenario(t *testing.T, env *safetyEnv, failback string) safetyRow {
	began := time.Now()
	trials := env.trialsOr(10)
	s := newSafetyLab(t, env.bin, 2, hacluster.Options{AutoFailback: failback})
	start := s.startAll()
	holder, _ := s.mustStable(start, time.Minute, "start")
	y := &tally{s: s}
	unwanted, transient, failedBack := 0, 0, 0
	var failbackGaps, probeGaps, failoverGaps []time.Duration
	complete := true
	for i := 1; i <= trials; i++ {
		h := s.node(holder)
		crash := s.crash(h)
		s.rec.Note(crash, fmt.Sprintf("trial %d: %s crashed", i, h.Name))
		surv, failedOver, ok, detail := s.waitStable(crash, 30*time.Second)
		if !ok {
			y.trials++
			y.window(t, fmt.Sprint("trial ", i), crash, failedOver)
			t.Errorf("trial %d: no stable survivor within 30s of the crash: %s", i, detail)
			complete = false
			break
		}
		// The survivor's VIP came with the last change.
		failoverGaps = append(failoverGaps, s.rec.LastChange().Sub(crash))
		boot := s.boot(h)
		s.start(h)
		s.rec.Note(boot, h.Name+" booted, "+env.version+" started")
		final, stable, ok, detail := s.waitStable(boot, 30*time.Second)
		y.trials++
		ov, vac := y.window(t, fmt.Sprint("trial ", i), crash, stable)
		bootVac, _ := testhosts.Total(s.rec.Vacancies(boot, stable))
		onBooted := len(s.rec.Intervals(h.Host, boot, stable)) > 0
		switch {
		case failback == "off" && final == h.Name:
			unwanted++
		case failback == "off" && onBooted:
			transient++
		case failback == "on" && final == h.Name:
			failedBack++
			failbackGaps = append(failbackGaps, bootVac)
			probeGaps = append(probeGaps, longestProbeGap(s.probe, boot, stable))
		}
		f, n := s.failedProbes(crash, stable)
		t.Logf("trial %d: %s crashed, VIP on %s %v later (stable +%v); booted; stable %v after the boot on %s; on two hosts %v, on none %v (after the boot %v), failed probes %d/%d (unanswered: %s)",
			i, h.Name, surv, failoverGaps[len(failoverGaps)-1].Round(time.Millisecond), failedOver.Sub(crash).Round(time.Millisecond),
			stable.Sub(boot).Round(time.Millisecond), final, ms(ov), ms(vac), ms(bootVac), f, n, s.unanswered(crash, stable))
		if !ok {
			t.Errorf("trial %d: not stable within 30s of the boot: %s", i, detail)
			complete = false
			break
		}
		holder = final
	}
	name := "(b) crash/boot 2 nodes, auto_failback " + failback
	extra := []string{"VIP on no host includes the failover after each crash: crash -> VIP on the survivor " + durs(failoverGaps)}
	if failback == "off" {
		extra = append(extra, fmt.Sprintf("unwanted failbacks (group back on the booted node): %d/%d; VIP on the booted node for a while, not kept: %d/%d",
			unwanted, y.trials, transient, y.trials))
	} else {
		extra = append(extra, fmt.Sprintf("failbacks: %d/%d; failback gap (VIP on no host, boot -> stable): %s; longest run of failed probes: %s",
			failedBack, y.trials, durs(failbackGaps), durs(probeGaps)))
	}
	return y.row(name, time.Since(began), complete, extra...)
}

// longestProbeGap is the longest stretch of unanswered probes in [from,
// to]: from the last answer before the first failure to the next answer.
func longestProbeGap(p *probe.Probe, from, to time.Time) time.Duration {
	var worst time.Duration
	var lastOK time.Time
	failing := false
	for _, s := range p.Samples() {
		if s.At.After(to) {
			break
		}
		if s.Answer != "" {
			if failing && !lastOK.IsZero() && !s.At.Before(from) {
				worst = max(worst, s.At.Sub(lastOK))
			}
			lastOK, failing = s.At, false
		} else if !s.At.Before(from) {
			failing = true
		}
	}
	return worst
}

// --- (c) heartbeat loss, hanode then Heartbeat ----------------------------------

var (
	hanodeDeath    = regexp.MustCompile(`msg="?(node\d+) dead: `)
	heartbeatDeath = regexp.MustCompile(`(node\d+) heartbeat: \[\d+\]: \S+: node (node\d+): is dead`)
)

func lossScenario(t *testing.T, env *safetyEnv, rep *safetyReport) {
	logFile := filepath.Join(t.TempDir(), "ha-log")
	// Both systems read the same ha.d; Heartbeat logs only to a file
	// (without logd, nothing reaches its standard error after the start).
	s := newSafetyLab(t, env.bin, 2, hacluster.Options{AutoFailback: "on", Keepalive: "50ms", Deadtime: "250ms", Warntime: "150ms",
		HaCf: "logfile " + logFile + "\n"})
	const lossPercent = 20
	run := func(t *testing.T, system string) {
		began := time.Now()
		s.t = t
		start := s.startAll()
		s.mustStable(start, 90*time.Second, system+" start")
		logOffset := 0
		if b, err := os.ReadFile(logFile); err == nil {
			logOffset = len(b)
		}
		outOffset := map[string]int{}
		for _, n := range s.cluster.Nodes {
			outOffset[n.Name] = len(n.Proc.Output())
		}
		lossStart := time.Now()
		s.rec.Note(lossStart, fmt.Sprintf("%d%% loss on UDP port 694 on both hosts", lossPercent))
		for _, n := range s.cluster.Nodes {
			if err := n.Host.LossUDP(694, lossPercent); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(env.lossDuration)
		for _, n := range s.cluster.Nodes {
			if err := n.Host.LossUDP(694, 0); err != nil {
				t.Fatal(err)
			}
		}
		lossEnd := time.Now()
		s.rec.Note(lossEnd, "loss removed")
		y := &tally{s: s, trials: 1}
		y.window(t, "the loss", lossStart, lossEnd)
		deaths := map[string]int{}
		var examples []string
		if system == "hanode" {
			for _, n := range s.cluster.Nodes {
				for _, m := range hanodeDeath.FindAllStringSubmatch(n.Proc.Output()[outOffset[n.Name]:], -1) {
					deaths[n.Name+" declared "+m[1]]++
				}
			}
		} else {
			b, _ := os.ReadFile(logFile)
			if len(b) >= logOffset {
				hbLines, late := 0, 0
				for _, line := range strings.Split(string(b[logOffset:]), "\n") {
					if strings.Contains(line, " heartbeat: [") {
						hbLines++
					}
					if strings.Contains(line, "Late heartbeat") {
						late++
					}
					if m := heartbeatDeath.FindStringSubmatch(line); m != nil {
						deaths[m[1]+" declared "+m[2]]++
						if len(examples) < 2 {
							examples = append(examples, strings.TrimSpace(line))
						}
					}
				}
				examples = append(examples, fmt.Sprintf("Heartbeat's log (%s): %d lines during the loss, %d late-heartbeat warnings", logFile, hbLines, late))
				if hbLines == 0 {
					t.Errorf("Heartbeat's log %s has no line of the loss: deaths not counted", logFile)
				}
			}
		}
		total := 0
		for _, c := range deaths {
			total += c
		}
		adds := 0
		for _, ivs := range s.rec.AllIntervals() {
			for _, iv := range ivs {
				if iv.Start.After(lossStart) && iv.Start.Before(lossEnd) {
					adds++
				}
			}
		}
		name := fmt.Sprintf("(c) %d%% heartbeat loss %v, %s", lossPercent, env.lossDuration, system)
		extra := []string{fmt.Sprintf("false death declarations: %d (%s); VIP started %d times on a host during the loss", total, mapCounts(deaths), adds)}
		extra = append(extra, examples...)
		extra = append(extra, "unanswered during the loss: "+s.unanswered(lossStart, lossEnd))
		// The cluster settles once the loss is gone: the figures of that
		// time, apart.
		holder, at, ok, detail := s.waitStable(lossEnd, time.Minute)
		after := &tally{s: s, trials: 1}
		aov, avac := after.window(t, "after the loss", lossEnd, at)
		af, an := s.failedProbes(lossEnd, at)
		settled := fmt.Sprintf("stable on %s %v later", holder, at.Sub(lossEnd).Round(time.Millisecond))
		if !ok {
			settled = "NOT stable within a minute (" + detail + ")"
		}
		extra = append(extra, fmt.Sprintf("after the loss: %s; meanwhile VIP on 2+ hosts %v, on no host %v, failed probes %d/%d",
			settled, ms(aov), ms(avac), af, an))
		rep.add(t, y.row(name, time.Since(began), true, extra...))
		// Both machines down and up again for the next system.
		for _, n := range s.cluster.Nodes {
			s.crash(n)
		}
		for _, n := range s.cluster.Nodes {
			s.boot(n)
		}
	}
	t.Run("hanode", func(t *testing.T) { run(t, "hanode") })
	t.Run("heartbeat", func(t *testing.T) {
		hacluster.RequireHeartbeat(t)
		s.heartbeat = true
		run(t, "Heartbeat 3.0.6")
	})
}

// --- (d) fencing -------------------------------------------------------------

const (
	faultCrash   = "crash"
	faultKill    = "kill"
	faultIsolate = "isolate"
)

var faultWords = map[string]string{
	faultCrash:   "holder's host crashed",
	faultKill:    "holder's hanode SIGKILLed (resources left running)",
	faultIsolate: "holder cut off from all peers",
}

func fencingScenario(t *testing.T, env *safetyEnv, nodes int, kind string) safetyRow {
	began := time.Now()
	trials := env.trialsOr(10)
	s := newSafetyLab(t, env.bin, nodes, hacluster.Options{AutoFailback: "on"})
	s.withFencing()
	y := &tally{s: s}
	var answerGaps, vipGaps, vacancies []time.Duration
	leftStopped, split, unsettled, fencedOK, shownBad := 0, 0, 0, 0, 0
	statusBest, statusEnd := map[string]int{}, map[string]int{}
	var statusExample string
	for i := 1; i <= trials; i++ {
		// A fresh cluster: every machine down and up again, every node
		// started, node1 serving, the fence device checked everywhere.
		for _, n := range s.cluster.Nodes {
			s.crash(n)
		}
		for _, n := range s.cluster.Nodes {
			s.boot(n)
		}
		start := s.startAll()
		holder, _ := s.mustStable(start, time.Minute, fmt.Sprintf("trial %d start", i))
		testhosts.WaitFor(t, 30*time.Second, 100*time.Millisecond, "fence device checked on every node", func() (bool, string) {
			for _, n := range s.cluster.Nodes {
				st, err := s.statusJSON(n)
				if err != nil {
					return false, err.Error()
				}
				devs, _ := st["fence_devices"].([]any)
				if len(devs) != 1 {
					return false, fmt.Sprintf("%s: devices %v", n.Name, devs)
				}
				if d, _ := devs[0].(map[string]any); d["ok"] != true {
					return false, fmt.Sprintf("%s: device %v", n.Name, d)
				}
			}
			return true, ""
		})
		h := s.node(holder)
		var peers []string
		var survivors []*hacluster.Node
		for _, n := range s.cluster.Nodes {
			if n != h {
				peers = append(peers, n.Host.Addr())
				survivors = append(survivors, n)
			}
		}
		watch := watchFencing(s, survivors, h.Name)
		fault := time.Now()
		s.rec.Note(fault, fmt.Sprintf("trial %d: %s: %s", i, h.Name, faultWords[kind]))
		switch kind {
		case faultCrash:
			s.crash(h)
		case faultKill:
			h.Proc.Kill()
		case faultIsolate:
			if err := h.Host.Isolate(peers, true); err != nil {
				t.Fatal(err)
			}
		}
		next, stable, ok, detail := s.waitStable(fault, env.stoppedBound, h)
		s.checkFenced()
		y.trials++
		end := stable
		ov, vac := y.window(t, fmt.Sprint("trial ", i), fault, end)
		vacancies = append(vacancies, vac)
		// The first answer by a survivor, and the VIP's first appearance
		// on a survivor's host (none: the bound, a censored figure).
		gap, vipGap := time.Duration(-1), time.Duration(-1)
		for _, p := range s.probe.Samples() {
			if p.At.Before(fault) || p.Answer == "" || p.Answer == h.Name {
				continue
			}
			gap = p.At.Sub(fault)
			break
		}
		for _, n := range survivors {
			for _, iv := range s.rec.Intervals(n.Host, fault, end) {
				if d := iv.Start.Sub(fault); vipGap < 0 || d < vipGap {
					vipGap = d
				}
			}
		}
		if gap >= 0 {
			answerGaps = append(answerGaps, gap)
		}
		if vipGap >= 0 {
			vipGaps = append(vipGaps, vipGap)
		}
		fenced := hacluster.IsOff(h.Host, s.markers)
		if fenced {
			fencedOK++
		}
		outcome := "on one survivor"
		if !ok || next == h.Name {
			holders := s.rec.Holders()
			var onSurvivors []string
			for _, x := range holders {
				if x != h.Name {
					onSurvivors = append(onSurvivors, x)
				}
			}
			switch {
			case len(holders) > 1:
				outcome = "on two or more hosts"
				split++
			case len(onSurvivors) == 0:
				outcome = "left stopped"
				leftStopped++
			default:
				outcome = "not settled"
				unsettled++
			}
			t.Logf("trial %d: %s: not on exactly one survivor, settled, within %v: %s; holders now %v", i, outcome, env.stoppedBound, detail, holders)
			if shownBad < 3 {
				shownBad++
				tl := fmt.Sprintf("%s trial %d: %s; address timeline:\n%s", t.Name(), i, outcome, s.rec.Timeline(fault.Add(-time.Second), end))
				fmt.Println(tl)
				t.Log(tl)
			}
		}
		// What every survivor's status said about the fencing: the most
		// during the trial, and at its end.
		best, now, example := watch.end()
		for _, v := range best {
			statusBest[v]++
		}
		for _, v := range now {
			statusEnd[v]++
		}
		seen := fmt.Sprintf("best [%s], at the end [%s]", strings.Join(best, " "), strings.Join(now, " "))
		if statusExample == "" || exampleRank(example) > exampleRank(statusExample) {
			statusExample = example
		}
		never := func(d time.Duration) string {
			if d < 0 {
				return "never"
			}
			return d.Round(time.Millisecond).String()
		}
		t.Logf("trial %d: %s %s; %s; after the fault: VIP on a survivor %s, a survivor answered %s; fenced %v; on two hosts %v, on none %v; status: %s",
			i, h.Name, kind, outcome, never(vipGap), never(gap), fenced, ms(ov), ms(vac), seen)
	}
	name := fmt.Sprintf("(d) fencing %d nodes, %s", nodes, kind)
	return y.row(name, time.Since(began), true,
		fmt.Sprintf("fault -> VIP on a survivor: %s; fault -> first answer by a survivor: %s (trials where it came, within %v)", durs(vipGaps), durs(answerGaps), env.stoppedBound),
		fmt.Sprintf("VIP on no host per trial (fault -> stable, or the bound): %s", durs(vacancies)),
		fmt.Sprintf("within %v of the fault: groups left stopped %d/%d, on two or more hosts %d/%d, on one survivor but not settled %d/%d; holder fenced (agent ran): %d/%d",
			env.stoppedBound, leftStopped, y.trials, split, y.trials, unsettled, y.trials, fencedOK, y.trials),
		fmt.Sprintf("status --json, survivor by survivor (polled every 250 ms): the most shown during a trial: %s; at the end of the trial: %s",
			mapCounts(statusBest), mapCounts(statusEnd)),
		"  (record: a 'fenced' entry, who/by/device/when; timeline: only the timeline says fenced, by whom, device; pending: only 'must be fenced')",
		"  e.g. "+statusExample)
}

// viewRank orders what a status shows of a fencing.
var viewRank = map[string]int{"no status": 0, "nothing": 1, "pending": 2, "timeline": 3, "record": 4}

// fencingWatch polls the survivors' statuses (every 250 ms, until stop)
// and keeps, for each, the most it showed of the victim's fencing, and
// what it shows at the end: today's status keeps only the latest timeline
// entries, which a busy node soon pushes out.
type fencingWatch struct {
	s         *safetyLab
	survivors []*hacluster.Node
	victim    string
	stop      chan struct{}
	done      chan struct{}
	mu        sync.Mutex
	best      map[string]string
	example   map[string]string
}

func watchFencing(s *safetyLab, survivors []*hacluster.Node, victim string) *fencingWatch {
	w := &fencingWatch{s: s, survivors: survivors, victim: victim, stop: make(chan struct{}), done: make(chan struct{}),
		best: map[string]string{}, example: map[string]string{}}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for n := 0; n < 2400; n++ { // at most 10 minutes
			w.look()
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *fencingWatch) look() map[string]string {
	views, examples := fencingInStatus(w.s, w.survivors, w.victim)
	w.mu.Lock()
	defer w.mu.Unlock()
	for n, v := range views {
		if b, ok := w.best[n]; !ok || viewRank[v] > viewRank[b] {
			w.best[n], w.example[n] = v, examples[n]
		}
	}
	return views
}

// end stops the watch and returns each survivor's best view, its view
// now, and an example of the best.
func (w *fencingWatch) end() (best, now []string, example string) {
	close(w.stop)
	<-w.done
	last := w.look()
	w.mu.Lock()
	defer w.mu.Unlock()
	top := -1
	for _, n := range w.survivors {
		if v, ok := w.best[n.Name]; ok {
			best = append(best, v)
			if viewRank[v] > top {
				top, example = viewRank[v], w.example[n.Name]
			}
		}
		if v, ok := last[n.Name]; ok {
			now = append(now, v)
		}
	}
	sort.Strings(best)
	sort.Strings(now)
	return best, now, example
}

// exampleRank orders examples of what a status shows.
func exampleRank(example string) int {
	switch {
	case strings.Contains(example, `"fenced_by"`):
		return 2
	case strings.Contains(example, " fenced by ") || strings.Contains(example, "(device"):
		return 1
	}
	return 0
}

// fencingInStatus reads every powered-on survivor's status and says what
// it shows of victim's fencing: "record" (a 'fenced' entry: who, by whom,
// device, when), "timeline" (no record, but the timeline says it was
// fenced, by whom, with which device), "pending" (the timeline says only
// that it must be, or is being, fenced), "nothing", "no status"; by
// survivor, with what it shows.
func fencingInStatus(s *safetyLab, survivors []*hacluster.Node, victim string) (views, examples map[string]string) {
	views, examples = map[string]string{}, map[string]string{}
	done := regexp.MustCompile(`(^|\s)fenced ` + regexp.QuoteMeta(victim) + ` \(device|^` + regexp.QuoteMeta(victim) + ` fenced by `)
	for _, n := range survivors {
		if s.isOff(n) {
			continue
		}
		st, err := s.statusJSON(n)
		if err != nil {
			views[n.Name], examples[n.Name] = "no status", err.Error()
			continue
		}
		fenced, present := st["fenced"].([]any)
		var record string
		for _, f := range fenced {
			r, _ := f.(map[string]any)
			if r["node"] == victim && r["fenced_by"] != nil && r["fenced_by"] != "" && r["device"] != nil && r["time"] != nil {
				b, _ := json.Marshal(r)
				record = string(b)
			}
		}
		if record != "" {
			views[n.Name], examples[n.Name] = "record", n.Name+": "+record
			continue
		}
		evs, _ := st["timeline"].([]any)
		var lines []string
		view := "nothing"
		for _, e := range evs {
			ev, _ := e.(map[string]any)
			if ev["kind"] != "EVENT_KIND_FENCING" {
				continue
			}
			summary, _ := ev["summary"].(string)
			if !strings.Contains(summary, victim) {
				continue
			}
			lines = append(lines, fmt.Sprintf("%v %s", ev["time"], summary))
			switch {
			case done.MatchString(summary):
				view = "timeline"
			case view == "nothing":
				view = "pending"
			}
		}
		field := "no 'fenced' field"
		if present {
			field = "'fenced' without " + victim
		}
		views[n.Name] = view
		examples[n.Name] = fmt.Sprintf("%s: %s; %d timeline entries, about fencing %s: %s", n.Name, field, len(evs), victim, strings.Join(lines, "; "))
	}
	return views, examples
}
