// Package placement decides which node runs each resource group, and makes
// sure that a group never runs on two nodes at once. It is a pure state
// machine: inputs are membership changes, cluster messages, reports of the
// local group actors, operator requests and time; outputs are the messages
// to send and the groups to start or stop here.
//
// Every node computes, from the same facts, the node a group should run on
// (its desired owner): an operator's override (hanode takeover/standby),
// else the node that runs it when auto_failback is off, else its preferred
// node when alive, else the first live node in configuration order.
//
// The rules that keep a group single (each is checked over random whole
// cluster histories by the simulation in node/sim):
//
//   - Join by state. A node that comes up, and a peer seen again (restarted
//     or back from a partition), exchange their full placement state: the
//     phase of every group (probing, starting, running, stopping), grants,
//     fencing done and pending, operator overrides. Nobody claims a group
//     while a live peer's state of its current life is missing, and a peer
//     is no candidate for a group before its state (probes done) is known.
//   - Claims and grants. The desired owner does not start a group on its
//     own say: it claims it, and starts only when every node it sees alive
//     has granted the claim. A node never grants a group it holds, is
//     probing, starting or stopping, until its stop has completed; nor one
//     it granted to another live node, nor one a dead node may still run.
//     A grant names the claimant's generation: a later life of it cannot
//     use it.
//   - Death. The groups of a node that died (not one that stopped cleanly)
//     move only once it cannot run them: once it is fenced when fencing is
//     configured; else, in a cluster of three or more with quorum, once it
//     must have stopped them by itself (it lost quorum at the same silence:
//     peers' heartbeats acknowledge hearing it, see package membership; it
//     then has the group's stop budget, and resets itself if it has not
//     stopped them by then); else (two nodes, nothing to lean on) at once.
//   - Healing. A group that ran on two nodes anyway (a false death, a two
//     node partition) stops on the one that should not have it, and the one
//     that keeps it re-announces its addresses once the other has stopped.
package placement

import (
	"fmt"
	"sort"
	"time"

	"github.com/hanode/hanode/messages"
	mutate "github.com/hanode/hanode/node/mutation"
)

// GroupSpec is a configured group.
type GroupSpec struct {
	Name      string
	Preferred string
}

// Config is what the machine needs to know.
type Config struct {
	Local string
	// Generation is this node's life: operator requests made here last as
	// long as it.
	Generation uint64
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
	// FenceQueryInterval is how often a node waiting for another to be
	// fenced asks its peers whether it was (the fencer's notice may have
	// been lost with it).
	FenceQueryInterval time.Duration
	// Quorum is what this node does in a partition without a majority of
	// the configured nodes (three or more nodes only).
	Quorum QuorumPolicy
	// PingHoldoff is how long a node must reach fewer ping nodes than the
	// best before its groups move, and as many again before it is trusted
	// again: a flapping router does not bounce services.
	PingHoldoff time.Duration
	// StopBudget is, per group, the time a node has to stop it: the sum of
	// its resources' stop timeouts (DefaultStopBudget when missing). A node
	// without quorum that has not stopped a group within it since it lost
	// quorum resets itself; a majority waits that long (plus
	// PartitionMargin) before running the groups of a node it lost
	// without fencing.
	StopBudget map[string]time.Duration
	// PartitionMargin covers timer lateness and clock rate between the
	// two sides of a partition.
	PartitionMargin time.Duration
}

// DefaultStopBudget is the stop budget of a group the configuration says
// nothing about.
const DefaultStopBudget = 60 * time.Second

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
	if c.FenceQueryInterval <= 0 {
		c.FenceQueryInterval = time.Second
	}
	if c.PartitionMargin <= 0 {
		c.PartitionMargin = time.Second
	}
}

func (c *Config) stopBudget(group string) time.Duration {
	if d, ok := c.StopBudget[group]; ok && d > 0 {
		return d
	}
	return DefaultStopBudget
}

// longestStopBudget is the longest stop budget of groups: a node that may
// run them all has that long to stop them (they stop side by side).
func (c *Config) longestStopBudget(groups []string) time.Duration {
	var d time.Duration
	for _, g := range groups {
		d = max(d, c.stopBudget(g))
	}
	return d
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
	Probing   = messages.GroupPhase_GROUP_PHASE_PROBING
)

