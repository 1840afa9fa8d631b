// Package placement decides which node runs each resource group, and makes
// sure two nodes that see each other never both run one. It is a pure state
// machine: inputs are membership changes, cluster messages, reports of the
// local group actors, operator requests and time; outputs are the messages
// to send and the groups to start or stop here.
//
// Every node computes, from the same facts, the node a group should run on
// (its desired owner): an operator's override (hanode takeover/standby),
// else the node that holds it when auto_failback is off, else its preferred
// node when alive, else the first live node in configuration order.
//
// The desired owner does not start a group on its own say: it claims it,
// and starts only when every node it sees alive has granted the claim. A
// node denies a claim for a group it holds or is starting, for one it has
// granted to another live node, or when its own claim for it ranks higher.
// A node that holds a group it should not, stops it (right to left) and
// says so; the desired owner then claims it. A node that stops cleanly says
// it is leaving, gives everything away, and its peers take over at once.
package placement

import (
	"fmt"
	"sort"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/messages"
)

// GroupSpec is a configured group.
type GroupSpec struct {
	Name      string
	Preferred string
}

// Config is what the machine needs to know.
type Config struct {
	Local string
	// Nodes in configuration order, Local included.
	Nodes  []string
	Groups []GroupSpec
	// AutoFailback moves a group back to its preferred node when that node
	// returns (auto_failback on, and legacy).
	AutoFailback bool
	// RetryDelay is the pause before claiming again after a denial.
	RetryDelay time.Duration
	// QuickRetry is the pause after a denial in favour of a node this one
	// knows dead.
	QuickRetry time.Duration
	// ClaimTimeout gives up a claim whose grants do not all arrive.
	ClaimTimeout time.Duration
	// GrantTimeout forgets a grant whose claimant never said it started.
	GrantTimeout time.Duration
	// BanDuration keeps a group off a node where it failed.
	BanDuration time.Duration
	// PingNodes is the number of configured ping nodes; with any, groups
	// avoid nodes that reach fewer of them than another live node (the
	// built-in ipfail).
	PingNodes int
	// Fencers are the nodes that can use a fencing device; with any, a
	// dead node that held groups is fenced before they start elsewhere,
	// by the first live fencer in configuration order.
	Fencers []string
	// FenceRetries failed attempts are retried FenceRetryDelay apart;
	// after that the failure is reported and attempts go on every
	// 6×FenceRetryDelay. Groups held by an unfenced node never move.
	FenceRetries    int
	FenceRetryDelay time.Duration
	// Quorum is what this node does in a partition without a majority of
	// the configured nodes (three or more nodes only).
	Quorum QuorumPolicy
	// PingHoldoff is how long a node must reach fewer ping nodes than the
	// best before its groups move, and as many again before it is trusted
	// again: a flapping router does not bounce services.
	PingHoldoff time.Duration
}

func (c *Config) defaults() {
	if c.RetryDelay <= 0 {
		c.RetryDelay = 100 * time.Millisecond
	}
	if c.QuickRetry <= 0 {
		c.QuickRetry = 10 * time.Millisecond
	}
	if c.ClaimTimeout <= 0 {
		c.ClaimTimeout = 5 * time.Second
	}
	if c.GrantTimeout <= 0 {
		c.GrantTimeout = 10 * time.Second
	}
	if c.BanDuration <= 0 {
		c.BanDuration = 5 * time.Minute
	}
	if c.PingHoldoff <= 0 {
		c.PingHoldoff = 2 * time.Second
	}
	if c.FenceRetries <= 0 {
		c.FenceRetries = 5
	}
	if c.FenceRetryDelay <= 0 {
		c.FenceRetryDelay = 5 * time.Second
	}
}

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

// Phase is where a group stands on a node.
type Phase = messages.GroupPhase

// The phases.
const (
	Stopped   = messages.GroupPhase_GROUP_PHASE_STOPPED
	Starting  = messages.GroupPhase_GROUP_PHASE_STARTING
	Running   = messages.GroupPhase_GROUP_PHASE_RUNNING
	Stopping  = messages.GroupPhase_GROUP_PHASE_STOPPING
	Unmanaged = messages.GroupPhase_GROUP_PHASE_UNMANAGED
)

