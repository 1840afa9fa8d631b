// Package netlab builds a private network of Linux network namespaces for
// programs that are not tests (benchmark commands): the same shape as
// testhosts, but every failure is an error returned to the caller instead
// of a testing.TB verdict, the network is one /16 (10.201.0.0/16, room for
// a few hundred hosts and their virtual addresses) and processes are
// started so that they cannot outlive the program that started them.
//
//	      switch namespace (<lab>-sw), bridge br0
//	    +--------------+--------------+---- ...
//	  veth           veth           veth
//	+--eth0------+ +--eth0------+ +--eth0------+
//	| <lab>-h1   | | <lab>-h2   | | <lab>-h3   |
//	| 10.201.0.1 | | 10.201.0.2 | | 10.201.0.3 |
//	+------------+ +------------+ +------------+
//
// Nothing touches the machine's own interfaces or routes. Close kills the
// processes the lab started (by PID), then every process left in its
// namespaces (by PID), then deletes the namespaces. Every command and every
// wait is bounded.
package netlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Prefix starts every namespace name a lab creates: "hns<pid>-...", so
// that a later lab can tell the namespaces of a program that died.
const Prefix = "hns"

// MaxHosts is the largest lab: host i is 10.201.0.i/16, and
// 10.201.200.0/24 is left to the hosts' virtual addresses.
const MaxHosts = 250

// cmdTimeout bounds every ip command.
const cmdTimeout = 10 * time.Second

// Require says what this machine lacks to host a lab (nil: nothing): root,
// the ip command, the right to create network namespaces.
func Require() error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces need CAP_SYS_ADMIN)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "the ip command (apt-get install iproute2)")
	}
	if len(missing) == 0 {
		name := fmt.Sprintf("%s%d-probe", Prefix, os.Getpid())
		if out, err := run(context.Background(), "ip", "netns", "add", name); err != nil {
			missing = append(missing, "permission to create network namespaces: "+strings.TrimSpace(out))
		} else {
			run(context.Background(), "ip", "netns", "del", name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return errors.New("network namespaces need " + strings.Join(missing, ", "))
}

// Lab is a set of hosts on one private bridge.
type Lab struct {
	name    string
	sw      string
	hosts   []*Host
	spawner *spawner
	mu      sync.Mutex
	procs   []*Proc
	closed  bool
}

// Host is one network namespace with eth0 on the lab's bridge.
type Host struct {
	lab   *Lab
	index int
	ns    string
	addr  string
}

// New creates a lab of n hosts. On error, what was made is removed.
func New(ctx context.Context, n int) (*Lab, error) {
	if n < 1 || n > MaxHosts {
		return nil, fmt.Errorf("netlab: %d hosts: between 1 and %d", n, MaxHosts)
	}
	RemoveStale()
	l := &Lab{name: fmt.Sprintf("%s%d", Prefix, os.Getpid())}
	l.sw = l.name + "-sw"
	if _, err := os.Stat("/run/netns/" + l.sw); err == nil {
		return nil, fmt.Errorf("netlab: %s exists: one lab per process at a time", l.sw)
	}
	l.spawner = newSpawner()
	ok := false
	defer func() {
		if !ok {
			l.Close()
		}
	}()
	ip := func(args ...string) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("netlab: %w", err)
		}
		if out, err := run(ctx, "ip", args...); err != nil {
			return fmt.Errorf("netlab: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out))
		}
		return nil
	}
	if err := ip("netns", "add", l.sw); err != nil {
		return nil, err
	}
	// No STP and no multicast snooping: ports forward at once and
	// broadcasts reach every host.
	if err := ip("-n", l.sw, "link", "add", "br0", "type", "bridge", "stp_state", "0", "mcast_snooping", "0"); err != nil {
		return nil, err
	}
	if err := ip("-n", l.sw, "link", "set", "br0", "up"); err != nil {
		return nil, err
	}
	for i := 1; i <= n; i++ {
		h := &Host{lab: l, index: i, ns: fmt.Sprintf("%s-h%d", l.name, i), addr: fmt.Sprintf("10.201.0.%d", i)}
		if err := ip("netns", "add", h.ns); err != nil {
			return nil, err
		}
		l.hosts = append(l.hosts, h)
		port := fmt.Sprintf("h%d", i)
		for _, args := range [][]string{
			{"-n", h.ns, "link", "set", "lo", "up"},
			{"-n", l.sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.ns},
			{"-n", l.sw, "link", "set", port, "master", "br0", "up"},
			// brd +: the broadcast address of the /16, for bcast media.
			{"-n", h.ns, "addr", "add", h.addr + "/16", "brd", "+", "dev", "eth0"},
			{"-n", h.ns, "link", "set", "eth0", "up"},
		} {
			if err := ip(args...); err != nil {
				return nil, err
			}
		}
	}
	ok = true
	return l, nil
}

// RemoveStale deletes the namespaces of labs whose program no longer runs
// (killed before it could clean up), killing by PID what still runs in
// them.
func RemoveStale() {
	out, err := run(context.Background(), "ip", "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], Prefix) {
			continue
		}
		rest := strings.TrimPrefix(f[0], Prefix)
		end := strings.IndexByte(rest, '-')
		if end <= 0 {
			continue
		}
		pid, err := strconv.Atoi(rest[:end])
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue // not a lab's, or its owner still runs
		}
		killNamespace(f[0])
		run(context.Background(), "ip", "netns", "del", f[0])
	}
}

