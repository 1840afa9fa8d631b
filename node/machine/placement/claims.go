package placement

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hanode/hanode/messages"
)

// allSynced says whether the state of every live peer's current life is
// known: until then nobody may claim (a peer just back may run what this
// node thinks free).
func (m *Machine) allSynced() (bool, string) {
	for _, n := range m.cfg.Nodes {
		if p := m.peers[n]; p != nil && p.alive && !p.synced {
			return false, n
		}
	}
	return true, ""
}

func (m *Machine) advanceClaim(now time.Time, e *Effects, g *group) {
	if g.claim == nil {
		if ok, _ := m.allSynced(); !ok || !m.settled || now.Before(g.retryAt) || m.blocked(now, g) != "" {
			return
		}
		m.attempt++
		g.claim = &claim{attempt: m.attempt, waiting: map[string]bool{}, at: now, timeout: m.claimTimeout(g)}
		for _, n := range m.cfg.Nodes {
			if n != m.cfg.Local && m.alive(n) {
				g.claim.waiting[n] = true
			}
		}
		if len(g.claim.waiting) > 0 {
			e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupClaim{GroupClaim: &messages.GroupClaim{
				Group: g.spec.Name, Attempt: g.claim.attempt, TimeoutMs: uint32(g.claim.timeout / time.Millisecond)}}})
			e.note(messages.EventKind_EVENT_KIND_GROUP, g.spec.Name, "%s: claimed by %s, waiting for %s", g.spec.Name, m.cfg.Local, nodeList(keys(g.claim.waiting)))
		}
	}
	if len(g.claim.waiting) == 0 {
		g.claim, g.claimBackoff, g.denials = nil, 0, 0
		g.commanded = true
		e.Start = append(e.Start, g.spec.Name)
		e.note(messages.EventKind_EVENT_KIND_GROUP, g.spec.Name, "%s: starting on %s", g.spec.Name, m.cfg.Local)
	}
}

// blocked says why this node cannot claim a group now: a live node holds
// it (or probes it), a dead one may still run it, or it was granted to
// another live node.
func (m *Machine) blocked(now time.Time, g *group) string {
	for _, h := range m.sortedHolders(g) {
		if m.alive(h) {
			return "held by " + h
		}
	}
	if why := m.pendingFor(now, g.spec.Name); why != "" {
		return why
	}
	if g.grant != nil && m.alive(g.grant.node) && g.grant.open(now) {
		return "granted to " + g.grant.node
	}
	return ""
}

// deferredClaim is a claim a voter answers once it can judge it.
type deferredClaim struct {
	gen   uint64 // the claimant's life
	claim *messages.GroupClaim
	// until is when the claimant gives the claim up if unanswered: the
	// answer is worth nothing after.
	until time.Time
}

// claimDeferral says why this node cannot judge from's claim of g yet, ""
// when it can: it does not know yet who is there, it lacks the state of a
// live peer, or a peer holds the group only while it probes whether it
// runs there. Each ends by itself (the view settles, the full state
// arrives, the probe reports), and a denial for it was a wasted round:
// the claimant claimed again, every node answered again. While a cluster
// of 64 formed, 9 of 10 claims were denied so, each costing 65 messages
// that every node took in. Such a claim is answered once it can be
// judged, within the claimant's timeout.
func (m *Machine) claimDeferral(g *group, from string) string {
	if !m.settled {
		return m.cfg.Local + " does not know yet who is there"
	}
	for _, n := range m.cfg.Nodes {
		if p := m.peers[n]; n != from && p != nil && p.alive && !p.synced {
			return "waiting for the state of " + n
		}
	}
	for n, ph := range g.holders {
		if n != from && ph == Probing && m.alive(n) {
			return "probed by " + n
		}
	}
	return ""
}

// deferClaim keeps from's claim to answer it later (answerDeferred),
// until the claimant's own timeout.
func (m *Machine) deferClaim(now time.Time, g *group, from string, c *messages.GroupClaim, until time.Time) {
	if until.IsZero() {
		wait := m.cfg.ClaimTimeout
		if c.TimeoutMs > 0 {
			wait = min(time.Duration(c.TimeoutMs)*time.Millisecond, m.cfg.ClaimTimeout<<maxClaimBackoff)
		}
		until = now.Add(wait)
	}
	if g.deferred == nil {
		g.deferred = map[string]*deferredClaim{}
	}
	if g.deferred[from] == nil {
		m.deferredClaims++
	}
	g.deferred[from] = &deferredClaim{gen: m.peers[from].gen, claim: c, until: until}
}

// dropDeferred forgets from's deferred claim of g, if any.
func (m *Machine) dropDeferred(g *group, from string) {
	if g.deferred[from] != nil {
		delete(g.deferred, from)
		m.deferredClaims--
	}
}