// holds says whether a node in phase p may be running the group.
func holds(p Phase) bool { return p == Starting || p == Running || p == Stopping || p == Unmanaged }

// Effects are what the actor must do after an input.
type Effects struct {
	// Send are cluster messages for the reliable layer (Destination set
	// for replies).
	Send []*messages.ClusterMessage
	// Start and Stop name groups the local group actors must start or
	// stop.
	Start, Stop []string
	// Log explains the decisions, for the node's log and event timeline.
	Log []string
	// Left is true once a leaving node holds nothing any more.
	Left bool
	// Fence names nodes this node must fence now (the fencing actor
	// answers with FenceResult).
	Fence []string
	// Events are the decisions for the node's event timeline (each Log
	// line is one, with a kind); Moved, among them, the groups that now
	// run here after running elsewhere.
	Events []Event
}

// Event is a decision or a change, for the event timeline.
type Event struct {
	Kind    messages.EventKind
	Node    string
	Group   string
	Summary string
	// Moves (Kind GROUP_MOVED): where from, how it was lost there
	// (died, restarted, released, fenced) and when.
	From   string
	How    string
	LostAt time.Time
	Gap    time.Duration
}

func (e *Effects) send(m *messages.ClusterMessage) { e.Send = append(e.Send, m) }
func (e *Effects) logf(format string, args ...any) {
	e.note(messages.EventKind_EVENT_KIND_GROUP, "", format, args...)
}

// note logs a decision and records it as an event of kind about group.
func (e *Effects) note(kind messages.EventKind, group, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	e.Log = append(e.Log, text)
	e.Events = append(e.Events, Event{Kind: kind, Group: group, Summary: text})
}

// fencing is the state of a node to fence.
type fencing struct {
	since     time.Time
	why       string
	attempts  int
	requested bool
	retryAt   time.Time
	failure   string
}

type claim struct {
	attempt uint64
	waiting map[string]bool
	at      time.Time
}

type grant struct {
	node    string
	attempt uint64
	at      time.Time
}

type override struct {
	node    string
	prefer  bool
	version uint64
	by      string
}

type group struct {
	spec GroupSpec
	// local is the phase this node's group actor reports; commanded says
	// the group should run here; stopIssued that a stop was asked for and
	// its Stopped report is awaited.
	local      Phase
	commanded  bool
	stopIssued bool
	holders    map[string]Phase     // other nodes' phases (those that hold)
	banned     map[string]time.Time // node -> ban end
	claim      *claim
	grant      *grant
	override   *override
	retryAt    time.Time
	// failed is the last failure on this node, for status.
	failed string
	// lost is when and how the group last stopped running elsewhere,
	// until it runs here (a move) or there again.
	lost *loss
}

// loss is a group's last holder going away.
type loss struct {
	from string
	how  string
	at   time.Time
}

// Machine is the placement view of one node. Not safe for concurrent use.
type Machine struct {
	cfg     Config
	index   map[string]int // node -> configuration position
	groups  map[string]*group
	order   []string // group names in configuration order
	alive   map[string]bool
	leaving map[string]bool
	settled bool // no peer still in init: we know who is there
	attempt uint64
	left    bool
	// Connectivity (ipfail): ping nodes each node reaches, the nodes kept
	// from running groups for reaching fewer than another, and since when
	// a node's standing differs from that verdict.
	pingsUp map[string]int
	// departed are peers that stopped cleanly (said so, then died): they
	// run nothing and do not count against quorum until they return.
	departed map[string]bool
	// unfenced are nodes that must be fenced before what they held (or
	// hold: a failed stop) may run elsewhere.
	unfenced map[string]*fencing
	// fencedAlive are live nodes fenced for a failed stop, until their
	// death or restart is seen: they are no candidates.
	fencedAlive   map[string]bool
	poorlyLinked  map[string]bool
	standingSince map[string]time.Time
}

// New returns a machine for a node that starts with no group running.
func New(cfg Config) *Machine {
	cfg.defaults()
	m := &Machine{cfg: cfg, index: map[string]int{}, groups: map[string]*group{}, alive: map[string]bool{cfg.Local: true}, leaving: map[string]bool{},
		pingsUp: map[string]int{}, departed: map[string]bool{}, unfenced: map[string]*fencing{}, fencedAlive: map[string]bool{}, poorlyLinked: map[string]bool{}, standingSince: map[string]time.Time{}}
	for i, n := range cfg.Nodes {
		m.index[n] = i
	}
	for _, g := range cfg.Groups {
		m.groups[g.Name] = &group{spec: g, local: Stopped, holders: map[string]Phase{}, banned: map[string]time.Time{}}
		m.order = append(m.order, g.Name)
	}
	return m
}

