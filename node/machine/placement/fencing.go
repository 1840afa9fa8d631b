package placement

import (
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

// pendingTakeover is a dead node that may still run groups: they move
// once it is fenced (fence), or once it must have stopped them by itself
// (until).
type pendingTakeover struct {
	gen    uint64
	groups []string
	// everyGroup: groups is every group of the configuration (the node
	// was never heard since this one started, or a peer said so of it),
	// sent as such (PendingTakeover.every_group), not name by name.
	everyGroup bool
	fence      bool
	since      time.Time
	why        string
	// Fencing: attempts made here, one under way, when to try again, the
	// last failure.
	attempts  int
	requested bool
	retryAt   time.Time
	failure   string
	// queryAt is when to ask the peers again whether it was fenced.
	queryAt time.Time
	// until: without fencing, when it must have stopped them.
	until time.Time
	// startup: the node was never heard since this one started; a live
	// peer that saw it go down ends the wait.
	startup bool
}

func (p *pendingTakeover) what() string {
	if p.fence {
		return "waiting to be fenced"
	}
	return "waited for to stop its groups"
}

// groupsText names the groups for a note: "every group" rather than every
// name of a large configuration.
func (p *pendingTakeover) groupsText() string {
	if p.everyGroup {
		return "every group"
	}
	return fmt.Sprint(p.groups)
}

func (p *pendingTakeover) has(group string) bool {
	if p.everyGroup {
		return true
	}
	for _, g := range p.groups {
		if g == group {
			return true
		}
	}
	return false
}

// pendingFor says why group cannot move yet because of a dead node.
func (m *Machine) pendingFor(now time.Time, group string) string {
	if len(m.pending) == 0 {
		return ""
	}
	for _, n := range m.cfg.Nodes {
		p := m.pending[n]
		if p == nil || !p.has(group) {
			continue
		}
		if p.fence {
			return "held by " + n + ", not fenced yet"
		}
		return fmt.Sprintf("held by %s, which must have stopped it by %s", n, p.until.Format("15:04:05.000"))
	}
	return ""
}

// pendingHas says whether a wait for a dead node blocks group: whether
// pendingFor says anything, without its words or its walk of every
// configured node (NextDeadline asks it of every group after every input).
func (m *Machine) pendingHas(group string) bool {
	for _, p := range m.pending {
		if p.has(group) {
			return true
		}
	}
	return false
}

// pendingEnds is how long until the waits for dead nodes that block group
// end by themselves; zero when one of them needs fencing (no known end).
func (m *Machine) pendingEnds(now time.Time, group string) time.Duration {
	var d time.Duration
	for _, p := range m.pending {
		if !p.has(group) {
			continue
		}
		if p.fence {
			return 0
		}
		d = max(d, p.until.Sub(now))
	}
	return d
}

// learnFenced takes news that a node was fenced (a peer's notice, an
// answer to a query, a full state).
func (m *Machine) learnFenced(now time.Time, e *Effects, from string, f *messages.NodeFenced) {
	if mutation("drop-fenced-notice:" + m.cfg.Local) {
		return
	}
	rec := proto.Clone(f).(*messages.NodeFenced)
	if rec.FencedBy == "" {
		rec.FencedBy = from
	}
	if rec.Node == m.cfg.Local {
		// An earlier life of this node: kept for status.
		m.fenced[rec.Node] = rec
		e.note(messages.EventKind_EVENT_KIND_FENCING, "", "this node's earlier life was fenced by %s (device %s)", rec.FencedBy, rec.Device)
		return
	}
	if cur := m.fenced[rec.Node]; cur != nil && (cur.Generation > rec.Generation ||
		(cur.Generation == rec.Generation && cur.TimeUnixNano >= rec.TimeUnixNano)) {
		return // known already
	}
	if p := m.peers[rec.Node]; p != nil && p.gen > rec.Generation && rec.Generation != 0 {
		// A later life of it is known: history.
		m.fenced[rec.Node] = rec
		return
	}
	e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s fenced %s (device %s)", rec.FencedBy, rec.Node, rec.Device)
	m.fencedNow(e, rec)
}

// fencedNow records that a node was fenced and drops what that life of it
// held: it runs nothing any more.
//
// A record covers the life it names and earlier ones; a node fenced
// without its life known (never heard by the fencer: generation 0) covers
// only waits for nodes not heard either. A wait for a known life is then
// settled by asking the fencer (FencingQuery), which fences that life.
func (m *Machine) fencedNow(e *Effects, rec *messages.NodeFenced) {
	n := rec.Node
	if cur := m.fenced[n]; cur == nil || cur.Generation <= rec.Generation {
		m.fenced[n] = rec
	}
	if p := m.pending[n]; p != nil && rec.Generation < p.gen {
		return
	}
	delete(m.pending, n)
	if p := m.peers[n]; p != nil && p.alive && rec.Generation != 0 && rec.Generation == p.gen {
		// Fenced for a failed stop: it is off, though its death is not
		// seen yet.
		p.fencedAlive = true
	}
	for _, name := range m.order {
		g := m.groups[name]
		if holds(g.holders[n]) {
			e.note(messages.EventKind_EVENT_KIND_GROUP, name, "%s: no longer held by %s (fenced)", name, n)
			delete(g.holders, n)
			g.retryAt, g.denials = time.Time{}, 0
			if g.lost == nil {
				// Fenced while seen alive (a failed stop): the move is
				// measured from the fencing.
				g.lost = &loss{from: n, how: LossFenced, at: time.Unix(0, rec.TimeUnixNano)}
			}
		}
		if g.grant != nil && g.grant.node == n {
			g.grant = nil
			g.retryAt, g.denials = time.Time{}, 0
		}
	}
}

// answerFencingQuery tells a peer still waiting for a node to be fenced
// that it was.
//
// The fencer, asked about a life it has no record of, takes the wait on
// and fences that life: whoever still waits must be able to rely on it.
func (m *Machine) answerFencingQuery(now time.Time, e *Effects, from string, q *messages.FencingQuery) {
	rec := m.fenced[q.Node]
	if q.Generation == 0 && (rec == nil || rec.Generation == 0) {
		// It never heard the node: if it is down holding nothing, say so.
		for _, d := range m.downPeers() {
			if d.Node == q.Node {
				e.send(&messages.ClusterMessage{Destination: from, DestinationGeneration: m.peers[from].gen,
					Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{Down: []*messages.NodeDown{d}}}})
				return
			}
		}
	}
	if rec == nil || rec.Generation < q.Generation {
		p := m.peers[q.Node]
		if m.fencer() == m.cfg.Local && p != nil && !p.alive && m.pending[q.Node] == nil && p.gen <= q.Generation {
			p.gen = q.Generation
			m.pending[q.Node] = &pendingTakeover{gen: q.Generation, groups: append([]string(nil), m.order...), fence: true, since: now,
				why: from + " waits for it to be fenced"}
			e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s still waits for %s to be fenced: fencing it", from, q.Node)
		}
		return
	}
	e.send(&messages.ClusterMessage{Destination: from, DestinationGeneration: m.peers[from].gen,
		Payload: &messages.ClusterMessage_NodeFenced{NodeFenced: proto.Clone(rec).(*messages.NodeFenced)}})
}

