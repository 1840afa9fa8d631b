package placement

import (
	"slices"
	"time"

	"github.com/hanode/hanode/messages"
)

// candidate says whether node n may run group g now.
func (m *Machine) candidate(now time.Time, g *group, n string) bool {
	if n == m.cfg.Local {
		if m.left || g.local == Probing {
			return false
		}
	} else {
		p := m.peers[n]
		// A peer whose state of this life is not known yet (probes
		// included) is no candidate: every node must agree on the owner.
		if p == nil || !p.alive || !p.synced || p.leaving || p.fencedAlive || g.holders[n] == Probing {
			return false
		}
	}
	if until, ok := g.banned[n]; ok && now.Before(until) {
		return false
	}
	return true
}

// Desired is the node group should run on, "" if none can: an operator's
// takeover, else (ipfail) among the best linked candidates and (standby)
// not the node an operator sent it from, the node that runs it when
// auto_failback is off, else its preferred node, else the first in
// configuration order.
func (m *Machine) Desired(now time.Time, name string) string {
	g := m.groups[name]
	if g == nil {
		return ""
	}
	return m.desired(now, g, m.HasQuorum(), m.anyPoorlyLinked())
}

// anyPoorlyLinked says whether ipfail keeps groups off some node.
func (m *Machine) anyPoorlyLinked() bool {
	for _, poor := range m.poorlyLinked {
		if poor {
			return true
		}
	}
	return false
}

// desired is Desired, given whether this node has quorum and whether any
// node is poorly linked: evaluate asks it for every group after every
// input, and in a cluster of N nodes and N groups working both out for
// each group, and listing every candidate, made an input cost N^2.
func (m *Machine) desired(now time.Time, g *group, quorum, poorLinks bool) string {
	if !quorum {
		// A minority runs nothing (stop), or keeps only what it runs
		// (freeze).
		if m.cfg.Quorum == QuorumFreeze && (runs(g.local) || g.commanded) {
			return m.cfg.Local
		}
		return ""
	}
	if g.override == nil && !poorLinks && m.cfg.AutoFailback {
		// What the rules below come to without an operator's override,
		// ipfail or auto_failback off: the preferred node if it may run
		// the group, else the first in configuration order that may.
		if _, member := m.index[g.spec.Preferred]; member && m.candidate(now, g, g.spec.Preferred) {
			return g.spec.Preferred
		}
		for _, n := range m.cfg.Nodes {
			if m.candidate(now, g, n) {
				return n
			}
		}
		return ""
	}
	return m.byTheRules(now, g, poorLinks)
}