// Membership gives the current view: the live peers, whether every peer
// has been heard from or given up on (settled), and the peers that
// restarted (their groups are gone, their overrides void).
func (m *Machine) Membership(now time.Time, alive []string, settled bool, restarted []string) Effects {
	var e Effects
	was := m.alive
	hadQuorum := m.HasQuorum()
	m.alive = map[string]bool{m.cfg.Local: true}
	for _, n := range alive {
		m.alive[n] = true
	}
	m.settled = settled
	gone := map[string]bool{}
	for _, n := range restarted {
		gone[n] = true
		m.lostBy(now, n, "restarted")
		// A new incarnation: it rebooted, which is what fencing is for.
		if m.unfenced[n] != nil {
			e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s restarted: no longer needs fencing", n)
		}
		delete(m.unfenced, n)
		delete(m.fencedAlive, n)
	}
	for n := range m.unfenced {
		if m.alive[n] && !was[n] {
			// Back with the same generation (a healed partition): what
			// it held is its own again.
			e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s is back: no longer fenced", n)
			delete(m.unfenced, n)
		}
	}
	var newcomers bool
	for _, n := range m.cfg.Nodes {
		if n == m.cfg.Local {
			continue
		}
		if was[n] && !m.alive[n] {
			gone[n] = true
			delete(m.fencedAlive, n)
			if m.leaving[n] {
				m.lostBy(now, n, "stopped")
			} else {
				m.lostBy(now, n, "died")
			}
			if held := m.mayHold(n); len(m.cfg.Fencers) > 0 && len(held) > 0 && !m.leaving[n] && m.unfenced[n] == nil {
				m.unfenced[n] = &fencing{since: now, why: fmt.Sprintf("died holding %v", held)}
				e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s died holding %v: it must be fenced before they run elsewhere", n, held)
			}
		}
		if m.alive[n] && (!was[n] || gone[n]) {
			newcomers = true
		}
	}
	for n := range gone {
		m.forget(&e, n)
	}
	for n := range m.departed {
		if m.alive[n] {
			delete(m.departed, n)
		}
	}
	if newcomers {
		// Whoever comes up learns where our groups stand, and tells us
		// where theirs do.
		snap := m.snapshot(now)
		snap.GetGroupStates().AnswerRequested = true
		e.send(snap)
	}
	if has := m.HasQuorum(); has != hadQuorum {
		n := 0
		for _, name := range m.cfg.Nodes {
			if m.alive[name] {
				n++
			}
		}
		if has {
			e.note(messages.EventKind_EVENT_KIND_QUORUM, "", "quorum: %d of %d nodes are here: groups may run", n, len(m.cfg.Nodes))
		} else {
			e.note(messages.EventKind_EVENT_KIND_QUORUM, "", "no quorum: only %d of %d nodes are here: %s", n, len(m.cfg.Nodes), map[QuorumPolicy]string{
				QuorumStop: "groups stop", QuorumFreeze: "what runs keeps running, nothing starts"}[m.cfg.Quorum])
		}
	}
	m.reassess(now, &e)
	m.evaluate(now, &e)
	return e
}

// Connectivity takes the number of ping nodes a node (this one included)
// reaches.
func (m *Machine) Connectivity(now time.Time, node string, up int) Effects {
	var e Effects
	m.pingsUp[node] = up
	m.reassess(now, &e)
	m.evaluate(now, &e)
	return e
}

