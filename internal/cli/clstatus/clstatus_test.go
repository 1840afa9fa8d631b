package clstatus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/ops/control"
)

type fakeClient struct {
	status *messages.ClusterStatus
	params map[string]string
	err    error
}

func (f *fakeClient) Status(context.Context) (*messages.ClusterStatus, error) {
	return f.status, f.err
}

func (f *fakeClient) Parameter(_ context.Context, name string) (*messages.ParameterResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	v, ok := f.params[name]
	return &messages.ParameterResponse{Name: name, Value: v, Set: ok}, nil
}

func link(name string, up bool) *messages.LinkState {
	st := messages.LinkStatus_LINK_STATUS_DEAD
	if up {
		st = messages.LinkStatus_LINK_STATUS_UP
	}
	return &messages.LinkState{Name: name, Status: st}
}

// cluster: node1 (local, active; it hears itself on eth0, a bcast link,
// not on eth1), node2 (active, eth1 dead), node3 (dead), and a ping node.
// node2 runs the one group, which prefers it.
func cluster() *fakeClient {
	normal, ping := messages.NodeType_NODE_TYPE_NORMAL, messages.NodeType_NODE_TYPE_PING
	looping := link("eth0", true)
	looping.LoopsBack = true
	return &fakeClient{
		status: &messages.ClusterStatus{
			Version:   "1.0.0",
			LocalNode: "node1",
			Nodes: []*messages.NodeState{
				{Name: "node1", Type: normal, Status: messages.NodeStatus_NODE_STATUS_ACTIVE, Local: true, Links: []*messages.LinkState{looping, link("eth1", true)}},
				{Name: "node2", Type: normal, Status: messages.NodeStatus_NODE_STATUS_ACTIVE, Links: []*messages.LinkState{link("eth0", true), link("eth1", false)}},
				{Name: "node3", Type: normal, Status: messages.NodeStatus_NODE_STATUS_DEAD, Links: []*messages.LinkState{link("eth0", false), link("eth1", false)}},
				{Name: "10.0.0.254", Type: ping, Status: messages.NodeStatus_NODE_STATUS_PING},
			},
			Groups: []*messages.GroupStatus{{Name: "web", PreferredNode: "node2", LocalPhase: messages.GroupPhase_GROUP_PHASE_STOPPED, RunningOn: []string{"node2"}}},
		},
		params: map[string]string{"keepalive": "2", "deadtime": "30"},
	}
}

