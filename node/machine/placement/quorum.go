package placement

import (
	"time"

	"github.com/hanode/hanode/messages"
)

// QuorumPolicy is what a node without quorum does.
type QuorumPolicy int

const (
	// QuorumStop stops every group (the default).
	QuorumStop QuorumPolicy = iota
	// QuorumFreeze keeps what runs and starts nothing.
	QuorumFreeze
	// QuorumIgnore carries on as if it had quorum.
	QuorumIgnore
)

// partitionWait says whether the groups of a node lost without fencing
// wait for it to have stopped them by itself: with quorum in a cluster of
// three or more, a node cut off from the majority lost quorum and stops
// its groups (policy stop). Two nodes have nothing to lean on.
func (m *Machine) partitionWait() bool {
	return len(m.cfg.Nodes) >= 3 && m.cfg.Quorum == QuorumStop && !mutation("no-partition-wait")
}

// quorumChange notes a change of quorum since hadQuorum.
func (m *Machine) quorumChange(now time.Time, e *Effects, hadQuorum bool) {
	has := m.HasQuorum()
	if has == hadQuorum {
		return
	}
	n := 1
	for _, p := range m.peers {
		if p.alive && p.hearsUs {
			n++
		}
	}
	if has {
		m.noQuorumSince, m.resetAsked = time.Time{}, false
		e.note(messages.EventKind_EVENT_KIND_QUORUM, "", "quorum: %d of %d nodes are here: groups may run", n, len(m.cfg.Nodes))
		return
	}
	m.noQuorumSince = now
	e.note(messages.EventKind_EVENT_KIND_QUORUM, "", "no quorum: only %d of %d nodes hear each other: %s", n, len(m.cfg.Nodes), map[QuorumPolicy]string{
		QuorumStop: "groups stop", QuorumFreeze: "what runs keeps running, nothing starts"}[m.cfg.Quorum])
}

// HasQuorum says whether this node's partition may run groups: it holds a
// majority of the configured nodes, or there are fewer than three, or the
// policy ignores quorum. A peer counts only while it acknowledges hearing
// this node: one that no longer does may declare this node dead at any
// moment, and this node must then behave as cut off. Nodes that stopped
// cleanly do not count: they said so and run nothing, so the remaining
// ones keep running groups as the cluster is shut down node by node; a
// node that just died (or is cut off) does count, as it may run groups on
// the other side of a partition.
func (m *Machine) HasQuorum() bool {
	if len(m.cfg.Nodes) < 3 || m.cfg.Quorum == QuorumIgnore {
		return true
	}
	alive, expected := 1, 1
	for _, n := range m.cfg.Nodes {
		p := m.peers[n]
		if p == nil {
			continue
		}
		if p.alive && p.hearsUs {
			alive++
		}
		if !p.departed {
			expected++
		}
	}
	return 2*alive > expected
}