// reassess updates which live nodes are poorly linked: those reaching
// fewer ping nodes than the best live node, for PingHoldoff; a node is
// trusted again after reaching as many as the best for PingHoldoff.
func (m *Machine) reassess(now time.Time, e *Effects) {
	if m.cfg.PingNodes == 0 {
		return
	}
	best := -1
	for _, n := range m.cfg.Nodes {
		if m.alive[n] && m.pingsUp[n] > best {
			best = m.pingsUp[n]
		}
	}
	for _, n := range m.cfg.Nodes {
		worse := m.alive[n] && m.pingsUp[n] < best
		if worse == m.poorlyLinked[n] || (!m.alive[n] && !m.poorlyLinked[n]) {
			delete(m.standingSince, n)
			continue
		}
		if !m.alive[n] {
			// Gone: forget the verdict; it is judged afresh when back.
			delete(m.poorlyLinked, n)
			delete(m.standingSince, n)
			continue
		}
		since, ok := m.standingSince[n]
		if !ok {
			m.standingSince[n] = now
			continue
		}
		if now.Sub(since) >= m.cfg.PingHoldoff {
			delete(m.standingSince, n)
			if worse {
				m.poorlyLinked[n] = true
				e.note(messages.EventKind_EVENT_KIND_CONNECTIVITY, "", "%s reaches %d ping nodes, fewer than %d for %v: its groups move to better linked nodes", n, m.pingsUp[n], best, m.cfg.PingHoldoff)
			} else {
				delete(m.poorlyLinked, n)
				e.note(messages.EventKind_EVENT_KIND_CONNECTIVITY, "", "%s reaches as many ping nodes as the best (%d) for %v: it may run groups again", n, best, m.cfg.PingHoldoff)
			}
		}
	}
}

// lostBy records that node n, going away as how, no longer runs what it
// held.
func (m *Machine) lostBy(now time.Time, n, how string) {
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

// heldBy lists the groups node n holds (or may).
func (m *Machine) heldBy(n string) []string {
	var out []string
	for _, name := range m.order {
		if holds(m.groups[name].holders[n]) {
			out = append(out, name)
		}
	}
	return out
}

// forget drops what a dead or restarted node held, claimed or asked for;
// what an unfenced node held is kept until it is fenced.
func (m *Machine) forget(e *Effects, n string) {
	if m.leaving[n] && !m.alive[n] {
		m.departed[n] = true
	}
	delete(m.leaving, n)
	keepHoldings := m.unfenced[n] != nil
	for _, name := range m.order {
		g := m.groups[name]
		if !keepHoldings {
			if holds(g.holders[n]) {
				e.note(messages.EventKind_EVENT_KIND_GROUP, name, "%s: no longer held by %s (gone)", name, n)
			}
			delete(g.holders, n)
		}
		if g.grant != nil && g.grant.node == n && !keepHoldings {
			g.grant = nil
		}
		if g.claim != nil {
			delete(g.claim.waiting, n)
		}
		if g.override != nil && g.override.node == n {
			g.override = nil
		}
	}
}

// Receive handles a cluster message from node from.
func (m *Machine) Receive(now time.Time, from string, msg *messages.ClusterMessage) Effects {
	var e Effects
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
		if p.GroupStates.AnswerRequested {
			answer := m.snapshot(now)
			answer.Destination = from
			e.send(answer)
		}
		for _, o := range p.GroupStates.Overrides {
			m.applyOverride(o)
		}
		for _, s := range p.GroupStates.Groups {
			g := m.groups[s.Group]
			if g == nil {
				continue
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
	case *messages.ClusterMessage_PlacementOverride:
		m.applyOverride(p.PlacementOverride)
	case *messages.ClusterMessage_NodeLeaving:
		m.leaving[from] = true
		e.logf("%s is leaving: its groups move", from)
	case *messages.ClusterMessage_NodeFenced:
		f := p.NodeFenced
		if m.unfenced[f.Node] != nil || m.alive[f.Node] {
			e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s fenced %s (device %s)", from, f.Node, f.Device)
			m.fenced(&e, f.Node)
		}
	}
	m.evaluate(now, &e)
	return e
}

// FenceResult takes the outcome of fencing target, asked for in
// Effects.Fence.
func (m *Machine) FenceResult(now time.Time, target, device string, err error) Effects {
	var e Effects
	f := m.unfenced[target]
	if f == nil {
		return e
	}
	f.requested = false
	if err == nil {
		e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s fenced by %s (device %s)", target, m.cfg.Local, device)
		e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_NodeFenced{NodeFenced: &messages.NodeFenced{Node: target, Device: device}}})
		m.fenced(&e, target)
		m.evaluate(now, &e)
		return e
	}
	f.attempts++
	f.failure = err.Error()
	if f.attempts < m.cfg.FenceRetries {
		f.retryAt = now.Add(m.cfg.FenceRetryDelay)
		e.note(messages.EventKind_EVENT_KIND_FENCING, "", "fencing %s failed (attempt %d of %d): %v; retrying in %v", target, f.attempts, m.cfg.FenceRetries, err, m.cfg.FenceRetryDelay)
	} else {
		f.retryAt = now.Add(6 * m.cfg.FenceRetryDelay)
		e.note(messages.EventKind_EVENT_KIND_FENCING, "", "CANNOT FENCE %s after %d attempts (last: %v): the groups it held stay stopped; still trying every %v",
			target, f.attempts, err, 6*m.cfg.FenceRetryDelay)
	}
	m.evaluate(now, &e)
	return e
}

