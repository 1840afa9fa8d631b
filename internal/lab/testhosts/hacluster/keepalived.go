package hacluster

// This file runs the cluster's address under keepalived (Debian's
// package) instead of a Heartbeat-style manager, the way keepalived setups
// do it: the HTTP service runs on every node all the time (it listens on
// every address, as a service bound with ip_nonlocal_bind would) and one
// VRRP instance per node moves only the virtual address. The failover
// benchmark compares it with Heartbeat and hanode on the same test hosts,
// the same address and the same service.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/need"
)

// RequireKeepalived returns keepalived's path, or ends the test (skipped
// outside CI, failed in CI) when Debian's keepalived package is missing.
func RequireKeepalived(t testing.TB) string {
	t.Helper()
	return need.Command(t, "keepalived", "keepalived")
}

// KeepalivedOptions describe the VRRP instance every node runs.
type KeepalivedOptions struct {
	// AdvertInt is the advertisement interval. VRRPv3 carries it in
	// centiseconds (RFC 5798), so keepalived runs anything from 10ms up
	// in 10ms steps; it is rounded to the nearest centisecond.
	AdvertInt time.Duration
	// Nopreempt keeps a backup that became master master when the
	// preferred node comes back (Heartbeat's auto_failback off); the
	// default preempts (auto_failback on).
	Nopreempt bool
	// DownTimerAdverts is how many advertisement intervals make the
	// master down interval (plus the skew time); 0 is the RFC's 3.
	DownTimerAdverts int
}

// KeepalivedPriority is node i's (1-based) VRRP priority: node1 is the
// preferred master, as it is the preferred node of haresources.
func KeepalivedPriority(i int) int { return 150 - 50*(i-1) }

// Centiseconds is d rounded to VRRPv3's unit, never below its 10ms
// minimum.
func Centiseconds(d time.Duration) time.Duration {
	cs := max(int64(math.Round(float64(d)/float64(10*time.Millisecond))), 1)
	return time.Duration(cs) * 10 * time.Millisecond
}

// KeepalivedMasterDown is the time a backup of priority prio waits,
// without adverts, before it becomes master (RFC 5798's
// Master_Down_Interval: down adverts intervals plus the skew time, which
// is also how long it waits after a master's priority-0 advert).
func (o KeepalivedOptions) KeepalivedMasterDown(prio int) (down, skew time.Duration) {
	adv := Centiseconds(o.AdvertInt)
	n := o.DownTimerAdverts
	if n == 0 {
		n = 3
	}
	skew = time.Duration(256-prio) * adv / 256
	return time.Duration(n)*adv + skew, skew
}

// keepalivedDir holds the node's keepalived configuration and pid files.
func (n *Node) keepalivedDir() string { return filepath.Join(n.Dir, "keepalived") }

// WriteKeepalived writes every node's keepalived.conf: one VRRP instance
// (VRRPv3, multicast on eth0, the test bridge) holding the cluster's
// virtual IP, node1 preferred.
func (c *Cluster) WriteKeepalived(o KeepalivedOptions) error {
	adv := Centiseconds(o.AdvertInt)
	for i, n := range c.Nodes {
		var cf strings.Builder
		fmt.Fprintf(&cf, "# failover test cluster, %s\nglobal_defs {\n\trouter_id %s\n\tvrrp_version 3\n}\n\n", n.Name, n.Name)
		state := "BACKUP"
		if i == 0 && !o.Nopreempt {
			// keepalived's usual two-node setup; with nopreempt every
			// node must start as backup (keepalived.conf(5)).
			state = "MASTER"
		}
		fmt.Fprintf(&cf, "vrrp_instance VI_1 {\n\tstate %s\n\tinterface eth0\n\tvirtual_router_id 51\n\tpriority %d\n\tadvert_int %.2f\n",
			state, KeepalivedPriority(i+1), adv.Seconds())
		// accept: the node that holds the address answers on it (no_accept,
		// the RFC's default for a non-owner, would have keepalived drop
		// what is sent to it); spelled out rather than left to the mode.
		cf.WriteString("\taccept\n")
		if o.Nopreempt {
			cf.WriteString("\tnopreempt\n")
		}
		if o.DownTimerAdverts != 0 {
			fmt.Fprintf(&cf, "\tdown_timer_adverts %d\n", o.DownTimerAdverts)
		}
		fmt.Fprintf(&cf, "\tvirtual_ipaddress {\n\t\t%s/24 dev eth0\n\t}\n}\n", c.VIP)
		dir := n.keepalivedDir()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("keepalived dir of %s: %w", n.Name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "keepalived.conf"), []byte(cf.String()), 0o644); err != nil {
			return fmt.Errorf("keepalived.conf of %s: %w", n.Name, err)
		}
	}
	return nil
}

