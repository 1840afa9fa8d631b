// Package testhosts gives tests a small network of real Linux hosts made
// of network namespaces, to run the real hanode binary on several
// "machines" of one test machine.
//
//	          switch namespace (<lab>-sw)
//	    +------------- br0 -------------+        optional second
//	    |               |               |        network: br1,
//	  veth            veth            veth       eth1, 10.201.1.x
//	    |               |               |
//	+--eth0--+      +--eth0--+      +--eth0--+
//	| <lab>-h1|     | <lab>-h2|     | <lab>-h3|
//	|10.201.0.1|    |10.201.0.2|    |10.201.0.3|
//	+---------+     +---------+     +---------+
//
// Everything lives in namespaces the lab creates: nothing touches the
// machine's own interfaces or routes, and every address is in
// 10.201.0.0/16. Cleanup kills the processes the lab started, by PID, then
// deletes its namespaces. Every wait is bounded.
package testhosts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/netlab"
)

// prefix starts every namespace name a lab creates: "hnt<pid>x<n>".
const prefix = "hnt"

// cmdTimeout bounds every ip/tc command.
const cmdTimeout = 10 * time.Second

var labCount atomic.Int32

// Require checks that this machine can host a lab: root, the ip command
// and network namespaces. What is missing makes the test skip with a clear
// message, or fail when CI=true: in CI these tests must run.
func Require(t testing.TB) {
	t.Helper()
	err := netlab.Require()
	if err == nil {
		return
	}
	msg := "test hosts in " + err.Error()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: this test must run; .ci/run installs what it needs and runs as root)")
	}
	t.Skip(msg)
}

// RequireCommand checks that a command a test needs (besides a lab's own)
// is installed, with Require's rule: skip with a clear message naming the
// Debian package, or fail when CI=true.
func RequireCommand(t testing.TB, command, debianPackage string) {
	t.Helper()
	if _, err := exec.LookPath(command); err == nil {
		return
	}
	msg := fmt.Sprintf("the %s command is missing (apt-get install %s)", command, debianPackage)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: this test must run; .ci/run installs it)")
	}
	t.Skip(msg)
}

// Options describe a lab.
type Options struct {
	// Hosts is the number of hosts (1..200).
	Hosts int
	// SecondNetwork adds eth1 on every host, on a second bridge.
	SecondNetwork bool
	// IPv6 gives every host's ethN a global address fd00:10:201:N::i/64
	// (ipv6.go: Addr6) beside its automatic link-local one (LinkLocal),
	// both usable when New returns (no duplicate address detection).
	IPv6 bool
}

// Lab is a set of hosts on a private network.
type Lab struct {
	t      testing.TB
	name   string
	sw     string
	logDir string
	hosts  []*Host
	mu     sync.Mutex
	procs  []*Proc
	closed bool
}

// Host is one network namespace with eth0 (and eth1) on the lab network.
type Host struct {
	lab   *Lab
	index int
	ns    string
	addr  string
	addr2 string
	// addr6 and linkLocal are the IPv6 addresses of eth0, eth1 (IPv6
	// labs only).
	addr6, linkLocal []string
}

