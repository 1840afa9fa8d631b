// Package demo runs a local cluster of real hanode processes on loopback
// addresses (127.0.0.1, 127.0.0.2, ...), with no root and no configuration:
// what `hanode demo` shows and what the benchmarks measure.
//
// Every node runs the hanode binary (`hanode run`) with its own native
// configuration, state directory and control socket under a temporary
// directory; they talk UDP unicast on one port, each bound to its own
// loopback address.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/ops/control"
)

// Options describe a local cluster.
type Options struct {
	// Exe is the hanode binary.
	Exe string
	// Nodes is the number of nodes (1..254).
	Nodes int
	// Keepalive and Deadtime of the cluster.
	Keepalive time.Duration
	Deadtime  time.Duration
	// Dir holds configurations, state, sockets and logs; a new temporary
	// directory when empty (removed by Close).
	Dir string
	// Keep leaves the working directory (logs included) in place.
	Keep bool
	// Metrics serves each node's Prometheus metrics (Node.MetricsURL).
	Metrics bool
	// Service adds a resource group "demo" preferring node1: a small
	// service on ServiceHost (see ServiceAddr) that moves between nodes.
	Service bool
	// Auth replaces the configuration's auth block (native text format,
	// e.g. `auth { active_key: 1 keys { ... } }`); empty: one random
	// sha256 key.
	Auth string
	// Configured is how many nodes the configuration names (at least
	// Nodes): the others are members that never start.
	Configured int
}

// Cluster is a running local cluster.
type Cluster struct {
	opts   Options
	dir    string
	ownDir bool
	port   int
	nodes  []*Node
	// ServiceAddr is where the demo service answers, with Options.Service.
	ServiceAddr string
}

// Node is one hanode process of the cluster.
type Node struct {
	Name    string
	Addr    string
	Config  string
	Socket  string
	State   string
	LogPath string
	// MetricsURL is where the node serves its metrics (Options.Metrics).
	MetricsURL string
	metrics    string
	cmd        *exec.Cmd
	exited     chan struct{}
	waitErr    error
}