// holds says whether a node in phase p may be running the group. A node
// stopping a group holds it until its stop has completed: nobody claims or
// grants it before.
func holds(p Phase) bool {
	if p == Stopping && mutation("grant-while-stopping") {
		return false
	}
	return p == Starting || p == Running || p == Stopping || p == Unmanaged || p == Probing
}

// runs says whether a node in phase p runs the group or is bringing it up.
func runs(p Phase) bool { return p == Starting || p == Running }

// active says whether a node in phase p has the group's resources up, or
// some of them: it may have taken the clients.
func active(p Phase) bool { return p == Starting || p == Running || p == Stopping || p == Unmanaged }

// Effects are what the actor must do after an input.
type Effects struct {
	// Send are cluster messages for the reliable layer (Destination set
	// for replies).
	Send []*messages.ClusterMessage
	// Start and Stop name groups the local group actors must start or
	// stop.
	Start, Stop []string
	// Reannounce names groups that ran on another node too while they ran
	// here, and that this node keeps: their addresses must be announced
	// again (gratuitous ARP) so that clients come back.
	Reannounce []string
	// Log explains the decisions, for the node's log and event timeline.
	Log []string
	// Left is true once a leaving node holds nothing any more.
	Left bool
	// Fence names nodes this node must fence now (the fencing actor
	// answers with FenceResult).
	Fence []string
	// Reset, when set, says why this node must reset itself at once: it
	// lost quorum and could not stop its groups within their stop budget,
	// after which the majority runs them.
	Reset string
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

type claim struct {
	attempt uint64
	waiting map[string]bool
	at      time.Time
}

type grant struct {
	node    string
	gen     uint64
	attempt uint64
	at      time.Time
}

type override struct {
	node    string
	nodeGen uint64
	prefer  bool
	version uint64
	by      string
}

type group struct {
	spec GroupSpec
	// local is the phase this node's group actor reports (Probing until
	// its first report); commanded says the group should run here;
	// stopIssued that a stop was asked for and its Stopped report is
	// awaited.
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
	// conflict are the peers seen starting or running the group while
	// it ran here: once they have stopped, this node re-announces it.
	conflict map[string]bool
	// upHere is whether the group is up here (some of it); lastUp when it
	// last stopped being so: what a peer that could not hear this node
	// must be told (ran_apart).
	upHere bool
	lastUp time.Time
}

// loss is a group's last holder going away.
type loss struct {
	from string
	how  string
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
}

// Machine is the placement view of one node. Not safe for concurrent use.
type Machine struct {
	cfg     Config
	index   map[string]int // node -> configuration position
	groups  map[string]*group
	order   []string // group names in configuration order
	peers   map[string]*peer
	settled bool // no peer still in init: we know who is there
	attempt uint64
	left    bool
	// Connectivity (ipfail): ping nodes each node reaches, the nodes kept
	// from running groups for reaching fewer than another, and since when
	// a node's standing differs from that verdict.
	pingsUp       map[string]int
	poorlyLinked  map[string]bool
	standingSince map[string]time.Time
	// pending are dead nodes whose groups may not move yet: waiting to be
	// fenced, or to have stopped them by themselves.
	pending map[string]*pendingTakeover
	// fenced are the fencing records known, by node (the latest life).
	fenced map[string]*messages.NodeFenced
	// noQuorumSince is when this node lost quorum (zero while it has it).
	noQuorumSince time.Time
	resetAsked    bool
	// settledOnce: the first settled view was taken (peers never heard
	// by then were dealt with).
	settledOnce bool
	// fencing are the fencings asked for here and not answered yet, with
	// the life of the target they were asked for.
	fencing map[string]uint64
	// reportedDown are the peers a live peer saw go down holding nothing
	// (their life): no need to fence or wait for them when this node
	// never heard them.
	reportedDown map[string]uint64
}

// New returns a machine for a node that starts at now, its groups not yet
// probed.
func New(cfg Config, now time.Time) *Machine {
	cfg.defaults()
	m := &Machine{cfg: cfg, index: map[string]int{}, groups: map[string]*group{}, peers: map[string]*peer{},
		pingsUp: map[string]int{}, poorlyLinked: map[string]bool{}, standingSince: map[string]time.Time{},
		pending: map[string]*pendingTakeover{}, fenced: map[string]*messages.NodeFenced{}, fencing: map[string]uint64{}, reportedDown: map[string]uint64{}}
	for i, n := range cfg.Nodes {
		m.index[n] = i
		if n != cfg.Local {
			m.peers[n] = &peer{apartSince: now}
		}
	}
	for _, g := range cfg.Groups {
		m.groups[g.Name] = &group{spec: g, local: Probing, holders: map[string]Phase{}, banned: map[string]time.Time{}, conflict: map[string]bool{}}
		m.order = append(m.order, g.Name)
	}
	if !m.HasQuorum() {
		m.noQuorumSince = now
	}
	return m
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
			m.lostBy(now, n, "restarted")
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
			newcomers = append(newcomers, n)
			p.synced = false
			p.departed = false
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
	}
	for _, n := range newcomers {
		// It learns where our groups stand, and tells us where its do,
		// before anyone claims.
		snap := m.snapshot(now, n)
		snap.Destination, snap.DestinationGeneration = n, m.peers[n].gen
		snap.GetGroupStates().AnswerRequested = true
		e.send(snap)
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
		m.lostBy(now, n, "stopped")
		p.departed = true
		m.forget(e, n, true)
		p.leaving = false
		return
	}
	m.lostBy(now, n, "died")
	held := m.mayHold(n)
	if !wasSynced {
		// Its state never reached us: it may run any group.
		held = append([]string(nil), m.order...)
	}
	if f := m.fenced[n]; f != nil && f.Generation >= p.gen {
		held = nil // already fenced in this life: it runs nothing
	}
	if len(held) > 0 && m.pending[n] == nil {
		switch {
		case len(m.cfg.Fencers) > 0:
			m.pending[n] = &pendingTakeover{gen: p.gen, groups: held, fence: true, since: now, why: fmt.Sprintf("died holding %v", held)}
			e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s died holding %v: it must be fenced before they run elsewhere", n, held)
		case m.partitionWait():
			budget := m.cfg.longestStopBudget(held)
			until := now.Add(budget + m.cfg.PartitionMargin)
			m.pending[n] = &pendingTakeover{gen: p.gen, groups: held, since: now, until: until,
				why: fmt.Sprintf("died holding %v, no fencing", held)}
			e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s died holding %v and cannot be fenced: they run elsewhere at %s, once it must have stopped them by itself (it lost quorum too; stop budget %v)",
				n, held, until.Format("15:04:05.000"), budget)
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
			m.pending[n] = &pendingTakeover{groups: all, fence: true, since: now, why: "not heard since this node started: it may run any group", startup: true}
			e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s not heard since this node started: it must be fenced before groups it may run start here", n)
		case m.partitionWait():
			until := now.Add(m.cfg.longestStopBudget(all) + m.cfg.PartitionMargin)
			m.pending[n] = &pendingTakeover{groups: all, since: now, until: until, why: "not heard since this node started", startup: true}
			e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s not heard since this node started: groups it may run start here at %s at the earliest, once it must have stopped them by itself",
				n, until.Format("15:04:05.000"))
		}
	}
}

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
		if m.alive(n) && m.pingsUp[n] > best {
			best = m.pingsUp[n]
		}
	}
	for _, n := range m.cfg.Nodes {
		worse := m.alive(n) && m.pingsUp[n] < best
		if worse == m.poorlyLinked[n] || (!m.alive(n) && !m.poorlyLinked[n]) {
			delete(m.standingSince, n)
			continue
		}
		if !m.alive(n) {
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

// Desired is the node group should run on, "" if none can.
func (m *Machine) Desired(now time.Time, name string) string {
	g := m.groups[name]
	if g == nil {
		return ""
	}
	if !m.HasQuorum() {
		// A minority runs nothing (stop), or keeps only what it runs
		// (freeze).
		if m.cfg.Quorum == QuorumFreeze && (runs(g.local) || g.commanded) {
			return m.cfg.Local
		}
		return ""
	}
	var cands []string
	for _, n := range m.cfg.Nodes {
		if m.candidate(now, g, n) {
			cands = append(cands, n)
		}
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
			if runs(p) && (best == "" || m.rank(g, c) < m.rank(g, best)) {
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

// mutation says whether a test switched off the rule it names (package
// mutation).
func mutation(name string) bool { return mutate.On(name) }