// New creates a lab; it is removed when the test ends (or by Close).
func New(t testing.TB, opts Options) *Lab {
	t.Helper()
	Require(t)
	if opts.Hosts < 1 || opts.Hosts > 200 {
		t.Fatalf("testhosts: %d hosts: between 1 and 200", opts.Hosts)
	}
	removeStale(t)
	l := &Lab{t: t, name: fmt.Sprintf("%s%dx%d", prefix, os.Getpid(), labCount.Add(1))}
	l.sw = l.name + "-sw"
	// Made before Close is registered, so that it is removed after Close
	// has shown the processes' output.
	l.logDir = t.TempDir()
	t.Cleanup(l.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	must := func(args ...string) {
		t.Helper()
		if out, err := run(ctx, "ip", args...); err != nil {
			t.Fatalf("testhosts: ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	must("netns", "add", l.sw)
	bridges := []string{"br0"}
	if opts.SecondNetwork {
		bridges = append(bridges, "br1")
	}
	for _, br := range bridges {
		// No STP and no multicast snooping: ports forward at once and
		// multicast heartbeats reach every host.
		must("-n", l.sw, "link", "add", br, "type", "bridge", "stp_state", "0", "mcast_snooping", "0")
		must("-n", l.sw, "link", "set", br, "up")
	}
	for i := 1; i <= opts.Hosts; i++ {
		h := &Host{lab: l, index: i, ns: fmt.Sprintf("%s-h%d", l.name, i)}
		must("netns", "add", h.ns)
		if opts.IPv6 {
			// Interfaces created from now on in the namespace skip
			// duplicate address detection: their addresses are usable at
			// once instead of "tentative" for a second or two.
			must("netns", "exec", h.ns, "sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0")
		}
		must("-n", h.ns, "link", "set", "lo", "up")
		for n, br := range bridges {
			dev := fmt.Sprintf("eth%d", n)
			port := fmt.Sprintf("h%de%d", i, n)
			addr := fmt.Sprintf("10.201.%d.%d", n, i)
			must("-n", l.sw, "link", "add", port, "type", "veth", "peer", "name", dev, "netns", h.ns)
			must("-n", l.sw, "link", "set", port, "master", br, "up")
			must("-n", h.ns, "addr", "add", addr+"/24", "dev", dev)
			must("-n", h.ns, "link", "set", dev, "up")
			if n == 0 {
				h.addr = addr
			} else {
				h.addr2 = addr
			}
		}
		l.hosts = append(l.hosts, h)
	}
	if opts.IPv6 {
		l.setupIPv6(ctx, len(bridges))
	}
	return l
}

// removeStale deletes namespaces left by labs of processes that no longer
// exist (a test binary killed before its cleanup ran).
func removeStale(t testing.TB) {
	out, err := run(context.Background(), "ip", "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], prefix) {
			continue
		}
		rest := strings.TrimPrefix(f[0], prefix)
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end <= 0 {
			continue
		}
		pid, _ := strconv.Atoi(rest[:end])
		if pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue // its owner still runs
		}
		if _, err := run(context.Background(), "ip", "netns", "del", f[0]); err == nil {
			t.Logf("testhosts: removed stale namespace %s", f[0])
		}
	}
}

// Hosts returns the lab's hosts, h1 first.
func (l *Lab) Hosts() []*Host { return l.hosts }

// Host returns host i (1-based, as in its name and address).
func (l *Lab) Host(i int) *Host { return l.hosts[i-1] }

// tailLines is how much of each process's output a failed test shows
// (HANODE_TEST_LOGS=1 shows it after any test).
const tailLines = 60

// Close kills every process the lab started (by PID) and deletes its
// namespaces. It is idempotent and runs at test cleanup.
func (l *Lab) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	procs := append([]*Proc(nil), l.procs...)
	l.mu.Unlock()
	for _, p := range procs {
		p.Kill()
		if l.t.Failed() || os.Getenv("HANODE_TEST_LOGS") != "" {
			l.t.Logf("--- %s on %s: last lines of output\n%s", p.name, p.host.ns, p.Tail(tailLines))
		}
	}
	// Daemons that detached from the processes the lab started (Heartbeat
	// forks) die with their host.
	for _, h := range l.hosts {
		h.KillNamespace()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, h := range l.hosts {
		if out, err := run(ctx, "ip", "netns", "del", h.ns); err != nil {
			l.t.Errorf("testhosts: delete %s: %v: %s", h.ns, err, out)
		}
	}
	if out, err := run(ctx, "ip", "netns", "del", l.sw); err != nil {
		l.t.Errorf("testhosts: delete %s: %v: %s", l.sw, err, out)
	}
}

// Namespaces lists the namespaces of the lab, the switch last.
func (l *Lab) Namespaces() []string {
	var out []string
	for _, h := range l.hosts {
		out = append(out, h.ns)
	}
	return append(out, l.sw)
}

// Name is the host's name: h1, h2, ...
func (h *Host) Name() string { return fmt.Sprintf("h%d", h.index) }

// Netns is the host's namespace.
func (h *Host) Netns() string { return h.ns }

// Addr is the host's eth0 address.
func (h *Host) Addr() string { return h.addr }

// Addr2 is the host's eth1 address ("" without a second network).
func (h *Host) Addr2() string { return h.addr2 }

// Proc is a process started on a host.
type Proc struct {
	host    *Host
	name    string
	cmd     *exec.Cmd
	outPath string
	done    chan struct{}
	err     error
}

// Start runs bin with args on the host, in the background, its output in a
// file. `ip netns exec` enters the namespace and execs bin in place, so
// the PID is bin's own.
func (h *Host) Start(name, bin string, args ...string) *Proc {
	t := h.lab.t
	t.Helper()
	out, err := os.CreateTemp(h.lab.logDir, name+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.ns, bin}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("testhosts: start %s on %s: %v", name, h.ns, err)
	}
	p := &Proc{host: h, name: name, cmd: cmd, outPath: out.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	h.lab.mu.Lock()
	h.lab.procs = append(h.lab.procs, p)
	h.lab.mu.Unlock()
	return p
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited says whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process (by PID).
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return errors.New("process has exited")
	}
	return syscall.Kill(p.PID(), sig)
}

// Kill sends SIGKILL and waits (at most 10s) for the process to be gone.
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	syscall.Kill(p.PID(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.host.lab.t.Errorf("testhosts: %s (pid %d) still running 10s after SIGKILL", p.name, p.PID())
	}
}

// Wait waits up to timeout for the process to end and returns its exit
// code (-1 when killed by a signal).
func (p *Proc) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		return 0, fmt.Errorf("%s still running after %v", p.name, timeout)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0, nil
	case errors.As(p.err, &ee):
		return ee.ExitCode(), nil
	}
	return 0, p.err
}