// New writes the configurations of a cluster; Start runs it.
func New(opts Options) (*Cluster, error) {
	if opts.Nodes < 1 || opts.Nodes > 254 {
		return nil, fmt.Errorf("demo: %d nodes: between 1 and 254", opts.Nodes)
	}
	c := &Cluster{opts: opts, dir: opts.Dir}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "hanode-demo-")
		if err != nil {
			return nil, err
		}
		c.dir, c.ownDir = d, true
	}
	port, err := FreeUDPPort(max(opts.Nodes, opts.Configured))
	if err != nil {
		c.Close()
		return nil, err
	}
	c.port = port
	if opts.Service {
		sp, err := FreeTCPPort(ServiceHost)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.ServiceAddr = net.JoinHostPort(ServiceHost, fmt.Sprint(sp))
		rd := filepath.Join(c.dir, "ha.d", "resource.d")
		if err := os.MkdirAll(rd, 0o755); err != nil {
			c.Close()
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(rd, "demosvc"), []byte(serviceScript(opts.Exe, c.dir)), 0o755); err != nil {
			c.Close()
			return nil, err
		}
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	var addrs []string
	for i := 1; i <= max(opts.Nodes, opts.Configured); i++ {
		addrs = append(addrs, fmt.Sprintf("127.0.0.%d", i))
	}
	for i := 1; i <= opts.Nodes; i++ {
		n := &Node{
			Name:    fmt.Sprintf("node%d", i),
			Addr:    addrs[i-1],
			Config:  filepath.Join(c.dir, fmt.Sprintf("node%d.textproto", i)),
			Socket:  filepath.Join(c.dir, fmt.Sprintf("node%d.sock", i)),
			State:   filepath.Join(c.dir, fmt.Sprintf("node%d-state", i)),
			LogPath: filepath.Join(c.dir, fmt.Sprintf("node%d.log", i)),
		}
		if opts.Metrics {
			p, err := FreeTCPPort(n.Addr)
			if err != nil {
				c.Close()
				return nil, err
			}
			n.metrics = net.JoinHostPort(n.Addr, fmt.Sprint(p))
			n.MetricsURL = "http://" + n.metrics + "/metrics"
		}
		if err := os.WriteFile(n.Config, []byte(c.configText(n, addrs, hex.EncodeToString(secret))), 0o600); err != nil {
			c.Close()
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	return c, nil
}

// DemoStopTimeout is the demo service's stop timeout.
const DemoStopTimeout = time.Second

func (c *Cluster) configText(n *Node, addrs []string, secret string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# hanode demo cluster, node %s\nname: \"demo\"\n", n.Name)
	for i := range addrs {
		fmt.Fprintf(&b, "nodes { name: \"node%d\" }\n", i+1)
	}
	fmt.Fprintf(&b, "timing { keepalive: %q deadtime: %q initdead: %q }\n",
		c.opts.Keepalive.String(), c.opts.Deadtime.String(), (4 * c.opts.Deadtime).String())
	fmt.Fprintf(&b, "udp_port: %d\n", c.port)
	fmt.Fprintf(&b, "links { name: \"lo\" ucast { bind: %q", n.Addr)
	for _, a := range addrs {
		fmt.Fprintf(&b, " peers: %q", a)
	}
	b.WriteString(" } }\n")
	if c.opts.Auth != "" {
		b.WriteString(c.opts.Auth + "\n")
	} else {
		fmt.Fprintf(&b, "auth { active_key: 1 keys { id: 1 method: AUTH_METHOD_SHA256 secret: %q } }\n", secret)
	}
	if c.opts.Service {
		fmt.Fprintf(&b, "auto_failback: AUTO_FAILBACK_ON\nagent_dirs { ha_dir: %q }\n", filepath.Join(c.dir, "ha.d"))
		// The demo service stops at once: a stop timeout of 1s is its stop
		// budget, what the survivors wait after a crash (no fencing here)
		// for node1 to have stopped it by itself.
		fmt.Fprintf(&b, "groups { name: \"demo\" preferred_node: \"node1\"\n  resources { heartbeat { name: \"demosvc\" args: %q } monitor_interval: \"1s\" stop_timeout: %q }\n}\n",
			c.ServiceAddr, DemoStopTimeout.String())
	}
	return b.String()
}

// FreeUDPPort finds a UDP port free on the first n loopback addresses
// (127.0.0.1 to 127.0.0.n).
func FreeUDPPort(n int) (int, error) {
	for try := 0; try < 50; try++ {
		l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return 0, fmt.Errorf("demo: no UDP on loopback: %w", err)
		}
		port := l.LocalAddr().(*net.UDPAddr).Port
		l.Close()
		ok := true
		for i := 2; i <= n && ok; i++ {
			d, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(i)), Port: port})
			if err != nil {
				ok = false
				break
			}
			d.Close()
		}
		if ok {
			return port, nil
		}
	}
	return 0, errors.New("demo: no UDP port free on every loopback address")
}

// Port is the cluster's UDP port.
func (c *Cluster) Port() int { return c.port }

// Dir is the cluster's working directory.
func (c *Cluster) Dir() string { return c.dir }

// Nodes are the cluster's nodes, node1 first.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Start starts node i (0-based): a new process, hence a new generation.
func (c *Cluster) Start(i int) error {
	n := c.nodes[i]
	if n.Running() {
		return fmt.Errorf("%s is already running", n.Name)
	}
	logf, err := os.OpenFile(n.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args := []string{"run", "--config", n.Config, "--name", n.Name, "--state-dir", n.State, "--socket", n.Socket}
	if n.metrics != "" {
		args = append(args, "--metrics", n.metrics)
	}
	cmd := exec.Command(c.opts.Exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that a terminal's Ctrl-C reaches the demo,
	// which then stops the nodes in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	n.cmd, n.exited = cmd, make(chan struct{})
	go func() {
		n.waitErr = cmd.Wait()
		logf.Close()
		close(n.exited)
	}()
	return nil
}

// StartAll starts every node.
func (c *Cluster) StartAll() error {
	for i := range c.nodes {
		if err := c.Start(i); err != nil {
			return err
		}
	}
	return nil
}

// Running says whether the node's process is alive.
func (n *Node) Running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// PID is the node's process id, 0 when not running.
func (n *Node) PID() int {
	if !n.Running() {
		return 0
	}
	return n.cmd.Process.Pid
}

// Kill sends SIGKILL to the node's process and waits for it to be gone. It
// returns the time of the kill.
func (n *Node) Kill() (time.Time, error) {
	if !n.Running() {
		return time.Time{}, fmt.Errorf("%s is not running", n.Name)
	}
	at := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return at, err
	}
	<-n.exited
	return at, nil
}

// Stop sends SIGTERM and waits up to timeout for a clean exit, then kills.
func (n *Node) Stop(timeout time.Duration) error {
	if !n.Running() {
		return nil
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
		if n.waitErr != nil {
			return fmt.Errorf("%s: %v", n.Name, n.waitErr)
		}
		return nil
	case <-time.After(timeout):
		n.cmd.Process.Signal(syscall.SIGKILL)
		<-n.exited
		return fmt.Errorf("%s did not stop within %v; killed", n.Name, timeout)
	}
}

// Status asks the node for its view.
func (n *Node) Status(ctx context.Context) (*messages.ClusterStatus, error) {
	return n.Client().Status(ctx)
}

// Client is a control client of the node.
func (n *Node) Client() *control.Client { return &control.Client{Path: n.Socket} }

// Log returns the node's log so far.
func (n *Node) Log() string {
	b, _ := os.ReadFile(n.LogPath)
	return string(b)
}

// WaitStatus polls the node's status every 5ms until cond holds, ctx ends
// or the process exits.
func (n *Node) WaitStatus(ctx context.Context, cond func(*messages.ClusterStatus) bool) (*messages.ClusterStatus, error) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		if !n.Running() {
			return nil, fmt.Errorf("%s exited: %v", n.Name, n.waitErr)
		}
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		s, err := n.Status(qctx)
		cancel()
		if err == nil && cond(s) {
			return s, nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return nil, fmt.Errorf("%s: %w (last error: %v)", n.Name, ctx.Err(), lastErr)
			}
			return nil, fmt.Errorf("%s: %w", n.Name, ctx.Err())
		case <-tick.C:
		}
	}
}