func TestSubCommands(t *testing.T) {
	cases := []struct {
		args      string
		code      int
		out, eout string
	}{
		{"hbstatus", 0, "Heartbeat is running on this machine.\n", ""},
		// Nodes and links backwards, as Heartbeat's client library lists
		// them.
		{"hbstatus -v", 0, "version:\t1.0.0\nmanaged by:\t\"haresources\"\n\n10.0.0.254\tping\t(nodetype: ping)\n\t10.0.0.254\tup\n\nnode3\tdead\t(nodetype: normal)\n\teth1\tdead\n\teth0\tdead\n\nnode2\tactive\t(nodetype: normal)\n\teth1\tdead\n\teth0\tup\n\nnode1\tactive\t(nodetype: normal)\n\teth1\tdead\n\teth0\tup\n", ""},
		{"listnodes", 0, "10.0.0.254\nnode3\nnode2\nnode1\n", ""},
		{"listnodes -n", 0, "node3\nnode2\nnode1\n", ""},
		{"listnodes -p", 0, "10.0.0.254\n", ""},
		{"listnodes -p -n", 0, "10.0.0.254\nnode3\nnode2\nnode1\n", ""},
		{"listnodes -pn", 0, "10.0.0.254\nnode3\nnode2\nnode1\n", ""},
		{"listnodes -m -p", 0, "The nodes are as follow:\n10.0.0.254\n", ""},
		{"listnodes -vp", 0, "\n10.0.0.254\tping\t(nodetype: ping)\n\t10.0.0.254\tup\n", ""},
		{"nodestatus node2", 0, "active\n", ""},
		{"nodestatus NODE2", 0, "active\n", ""},
		{"nodestatus node3", 1, "dead\n", ""},
		{"nodestatus 10.0.0.254", 0, "ping\n", ""},
		{"nodestatus -m node3", 1, "The cluster node node3 is dead\n", ""},
		{"nodestatus node3 -m", 1, "The cluster node node3 is dead\n", ""},
		{"nodestatus", 11, "", "Not enough parameters.\n"},
		{"nodestatus nobody", 11, "", "Error. May be due to incorrect node name\n"},
		{"nodetype node1", 0, "normal\n", ""},
		{"nodetype 10.0.0.254", 0, "ping\n", ""},
		{"nodetype -m node1", 0, "The node node1's type: normal\n", ""},
		{"nodetype nobody", 11, "", "Error. May be due to incorrect node name\n"},
		{"nodeweight node1", 0, "100\n", ""},
		{"nodeweight nobody", 11, "", "Error. Maybe due to incorrect node name.\n"},
		{"nodesite node1", 0, "\n", ""},
		{"listhblinks node2", 0, "\teth1\n\teth0\n", ""},
		{"listhblinks -v node2", 0, "\teth1\tdead\n\teth0\tup\n", ""},
		{"listhblinks -m node2", 0, "\tthis node has the following heartbeat links:\n\teth1\n\teth0\n", ""},
		{"listhblinks 10.0.0.254", 0, "\t10.0.0.254\n", ""},
		{"listhblinks", 11, "", "No enough parameter.\n"},
		{"hblinkstatus node2 eth0", 0, "up\n", ""},
		// Own links: up only where the node hears itself.
		{"hblinkstatus node1 eth0", 0, "up\n", ""},
		{"hblinkstatus node1 eth1", 1, "dead\n", ""},
		{"hblinkstatus 10.0.0.254 10.0.0.254", 0, "up\n", ""},
		{"hblinkstatus node2 eth1", 1, "dead\n", ""},
		{"hblinkstatus -m node2 eth1", 1, "The node node2's heartbeat link eth1 is dead\n", ""},
		{"hblinkstatus node2 eth9", 13, "", "cl_status: Cannot get heartbeat link status\ncl_status: REASON: no link eth9 of node node2\n"},
		{"hblinkstatus node2", 11, "", "No enough parameter.\n"},
		{"clientstatus node2 ipfail", 1, "offline\n", ""},
		// node1 holds its own role (no group prefers it) and dead
		// node3's, not node2's.
		{"rscstatus", 0, "all\n", ""},
		{"rscstatus -m", 0, "This node is holding all resources.\n", ""},
		{"hbparameter -p keepalive", 0, "2\n", ""},
		{"hbparameter -pdeadtime", 0, "30\n", ""},
		{"hbparameter -m -p keepalive", 0, "Heartbeat parameter keepalive's value: 2\n", ""},
		{"hbparameter -p nosuch", 1, "", "cl_status: Cannot get parameter nosuch's value\n"},
		{"hbparameter", 11, "", "cl_status: parameter name required\n"},
		{"hbparameter -p", 11, "", "cl_status: option requires an argument -- 'p'\n"},
		{"nodestatus -x node1", 11, "", "cl_status: invalid option -- 'x'\n"},
		{"bogus", 11, "", "cl_status: bogus: invalid sub-command.\n"},
	}
	for _, c := range cases {
		var out, eout bytes.Buffer
		code := Run(context.Background(), strings.Fields(c.args), cluster(), &out, &eout)
		if code != c.code || out.String() != c.out || eout.String() != c.eout {
			t.Errorf("cl_status %s:\n exit %d, want %d\n out %q\nwant %q\n err %q\nwant %q", c.args, code, c.code, out.String(), c.out, eout.String(), c.eout)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{nil, {"-h"}} {
		var out bytes.Buffer
		if code := Run(context.Background(), args, cluster(), &out, &out); code != 0 || !strings.HasPrefix(out.String(), "Usage: cl_status") {
			t.Fatalf("%v: %d %q", args, code, out.String())
		}
	}
}

func TestNodeNotRunning(t *testing.T) {
	down := &fakeClient{err: errors.New("hanode is not running")}
	cases := []struct {
		args string
		code int
		out  string
	}{
		{"hbstatus", 1, "Heartbeat is stopped on this machine.\n"},
		{"listnodes", 1, ""},
		{"nodestatus node1", 1, ""},
		{"hbparameter -p keepalive", 1, ""},
	}
	for _, c := range cases {
		var out, eout bytes.Buffer
		code := Run(context.Background(), strings.Fields(c.args), down, &out, &eout)
		if code != c.code || out.String() != c.out {
			t.Errorf("%s: exit %d out %q err %q", c.args, code, out.String(), eout.String())
		}
	}
}

func TestRefusedConnection(t *testing.T) {
	refused := &fakeClient{err: fmt.Errorf("%w: /run/hanode/hanode.sock is root-only", control.ErrPermission)}
	var out bytes.Buffer
	if code := Run(context.Background(), []string{"hbstatus"}, refused, &out, &out); code != 0 || out.String() != "Heartbeat is apparently running on this machine, but refuses my connection\n" {
		t.Fatalf("%d %q", code, out.String())
	}
}

func TestTimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := &fakeClient{err: context.DeadlineExceeded}
	var out bytes.Buffer
	if code := Run(ctx, []string{"nodestatus", "node1"}, slow, &out, &out); code != Timeout {
		t.Fatalf("exit %d, want %d", code, Timeout)
	}
}

func TestResourcesHeld(t *testing.T) {
	const (
		stopped   = messages.GroupPhase_GROUP_PHASE_STOPPED
		running   = messages.GroupPhase_GROUP_PHASE_RUNNING
		starting  = messages.GroupPhase_GROUP_PHASE_STARTING
		stopping  = messages.GroupPhase_GROUP_PHASE_STOPPING
		probing   = messages.GroupPhase_GROUP_PHASE_PROBING
		unmanaged = messages.GroupPhase_GROUP_PHASE_UNMANAGED
		active    = messages.NodeStatus_NODE_STATUS_ACTIVE
		dead      = messages.NodeStatus_NODE_STATUS_DEAD
	)
	g := func(pref string, p messages.GroupPhase) *messages.GroupStatus {
		return &messages.GroupStatus{Name: pref + p.String(), PreferredNode: pref, LocalPhase: p}
	}
	standby := func(gs *messages.GroupStatus, by string, prefer bool) *messages.GroupStatus {
		gs.OverrideNode, gs.OverridePrefer = by, prefer
		return gs
	}
	type member struct {
		name   string
		status messages.NodeStatus
	}
	up := func(names ...string) []member {
		var out []member
		for _, n := range names {
			out = append(out, member{n, active})
		}
		return out
	}
	cases := []struct {
		name     string
		local    string
		members  []member
		groups   []*messages.GroupStatus
		noQuorum bool
		want     string
	}{
		{"no groups at all: each node holds its own (empty) role", "node1", up("node1", "node2"), nil, false, "local"},
		{"node2 in state 1: node1's group runs on node1", "node2", up("node1", "node2"), []*messages.GroupStatus{g("node1", stopped)}, false, "local"},
		{"node1 in state 1", "node1", up("node1", "node2"), []*messages.GroupStatus{g("node1", running)}, false, "local"},
		{"node2 in state 2: node1 dead, its group runs here", "node2", []member{{"node1", dead}, {"node2", active}}, []*messages.GroupStatus{g("node1", running)}, false, "all"},
		{"node1 back, auto_failback off: node2 keeps the group", "node1", up("node1", "node2"), []*messages.GroupStatus{g("node1", stopped)}, false, "none"},
		{"node2 while node1 is back, auto_failback off", "node2", up("node1", "node2"), []*messages.GroupStatus{g("node1", running)}, false, "all"},
		{"node1 in state 3: node2 stood by", "node1", up("node1", "node2"), []*messages.GroupStatus{standby(g("node1", running), "node2", false)}, false, "all"},
		{"node2 in state 3: it stood by", "node2", up("node1", "node2"), []*messages.GroupStatus{standby(g("node1", stopped), "node2", false)}, false, "none"},
		{"node1 stood by: node2 takes every role", "node2", up("node1", "node2"), []*messages.GroupStatus{standby(g("node1", running), "node1", false)}, false, "all"},
		{"node2 took over: node1 holds nothing", "node1", up("node1", "node2"), []*messages.GroupStatus{standby(g("node1", stopped), "node2", true)}, false, "none"},
		{"a standby of a dead node is void", "node1", []member{{"node1", active}, {"node2", dead}}, []*messages.GroupStatus{standby(g("node1", running), "node2", false)}, false, "all"},
		{"both nodes have groups: each its own", "node1", up("node1", "node2"), []*messages.GroupStatus{g("node1", running), g("node2", stopped)}, false, "local"},
		{"both nodes have groups: the survivor all", "node1", []member{{"node1", active}, {"node2", dead}}, []*messages.GroupStatus{g("node1", running), g("node2", running)}, false, "all"},
		{"a group of this node running elsewhere (a ban)", "node1", up("node1", "node2"), []*messages.GroupStatus{g("node1", stopped), g("node1", running)}, false, "local"},
		{"unmanaged is held", "node1", up("node1", "node2"), []*messages.GroupStatus{g("node1", unmanaged)}, false, "local"},
		{"a group preferring no member is foreign", "node1", up("node1", "node2"), []*messages.GroupStatus{g("", running)}, false, "all"},
		{"three nodes: the first live member takes a dead one's empty role", "node2", []member{{"node1", dead}, {"node2", active}, {"node3", active}}, []*messages.GroupStatus{g("node3", stopped)}, false, "all"},
		{"three nodes: the others do not", "node3", []member{{"node1", dead}, {"node2", active}, {"node3", active}}, []*messages.GroupStatus{g("node3", running)}, false, "local"},
		{"no quorum: no empty role", "node1", []member{{"node1", active}, {"node2", dead}, {"node3", dead}}, nil, true, "none"},
		{"starting", "node1", up("node1", "node2"), []*messages.GroupStatus{g("node1", running), g("node2", starting)}, false, "transition"},
		{"stopping", "node1", up("node1", "node2"), []*messages.GroupStatus{g("node1", stopping)}, false, "transition"},
		{"probing", "node1", up("node1", "node2"), []*messages.GroupStatus{g("node1", probing)}, false, "transition"},
		{"claiming", "node1", up("node1", "node2"), []*messages.GroupStatus{{Name: "x", PreferredNode: "node1", LocalPhase: stopped, Claiming: true}}, false, "transition"},
	}
	for _, c := range cases {
		s := &messages.ClusterStatus{LocalNode: c.local, Groups: c.groups, NoQuorum: c.noQuorum}
		for _, m := range c.members {
			s.Nodes = append(s.Nodes, &messages.NodeState{Name: m.name, Type: messages.NodeType_NODE_TYPE_NORMAL, Status: m.status, Local: m.name == c.local})
		}
		// Ping nodes have no roles.
		s.Nodes = append(s.Nodes, &messages.NodeState{Name: "10.0.0.254", Type: messages.NodeType_NODE_TYPE_PING, Status: messages.NodeStatus_NODE_STATUS_PING})
		if got := ResourcesHeld(s); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}
