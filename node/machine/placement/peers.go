package placement

import (
	"time"

	"github.com/hanode/hanode/messages"
)

// loss is a group's last holder going away.
type loss struct {
	from string
	how  LossKind
	at   time.Time
}

// Peer is one peer as membership sees it.
type Peer struct {
	Name string
	// Alive: heard within deadtime, handshake done.
	Alive bool
	// Generation is its current life.
	Generation uint64
	// HearsUs: its heartbeats acknowledge hearing this node recently; it
	// counts for quorum only then.
	HearsUs bool
}

// peer is what the machine knows of another node.
type peer struct {
	gen     uint64
	alive   bool
	hearsUs bool
	// synced: its full state of this life has arrived since it was last
	// seen alive.
	synced  bool
	leaving bool
	// departed: stopped cleanly (said so, then died); it runs nothing and
	// does not count against quorum until it returns.
	departed bool
	// fencedAlive: fenced for a failed stop, until its death or restart
	// is seen: no candidate.
	fencedAlive bool
	// apartSince is when this node last stopped hearing it (its death,
	// or this node's start for one not heard since).
	apartSince time.Time
	// aliveSince is when its current life was seen alive; servedAt when
	// this node last sent a full state that its current life receives
	// (zero: not yet).
	aliveSince, servedAt time.Time
}

// generationOf is the life of node n as this node knows it.
func (m *Machine) generationOf(n string) uint64 {
	if n == m.cfg.Local {
		return m.cfg.Generation
	}
	if p := m.peers[n]; p != nil {
		return p.gen
	}
	return 0
}

func (m *Machine) alive(n string) bool {
	if n == m.cfg.Local {
		return true
	}
	p := m.peers[n]
	return p != nil && p.alive
}

// Membership gives the current view of the peers (any not listed is dead)
// and whether every peer has been heard from or given up on (settled).
// A peer with a higher generation than before restarted: its earlier life
// held nothing it still holds.
func (m *Machine) Membership(now time.Time, view []Peer, settled bool) Effects {
	var e Effects
	hadQuorum := m.HasQuorum()
	seen := map[string]Peer{}
	for _, v := range view {
		seen[v.Name] = v
	}
	m.settled = settled
	if settled && !m.settledOnce {
		m.settledOnce = true
		m.neverHeard(now, &e, seen)
	}
	var newcomers []string
	for _, n := range m.cfg.Nodes {
		p := m.peers[n]
		if p == nil {
			continue
		}
		v := seen[n]
		restarted := v.Alive && p.gen != 0 && v.Generation > p.gen
		if v.Alive && !p.alive && (p.gen == 0 || v.Generation > p.gen) {
			// A life of it we never heard (a first contact, or a restart
			// while we could not hear it): it, or an earlier life of it,
			// may have started our groups meanwhile and taken their
			// clients, and cannot say (a same life back from a partition
			// says so: ran_apart). Taking them back costs one announce.
			for _, name := range m.order {
				if g := m.groups[name]; runs(g.local) {
					g.conflict[n] = true
				}
			}
		}
		if restarted {
			m.lostBy(now, n, LossRestarted)
			if pt := m.pending[n]; pt != nil {
				e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s restarted: what it held is gone (%s)", n, pt.what())
				delete(m.pending, n)
			}
			p.fencedAlive, p.leaving, p.departed = false, false, false
			m.forget(&e, n, true)
		}
		if p.alive && !v.Alive {
			m.died(now, &e, n)
		}
		if v.Alive && (!p.alive || restarted) {
			delete(m.waitedOut, n)
			newcomers = append(newcomers, n)
			p.synced = false
			p.departed = false
			p.aliveSince, p.servedAt = now, time.Time{}
			if pt := m.pending[n]; pt != nil && !restarted {
				// Back with the same generation (a healed partition): it
				// says itself what it holds.
				e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s is back: no longer %s", n, pt.what())
				delete(m.pending, n)
			}
		}
		p.alive, p.hearsUs = v.Alive, v.Alive && v.HearsUs
		if v.Generation > p.gen {
			p.gen = v.Generation
		}
		if !p.alive {
			m.adoptDeferred(now, &e, n)
		}
	}
	if len(newcomers) > 0 {
		// They learn where our groups stand, and tell us where theirs do,
		// before anyone claims: one full state for all of them.
		m.syncWanted = true
		m.sendSync(now, &e)
	}
	m.quorumChange(now, &e, hadQuorum)
	m.reassess(now, &e)
	m.evaluate(now, &e)
	return e
}