// fencer is the node that fences: the first live node, in configuration
// order, that can use a fencing device.
func (m *Machine) fencer() string {
	if len(m.cfg.Fencers) == 0 {
		return ""
	}
	for _, n := range m.cfg.Nodes {
		if !m.alive(n) || (m.peers[n] != nil && m.peers[n].fencedAlive) {
			continue
		}
		for _, f := range m.cfg.Fencers {
			if f == n {
				return n
			}
		}
	}
	return ""
}

// requestFencing asks for the fencing due now, if this node is the fencer.
// A live node holding a group it could not stop is fenced too.
func (m *Machine) requestFencing(now time.Time, e *Effects) {
	if len(m.cfg.Fencers) == 0 {
		return
	}
	for _, n := range m.cfg.Nodes {
		p := m.peers[n]
		if p == nil || !p.alive || m.pending[n] != nil || p.fencedAlive {
			continue
		}
		for _, name := range m.order {
			if m.groups[name].holders[n] == Unmanaged {
				m.pending[n] = &pendingTakeover{gen: p.gen, groups: m.mayHold(n), fence: true, since: now, why: fmt.Sprintf("a stop of %s failed there", name)}
				e.note(messages.EventKind_EVENT_KIND_FENCING, name, "%s could not stop %s: it must be fenced", n, name)
				break
			}
		}
	}
	if m.fencer() != m.cfg.Local || !m.HasQuorum() {
		// Only a partition that may run the groups fences: a minority
		// would only shoot a node and run nothing.
		return
	}
	for _, n := range m.cfg.Nodes {
		p := m.pending[n]
		if p == nil || !p.fence || p.requested || now.Before(p.retryAt) {
			continue
		}
		p.requested = true
		e.note(messages.EventKind_EVENT_KIND_FENCING, "", "fencing %s (%s)", n, p.why)
		m.startFence(now, e, n, p)
	}
}

