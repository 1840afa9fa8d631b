package placement

import (
	"slices"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

// groupStates takes a peer's group states: a full state (its join
// handshake, or an answer to ours) replaces everything known of it.
func (m *Machine) groupStates(now time.Time, e *Effects, from string, st *messages.GroupStates) {
	p := m.peers[from]
	if (st.AnswerRequested || slices.Contains(st.AnswerFrom, m.cfg.Local)) && p.alive &&
		(p.servedAt.IsZero() || now.Sub(p.servedAt) >= m.cfg.SyncRetry) {
		// Its life has no full state of ours yet (or the one sent long
		// ago went missing): the next broadcast answers it, and every
		// other request of the interval.
		m.syncWanted = true
		defer m.sendSync(now, e)
	}
	for _, o := range st.Overrides {
		m.applyOverride(o)
	}
	listed := map[string]bool{}
	for _, s := range st.Groups {
		listed[s.Group] = true
		m.groupState(now, from, s)
	}
	for _, pt := range st.Pending {
		m.adoptPending(now, e, from, pt)
	}
	if !st.Full {
		return
	}
	for _, name := range m.order {
		if !listed[name] {
			m.groupState(now, from, &messages.GroupState{Group: name, Phase: Stopped})
		}
	}
	if p.alive {
		p.synced = true
	}
	if st.Leaving {
		p.leaving = true
	}
	for _, f := range st.Fenced {
		m.learnFenced(now, e, from, f)
	}
	for _, d := range st.Down {
		m.knownDown(e, from, d)
	}
}

// Lost takes news that messages of node from's life gen were lost for
// good (the reliable layer gave them up, or from no longer had them).
// Among them may be a group's release, a probe's result or a claim's
// cancel: what this node knows of from's groups may stay wrong for as
// long as from says nothing more of them. At 64 nodes a probe result
// lost that way left a node denying every claim "held by" a peer that
// held nothing, for the rest of the run. So from's state is known again
// only from a full one, asked for at once; until it arrives this node
// claims nothing and grants nothing, as for a peer just come.
func (m *Machine) Lost(now time.Time, from string, gen uint64) Effects {
	var e Effects
	p := m.peers[from]
	if p == nil || !p.alive || gen != p.gen || from == m.cfg.Local {
		return e
	}
	if p.synced {
		e.logf("messages of %s were lost: its state is asked for again", from)
	}
	p.synced = false
	m.syncWanted = true
	m.sendSync(now, &e)
	m.evaluate(now, &e)
	return e
}

// groupState takes one group's phase on node from.
func (m *Machine) groupState(now time.Time, from string, s *messages.GroupState) {
	g := m.groups[s.Group]
	if g == nil {
		return
	}
	if (active(s.Phase) || s.RanApart) && runs(g.local) {
		// It is (or was, while we could not hear each other) up there
		// too: whoever keeps it must take the clients back once the
		// other has stopped, died or been fenced.
		g.conflict[from] = true
	}
	if holds(s.Phase) {
		g.holders[from] = s.Phase
		// It holds the group: whatever claim of it from is deferred here
		// ended (granted, or it found the group running). A claim heard
		// late (after a partition, the stream's older messages come
		// first) must not be granted then: the grant would stand in the
		// way of the next claimant for nothing.
		m.dropDeferred(g, from)
	} else {
		if holds(g.holders[from]) {
			// Released: whoever should have it may claim at once. By a
			// node that said it was leaving, this is its clean stop,
			// whether its departure or its last group's stop is heard
			// first.
			g.retryAt, g.denials = time.Time{}, 0
			how := LossReleased
			if p := m.peers[from]; p != nil && p.leaving {
				how = LossStopped
			}
			g.lost = &loss{from: from, how: how, at: now}
		}
		delete(g.holders, from)
	}
	if g.grant != nil && g.grant.node == from && holds(s.Phase) {
		// Started (now a holder): the grant is used. A state saying the
		// group is stopped ends nothing: the claimant says so until its
		// last grant arrives, and a full state sent before its claim may
		// arrive after it. A claim given up is cancelled (GroupClaimCancel);
		// a cancel lost is covered by GrantTimeout, the claimant's death
		// or restart by the membership.
		g.grant = nil
	}
	if s.BannedUntilUnixNano > 0 {
		g.banned[from] = time.Unix(0, s.BannedUntilUnixNano)
	} else {
		delete(g.banned, from)
	}
}

// state is one group as this node tells the others: a group commanded to
// start is starting already (the report may not be in yet).
func (m *Machine) state(now time.Time, g *group) *messages.GroupState {
	phase := g.local
	if g.commanded && phase == Stopped {
		phase = Starting
	}
	s := &messages.GroupState{Group: g.spec.Name, Phase: phase}
	if until, ok := g.banned[m.cfg.Local]; ok && now.Before(until) {
		s.BannedUntilUnixNano = until.UnixNano()
	}
	if gr := g.grant; gr != nil {
		s.GrantedTo, s.GrantAttempt, s.GranteeGeneration = gr.node, gr.attempt, gr.gen
	}
	return s
}

// sendSync broadcasts this node's full state when one is wanted and
// SyncInterval has passed since the last: it asks every live peer whose
// full state of this life has not arrived to answer, and serves every live
// peer's current life (their streams from here start before it).
func (m *Machine) sendSync(now time.Time, e *Effects) {
	if !m.syncWanted || (!m.lastSync.IsZero() && now.Sub(m.lastSync) < m.cfg.SyncInterval) {
		return
	}
	m.syncWanted, m.lastSync = false, now
	snap := m.snapshot(now)
	for _, n := range m.cfg.Nodes {
		if p := m.peers[n]; p != nil && p.alive {
			if !p.synced {
				snap.GetGroupStates().AnswerFrom = append(snap.GetGroupStates().AnswerFrom, n)
			}
			p.servedAt = now
		}
	}
	e.send(snap)
}

// askAgain wants a full state out when a live peer's has not arrived for
// SyncRetry since it was seen alive or last asked: a request or an answer
// went missing (the reliable layer gave it up).
func (m *Machine) askAgain(now time.Time) {
	for _, n := range m.cfg.Nodes {
		if p := m.peers[n]; p != nil && p.alive && !p.synced && now.Sub(p.aliveSince) >= m.cfg.SyncRetry && now.Sub(m.lastSync) >= m.cfg.SyncRetry {
			m.syncWanted = true
		}
	}
}

// syncDeadline is when sendSync or askAgain next has something to do.
func (m *Machine) syncDeadline() time.Time {
	if m.syncWanted {
		return m.lastSync.Add(m.cfg.SyncInterval)
	}
	var next time.Time
	for _, n := range m.cfg.Nodes {
		if p := m.peers[n]; p != nil && p.alive && !p.synced {
			t := p.aliveSince.Add(m.cfg.SyncRetry)
			if r := m.lastSync.Add(m.cfg.SyncRetry); r.After(t) {
				t = r
			}
			if next.IsZero() || t.Before(next) {
				next = t
			}
		}
	}
	return next
}

// snapshot is this node's full state, for every node. The groups it had
// up while apart from a peer it now serves for the first time in that
// peer's life say so (ran_apart_with): the node that keeps such a group
// re-announces it.
func (m *Machine) snapshot(now time.Time) *messages.ClusterMessage {
	st := &messages.GroupStates{Full: true, Leaving: m.left, Down: m.downPeers()}
	for _, name := range m.order {
		g := m.groups[name]
		s := m.state(now, g)
		for _, n := range m.cfg.Nodes {
			if p := m.peers[n]; p != nil && p.alive && p.servedAt.IsZero() && !p.apartSince.IsZero() &&
				(g.upHere || g.lastUp.After(p.apartSince)) {
				s.RanApartWith = append(s.RanApartWith, n)
			}
		}
		if !proto.Equal(s, &messages.GroupState{Group: name, Phase: Stopped}) {
			// A full state's receiver takes a group it does not list as
			// stopped here, nothing banned or granted: listing only the
			// others keeps the state the size of what this node holds,
			// not of the configuration, and every node sends one per join.
			st.Groups = append(st.Groups, s)
		}
		if o := g.override; o != nil {
			st.Overrides = append(st.Overrides, &messages.PlacementOverride{Group: name, Node: o.node, NodeGeneration: o.nodeGen, Prefer: o.prefer, Version: o.version, Author: o.by})
		}
	}
	for _, n := range m.cfg.Nodes {
		if f := m.fenced[n]; f != nil {
			st.Fenced = append(st.Fenced, f)
		}
		if p := m.pending[n]; p != nil {
			st.Pending = append(st.Pending, m.pendingMessage(now, n, p))
		}
	}
	return &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: st}}
}

// pendingMessage describes a pending takeover for the other nodes.
func (m *Machine) pendingMessage(now time.Time, n string, p *pendingTakeover) *messages.PendingTakeover {
	pt := &messages.PendingTakeover{Node: n, Generation: p.gen, Groups: p.groups, Fence: p.fence, Reason: ClipReason(p.why)}
	if p.everyGroup {
		pt.Groups, pt.EveryGroup = nil, true
	}
	if !p.fence {
		pt.RemainingMs = uint64(max(p.until.Sub(now), 0) / time.Millisecond)
	}
	return pt
}

// MaxReason bounds the reason a pending takeover carries to the other
// nodes: it names the groups (already listed beside it) and grows as
// nodes pass it on, and every full state carries one per dead node, so
// that a full state stays within what a cluster message may take however
// large the cluster (node.CheckMessageSizes counts on it).
const MaxReason = 256

// ClipReason cuts a reason to MaxReason bytes, marking the cut.
func ClipReason(why string) string {
	if len(why) <= MaxReason {
		return why
	}
	cut := MaxReason - len("…")
	for cut > 0 && !utf8.RuneStart(why[cut]) {
		cut--
	}
	return why[:cut] + "…"
}