// died handles a peer that stopped being alive: it stopped cleanly, or it
// died (or is cut off) and may still run what it held.
func (m *Machine) died(now time.Time, e *Effects, n string) {
	p := m.peers[n]
	wasSynced := p.synced
	p.synced, p.fencedAlive, p.apartSince = false, false, now
	if p.leaving {
		m.lostBy(now, n, LossStopped)
		p.departed = true
		m.forget(e, n, true)
		p.leaving = false
		return
	}
	m.lostBy(now, n, LossDied)
	held := m.mayHold(n)
	if !wasSynced {
		// Its state never reached us: it may run any group.
		held = append([]string(nil), m.order...)
	}
	if f := m.fenced[n]; f != nil && f.Generation >= p.gen {
		held = nil // already fenced in this life: it runs nothing
	}
	if len(held) > 0 && m.pending[n] == nil {
		named := groupList(held)
		switch {
		case len(m.cfg.Fencers) > 0:
			m.pending[n] = &pendingTakeover{gen: p.gen, groups: held, fence: true, since: now, why: "died holding " + named}
			e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s died holding %s: it must be fenced before they run elsewhere", n, named)
		case m.partitionWait():
			budget := m.cfg.longestStopBudget(held)
			until := now.Add(budget + m.cfg.PartitionMargin)
			m.pending[n] = &pendingTakeover{gen: p.gen, groups: held, since: now, until: until,
				why: "died holding " + named + ", no fencing"}
			e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s died holding %s and cannot be fenced: they run elsewhere at %s, once it must have stopped them by itself (it lost quorum too; stop budget %v)",
				n, named, until.Format("15:04:05.000"), budget)
		}
	}
	if pt := m.pending[n]; pt != nil {
		// Every node must hold back the groups, the fencer above all: it
		// may have seen less of the dead node (a lost grant, its state
		// never received) and think there is nothing to fence.
		e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{
			Pending: []*messages.PendingTakeover{m.pendingMessage(now, n, pt)}}}})
	}
	m.forget(e, n, m.pending[n] == nil)
}

// neverHeard deals with the peers not heard since this node started, once
// they are given up on (initdead): their state is unknown, so they may run
// any group, as after a death: with fencing they are fenced before the
// groups run here (Pacemaker's startup fencing); without, in a cluster of
// three or more, the groups wait for them to have stopped them by
// themselves. A live peer that saw them go down says so in its state, and
// that ends the wait.
func (m *Machine) neverHeard(now time.Time, e *Effects, seen map[string]Peer) {
	for _, n := range m.cfg.Nodes {
		p := m.peers[n]
		if p == nil || seen[n].Alive || p.gen != 0 || m.pending[n] != nil || m.fenced[n] != nil || m.reportedDown[n] != 0 || len(m.order) == 0 {
			// (A node fenced, or seen going down holding nothing by a
			// peer, and not heard since, runs nothing.)
			continue
		}
		all := append([]string(nil), m.order...)
		switch {
		case len(m.cfg.Fencers) > 0:
			m.pending[n] = &pendingTakeover{groups: all, everyGroup: true, fence: true, since: now, why: "not heard since this node started: it may run any group", startup: true}
			e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s not heard since this node started: it must be fenced before groups it may run start here", n)
		case m.partitionWait():
			until := now.Add(m.cfg.longestStopBudget(all) + m.cfg.PartitionMargin)
			m.pending[n] = &pendingTakeover{groups: all, everyGroup: true, since: now, until: until, why: "not heard since this node started", startup: true}
			e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s not heard since this node started: groups it may run start here at %s at the earliest, once it must have stopped them by itself",
				n, until.Format("15:04:05.000"))
		}
	}
}

// lostBy records that node n, going away as how, no longer runs what it
// held.
func (m *Machine) lostBy(now time.Time, n string, how LossKind) {
	for _, name := range m.order {
		g := m.groups[name]
		if holds(g.holders[n]) {
			g.lost = &loss{from: n, how: how, at: now}
		}
	}
}

// mayHold lists the groups node n holds, or may have started: those it
// was granted. A node that dies with a grant may have started the group
// just before it fell silent.
func (m *Machine) mayHold(n string) []string {
	var out []string
	for _, name := range m.order {
		g := m.groups[name]
		if holds(g.holders[n]) || (g.grant != nil && g.grant.node == n) {
			out = append(out, name)
		}
	}
	return out
}

// forget drops what a dead or restarted node claimed or asked for, and,
// with holdings, what it held and was granted (kept while it may still
// run them).
func (m *Machine) forget(e *Effects, n string, holdings bool) {
	for _, name := range m.order {
		g := m.groups[name]
		if holdings {
			if holds(g.holders[n]) {
				e.note(messages.EventKind_EVENT_KIND_GROUP, name, "%s: no longer held by %s (gone)", name, n)
			}
			delete(g.holders, n)
			if g.grant != nil && g.grant.node == n {
				g.grant = nil
			}
		}
		if g.claim != nil {
			delete(g.claim.waiting, n)
		}
		if g.override != nil && g.override.node == n {
			g.override = nil
		}
	}
}