// ConfirmFenced takes an operator's word that node n, waiting to be
// fenced, is off; it reports whether n was waiting.
func (m *Machine) ConfirmFenced(now time.Time, n string) (Effects, bool) {
	var e Effects
	if m.unfenced[n] == nil {
		return e, false
	}
	e.note(messages.EventKind_EVENT_KIND_FENCING, "", "operator confirmed %s is off: its groups may move", n)
	e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_NodeFenced{NodeFenced: &messages.NodeFenced{Node: n, Device: "operator (" + m.cfg.Local + ")"}}})
	m.fenced(&e, n)
	m.evaluate(now, &e)
	return e, true
}

// fenced drops what a fenced node held: it runs nothing any more.
func (m *Machine) fenced(e *Effects, n string) {
	delete(m.unfenced, n)
	if m.alive[n] {
		// Fenced for a failed stop: it is off, though its death is not
		// seen yet.
		m.fencedAlive[n] = true
	}
	for _, name := range m.order {
		g := m.groups[name]
		if holds(g.holders[n]) {
			e.note(messages.EventKind_EVENT_KIND_GROUP, name, "%s: no longer held by %s (fenced)", name, n)
			delete(g.holders, n)
			g.retryAt = time.Time{}
		}
		if g.grant != nil && g.grant.node == n {
			g.grant = nil
			g.retryAt = time.Time{}
		}
	}
}