// tickPending ends the waits that are over and asks about fencing that
// should have been done by another node.
func (m *Machine) tickPending(now time.Time, e *Effects) {
	fencer := m.fencer()
	for _, n := range m.cfg.Nodes {
		p := m.pending[n]
		if p == nil {
			continue
		}
		if !p.fence && !now.Before(p.until) {
			delete(m.pending, n)
			m.waitedOut[n] = max(m.waitedOut[n], p.gen)
			e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s must have stopped %s by itself by now: they may run elsewhere", n, p.groupsText())
			for _, name := range p.groups {
				g := m.groups[name]
				if holds(g.holders[n]) {
					delete(g.holders, n)
					g.retryAt, g.denials = time.Time{}, 0
				}
				if g.grant != nil && g.grant.node == n {
					g.grant = nil
				}
			}
			continue
		}
		if p.fence && fencer != m.cfg.Local && !now.Before(p.queryAt) {
			// The fencer's notice may be lost (it died right after):
			// ask whoever knows.
			p.queryAt = now.Add(m.cfg.FenceQueryInterval)
			e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_FencingQuery{FencingQuery: &messages.FencingQuery{Node: n, Generation: p.gen}}})
		}
	}
}

// adoptPending takes a peer's pending takeover for a node this one knew
// less about (it started after the node died): the obligation is the
// cluster's, not the node's that noticed it.
func (m *Machine) adoptPending(now time.Time, e *Effects, from string, pt *messages.PendingTakeover) {
	n := pt.Node
	p := m.peers[n]
	if n == m.cfg.Local || p == nil || m.pending[n] != nil || p.gen > pt.Generation {
		return
	}
	if f := m.fenced[n]; f != nil && f.Generation >= pt.Generation {
		return
	}
	if !pt.Fence && !p.alive && m.waitedOut[n] >= pt.Generation && m.waitedOut[n] != 0 {
		// This node waited that life's stop budget out already: the
		// peer's own wait makes it deny claims while it lasts; adopted
		// here again, with its remaining time counted from when its
		// message arrived (seconds late under load), the wait came back
		// from peer to peer: a 64-node cluster whose node died at start
		// ran no group for over a minute.
		return
	}
	if p.alive {
		// Not dead here yet: two nodes' verdicts on a death differ by
		// up to a keepalive. The peer sends its wait once, and then
		// denies every claim while it lasts; had this node dropped it,
		// and found nothing to fence itself (it saw that life hold
		// nothing, or an earlier one fenced), the groups would wait
		// forever (node/sim seed 1485). Kept for when it dies.
		m.deferredPending[n] = deferredPending{from: from, pt: pt, at: now}
		return
	}
	if p.gen == 0 {
		p.gen = pt.Generation
	}
	// Only the groups this node has: a peer of another configuration may
	// name others, which mean nothing here. Every group is this node's
	// every group: a configuration with more waits for more, never less.
	var groups []string
	if pt.EveryGroup {
		groups = append(groups, m.order...)
	} else {
		for _, g := range pt.Groups {
			if m.groups[g] != nil && !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	np := &pendingTakeover{gen: pt.Generation, groups: groups, everyGroup: pt.EveryGroup, fence: pt.Fence, since: now,
		why: pt.Reason + " (from " + from + ")"}
	if !pt.Fence {
		np.until = now.Add(time.Duration(pt.RemainingMs) * time.Millisecond)
	}
	m.pending[n] = np
	for _, g := range np.groups {
		if grp := m.groups[g]; !holds(grp.holders[n]) {
			grp.holders[n] = Running
		}
	}
	e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s says %s holds %s and is %s", from, n, np.groupsText(), np.what())
}

// deferredPending is a peer's pending takeover kept until its node dies
// here (adoptPending).
type deferredPending struct {
	from string
	pt   *messages.PendingTakeover
	at   time.Time
}

// adoptDeferred takes the pending takeover a peer sent for n while n was
// still alive here, now that it died, if it came within ClaimTimeout.
func (m *Machine) adoptDeferred(now time.Time, e *Effects, n string) {
	d, ok := m.deferredPending[n]
	if !ok {
		return
	}
	delete(m.deferredPending, n)
	if now.Sub(d.at) <= m.cfg.ClaimTimeout {
		m.adoptPending(now, e, d.from, d.pt)
	}
}

// knownDown takes a peer's word that node n went down holding nothing in
// generation gen: a wait for it begun because this node never heard it
// ends.
func (m *Machine) knownDown(e *Effects, from string, d *messages.NodeDown) {
	if d.Generation > m.reportedDown[d.Node] {
		m.reportedDown[d.Node] = d.Generation
	}
	p := m.pending[d.Node]
	if p == nil || !p.startup || (p.gen != 0 && d.Generation < p.gen) {
		return
	}
	delete(m.pending, d.Node)
	e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s saw %s go down holding nothing: no need to %s", from, d.Node, map[bool]string{true: "fence it", false: "wait for it"}[p.fence])
}

// downPeers are the peers this node saw go down holding nothing, for its
// full state.
func (m *Machine) downPeers() []*messages.NodeDown {
	var out []*messages.NodeDown
	for _, n := range m.cfg.Nodes {
		p := m.peers[n]
		if p == nil || p.alive || p.gen == 0 || m.pending[n] != nil || len(m.mayHold(n)) > 0 {
			continue
		}
		out = append(out, &messages.NodeDown{Node: n, Generation: p.gen})
	}
	return out
}

// selfReset asks for a reset of this node when it has been without quorum
// longer than the stop budget of a group it still runs: past that, the
// majority runs it.
func (m *Machine) selfReset(now time.Time, e *Effects) {
	if m.resetAsked || m.cfg.Quorum != QuorumStop || m.HasQuorum() || m.noQuorumSince.IsZero() {
		return
	}
	for _, name := range m.order {
		g := m.groups[name]
		if !m.mustStopByBudget(g) {
			continue
		}
		budget := m.cfg.stopBudget(name)
		if now.Sub(m.noQuorumSince) >= budget {
			m.resetAsked = true
			e.Reset = fmt.Sprintf("no quorum since %s and %s is not stopped within its stop budget %v: the majority runs it now",
				m.noQuorumSince.Format("15:04:05.000"), name, budget)
			e.note(messages.EventKind_EVENT_KIND_QUORUM, name, "RESETTING %s: %s", m.cfg.Local, e.Reset)
			return
		}
	}
}

// mustStopByBudget says whether a group still runs (or may) here in a way
// the self-reset rule covers: anything started, not yet stopped.
func (m *Machine) mustStopByBudget(g *group) bool {
	return runs(g.local) || g.local == Stopping || g.local == Unmanaged || g.commanded
}