// State returns a member's state in s.
func State(s *messages.ClusterStatus, name string) *messages.NodeState {
	for _, n := range s.GetNodes() {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// AllActive is true when every member is active in s.
func AllActive(s *messages.ClusterStatus) bool {
	for _, n := range s.GetNodes() {
		if n.Status != messages.NodeStatus_NODE_STATUS_ACTIVE {
			return false
		}
	}
	return len(s.GetNodes()) > 0
}

// WaitAllActive waits until every running node sees every running node
// active, and returns how long that took.
func (c *Cluster) WaitAllActive(ctx context.Context) error {
	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		if _, err := n.WaitStatus(ctx, AllActive); err != nil {
			return err
		}
	}
	return nil
}

// DetectDeath waits until observer sees victim dead and returns how long
// after killedAt the observer declared it, by the observer's own record of
// the transition (not by when this poll noticed).
func (c *Cluster) DetectDeath(ctx context.Context, observer, victim *Node, killedAt time.Time) (time.Duration, error) {
	s, err := observer.WaitStatus(ctx, func(s *messages.ClusterStatus) bool {
		v := State(s, victim.Name)
		return v != nil && v.Status == messages.NodeStatus_NODE_STATUS_DEAD
	})
	if err != nil {
		return 0, err
	}
	return State(s, victim.Name).Since.AsTime().Sub(killedAt), nil
}

// ServicePID is the pid of the demo service node runs, 0 if none.
func (c *Cluster) ServicePID(n *Node) int {
	b, err := os.ReadFile(filepath.Join(c.dir, "demosvc-"+n.Name+".pid"))
	if err != nil {
		return 0
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil || pid <= 0 || !alive(pid) {
		return 0
	}
	return pid
}

// alive says whether a process runs: it exists and is not a zombie (the
// service's parent is init, which may take a while to reap it).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	return err != nil || !strings.Contains(string(b), "State:\tZ")
}

// Crash is a crash of the node's machine: the node and the demo service
// it runs are SIGKILLed. It returns the time of the kill.
func (c *Cluster) Crash(n *Node) (time.Time, error) {
	svc := c.ServicePID(n)
	at, err := n.Kill()
	if svc > 0 {
		syscall.Kill(svc, syscall.SIGKILL)
		for i := 0; i < 500 && alive(svc); i++ {
			time.Sleep(time.Millisecond)
		}
		os.Remove(filepath.Join(c.dir, "demosvc-"+n.Name+".pid"))
	}
	return at, err
}

// Close stops every node (SIGTERM, then SIGKILL), kills any demo service
// left behind, and removes the working directory if it created it.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.nodes {
		if err := n.Stop(time.Minute); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range c.nodes {
		if pid := c.ServicePID(n); pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if c.ownDir && !c.opts.Keep {
		os.RemoveAll(c.dir)
	}
	return errors.Join(errs...)
}