// fencer is the node that fences: the first live node, in configuration
// order, that can use a fencing device.
func (m *Machine) fencer() string {
	for _, n := range m.cfg.Nodes {
		if !m.alive[n] || m.fencedAlive[n] {
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
		if n == m.cfg.Local || !m.alive[n] || m.unfenced[n] != nil || m.fencedAlive[n] {
			continue
		}
		for _, name := range m.order {
			if m.groups[name].holders[n] == Unmanaged {
				m.unfenced[n] = &fencing{since: now, why: fmt.Sprintf("a stop of %s failed there", name)}
				e.note(messages.EventKind_EVENT_KIND_FENCING, name, "%s could not stop %s: it must be fenced", n, name)
				break
			}
		}
	}
	if m.fencer() != m.cfg.Local {
		return
	}
	for _, n := range m.cfg.Nodes {
		f := m.unfenced[n]
		if f == nil || f.requested || now.Before(f.retryAt) {
			continue
		}
		f.requested = true
		e.Fence = append(e.Fence, n)
		e.note(messages.EventKind_EVENT_KIND_FENCING, "", "fencing %s (%s)", n, f.why)
	}
}

// Unfenced describes the nodes waiting to be fenced, for status.
func (m *Machine) Unfenced() []*messages.FenceState {
	var out []*messages.FenceState
	here := m.fencer() == m.cfg.Local
	for _, n := range m.cfg.Nodes {
		if f := m.unfenced[n]; f != nil {
			out = append(out, &messages.FenceState{Node: n, Reason: f.why, Since: timestamppb.New(f.since),
				Attempts: uint32(f.attempts), LastFailure: f.failure, FencingHere: here})
		}
	}
	return out
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

func (m *Machine) claimed(now time.Time, e *Effects, from string, c *messages.GroupClaim) {
	g := m.groups[c.Group]
	if g == nil {
		return
	}
	deny := func(favoured, reason string) {
		e.send(&messages.ClusterMessage{Destination: from, Payload: &messages.ClusterMessage_GroupClaimReply{
			GroupClaimReply: &messages.GroupClaimReply{Group: c.Group, Attempt: c.Attempt, Reason: reason, InFavourOf: favoured}}})
	}
	switch {
	case m.held(g):
		deny(m.cfg.Local, "held by "+m.cfg.Local)
		return
	case g.claim != nil:
		if m.rank(g, m.cfg.Local) < m.rank(g, from) {
			deny(m.cfg.Local, "competing claim by "+m.cfg.Local)
			return
		}
		// The other node ranks higher: withdraw ours and let it have it.
		m.cancelClaim(now, e, g, fmt.Sprintf("%s's claim ranks higher", from))
	}
	if g.grant != nil && g.grant.node != from && m.alive[g.grant.node] && now.Sub(g.grant.at) < m.cfg.GrantTimeout {
		deny(g.grant.node, "granted to "+g.grant.node)
		return
	}
	if g.grant != nil && g.grant.node != from && m.unfenced[g.grant.node] != nil {
		deny("", "granted to "+g.grant.node+", not fenced yet")
		return
	}
	for _, h := range m.sortedHolders(g) {
		if h != from && m.alive[h] {
			deny(h, "held by "+h)
			return
		}
		if h != from && m.unfenced[h] != nil {
			// No favour: the claimant must not retry at once.
			deny("", "held by "+h+", not fenced yet")
			return
		}
	}
	g.grant = &grant{node: from, attempt: c.Attempt, at: now}
	e.send(&messages.ClusterMessage{Destination: from, Payload: &messages.ClusterMessage_GroupClaimReply{
		GroupClaimReply: &messages.GroupClaimReply{Group: c.Group, Attempt: c.Attempt, Granted: true}}})
}

func (m *Machine) replied(now time.Time, e *Effects, from string, r *messages.GroupClaimReply) {
	g := m.groups[r.Group]
	if g == nil || g.claim == nil || g.claim.attempt != r.Attempt || !g.claim.waiting[from] {
		return
	}
	if !r.Granted {
		m.cancelClaim(now, e, g, fmt.Sprintf("%s denied it: %s", from, r.Reason))
		if f := r.InFavourOf; f != "" && f != from && f != m.cfg.Local && !m.alive[f] {
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
	// Lower-ranked nodes wait longer, so the better one wins the next round.
	g.retryAt = now.Add(m.cfg.RetryDelay * time.Duration(1+max(0, m.rank(g, m.cfg.Local)+2)))
}

func (m *Machine) applyOverride(o *messages.PlacementOverride) {
	g := m.groups[o.Group]
	if g == nil || !m.alive[o.Node] {
		return
	}
	cur := g.override
	if cur != nil && (o.Version < cur.version || (o.Version == cur.version && o.Author <= cur.by)) {
		return
	}
	g.override = &override{node: o.Node, prefer: o.Prefer, version: o.Version, by: o.Author}
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
	if r.Phase == Running {
		if l := g.lost; l != nil && l.from != m.cfg.Local {
			e.Events = append(e.Events, Event{Kind: messages.EventKind_EVENT_KIND_GROUP_MOVED, Group: g.spec.Name, Node: m.cfg.Local,
				From: l.from, How: l.how, LostAt: l.at, Gap: now.Sub(l.at),
				Summary: fmt.Sprintf("%s moved from %s (%s) to %s", g.spec.Name, l.from, l.how, m.cfg.Local)})
		}
		g.lost = nil
	}
	if r.Failed {
		g.banned[m.cfg.Local] = now.Add(m.cfg.BanDuration)
		g.failed = r.Reason
		e.note(messages.EventKind_EVENT_KIND_GROUP, g.spec.Name, "%s: failed on %s (%s): kept away from it for %v", g.spec.Name, m.cfg.Local, r.Reason, m.cfg.BanDuration)
		if (r.Phase == Starting || r.Phase == Running) && !g.stopIssued {
			g.commanded, g.stopIssued = false, true
			e.Stop = append(e.Stop, g.spec.Name)
		}
	}
	e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{
		Groups: []*messages.GroupState{m.state(now, g)}}}})
	m.evaluate(now, &e)
	return e
}

func (m *Machine) state(now time.Time, g *group) *messages.GroupState {
	s := &messages.GroupState{Group: g.spec.Name, Phase: g.local}
	if until, ok := g.banned[m.cfg.Local]; ok && now.Before(until) {
		s.BannedUntilUnixNano = until.UnixNano()
	}
	return s
}

func (m *Machine) snapshot(now time.Time) *messages.ClusterMessage {
	st := &messages.GroupStates{Full: true}
	for _, name := range m.order {
		g := m.groups[name]
		st.Groups = append(st.Groups, m.state(now, g))
		if o := g.override; o != nil {
			st.Overrides = append(st.Overrides, &messages.PlacementOverride{Group: name, Node: o.node, Prefer: o.prefer, Version: o.version, Author: o.by})
		}
	}
	return &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: st}}
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
	var e Effects
	for _, name := range m.order {
		g := m.groups[name]
		if m.selected(g, s) {
			delete(g.banned, m.cfg.Local) // an operator's word lifts a ban
		}
	}
	e = m.override(now, s, true)
	return e
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
		g.override = &override{node: m.cfg.Local, prefer: prefer, version: v, by: m.cfg.Local}
		e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_PlacementOverride{PlacementOverride: &messages.PlacementOverride{
			Group: name, Node: m.cfg.Local, Prefer: prefer, Version: v, Author: m.cfg.Local}}})
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
	for _, name := range m.order {
		g := m.groups[name]
		if g.claim != nil && now.Sub(g.claim.at) >= m.cfg.ClaimTimeout {
			m.cancelClaim(now, &e, g, fmt.Sprintf("no answer from %v within %v", keys(g.claim.waiting), m.cfg.ClaimTimeout))
		}
		if g.grant != nil && now.Sub(g.grant.at) >= m.cfg.GrantTimeout && m.unfenced[g.grant.node] == nil {
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
	return e
}

// NextDeadline is when Tick next has something to do (zero: nothing).
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
		if g.grant != nil {
			consider(g.grant.at.Add(m.cfg.GrantTimeout))
		}
		for _, until := range g.banned {
			consider(until)
		}
		consider(g.retryAt)
	}
	for _, since := range m.standingSince {
		consider(since.Add(m.cfg.PingHoldoff))
	}
	for _, f := range m.unfenced {
		if !f.requested {
			consider(f.retryAt)
		}
	}
	return next
}