// answerDeferred answers the deferred claims that can be judged now, and
// forgets those whose claimant died, restarted or gave them up.
func (m *Machine) answerDeferred(now time.Time, e *Effects) {
	if m.deferredClaims == 0 {
		return
	}
	for _, name := range m.order {
		g := m.groups[name]
		if len(g.deferred) == 0 {
			continue
		}
		froms := make([]string, 0, len(g.deferred))
		for from := range g.deferred {
			froms = append(froms, from)
		}
		sort.Slice(froms, func(i, j int) bool { return m.index[froms[i]] < m.index[froms[j]] })
		for _, from := range froms {
			d := g.deferred[from]
			if p := m.peers[from]; p == nil || !p.alive || p.gen != d.gen || !now.Before(d.until) {
				m.dropDeferred(g, from)
				continue
			}
			if m.claimDeferral(g, from) != "" {
				continue
			}
			m.dropDeferred(g, from)
			m.judgeClaim(now, e, from, d.claim, d.until)
		}
	}
}

func (m *Machine) claimed(now time.Time, e *Effects, from string, c *messages.GroupClaim) {
	m.judgeClaim(now, e, from, c, time.Time{})
}

// judgeClaim answers from's claim c, or defers it (claimDeferral) until
// deferredUntil (zero: the claimant's timeout from now).
func (m *Machine) judgeClaim(now time.Time, e *Effects, from string, c *messages.GroupClaim, deferredUntil time.Time) {
	g := m.groups[c.Group]
	if g == nil {
		return
	}
	gen := m.peers[from].gen
	// A newer claim of the same claimant replaces what was deferred.
	m.dropDeferred(g, from)
	deny := func(favoured, reason string) {
		e.send(&messages.ClusterMessage{Destination: from, DestinationGeneration: gen, Payload: &messages.ClusterMessage_GroupClaimReply{
			GroupClaimReply: &messages.GroupClaimReply{Group: c.Group, Attempt: c.Attempt, Reason: reason, InFavourOf: favoured}}})
	}
	if m.held(g) {
		// Never while it may run here: probing, starting, running, or
		// stopping until the stop has completed.
		deny(m.cfg.Local, fmt.Sprintf("held by %s (%s)", m.cfg.Local, phaseWord(g.local)))
		return
	}
	if m.claimDeferral(g, from) != "" {
		m.deferClaim(now, g, from, c, deferredUntil)
		return
	}
	if g.claim != nil {
		if m.rank(g, m.cfg.Local) < m.rank(g, from) {
			deny(m.cfg.Local, "competing claim by "+m.cfg.Local)
			return
		}
		// The other node ranks higher: withdraw ours and let it have it.
		m.cancelClaim(now, e, g, fmt.Sprintf("%s's claim ranks higher", from))
	}
	if gr := g.grant; gr != nil && gr.node != from && m.alive(gr.node) && m.peers[gr.node].gen == gr.gen && gr.open(now) {
		deny(gr.node, "granted to "+gr.node)
		return
	}
	if why := m.pendingFor(now, g.spec.Name); why != "" {
		// No favour: the claimant must not retry at once; but when the
		// wait ends by itself, it may try again then.
		e.send(&messages.ClusterMessage{Destination: from, DestinationGeneration: gen, Payload: &messages.ClusterMessage_GroupClaimReply{
			GroupClaimReply: &messages.GroupClaimReply{Group: c.Group, Attempt: c.Attempt, Reason: why,
				RetryAfterMs: uint32(m.pendingEnds(now, g.spec.Name) / time.Millisecond)}}})
		return
	}
	for _, h := range m.sortedHolders(g) {
		if h != from && m.alive(h) {
			deny(h, "held by "+h)
			return
		}
	}
	// The claimant's own timeout, as it says (an older node says
	// nothing: the default), at most the longest this node would wait.
	wait := m.cfg.ClaimTimeout
	if c.TimeoutMs > 0 {
		wait = min(time.Duration(c.TimeoutMs)*time.Millisecond, m.cfg.ClaimTimeout<<maxClaimBackoff)
	}
	g.grant = &grant{node: from, gen: gen, attempt: c.Attempt, at: now, until: now.Add(m.cfg.GrantTimeout + wait)}
	e.send(&messages.ClusterMessage{Destination: from, DestinationGeneration: gen, Payload: &messages.ClusterMessage_GroupClaimReply{
		GroupClaimReply: &messages.GroupClaimReply{Group: c.Group, Attempt: c.Attempt, Granted: true}}})
}