// Hosts returns the hosts, h1 first.
func (l *Lab) Hosts() []*Host { return l.hosts }

// Namespaces lists the lab's namespaces, the switch last.
func (l *Lab) Namespaces() []string {
	var out []string
	for _, h := range l.hosts {
		out = append(out, h.ns)
	}
	return append(out, l.sw)
}

// Close kills every process the lab started (by PID), then whatever is
// left in its hosts' namespaces (by PID), and deletes the namespaces. It
// is idempotent.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs := append([]*Proc(nil), l.procs...)
	l.mu.Unlock()
	var errs []error
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Kill(10 * time.Second); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Agents the nodes started (and their children) die with their host.
	for _, h := range l.hosts {
		killNamespace(h.ns)
	}
	l.spawner.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, ns := range l.Namespaces() {
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			continue // never made
		}
		if out, err := run(ctx, "ip", "netns", "del", ns); err != nil {
			errs = append(errs, fmt.Errorf("netlab: delete %s: %v: %s", ns, err, strings.TrimSpace(out)))
		}
	}
	return errors.Join(errs...)
}

// Name is the host's name: h1, h2, ...
func (h *Host) Name() string { return fmt.Sprintf("h%d", h.index) }

// Index is the host's number, from 1.
func (h *Host) Index() int { return h.index }

// Netns is the host's namespace.
func (h *Host) Netns() string { return h.ns }

// Addr is the host's eth0 address (a /16).
func (h *Host) Addr() string { return h.addr }

// Run runs a short command on the host and returns its combined output.
func (h *Host) Run(ctx context.Context, bin string, args ...string) (string, error) {
	return run(ctx, "ip", append([]string{"netns", "exec", h.ns, bin}, args...)...)
}

// PIDs lists the processes in the host's namespace, whoever started them
// (this program excepted).
func (h *Host) PIDs() []int { return namespacePIDs(h.ns) }

// namespacePIDs lists the processes in a namespace.
func namespacePIDs(ns string) []int {
	out, err := run(context.Background(), "ip", "netns", "pids", ns)
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killNamespace SIGKILLs every process in the namespace, by PID, until
// none is left (at most 10 s).
func killNamespace(ns string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		pids := namespacePIDs(ns)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// run runs a command (bounded by cmdTimeout when ctx has no deadline) and
// returns its combined output.
func run(ctx context.Context, bin string, args ...string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cmdTimeout)
		defer cancel()
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}