// HasQuorum says whether this node's partition may run groups: it holds a
// majority of the configured nodes, or there are fewer than three, or the
// policy ignores quorum. Nodes that stopped cleanly do not count: they
// said so and run nothing, so the remaining ones keep running groups as
// the cluster is shut down node by node; a node that just died (or is cut
// off) does count, as it may run groups on the other side of a partition.
func (m *Machine) HasQuorum() bool {
	if len(m.cfg.Nodes) < 3 || m.cfg.Quorum == QuorumIgnore {
		return true
	}
	alive, expected := 0, 0
	for _, name := range m.cfg.Nodes {
		if m.alive[name] {
			alive++
		}
		if !m.departed[name] {
			expected++
		}
	}
	return 2*alive > expected
}

// Desired is the node group should run on, "" if none can.
func (m *Machine) Desired(now time.Time, name string) string {
	g := m.groups[name]
	if g == nil {
		return ""
	}
	if !m.HasQuorum() {
		// A minority runs nothing (stop), or keeps only what it runs
		// (freeze).
		if m.cfg.Quorum == QuorumFreeze && (g.local == Running || g.local == Starting || g.commanded) {
			return m.cfg.Local
		}
		return ""
	}
	var cands []string
	for _, n := range m.cfg.Nodes {
		if !m.alive[n] || m.leaving[n] || m.fencedAlive[n] || (n == m.cfg.Local && m.left) {
			continue
		}
		if until, ok := g.banned[n]; ok && now.Before(until) {
			continue
		}
		cands = append(cands, n)
	}
	if len(cands) == 0 {
		return ""
	}
	in := func(n string) bool {
		for _, c := range cands {
			if c == n {
				return true
			}
		}
		return false
	}
	if o := g.override; o != nil && o.prefer && in(o.node) {
		// An operator's takeover wins over everything but death.
		return o.node
	}
	if len(m.poorlyLinked) > 0 {
		// ipfail: keep groups off nodes that reach fewer ping nodes,
		// unless no other node can run them.
		kept := cands[:0:0]
		for _, c := range cands {
			if !m.poorlyLinked[c] {
				kept = append(kept, c)
			}
		}
		if len(kept) > 0 {
			cands = kept
		}
	}
	if o := g.override; o != nil {
		if !o.prefer && len(cands) > 1 {
			kept := cands[:0:0]
			for _, c := range cands {
				if c != o.node {
					kept = append(kept, c)
				}
			}
			cands = kept
		}
	}
	if !m.cfg.AutoFailback {
		// It stays where it runs; should it run on two nodes (a healed
		// partition), the better ranked one keeps it.
		best := ""
		for _, c := range cands {
			p := g.holders[c]
			if c == m.cfg.Local {
				p = g.local
			}
			if (p == Running || p == Starting) && (best == "" || m.rank(g, c) < m.rank(g, best)) {
				best = c
			}
		}
		if best != "" {
			return best
		}
	}
	if in(g.spec.Preferred) {
		return g.spec.Preferred
	}
	return cands[0]
}