func (m *Machine) replied(now time.Time, e *Effects, from string, r *messages.GroupClaimReply) {
	g := m.groups[r.Group]
	if g == nil || g.claim == nil || g.claim.attempt != r.Attempt || !g.claim.waiting[from] {
		return
	}
	if !r.Granted {
		// An answer: the voters keep up, whatever they say.
		g.claimBackoff = 0
		m.cancelClaim(now, e, g, fmt.Sprintf("%s denied it: %s", from, r.Reason))
		// Denied again and again (a voter that sees what this node does
		// not, until it hears more): every claim costs a reply of every
		// node, so the pause doubles with each denial in a row.
		g.denials = min(g.denials+1, maxDenialBackoff)
		if r.RetryAfterMs > 0 {
			g.retryAt = now.Add(time.Duration(r.RetryAfterMs)*time.Millisecond + time.Millisecond)
		}
		if f := r.InFavourOf; f != "" && f != from && f != m.cfg.Local && !m.alive(f) {
			// In favour of a node we know dead: the denier will know too
			// in a moment (the same silence times out there). Try again
			// soon rather than after the usual back-off.
			g.retryAt = now.Add(m.cfg.QuickRetry)
		}
		return
	}
	delete(g.claim.waiting, from)
}

func (m *Machine) cancelClaim(now time.Time, e *Effects, g *group, why string) {
	e.note(messages.EventKind_EVENT_KIND_GROUP, g.spec.Name, "%s: claim withdrawn: %s", g.spec.Name, why)
	e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupClaimCancel{
		GroupClaimCancel: &messages.GroupClaimCancel{Group: g.spec.Name, Attempt: g.claim.attempt}}})
	g.claim = nil
	g.retryAt = now.Add(m.retryDelay(g))
}

// maxDenialBackoff bounds the doublings of the pause after a denial.
const maxDenialBackoff = 4

// retryDelay is the pause before this node claims g again: RetryDelay
// times its rank (lower-ranked nodes wait longer, so the better one wins
// the next round), doubled for each denial in a row (at most
// maxDenialBackoff times), and then no longer than ClaimTimeout unless
// the rank alone makes it so. At 64 nodes a claim denied for a state the
// denier had not heard yet was made again every few hundred milliseconds,
// 65 messages each time, for minutes.
func (m *Machine) retryDelay(g *group) time.Duration {
	base := m.cfg.RetryDelay * time.Duration(1+max(0, m.rank(g, m.cfg.Local)+2))
	return max(base, min(base<<g.denials, m.cfg.ClaimTimeout))
}

func phaseWord(p Phase) string {
	switch p {
	case Probing:
		return "probing"
	case Starting:
		return "starting"
	case Running:
		return "running"
	case Stopping:
		return "stopping"
	case Unmanaged:
		return "unmanaged"
	case Stopped:
		return "stopped"
	}
	return "to start or stop"
}

type claim struct {
	attempt uint64
	waiting map[string]bool
	at      time.Time
	// timeout is how long it waits for every grant (claimTimeout).
	timeout time.Duration
}

type grant struct {
	node    string
	gen     uint64
	attempt uint64
	at      time.Time
	// until is when the grant runs out: GrantTimeout after it was given,
	// plus the claim's own timeout, so that a grant never runs out while
	// the claim it answers may still complete.
	until time.Time
}

// open says whether the grant still stands at now.
func (gr *grant) open(now time.Time) bool { return now.Before(gr.until) }

// maxClaimBackoff bounds the doublings of a group's claim timeout.
const maxClaimBackoff = 3

// claimTimeout is how long this node's next claim of g waits for its
// grants: ClaimTimeout, doubled for each claim of g in a row that went
// unanswered (at most maxClaimBackoff times). Unanswered claims mean the
// voters handle their messages late (an overloaded cluster, a node
// reading seconds behind): claiming again at the same pace would only add
// a round of claims and replies to what they have not read yet, and no
// round would ever complete.
func (m *Machine) claimTimeout(g *group) time.Duration {
	return m.cfg.ClaimTimeout << min(g.claimBackoff, maxClaimBackoff)
}

func (m *Machine) sortedHolders(g *group) []string {
	var hs []string
	for n, p := range g.holders {
		if holds(p) {
			hs = append(hs, n)
		}
	}
	sort.Slice(hs, func(i, j int) bool { return m.index[hs[i]] < m.index[hs[j]] })
	return hs
}

// nodeList names a few nodes for a log line: a claim unanswered by 95
// peers is not worth 95 names, each time.
func nodeList(nodes []string) string { return fewNames(nodes, ", ") }

// groupList names a few groups for a log line or a reason, in brackets:
// a node of a 128-node cluster that dies before its state arrived may
// hold any of 128 groups, and its every death was a line of 5 KB.
func groupList(groups []string) string { return "[" + fewNames(groups, " ") + "]" }

// fewNames joins at most five names with sep; of more, it names four and
// says how many more.
func fewNames(names []string, sep string) string {
	const shown = 4
	if len(names) <= shown+1 {
		return strings.Join(names, sep)
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:shown], sep), len(names)-shown)
}