// StartService starts the HTTP service on the node's host by itself, as a
// keepalived setup runs it: the same resource script the cluster managers
// run, so the pid file, the answer and the cleanup are theirs.
func (n *Node) StartService() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	script := filepath.Join(n.HaDir(), "resource.d", "httpsvc")
	out, errOut, code, err := n.Host.Run(ctx, "env", "HA_CURHOST="+n.Name, script, strconv.Itoa(Port), "start")
	if err != nil || code != 0 {
		return fmt.Errorf("httpsvc start on %s: exit %d, %v: %s%s", n.Name, code, err, out, errOut)
	}
	return nil
}

// StartKeepalived runs keepalived (VRRP only, in the foreground, logging
// to its output file) on the node's host, from the configuration
// WriteKeepalived wrote, its pid files in the node's directory: nothing
// of the machine's own /etc/keepalived or /run is used.
func (n *Node) StartKeepalived() {
	dir := n.keepalivedDir()
	// A machine that boots has an empty /run: pid files of a keepalived
	// that died with its host are gone. Here its VRRP child may linger as
	// a zombie nobody reaps, which keepalived would take for a running
	// daemon ("daemon is already running") and refuse to start.
	for _, f := range []string{"keepalived.pid", "vrrp.pid", "checkers.pid"} {
		os.Remove(filepath.Join(dir, f))
	}
	n.Proc = n.Host.Start(n.Name+"-keepalived", "keepalived",
		"--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp",
		"--use-file", filepath.Join(dir, "keepalived.conf"),
		"--pid", filepath.Join(dir, "keepalived.pid"),
		"--vrrp_pid", filepath.Join(dir, "vrrp.pid"),
		"--checkers_pid", filepath.Join(dir, "checkers.pid"))
	// The VRRP child is killed by its PID too when the test ends, should
	// its parent have died without taking it along.
	n.t.Cleanup(func() { n.killKeepalivedChild() })
}

// killKeepalivedChild SIGKILLs the VRRP process named by the node's vrrp
// pid file, if it still runs in the node's network namespace.
func (n *Node) killKeepalivedChild() {
	b, err := os.ReadFile(filepath.Join(n.keepalivedDir(), "vrrp.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	for _, p := range n.Host.PIDs() {
		if p == pid {
			syscall.Kill(pid, syscall.SIGKILL)
			return
		}
	}
}

// KeepalivedState is the VRRP instance's latest state as keepalived
// logged it (MASTER, BACKUP, FAULT), "" before it logged any.
func (n *Node) KeepalivedState() string {
	if n.Proc == nil {
		return ""
	}
	out := n.Proc.Output()
	i := strings.LastIndex(out, "Entering ")
	if i < 0 {
		return ""
	}
	f := strings.Fields(out[i+len("Entering "):])
	if len(f) < 2 || f[1] != "STATE" {
		return ""
	}
	return f[0]
}

// StopKeepalived stops keepalived cleanly (SIGTERM: a master sends a
// priority-0 advert, so that a backup takes over after its skew time, and
// drops the address) and waits for it to exit.
func (n *Node) StopKeepalived(timeout time.Duration) error {
	if n.Proc == nil {
		return errors.New("keepalived not started on " + n.Name)
	}
	if err := n.Proc.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("keepalived on %s: %w", n.Name, err)
	}
	code, err := n.Proc.Wait(timeout)
	if err != nil {
		return fmt.Errorf("keepalived on %s: %w", n.Name, err)
	}
	if code != 0 {
		return fmt.Errorf("keepalived on %s exited with %d: %s", n.Name, code, n.Proc.Tail(20))
	}
	return nil
}
