package placement

import (
	"fmt"
	"time"

	"github.com/hanode/hanode/messages"
)

// Receive handles a cluster message from node from (in its current life:
// the reliable layer delivers each life's stream apart) and acts on what
// it changed: Absorb, then Evaluate if it is owed.
func (m *Machine) Receive(now time.Time, from string, msg *messages.ClusterMessage) Effects {
	e, owed := m.Absorb(now, from, msg)
	if owed {
		m.evaluate(now, &e)
	}
	return e
}

// Absorb takes in a cluster message from node from, answering what asks
// for an answer (a claim is granted or denied at once), but does not act
// on the facts it changed: it says whether an evaluation (Evaluate) is
// owed. A node that received many messages at once (a forming cluster of
// 128 nodes: each peer's probe results, claims and replies) evaluates once
// after the run instead of after each; evaluating walks every group, and
// once per message it was a twentieth of such a node's CPU. Acting later
// is safe because acting is only ever on the facts as they are: a claim
// stays open until the evaluation that completes it, so a competing claim
// absorbed meanwhile is judged against it, as if it had come first.
func (m *Machine) Absorb(now time.Time, from string, msg *messages.ClusterMessage) (Effects, bool) {
	var e Effects
	if m.peers[from] == nil {
		return e, false
	}
	switch p := msg.Payload.(type) {
	case *messages.ClusterMessage_GroupClaim:
		m.claimed(now, &e, from, p.GroupClaim)
	case *messages.ClusterMessage_GroupClaimReply:
		m.replied(now, &e, from, p.GroupClaimReply)
	case *messages.ClusterMessage_GroupClaimCancel:
		g := m.groups[p.GroupClaimCancel.Group]
		if g != nil && g.grant != nil && g.grant.node == from && g.grant.attempt == p.GroupClaimCancel.Attempt {
			g.grant = nil
		}
		if g != nil && g.deferred[from] != nil && g.deferred[from].claim.Attempt == p.GroupClaimCancel.Attempt {
			m.dropDeferred(g, from)
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
	default:
		// Not about placement (a note): nothing changed.
		return e, false
	}
	return e, true
}

// Evaluate acts on the current facts: what Absorb left owed.
func (m *Machine) Evaluate(now time.Time) Effects {
	var e Effects
	m.evaluate(now, &e)
	return e
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
	m.askAgain(now)
	m.sendSync(now, &e)
	m.reassess(now, &e)
	m.tickPending(now, &e)
	for _, name := range m.order {
		g := m.groups[name]
		if g.claim != nil && now.Sub(g.claim.at) >= g.claim.timeout {
			waited := g.claim.timeout
			g.claimBackoff = min(g.claimBackoff+1, maxClaimBackoff)
			m.cancelClaim(now, &e, g, fmt.Sprintf("no answer from %s within %v (the next claim waits %v)", nodeList(keys(g.claim.waiting)), waited, m.claimTimeout(g)))
		}
		if g.grant != nil && !g.grant.open(now) && !m.pendingHas(name) {
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
	consider(m.syncDeadline())
	for _, name := range m.order {
		g := m.groups[name]
		if g.claim != nil {
			consider(g.claim.at.Add(g.claim.timeout))
		}
		if g.grant != nil && !m.pendingHas(name) {
			// (A grant to a node that may still run the group is kept
			// until that node is fenced or has had its stop budget.)
			consider(g.grant.until)
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
	var fencer string
	if len(m.pending) > 0 {
		fencer = m.fencer()
	}
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
