package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/demo"
	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/ops/control"
)

// haNode is hanode running from its own /etc/ha.d on a test host.
type haNode struct {
	name   string
	host   *testhosts.Host
	dir    string
	socket string
	proc   *testhosts.Proc
}

func (n *haNode) start() {
	n.proc = n.host.Start(n.name, hanodeBin, "run", "--hacf", filepath.Join(n.dir, "ha.d"), "--name", n.name,
		"--state-dir", filepath.Join(n.dir, "state"), "--socket", n.socket)
}

func (n *haNode) status(t *testing.T) (*messages.ClusterStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return (&control.Client{Path: n.socket}).Status(ctx)
}

// clStatus runs `hanode cl_status` against the node.
func (n *haNode) clStatus(args ...string) (int, string) {
	code, out, _ := runCLI(append([]string{"cl_status", "--socket", n.socket}, args...)...)
	return code, out
}

// writeHaDir writes an /etc/ha.d that all nodes share, as Heartbeat users
// do: ucast lines for every node (the one pointing at the node itself is
// skipped), authkeys mode 0600.
func writeHaDir(t *testing.T, dir string, hosts []*testhosts.Host, keepalive, deadtime string) {
	t.Helper()
	ha := filepath.Join(dir, "ha.d")
	if err := os.MkdirAll(ha, 0o755); err != nil {
		t.Fatal(err)
	}
	var cf strings.Builder
	fmt.Fprintf(&cf, "# test cluster\nlogfacility none\nkeepalive %s\ndeadtime %s\nwarntime 300ms\ninitdead 10\nudpport 694\n", keepalive, deadtime)
	var names []string
	for i, h := range hosts {
		fmt.Fprintf(&cf, "ucast eth0 %s\n", h.Addr())
		names = append(names, fmt.Sprintf("node%d", i+1))
	}
	fmt.Fprintf(&cf, "auto_failback on\nnode %s\n", strings.Join(names, " "))
	files := map[string]string{"ha.cf": cf.String(), "haresources": "", "authkeys": "auth 1\n1 sha1 integration-test-key\n"}
	for name, text := range files {
		mode := os.FileMode(0o644)
		if name == "authkeys" {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(ha, name), []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// TestThreeNodesInNamespaces runs the built binary as three nodes, each on
// its own host (network namespace) with its own /etc/ha.d using ucast:
// all become active within initdead; a SIGKILLed node is reported dead by
// the others within deadtime + 2 keepalives; restarted, it is active again
// with a higher generation.
func TestThreeNodesInNamespaces(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 3})
	const keepalive, deadtime = 100 * time.Millisecond, 500 * time.Millisecond
	const initdead = 10 * time.Second
	var nodes []*haNode
	for i, h := range lab.Hosts() {
		n := &haNode{name: fmt.Sprintf("node%d", i+1), host: h, dir: h.TempDir()}
		n.socket = filepath.Join(n.dir, "hanode.sock")
		writeHaDir(t, n.dir, lab.Hosts(), "100ms", "500ms")
		nodes = append(nodes, n)
	}
	started := time.Now()
	for _, n := range nodes {
		n.start()
	}
	// Every node sees every node active, within initdead.
	for _, n := range nodes {
		for _, other := range nodes {
			testhosts.WaitFor(t, initdead-time.Since(started), 20*time.Millisecond, n.name+" sees "+other.name+" active", func() (bool, string) {
				code, out := n.clStatus("nodestatus", other.name)
				return code == 0 && out == "active\n", fmt.Sprintf("exit %d %q", code, out)
			})
		}
	}
	t.Logf("all active %v after start", time.Since(started).Round(time.Millisecond))
	if code, out := nodes[0].clStatus("listhblinks", "node2"); code != 0 || out != "\teth0\n" {
		t.Fatalf("listhblinks: %d %q", code, out)
	}
	if code, out := nodes[0].clStatus("hblinkstatus", "node2", "eth0"); code != 0 || out != "up\n" {
		t.Fatalf("hblinkstatus: %d %q", code, out)
	}
	if code, out := nodes[1].clStatus("hbparameter", "-p", "deadtime"); code != 0 || out != "500ms\n" {
		t.Fatalf("hbparameter: %d %q", code, out)
	}
	s, err := nodes[0].status(t)
	if err != nil {
		t.Fatal(err)
	}
	oldGen := demo.State(s, "node3").Generation

	// SIGKILL node3: the others declare it dead within deadtime + 2
	// keepalives, by their own record of the transition.
	killedAt := time.Now()
	nodes[2].proc.Kill()
	limit := deadtime + 2*keepalive
	for _, n := range nodes[:2] {
		testhosts.WaitFor(t, 5*time.Second, 10*time.Millisecond, n.name+" reports node3 dead", func() (bool, string) {
			code, out := n.clStatus("nodestatus", "node3")
			return code == 1 && out == "dead\n", fmt.Sprintf("exit %d %q", code, out)
		})
		s, err := n.status(t)
		if err != nil {
			t.Fatal(err)
		}
		d := demo.State(s, "node3").Since.AsTime().Sub(killedAt)
		t.Logf("%s declared node3 dead %v after SIGKILL", n.name, d.Round(time.Millisecond))
		if d > limit {
			t.Errorf("%s declared node3 dead %v after the kill, more than deadtime + 2 keepalives (%v)", n.name, d, limit)
		}
		if code, out := n.clStatus("hblinkstatus", "node3", "eth0"); code != 1 || out != "dead\n" {
			t.Errorf("%s: hblinkstatus node3 eth0: %d %q", n.name, code, out)
		}
	}

	// Restarted, node3 is active again, as a new incarnation.
	nodes[2].start()
	for _, n := range nodes[:2] {
		testhosts.WaitFor(t, initdead, 20*time.Millisecond, n.name+" sees node3 back with a higher generation", func() (bool, string) {
			s, err := n.status(t)
			if err != nil {
				return false, err.Error()
			}
			st := demo.State(s, "node3")
			return st.Status == messages.NodeStatus_NODE_STATUS_ACTIVE && st.Generation > oldGen,
				fmt.Sprintf("%v generation %d (was %d)", st.Status, st.Generation, oldGen)
		})
	}
	testhosts.WaitFor(t, initdead, 20*time.Millisecond, "node3 sees the others active", func() (bool, string) {
		s, err := nodes[2].status(t)
		if err != nil {
			return false, err.Error()
		}
		return demo.AllActive(s), fmt.Sprint(s.Nodes)
	})
}
