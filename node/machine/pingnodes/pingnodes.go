// Package pingnodes keeps the state of the ping nodes (Heartbeat's `ping`,
// `ping6` and `ping_group`, IPv4 and IPv6 alike): routers and switches
// that are not cluster members but tell whether this node reaches the
// network. A ping node answers while any of its addresses answered an
// echo within deadping; before the first answer it is init, until
// deadping has passed since start.
//
// A pure state machine, like package membership: inputs carry their time,
// NextDeadline says when Tick has something to do, and the events it
// returns are the membership events the node publishes (node status of
// ping nodes, and this node's connectivity: how many it reaches).
package pingnodes

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/messages"
)

// Node is a configured ping node or ping group.
type Node struct {
	Name      string
	Addresses []string
}

type node struct {
	spec      Node
	status    messages.NodeStatus
	lastReply time.Time
	since     time.Time
	by        string
}

// Machine is the state of every ping node of one cluster node.
type Machine struct {
	local    string
	deadping time.Duration
	started  time.Time
	nodes    []*node
	byName   map[string]*node
	up       int
}

// New returns a machine whose ping nodes have not answered yet.
func New(local string, nodes []Node, deadping time.Duration, now time.Time) *Machine {
	m := &Machine{local: local, deadping: deadping, started: now, byName: map[string]*node{}}
	for _, n := range nodes {
		pn := &node{spec: n, status: messages.NodeStatus_NODE_STATUS_INIT, since: now}
		m.nodes = append(m.nodes, pn)
		m.byName[n.Name] = pn
	}
	return m
}

// Reply records an echo reply from addr of ping node name.
func (m *Machine) Reply(now time.Time, name, addr string) []*messages.MembershipEvent {
	n := m.byName[name]
	if n == nil {
		return nil
	}
	n.lastReply, n.by = now, addr
	var evs []*messages.MembershipEvent
	if n.status != messages.NodeStatus_NODE_STATUS_PING {
		evs = append(evs, m.set(now, n, messages.NodeStatus_NODE_STATUS_PING, fmt.Sprintf("ping node %s answers (%s)", name, addr)))
	}
	return m.recount(now, evs)
}

// Tick declares dead the ping nodes silent for deadping.
func (m *Machine) Tick(now time.Time) []*messages.MembershipEvent {
	var evs []*messages.MembershipEvent
	for _, n := range m.nodes {
		switch {
		case n.status == messages.NodeStatus_NODE_STATUS_PING && now.Sub(n.lastReply) >= m.deadping:
			evs = append(evs, m.set(now, n, messages.NodeStatus_NODE_STATUS_DEAD,
				fmt.Sprintf("ping node %s dead: no echo reply for %v", n.spec.Name, now.Sub(n.lastReply).Round(time.Millisecond))))
		case n.status == messages.NodeStatus_NODE_STATUS_INIT && now.Sub(m.started) >= m.deadping:
			evs = append(evs, m.set(now, n, messages.NodeStatus_NODE_STATUS_DEAD,
				fmt.Sprintf("ping node %s dead: no echo reply since start (deadping %v)", n.spec.Name, m.deadping)))
		}
	}
	return m.recount(now, evs)
}

// NextDeadline is when Tick next has something to do (zero: nothing).
func (m *Machine) NextDeadline() time.Time {
	var next time.Time
	for _, n := range m.nodes {
		var at time.Time
		switch n.status {
		case messages.NodeStatus_NODE_STATUS_PING:
			at = n.lastReply.Add(m.deadping)
		case messages.NodeStatus_NODE_STATUS_INIT:
			at = m.started.Add(m.deadping)
		}
		if !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}

// Up is how many ping nodes answer.
func (m *Machine) Up() int { return m.up }

// States describes every ping node, for status.
func (m *Machine) States() []*messages.NodeState {
	out := make([]*messages.NodeState, 0, len(m.nodes))
	for _, n := range m.nodes {
		s := &messages.NodeState{Name: n.spec.Name, Type: messages.NodeType_NODE_TYPE_PING, Status: n.status,
			Since: timestamppb.New(n.since), Addresses: n.spec.Addresses, AnsweredBy: n.by}
		if !n.lastReply.IsZero() {
			s.LastHeard = timestamppb.New(n.lastReply)
		}
		out = append(out, s)
	}
	return out
}

func (m *Machine) set(now time.Time, n *node, st messages.NodeStatus, reason string) *messages.MembershipEvent {
	prev := n.status
	n.status, n.since = st, now
	return &messages.MembershipEvent{Time: timestamppb.New(now), Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS,
		Node: n.spec.Name, Status: st, PreviousStatus: prev, Reason: reason}
}

// recount adds a connectivity event when the number of ping nodes that
// answer changed.
func (m *Machine) recount(now time.Time, evs []*messages.MembershipEvent) []*messages.MembershipEvent {
	up := 0
	for _, n := range m.nodes {
		if n.status == messages.NodeStatus_NODE_STATUS_PING {
			up++
		}
	}
	if up != m.up {
		evs = append(evs, &messages.MembershipEvent{Time: timestamppb.New(now), Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_CONNECTIVITY,
			Node: m.local, PingNodesUp: uint32(up), Reason: fmt.Sprintf("%s reaches %d of %d ping nodes", m.local, up, len(m.nodes))})
		m.up = up
	}
	return evs
}