// Output is everything the process wrote so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.outPath)
	return string(b)
}

// Tail is the last n lines of the output.
func (p *Proc) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Output(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Run runs a short command on the host and waits for it (bounded by ctx).
func (h *Host) Run(ctx context.Context, bin string, args ...string) (stdout, stderr string, code int, err error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns, bin}, args...)...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return o.String(), e.String(), ee.ExitCode(), nil
	}
	return o.String(), e.String(), 0, err
}

// KillAll kills every process the lab started on this host, by PID, as a
// crash of the machine would.
func (h *Host) KillAll() {
	h.lab.mu.Lock()
	procs := append([]*Proc(nil), h.lab.procs...)
	h.lab.mu.Unlock()
	for _, p := range procs {
		if p.host == h {
			p.Kill()
		}
	}
}

// PIDs lists the processes in the host's network namespace, whoever
// started them, this one excepted.
func (h *Host) PIDs() []int {
	out, err := run(context.Background(), "ip", "netns", "pids", h.ns)
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		// This process shows up in a host whose namespace one of its
		// threads entered (InNetns, the main thread among them): never
		// list it.
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// KillNamespace SIGKILLs every process in the host's network namespace, by
// PID (daemons that detached from the test included), and waits (at most
// 10s) until none is left.
func (h *Host) KillNamespace() {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := h.PIDs()
		if len(pids) == 0 || time.Now().After(deadline) {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// LinkDown takes the host's interface down (a cut cable).
func (h *Host) LinkDown(ifname string) error { return h.ip("link", "set", ifname, "down") }

// LinkUp brings the host's interface back.
func (h *Host) LinkUp(ifname string) error { return h.ip("link", "set", ifname, "up") }

// Loss drops percent % of the packets the host sends on ifname, at random
// (nftables in the host's namespace: this kernel has no netem qdisc). Each
// packet crosses one sender, so the rate applies once per packet. 0 removes
// it.
func (h *Host) Loss(ifname string, percent int) error {
	return h.impair("loss", ifname, percent, "drop")
}

// Corrupt overwrites, in percent % of the UDP packets the host sends on
// ifname, 4 bytes of payload (after the first 3 bytes, inside hanode's frame).
// 0 removes it.
func (h *Host) Corrupt(ifname string, percent int) error {
	return h.impair("corrupt", ifname, percent, "@th,88,32 set 0xdeadbeef")
}

// Duplicate sends percent % of the packets the host sends on ifname twice,
// to to (an address on the same network). 0 removes it.
func (h *Host) Duplicate(ifname string, percent int, to string) error {
	return h.impair("dup_"+strings.ReplaceAll(to, ".", "_"), ifname, percent, fmt.Sprintf("ip daddr %s dup to %s", to, to))
}

// BlockUDP drops (or, with on false, lets through again) every UDP
// datagram to or from port on the host: a partition of the cluster's
// heartbeat network that leaves other traffic alone.
func (h *Host) BlockUDP(port int, on bool) error {
	table := fmt.Sprintf("hn_block_udp_%d", port)
	script := fmt.Sprintf("table ip %s {}\ndelete table ip %s\n", table, table)
	if on {
		script += fmt.Sprintf("table ip %s {\n\tchain in { type filter hook input priority 0; udp dport %d drop; udp sport %d drop; }\n"+
			"\tchain out { type filter hook output priority 0; udp dport %d drop; udp sport %d drop; }\n}\n", table, port, port, port, port)
	}
	return h.nft(script)
}

// nft runs an nftables script in the host's namespace.
func (h *Host) nft(script string) error {
	if _, err := exec.LookPath("nft"); err != nil {
		return errors.New("testhosts: the nft command is missing (apt-get install nftables)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", h.ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft on %s: %v: %s\n%s", h.ns, err, out, script)
	}
	return nil
}

// impair installs (or, with percent 0, removes) one nftables table that
// applies action to percent % of the packets leaving ifname.
func (h *Host) impair(kind, ifname string, percent int, action string) error {
	if _, err := exec.LookPath("nft"); err != nil {
		return errors.New("testhosts: the nft command is missing (apt-get install nftables)")
	}
	if percent < 0 || percent > 100 {
		return fmt.Errorf("testhosts: %s %d%%: between 0 and 100", kind, percent)
	}
	table := "hn_" + kind + "_" + strings.ReplaceAll(ifname, "-", "_")
	script := fmt.Sprintf("table ip %s {}\ndelete table ip %s\n", table, table)
	if percent > 0 {
		filter := ""
		if kind == "corrupt" {
			filter = "udp length > 40 "
		}
		script += fmt.Sprintf("table ip %s {\n\tchain out { type filter hook output priority 0; oifname %q %snumgen random mod 100 <= %d %s; }\n}\n",
			table, ifname, filter, percent-1, action)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", h.ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft on %s: %v: %s\n%s", h.ns, err, out, script)
	}
	return nil
}

func (h *Host) ip(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	full := append([]string{"-n", h.ns}, args...)
	if out, err := run(ctx, "ip", full...); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(full, " "), err, out)
	}
	return nil
}

// run runs a command and returns its combined output.
func run(ctx context.Context, bin string, args ...string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cmdTimeout)
		defer cancel()
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

// WaitFor polls cond every interval until it holds, failing the test with
// desc and cond's last detail after timeout.
func WaitFor(t testing.TB, timeout, interval time.Duration, desc string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var detail string
	for {
		var ok bool
		ok, detail = cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last: %s)", desc, timeout, detail)
		}
		time.Sleep(interval)
	}
}

// TempDir is a directory for a host's files (configuration, state).
func (h *Host) TempDir() string {
	d := filepath.Join(h.lab.t.TempDir(), h.Name())
	if err := os.MkdirAll(d, 0o755); err != nil {
		h.lab.t.Fatal(err)
	}
	return d
}
