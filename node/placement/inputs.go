package placement

import (
	"fmt"
	"sort"
	"time"

	"github.com/hanode/hanode/messages"
)

// Receive handles a cluster message from node from (in its current life:
// the reliable layer delivers each life's stream apart).
func (m *Machine) Receive(now time.Time, from string, msg *messages.ClusterMessage) Effects {
	var e Effects
	if m.peers[from] == nil {
		return e
	}
	switch p := msg.Payload.(type) {
	case *messages.ClusterMessage_GroupClaim:
		m.claimed(now, &e, from, p.GroupClaim)
	case *messages.ClusterMessage_GroupClaimReply:
		m.replied(now, &e, from, p.GroupClaimReply)
	case *messages.ClusterMessage_GroupClaimCancel:
		if g := m.groups[p.GroupClaimCancel.Group]; g != nil && g.grant != nil && g.grant.node == from && g.grant.attempt == p.GroupClaimCancel.Attempt {
			g.grant = nil
		}
	case *messages.ClusterMessage_GroupStates:
		m.groupStates(now, &e, from, p.GroupStates)
	case *messages.ClusterMessage_PlacementOverride:
		m.applyOverride(p.PlacementOverride)
	case *messages.ClusterMessage_NodeLeaving:
		m.peers[from].leaving = true
		e.logf("%s is leaving: its groups move", from)
	case *messages.ClusterMessage_NodeFenced:
		m.learnFenced(now, &e, from, p.NodeFenced)
	case *messages.ClusterMessage_FencingQuery:
		m.answerFencingQuery(now, &e, from, p.FencingQuery)
	}
	m.evaluate(now, &e)
	return e
}

// groupStates takes a peer's group states: a full state (its join
// handshake, or an answer to ours) replaces everything known of it.
func (m *Machine) groupStates(now time.Time, e *Effects, from string, st *messages.GroupStates) {
	p := m.peers[from]
	if st.AnswerRequested {
		answer := m.snapshot(now, from)
		answer.Destination, answer.DestinationGeneration = from, p.gen
		e.send(answer)
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
	} else {
		if holds(g.holders[from]) {
			// Released: whoever should have it may claim at once.
			g.retryAt = time.Time{}
			g.lost = &loss{from: from, how: "released", at: now}
		}
		delete(g.holders, from)
	}
	if g.grant != nil && g.grant.node == from {
		// Started (now a holder) or gave up: the grant is used.
		g.grant = nil
	}
	if s.BannedUntilUnixNano > 0 {
		g.banned[from] = time.Unix(0, s.BannedUntilUnixNano)
	} else {
		delete(g.banned, from)
	}
}

func (m *Machine) applyOverride(o *messages.PlacementOverride) {
	g := m.groups[o.Group]
	if g == nil || !m.alive(o.Node) || (o.NodeGeneration != 0 && o.NodeGeneration != m.generationOf(o.Node)) {
		// (Made for an earlier life of the node: void.)
		return
	}
	cur := g.override
	if cur != nil && (o.Version < cur.version || (o.Version == cur.version && o.Author <= cur.by)) {
		return
	}
	g.override = &override{node: o.Node, nodeGen: o.NodeGeneration, prefer: o.Prefer, version: o.Version, by: o.Author}
}

// GroupReport is what a local group actor says about its group.
type GroupReport struct {
	Group string
	Phase Phase
	// Failed says the start failed (the group was rolled back and is
	// stopped) or its monitors gave up: this node is banned from it for
	// a while.
	Failed bool
	// Reason describes the failure.
	Reason string
}