// evaluate acts on the current facts: stop what should not run here,
// claim what should, start what has been granted.
func (m *Machine) evaluate(now time.Time, e *Effects) {
	m.requestFencing(now, e)
	all := true
	for _, name := range m.order {
		g := m.groups[name]
		want := m.Desired(now, name) == m.cfg.Local
		running := g.local == Starting || g.local == Running
		switch {
		case g.local == Unmanaged || g.local == Stopping:
			// Wait for the group actor (or, unmanaged, for fencing).
		case !want && (g.commanded || running) && !g.stopIssued:
			// Holding what belongs elsewhere (failback, standby, leaving,
			// a ban): give it up, right to left.
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
		if m.held(g) {
			all = false
		}
	}
	if m.left && all && !e.Left {
		e.Left = true
	}
}

func (m *Machine) advanceClaim(now time.Time, e *Effects, g *group) {
	if g.claim == nil {
		if !m.settled || now.Before(g.retryAt) || m.blocked(now, g) != "" {
			return
		}
		m.attempt++
		g.claim = &claim{attempt: m.attempt, waiting: map[string]bool{}, at: now}
		for _, n := range m.cfg.Nodes {
			if n != m.cfg.Local && m.alive[n] {
				g.claim.waiting[n] = true
			}
		}
		if len(g.claim.waiting) > 0 {
			e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupClaim{GroupClaim: &messages.GroupClaim{Group: g.spec.Name, Attempt: g.claim.attempt}}})
			e.note(messages.EventKind_EVENT_KIND_GROUP, g.spec.Name, "%s: claimed by %s, waiting for %v", g.spec.Name, m.cfg.Local, keys(g.claim.waiting))
		}
	}
	if len(g.claim.waiting) == 0 {
		g.claim = nil
		g.commanded = true
		e.Start = append(e.Start, g.spec.Name)
		e.note(messages.EventKind_EVENT_KIND_GROUP, g.spec.Name, "%s: starting on %s", g.spec.Name, m.cfg.Local)
	}
}

// held says whether the group may run here: reported so, or asked to
// start, or asked to stop and not yet reported stopped (a start may still
// be on its way to the group actor).
func (m *Machine) held(g *group) bool {
	return holds(g.local) || g.commanded || g.stopIssued
}

// blocked says why this node cannot claim a group now: a live node holds
// it, or it was granted to another live node.
func (m *Machine) blocked(now time.Time, g *group) string {
	for _, h := range m.sortedHolders(g) {
		if m.alive[h] {
			return "held by " + h
		}
		if m.unfenced[h] != nil {
			return "held by " + h + ", not fenced yet"
		}
	}
	if g.grant != nil && m.alive[g.grant.node] && now.Sub(g.grant.at) < m.cfg.GrantTimeout {
		return "granted to " + g.grant.node
	}
	if g.grant != nil && m.unfenced[g.grant.node] != nil {
		return "granted to " + g.grant.node + ", not fenced yet"
	}
	return ""
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

// GroupView is one group as this node sees it, for status.
type GroupView struct {
	Name, Preferred, Desired string
	Local                    Phase
	// Holders are the nodes that run (or may run) it, this one included.
	Holders  map[string]Phase
	Banned   []string
	Claiming bool
	Failure  string
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
		out = append(out, v)
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func orNobody(s string) string {
	if s == "" {
		return "no node"
	}
	return s
}
