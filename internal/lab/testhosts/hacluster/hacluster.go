// Package hacluster sets up a Heartbeat-style failover cluster on test
// hosts: every node gets the same /etc/ha.d (ha.cf with ucast links,
// haresources with one group of a virtual IP by Debian's IPaddr2 and a
// small HTTP service, authkeys), and runs it under hanode or under
// Heartbeat 3.0.6 itself. Tests and the failover benchmark use it; a
// testhosts.Probe on a client host tells who serves the virtual IP.
package hacluster

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
)

//go:embed httpsvc
var httpsvc []byte

// defaultStateDir is where the test scripts keep their state unless a test
// binary gives StateDir a directory of its own.
const defaultStateDir = "/tmp/hanode-test"

// StateDir is where the test scripts (httpsvc, and the tests' own ones
// through Scripted) keep pid and state files. A test binary sets it to a
// fresh directory: network namespace numbers are reused, so files left by
// an earlier run in a shared directory would be taken for this run's.
var StateDir = defaultStateDir

// Scripted returns a test script with its state directory set to StateDir.
func Scripted(script string) []byte {
	return []byte(strings.ReplaceAll(script, defaultStateDir, StateDir))
}

//go:embed fence_testhost
var fenceTesthost []byte

// WriteFenceAgent writes the test fence agent (fence-agents protocol;
// it powers a test host off by killing every process in its network
// namespace and taking its network down) into dir and returns its path.
func WriteFenceAgent(t testing.TB, dir string) string {
	p := filepath.Join(dir, "fence_testhost")
	if err := os.WriteFile(p, fenceTesthost, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// OffSince is when the test fence agent began powering the host off (its
// marker's time), zero if it did not.
func OffSince(h *testhosts.Host, markerDir string) time.Time {
	st, err := os.Stat(filepath.Join(markerDir, "off-"+h.Netns()))
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// IsOff says whether the test fence agent powered the host off (it left
// its marker in markerDir).
func IsOff(h *testhosts.Host, markerDir string) bool {
	_, err := os.Stat(filepath.Join(markerDir, "off-"+h.Netns()))
	return err == nil
}

// Port is the HTTP service's port.
const Port = 8080

// Options describe a cluster.
type Options struct {
	// Nodes are the hosts that run nodes (node1 on the first); the lab's
	// other hosts are clients.
	Nodes []*testhosts.Host
	// Keepalive, Deadtime, Warntime and Initdead in ha.cf syntax
	// ("100ms", "2").
	Keepalive, Deadtime, Warntime, Initdead string
	// AutoFailback is on, off or legacy.
	AutoFailback string
	// VIP is the virtual IP (on eth0's network, 10.201.0.0/24).
	VIP string
	// Resources replaces the group's resources (haresources words after
	// the node); default IPaddr2::VIP/24/eth0 httpsvc::Port.
	Resources []string
	// ExtraScripts are more resource.d scripts: name to contents.
	ExtraScripts map[string][]byte
	// Service is the hanode binary whose demo-service command is the HTTP
	// service.
	Service string
	// HaCf is appended to ha.cf (ping nodes, say).
	HaCf string
}

// Node is one node of the cluster on its host.
type Node struct {
	Name string
	Host *testhosts.Host
	// Dir holds ha.d, the state directory and the control socket.
	Dir    string
	Socket string
	Proc   *testhosts.Proc
	t      testing.TB
}

// Cluster is the nodes and their shared configuration.
type Cluster struct {
	Nodes []*Node
	VIP   string
	t     testing.TB
}

// New writes each node's /etc/ha.d. Services the nodes start are killed
// (by the PIDs in their pid files) when the test ends.
func New(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Warntime == "" {
		o.Warntime = o.Deadtime
	}
	if o.Initdead == "" {
		o.Initdead = "10"
	}
	if o.AutoFailback == "" {
		o.AutoFailback = "on"
	}
	c := &Cluster{VIP: o.VIP, t: t}
	var names []string
	for i := range o.Nodes {
		names = append(names, fmt.Sprintf("node%d", i+1))
	}
	var cf strings.Builder
	fmt.Fprintf(&cf, "# failover test cluster\nlogfacility none\nkeepalive %s\ndeadtime %s\nwarntime %s\ninitdead %s\nudpport 694\n",
		o.Keepalive, o.Deadtime, o.Warntime, o.Initdead)
	for _, h := range o.Nodes {
		fmt.Fprintf(&cf, "ucast eth0 %s\n", h.Addr())
	}
	fmt.Fprintf(&cf, "auto_failback %s\nnode %s\n", o.AutoFailback, strings.Join(names, " "))
	cf.WriteString(o.HaCf)
	resources := o.Resources
	if resources == nil {
		resources = []string{fmt.Sprintf("IPaddr2::%s/24/eth0", o.VIP), fmt.Sprintf("httpsvc::%d", Port)}
	}
	haresources := fmt.Sprintf("node1 %s\n", strings.Join(resources, " "))
	for i, h := range o.Nodes {
		n := &Node{Name: names[i], Host: h, Dir: h.TempDir(), t: t}
		n.Socket = filepath.Join(n.Dir, "hanode.sock")
		ha := n.HaDir()
		rd := filepath.Join(ha, "resource.d")
		if err := os.MkdirAll(rd, 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{"ha.cf": cf.String(), "haresources": haresources, "authkeys": "auth 1\n1 sha1 failover-test-key\n"}
		for name, text := range files {
			mode := os.FileMode(0o644)
			if name == "authkeys" {
				mode = 0o600
			}
			if err := os.WriteFile(filepath.Join(ha, name), []byte(text), mode); err != nil {
				t.Fatal(err)
			}
		}
		// Debian's own scripts, unchanged.
		for _, s := range []string{"IPaddr2", "IPaddr", "hto-mapfuncs"} {
			if err := os.Symlink(filepath.Join("/etc/ha.d/resource.d", s), filepath.Join(rd, s)); err != nil {
				t.Fatal(err)
			}
		}
		// The state directory first: the service's path may contain it.
		script := bytes.ReplaceAll(httpsvc, []byte(defaultStateDir), []byte(StateDir))
		scripts := map[string][]byte{"httpsvc": bytes.ReplaceAll(script, []byte("@SERVICE@"), []byte(shellQuote(o.Service)))}
		for name, body := range o.ExtraScripts {
			scripts[name] = body
		}
		for name, body := range scripts {
			if err := os.WriteFile(filepath.Join(rd, name), body, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		c.Nodes = append(c.Nodes, n)
		t.Cleanup(func() { n.KillServices() })
	}
	return c
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Require checks for what the cluster needs beyond test hosts: Debian's
// heartbeat package (its resource.d scripts) and resource-agents (the OCF
// IPaddr2 they call).
func Require(t testing.TB) {
	t.Helper()
	var missing []string
	for _, p := range []string{"/etc/ha.d/resource.d/IPaddr2", "/usr/lib/ocf/resource.d/heartbeat/IPaddr2"} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("failover tests need %s (apt-get install heartbeat resource-agents)", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// HaDir is the node's /etc/ha.d.
func (n *Node) HaDir() string { return filepath.Join(n.Dir, "ha.d") }

// Start runs hanode (the binary bin) on the node's host.
func (n *Node) Start(bin string, extra ...string) {
	args := append([]string{"run", "--hacf", n.HaDir(), "--name", n.Name,
		"--state-dir", filepath.Join(n.Dir, "state"), "--socket", n.Socket, "--reset-command", n.resetCommand()}, extra...)
	n.Proc = n.Host.Start(n.Name, bin, args...)
}

// StartConfig runs hanode on the node's host from a native configuration
// file.
func (n *Node) StartConfig(bin, config string, extra ...string) {
	args := append([]string{"run", "--config", config, "--name", n.Name,
		"--state-dir", filepath.Join(n.Dir, "state"), "--socket", n.Socket, "--reset-command", n.resetCommand()}, extra...)
	n.Proc = n.Host.Start(n.Name, bin, args...)
}

// resetCommand is what a node on a test host does instead of rebooting
// the test machine when it must reset itself: what a reset does to the
// host, every process in its network namespace killed and its network
// down (the caller, hanode, included), and a marker file saying so.
func (n *Node) resetCommand() string {
	ns := n.Host.Netns()
	return fmt.Sprintf("touch %s; ip -n %s link set eth0 down; ip netns pids %s | xargs -r kill -9",
		shellQuote(filepath.Join(n.Dir, "reset")), ns, ns)
}

// WasReset says whether the node reset its host (see resetCommand).
func (n *Node) WasReset() bool {
	_, err := os.Stat(filepath.Join(n.Dir, "reset"))
	return err == nil
}

// Stop stops the node cleanly (SIGTERM) and waits for it to exit.
func (n *Node) Stop(timeout time.Duration) error {
	if n.Proc == nil {
		return errors.New("not started")
	}
	if err := n.Proc.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	code, err := n.Proc.Wait(timeout)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("%s exited with %d", n.Name, code)
	}
	return nil
}

// Crash is the machine dying: every process the test started on the host
// is SIGKILLed and its network goes down, so that what it leaves behind
// (the virtual IP, the service) cannot answer.
func (n *Node) Crash() {
	n.Host.KillAll()
	if err := n.Host.LinkDown("eth0"); err != nil {
		n.t.Fatal(err)
	}
}

// Recover brings a crashed node's machine back: the service it left is
// killed and the address removed (a reboot), then the network comes up.
func (n *Node) Recover(vip string) {
	n.KillServices()
	n.Host.Run(context.Background(), "ip", "addr", "del", vip+"/24", "dev", "eth0")
	if err := n.Host.LinkUp("eth0"); err != nil {
		n.t.Fatal(err)
	}
}

// ServicePID is the HTTP service's PID on this node, 0 if none runs.
func (n *Node) ServicePID() int {
	b, err := os.ReadFile(n.pidFile())
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || syscall.Kill(pid, 0) != nil {
		return 0
	}
	// A zombie (exited, not reaped yet by init) does not run.
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil && strings.Contains(string(st), "State:\tZ") {
		return 0
	}
	return pid
}

func (n *Node) pidFile() string {
	var ino uint64
	if st, err := os.Stat("/run/netns/" + n.Host.Netns()); err == nil {
		ino = st.Sys().(*syscall.Stat_t).Ino
	}
	return fmt.Sprintf("%s/httpsvc-%d-%s-%d.pid", StateDir, ino, n.Name, Port)
}

// KillServices kills the HTTP service this node's agents started, by its
// PID.
func (n *Node) KillServices() {
	if pid := n.ServicePID(); pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	os.Remove(n.pidFile())
}

// heartbeatBin is Debian's Heartbeat 3.0.6 daemon.
const heartbeatBin = "/usr/libexec/heartbeat/heartbeat"

// RequireHeartbeat checks for Debian's heartbeat package, needed to compare
// hanode with the original.
func RequireHeartbeat(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(heartbeatBin); err != nil {
		msg := "the comparison with Heartbeat needs Debian's heartbeat package (apt-get install heartbeat)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// hbSetup prepares the node's Heartbeat: a copy of Debian's /etc/ha.d with
// this cluster's ha.cf, haresources and authkeys and the test scripts.
func (n *Node) hbSetup() (string, error) {
	etc := filepath.Join(n.Dir, "hb-etc-ha.d")
	if _, err := os.Stat(etc); err == nil {
		return etc, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "cp", "-a", "/etc/ha.d/.", etc+"/").CombinedOutput(); err != nil {
		return "", fmt.Errorf("copy /etc/ha.d: %v: %s", err, out)
	}
	for _, f := range []string{"ha.cf", "haresources", "authkeys"} {
		b, err := os.ReadFile(filepath.Join(n.HaDir(), f))
		if err != nil {
			return "", err
		}
		mode := os.FileMode(0o644)
		if f == "authkeys" {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(etc, f), b, mode); err != nil {
			return "", err
		}
	}
	entries, err := os.ReadDir(filepath.Join(n.HaDir(), "resource.d"))
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			b, err := os.ReadFile(filepath.Join(n.HaDir(), "resource.d", e.Name()))
			if err != nil {
				return "", err
			}
			if err := os.WriteFile(filepath.Join(etc, "resource.d", e.Name()), b, 0o755); err != nil {
				return "", err
			}
		}
	}
	return etc, nil
}

// StartHeartbeat runs Heartbeat 3.0.6 itself on the node's host, from the
// same configuration, in private mount and UTS namespaces: /etc/ha.d is
// the node's, /var/lib/heartbeat is the node's own, /run is fresh, and the
// host name is the node's name (Heartbeat knows itself by uname -n).
func (n *Node) StartHeartbeat() {
	etc, err := n.hbSetup()
	if err != nil {
		n.t.Fatal(err)
	}
	// Kept across restarts, as on a real machine: Heartbeat's generation
	// number lives there.
	varLib := filepath.Join(n.Dir, "hb-var-lib")
	script := fmt.Sprintf(`set -e
mount --bind %q /etc/ha.d
mkdir -p %q
mount --bind %q /var/lib/heartbeat
mkdir -p /var/lib/heartbeat/ccm /var/lib/heartbeat/crm /var/lib/heartbeat/api /var/lib/heartbeat/cores
mount -t tmpfs tmpfs /run
mkdir -p /run/heartbeat/rsctmp /run/resource-agents /run/lock
hostname %s
exec %s
`, etc, varLib, varLib, n.Name, heartbeatBin)
	n.Proc = n.Host.Start(n.Name+"-heartbeat", "unshare", "-m", "-u", "--propagation", "private", "sh", "-c", script)
}

// HeartbeatPID is the pid of Heartbeat's master control process on the
// node's host (the oldest heartbeat process there), 0 if none runs.
func (n *Node) HeartbeatPID() int {
	best, bestStart := 0, uint64(0)
	for _, pid := range n.Host.PIDs() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		if !strings.Contains(s, "(heartbeat)") {
			continue
		}
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 20 {
			continue
		}
		start, _ := strconv.ParseUint(fields[19], 10, 64)
		if best == 0 || start < bestStart {
			best, bestStart = pid, start
		}
	}
	return best
}

// InHeartbeat runs a command inside the node's Heartbeat namespaces (its
// /etc/ha.d, /var/lib/heartbeat, host name): hb_standby, hb_takeover.
func (n *Node) InHeartbeat(args ...string) (string, error) {
	pid := n.HeartbeatPID()
	if pid == 0 {
		return "", errors.New("heartbeat is not running on " + n.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{"-t", strconv.Itoa(pid), "-m", "-u", "-n", "--"}, args...)
	out, err := exec.CommandContext(ctx, "nsenter", full...).CombinedOutput()
	return string(out), err
}

// StopHeartbeat stops Heartbeat cleanly (SIGTERM to its master control
// process, as its init script does) and waits until none of its processes
// is left.
func (n *Node) StopHeartbeat(timeout time.Duration) error {
	pid := n.HeartbeatPID()
	if pid == 0 {
		return errors.New("heartbeat is not running on " + n.Name)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(timeout)
	for n.HeartbeatPID() != 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("heartbeat on %s still running %v after SIGTERM", n.Name, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// CrashHost is the machine dying, whatever runs on it: every process in
// the host's network namespace is SIGKILLed (Heartbeat's daemons and the
// services it started included) and its network goes down.
func (n *Node) CrashHost() {
	n.Host.KillNamespace()
	if err := n.Host.LinkDown("eth0"); err != nil {
		n.t.Fatal(err)
	}
}