// Report takes a local group actor's report.
func (m *Machine) Report(now time.Time, r GroupReport) Effects {
	var e Effects
	g := m.groups[r.Group]
	if g == nil {
		return e
	}
	g.local = r.Phase
	if r.Phase == Stopped {
		g.commanded, g.stopIssued = false, false
	}
	if up := active(r.Phase); up != g.upHere {
		g.upHere = up
		if !up {
			g.lastUp = now
		}
	}
	if r.Phase == Running {
		if l := g.lost; l != nil && l.from != m.cfg.Local {
			e.Events = append(e.Events, Event{Kind: messages.EventKind_EVENT_KIND_GROUP_MOVED, Group: g.spec.Name, Node: m.cfg.Local,
				From: l.from, How: l.how, LostAt: l.at, Gap: now.Sub(l.at),
				Summary: fmt.Sprintf("%s moved from %s (%s) to %s", g.spec.Name, l.from, l.how, m.cfg.Local)})
		}
		g.lost = nil
	}
	if runs(r.Phase) {
		for n, p := range g.holders {
			if active(p) {
				g.conflict[n] = true
			}
		}
	}
	if r.Failed {
		g.banned[m.cfg.Local] = now.Add(m.cfg.BanDuration)
		g.failed = r.Reason
		e.note(messages.EventKind_EVENT_KIND_GROUP, g.spec.Name, "%s: failed on %s (%s): kept away from it for %v", g.spec.Name, m.cfg.Local, r.Reason, m.cfg.BanDuration)
		if runs(r.Phase) && !g.stopIssued {
			g.commanded, g.stopIssued = false, true
			e.Stop = append(e.Stop, g.spec.Name)
		}
	}
	e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{
		Groups: []*messages.GroupState{m.state(now, g)}}}})
	m.evaluate(now, &e)
	m.selfReset(now, &e)
	return e
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

// snapshot is this node's full state, for node dest (every node if
// empty).
func (m *Machine) snapshot(now time.Time, dest string) *messages.ClusterMessage {
	st := &messages.GroupStates{Full: true, Leaving: m.left, Down: m.downPeers()}
	for _, name := range m.order {
		g := m.groups[name]
		s := m.state(now, g)
		if p := m.peers[dest]; p != nil && !p.apartSince.IsZero() {
			s.RanApart = g.upHere || g.lastUp.After(p.apartSince)
		}
		st.Groups = append(st.Groups, s)
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
	pt := &messages.PendingTakeover{Node: n, Generation: p.gen, Groups: p.groups, Fence: p.fence, Reason: p.why}
	if !p.fence {
		pt.RemainingMs = uint64(max(p.until.Sub(now), 0) / time.Millisecond)
	}
	return pt
}

// Selection picks groups by their preferred node, as hb_standby does.
type Selection string

const (
	All     Selection = "all"
	Local   Selection = "local"   // groups preferring this node
	Foreign Selection = "foreign" // groups preferring another node
	// Failback is foreign, for hb_standby failback.
	Failback Selection = "failback"
)

func (m *Machine) selected(g *group, s Selection) bool {
	switch s {
	case Local:
		return g.spec.Preferred == m.cfg.Local
	case Foreign, Failback:
		return g.spec.Preferred != m.cfg.Local
	}
	return true
}

// Standby gives the selected groups away from this node (hanode standby):
// an override that avoids it, shared with every node.
func (m *Machine) Standby(now time.Time, s Selection) Effects {
	return m.override(now, s, false)
}

// Takeover brings the selected groups to this node (hanode takeover).
func (m *Machine) Takeover(now time.Time, s Selection) Effects {
	for _, name := range m.order {
		g := m.groups[name]
		if m.selected(g, s) {
			delete(g.banned, m.cfg.Local) // an operator's word lifts a ban
		}
	}
	return m.override(now, s, true)
}

func (m *Machine) override(now time.Time, s Selection, prefer bool) Effects {
	var e Effects
	for _, name := range m.order {
		g := m.groups[name]
		if !m.selected(g, s) {
			continue
		}
		v := uint64(1)
		if g.override != nil {
			v = g.override.version + 1
		}
		g.override = &override{node: m.cfg.Local, nodeGen: m.cfg.Generation, prefer: prefer, version: v, by: m.cfg.Local}
		e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_PlacementOverride{PlacementOverride: &messages.PlacementOverride{
			Group: name, Node: m.cfg.Local, NodeGeneration: m.cfg.Generation, Prefer: prefer, Version: v, Author: m.cfg.Local}}})
	}
	m.evaluate(now, &e)
	return e
}

// Leave starts a clean shutdown: this node gives every group away and says
// so; Effects.Left tells when nothing is held any more.
func (m *Machine) Leave(now time.Time) Effects {
	var e Effects
	m.left = true
	e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_NodeLeaving{NodeLeaving: &messages.NodeLeaving{}}})
	m.evaluate(now, &e)
	return e
}