// byTheRules is Desired for a node with quorum, by every rule: the
// candidates listed, then an override, ipfail, standby, auto_failback off
// and the preference applied in turn.
func (m *Machine) byTheRules(now time.Time, g *group, poorLinks bool) string {
	var cands []string
	for _, n := range m.cfg.Nodes {
		if m.candidate(now, g, n) {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return ""
	}
	if o := g.override; o != nil && o.prefer && slices.Contains(cands, o.node) {
		// An operator's takeover wins over everything but death.
		return o.node
	}
	// ipfail: keep groups off nodes that reach fewer ping nodes, unless
	// no other node can run them.
	if poorLinks {
		cands = keepUnlessNone(cands, func(c string) bool { return !m.poorlyLinked[c] })
	}
	if o := g.override; o != nil && !o.prefer && len(cands) > 1 {
		// Standby: off the node it was sent from, unless it is the only
		// one left.
		cands = keepUnlessNone(cands, func(c string) bool { return c != o.node })
	}
	if !m.cfg.AutoFailback {
		if best := m.runningBest(g, cands); best != "" {
			return best
		}
	}
	if slices.Contains(cands, g.spec.Preferred) {
		return g.spec.Preferred
	}
	return cands[0]
}

// keepUnlessNone keeps the candidates that pass keep, or all of them when
// none does.
func keepUnlessNone(cands []string, keep func(string) bool) []string {
	kept := cands[:0:0]
	for _, c := range cands {
		if keep(c) {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		return cands
	}
	return kept
}

// runningBest is, among cands, the best ranked node that runs g (""
// if none): without auto_failback a group stays where it runs; should it
// run on two nodes (a healed partition), the better ranked one keeps it.
func (m *Machine) runningBest(g *group, cands []string) string {
	best := ""
	for _, c := range cands {
		p := g.holders[c]
		if c == m.cfg.Local {
			p = g.local
		}
		if runs(p) && (best == "" || m.rank(g, c) < m.rank(g, best)) {
			best = c
		}
	}
	return best
}

// evaluate acts on the current facts: stop what should not run here,
// claim what should, start what has been granted.
func (m *Machine) evaluate(now time.Time, e *Effects) {
	m.answerDeferred(now, e)
	m.requestFencing(now, e)
	all := true
	quorum, poorLinks := m.HasQuorum(), m.anyPoorlyLinked()
	for _, name := range m.order {
		g := m.groups[name]
		want := m.desired(now, g, quorum, poorLinks) == m.cfg.Local
		running := runs(g.local)
		switch {
		case g.local == Unmanaged || g.local == Stopping || g.local == Probing:
			// Wait for the group actor (or, unmanaged, for fencing).
		case !want && (g.commanded || running) && !g.stopIssued:
			// Holding what belongs elsewhere (failback, standby, leaving,
			// a ban, no quorum): give it up, right to left.
			g.commanded, g.stopIssued = false, true
			e.Stop = append(e.Stop, name)
			e.note(messages.EventKind_EVENT_KIND_GROUP, name, "%s: stopping on %s: it belongs on %s", name, m.cfg.Local, orNobody(m.Desired(now, name)))
		case !want && g.claim != nil:
			m.cancelClaim(now, e, g, "no longer ours")
		case want && running && !g.commanded && !g.stopIssued:
			// Found running here (left over from before a restart) and
			// ours anyway: keep it.
			g.commanded = true
			e.note(messages.EventKind_EVENT_KIND_GROUP, name, "%s: found running on %s, where it belongs: kept", name, m.cfg.Local)
		case want && !g.commanded && !g.stopIssued && g.local == Stopped && m.HasQuorum():
			m.advanceClaim(now, e, g)
		}
		m.heal(e, g)
		if m.held(g) {
			all = false
		}
	}
	if m.left && all && !e.Left {
		e.Left = true
	}
}

// heal re-announces a group that another node started or ran while it
// ran here, once that node no longer holds it: its start took the
// clients (gratuitous ARP), and they must come back.
func (m *Machine) heal(e *Effects, g *group) {
	if len(g.conflict) == 0 {
		return
	}
	if !runs(g.local) {
		if g.local == Stopped || g.local == Stopping {
			// This node gave it up: nothing to take back.
			clear(g.conflict)
		}
		return
	}
	for n := range g.conflict {
		if !holds(g.holders[n]) {
			delete(g.conflict, n)
			if len(g.conflict) == 0 && g.local == Running {
				e.Reannounce = append(e.Reannounce, g.spec.Name)
				e.note(messages.EventKind_EVENT_KIND_GROUP, g.spec.Name, "%s: also ran on %s, which gave it up: re-announcing its addresses here", g.spec.Name, n)
			}
		}
	}
}

// held says whether the group may run here: probing, reported so, or
// asked to start, or asked to stop and not yet reported stopped (a start
// may still be on its way to the group actor).
func (m *Machine) held(g *group) bool {
	if mutation("grant-while-stopping") && (g.local == Stopping || (g.stopIssued && !g.commanded)) {
		return false
	}
	return holds(g.local) || g.commanded || g.stopIssued
}

// rank orders candidates for a group: an override's preferred node first,
// then the preferred node, then configuration order. Lower is better.
func (m *Machine) rank(g *group, n string) int {
	switch {
	case g.override != nil && g.override.prefer && g.override.node == n:
		return -2
	case n == g.spec.Preferred:
		return -1
	}
	return m.index[n]
}