// Tick applies timeouts due at now.
func (m *Machine) Tick(now time.Time) Effects {
	var e Effects
	m.reassess(now, &e)
	m.tickPending(now, &e)
	for _, name := range m.order {
		g := m.groups[name]
		if g.claim != nil && now.Sub(g.claim.at) >= m.cfg.ClaimTimeout {
			m.cancelClaim(now, &e, g, fmt.Sprintf("no answer from %v within %v", keys(g.claim.waiting), m.cfg.ClaimTimeout))
		}
		if g.grant != nil && now.Sub(g.grant.at) >= m.cfg.GrantTimeout && m.pendingFor(now, name) == "" {
			g.grant = nil
		}
		for n, until := range g.banned {
			if !now.Before(until) {
				delete(g.banned, n)
				if n == m.cfg.Local {
					e.note(messages.EventKind_EVENT_KIND_GROUP, name, "%s: may run on %s again", name, n)
					e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{
						Groups: []*messages.GroupState{m.state(now, g)}}}})
				}
			}
		}
	}
	m.evaluate(now, &e)
	m.selfReset(now, &e)
	for _, name := range m.order {
		// A retry time that has come was served by this evaluation: the
		// next claim waits for some other input (its block lifting).
		if g := m.groups[name]; !g.retryAt.After(now) {
			g.retryAt = time.Time{}
		}
	}
	return e
}

// NextDeadline is when Tick next has something to do (zero: nothing). It
// is never at or before the time of the last Tick: every timeout due then
// was dealt with.
func (m *Machine) NextDeadline() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, name := range m.order {
		g := m.groups[name]
		if g.claim != nil {
			consider(g.claim.at.Add(m.cfg.ClaimTimeout))
		}
		if g.grant != nil && m.pendingFor(time.Time{}, name) == "" {
			// (A grant to a node that may still run the group is kept
			// until that node is fenced or has had its stop budget.)
			consider(g.grant.at.Add(m.cfg.GrantTimeout))
		}
		for _, until := range g.banned {
			consider(until)
		}
		consider(g.retryAt)
		if !m.resetAsked && !m.noQuorumSince.IsZero() && m.cfg.Quorum == QuorumStop && m.mustStopByBudget(g) {
			consider(m.noQuorumSince.Add(m.cfg.stopBudget(name)))
		}
	}
	for _, since := range m.standingSince {
		consider(since.Add(m.cfg.PingHoldoff))
	}
	fencer := m.fencer()
	for _, p := range m.pending {
		switch {
		case !p.fence:
			consider(p.until)
		case fencer == m.cfg.Local:
			if !p.requested && m.HasQuorum() {
				consider(p.retryAt)
			}
		default:
			consider(p.queryAt)
		}
	}
	return next
}

// GroupView is one group as this node sees it, for status.
type GroupView struct {
	Name, Preferred, Desired string
	Local                    Phase
	// Holders are the nodes that run (or may run) it, this one included.
	Holders  map[string]Phase
	Banned   []string
	Claiming bool
	Failure  string
	// Override is the operator's request in force (standby or takeover):
	// the node it was made for ("" if none); Prefer says takeover.
	Override string
	Prefer   bool
}

// View describes every group, in configuration order.
func (m *Machine) View(now time.Time) []GroupView {
	var out []GroupView
	for _, name := range m.order {
		g := m.groups[name]
		v := GroupView{Name: name, Preferred: g.spec.Preferred, Desired: m.Desired(now, name), Local: g.local,
			Holders: map[string]Phase{}, Claiming: g.claim != nil, Failure: g.failed}
		for n, p := range g.holders {
			if holds(p) {
				v.Holders[n] = p
			}
		}
		if holds(g.local) {
			v.Holders[m.cfg.Local] = g.local
		}
		for n, until := range g.banned {
			if now.Before(until) {
				v.Banned = append(v.Banned, n)
			}
		}
		sort.Strings(v.Banned)
		if o := g.override; o != nil {
			v.Override, v.Prefer = o.node, o.prefer
		}
		out = append(out, v)
	}
	return out
}
