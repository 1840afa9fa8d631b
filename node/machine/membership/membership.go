// Package membership is hanode's failure detector: a pure state machine that
// turns received frames and the passage of time into node and link states
// (init, up, active, late, dead) and membership events.
//
// It does no I/O, starts no goroutines and never reads a clock: every input
// carries its time (Receive, Tick), and NextDeadline says when the next
// timeout falls due, so the actor that drives it arms one timer and tests
// drive it with a fake clock.
//
// Rules (Heartbeat's, see HEARTBEAT.md 1.11 and 1.13):
//   - A peer is alive while any link carries its frames. Each link of each
//     peer is up or dead on its own: dead after deadtime without a frame on
//     that link.
//   - A peer is late after warntime without a frame (reported once per
//     silence) and dead after a silence longer than deadtime on every link
//     (as Heartbeat: a silence of exactly deadtime is not death).
//   - A peer not heard from since start is init until initdead, then dead.
//   - A frame carries the sender's generation and a sequence number. A
//     lower generation than already seen is a replay and is dropped (and
//     reported, once, when the peer had been silent for deadtime: it may
//     have lost its state); a higher one is a restart (new incarnation). A
//     frame already seen (the same frame on another link) refreshes that
//     link only.
//   - Join handshake: a generation of a peer counts only once one of its
//     heartbeats echoes this node's own current generation (its sessions).
//     Until then its frames are only heard, and echoed back by this node's
//     heartbeats so that the peer can answer. Frames captured before this
//     node (re)started can never echo its new generation, so a replay
//     cannot make a dead peer alive; frames older than the one that
//     confirmed the generation are dropped as replays.
//   - Acknowledgements: a live peer's heartbeats say when (by this node's
//     clock) it last heard this node. A peer that has not acknowledged a
//     frame sent within deadtime may declare this node dead at any moment:
//     it no longer hears us (REACH), and does not count for quorum.
//   - A peer whose last heartbeat says DEAD shut down cleanly: it is dead at
//     once, without waiting for deadtime.
package membership

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/messages"
)

// Config is what the state machine needs to know about the cluster.
type Config struct {
	// Cluster is the cluster's name: frames of another cluster sharing
	// a medium are refused.
	Cluster string
	// Local is this node's name.
	Local string
	// Nodes are all members in configuration order, Local included.
	Nodes []string
	// Links are this node's link names, in configuration order.
	Links []string
	// Timing, as resolved by package config.
	Warntime time.Duration
	Deadtime time.Duration
	Initdead time.Duration
}

// Frame is what the machine needs of an authenticated frame.
type Frame struct {
	// Link the frame arrived on.
	Link string
	// Cluster is the cluster the sender belongs to.
	Cluster    string
	Sender     string
	Generation uint64
	Sequence   uint64
	// SendTime is the sender's clock when it sent the frame; it is echoed
	// back in this node's heartbeats.
	SendTime time.Time
	// Heartbeat is the frame's heartbeat, nil for other frames.
	Heartbeat *messages.Heartbeat
}

// Verdict says what Receive did with a frame.
type Verdict int

const (
	// Accepted: a new frame from a member; it refreshed the member and link.
	Accepted Verdict = iota
	// Duplicate: already seen on another link, new on this one; it
	// refreshed the link only.
	Duplicate
	// OldGeneration: the sender's generation is lower than one seen before.
	OldGeneration
	// Replayed: already seen on this link, or below the replay window.
	Replayed
	// UnknownSender: the sender is not a member of the cluster.
	UnknownSender
	// FromSelf: the frame names this node as its sender (looped back, or
	// another machine uses this node's name when the generation differs).
	FromSelf
	// UnknownLink: the frame arrived on a link that is not configured.
	UnknownLink
	// Unconfirmed: a generation of the sender that has not yet echoed this
	// node's generation (the join handshake is under way); heard, echoed
	// back, but not counted.
	Unconfirmed
	// FutureGeneration: a generation further ahead of this node's clock
	// than MaxGenerationAhead; no node makes one (see MaxGenerationAhead).
	FutureGeneration
	// WrongCluster: the frame belongs to another cluster sharing a
	// medium (its authentication key is the same).
	WrongCluster
	// Malformed: the frame names no sender or no generation; no hanode
	// sends one.
	Malformed
)

var verdictNames = [...]string{"accepted", "duplicate", "old generation", "replayed sequence", "unknown sender", "from self", "unknown link", "unconfirmed", "generation ahead",
	"wrong cluster", "malformed"}

// MaxGenerationAhead bounds how far a peer's generation may be ahead of
// the time-based generation of this node's clock (Unix seconds). A node's
// generation is the time at its first start and counts up by one per
// restart after that, so a real one is never far ahead of the clock; a
// frame with one further ahead is forged, or comes from a node whose
// clock or state directory is badly wrong. Such a generation is never
// heard, echoed or confirmed: one accepted frame with generation 2^40
// would otherwise make every later real frame of that node "old" for the
// rest of this node's life. The margin covers clock skew between nodes
// and restarts counted faster than one a second.
const MaxGenerationAhead = 30 * 24 * time.Hour

// PlausibleGeneration says whether gen can be a real generation at now
// (see MaxGenerationAhead).
func PlausibleGeneration(gen uint64, now time.Time) bool {
	limit := now.Add(MaxGenerationAhead).Unix()
	return limit > 0 && gen <= uint64(limit)
}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// linkState is a link of a peer.
type linkState int

const (
	linkInit linkState = iota // never heard on this link
	linkUp
	linkDead
)

type peerLink struct {
	name  string
	seq   window // sequence numbers seen on this link
	state linkState
	heard time.Time // last frame on this link
	since time.Time // last state change
}

type peer struct {
	name   string
	status messages.NodeStatus
	since  time.Time
	// generation is the confirmed generation (0 before any): its frames
	// count.
	generation uint64
	heard      time.Time // last accepted frame on any link; zero if never
	late       bool
	links      []*peerLink
	seq        window
	// echoGen is the newest generation heard (confirmed or not) and
	// echoSend the sender's time of its newest frame: what this node's
	// heartbeats echo.
	echoGen  uint64
	echoSend time.Time
	// unconfirmed is when an authenticated frame of a newer generation
	// that has not yet echoed this node's last arrived: the peer runs,
	// and the handshake is under way.
	unconfirmed time.Time
	// ackedSend is the newest of this node's send times the peer says
	// it heard (in its current generation), and acked that time moved
	// later by what the peer said its own stalls excuse since (at most
	// MaxStallCredit deadtimes): the peer declares this node dead no
	// earlier than deadtime of its listening after acked. hearsUs
	// whether acked is within deadtime (regained within RegainAck of
	// it).
	ackedSend, acked time.Time
	hearsUs          bool
	// oldReported is the lowest old generation reported, so that each is
	// reported once.
	oldReported uint64
}

type localLink struct {
	name   string
	up     bool
	since  time.Time
	detail string
}

// deadSlack is how long after deadtime a silence is checked: death needs a
// silence longer than deadtime, and a timer armed at exactly deadtime
// would find it equal.
const deadSlack = time.Millisecond

// Machine is the membership view of one node. It is not safe for concurrent
// use: one actor owns it.
type Machine struct {
	cfg        Config
	started    time.Time
	generation uint64
	peers      []*peer // configuration order, local excluded
	byName     map[string]*peer
	linkIndex  map[string]int
	localLinks []*localLink
	// stalls are this node's own recent lateness (Late), newest last,
	// at most maxStalls: while it could not run, it could not hear.
	stalls []stall
}

// stall is a time this node could not run in time: from when a deadline
// was due (or a frame arrived) to when it was handled. Overlapping stalls
// are merged, so a backlog of frames handled late counts once.
type stall struct {
	from, to time.Time
}

// maxStalls bounds the stalls remembered (the oldest go first).
const maxStalls = 32

// New returns the view of a node that starts at now with the given
// generation. Every peer is init; every link of this node is down until
// SetLocalLink says otherwise.
func New(cfg Config, now time.Time, generation uint64) *Machine {
	m := &Machine{cfg: cfg, started: now, generation: generation, byName: map[string]*peer{}, linkIndex: map[string]int{}}
	for i, l := range cfg.Links {
		m.linkIndex[l] = i
		m.localLinks = append(m.localLinks, &localLink{name: l, since: now, detail: "not open yet"})
	}
	for _, n := range cfg.Nodes {
		if n == cfg.Local {
			continue
		}
		p := &peer{name: n, status: messages.NodeStatus_NODE_STATUS_INIT, since: now}
		for _, l := range cfg.Links {
			p.links = append(p.links, &peerLink{name: l, since: now})
		}
		m.peers = append(m.peers, p)
		m.byName[n] = p
	}
	return m
}

// Generation is this node's generation.
func (m *Machine) Generation() uint64 { return m.generation }

// Started is when this node started.
func (m *Machine) Started() time.Time { return m.started }

// Receive processes an authenticated frame that arrived at now.
func (m *Machine) Receive(now time.Time, f Frame) (Verdict, []*messages.MembershipEvent) {
	switch {
	case f.Cluster != m.cfg.Cluster:
		return WrongCluster, nil
	case f.Sender == "" || f.Generation == 0:
		return Malformed, nil
	}
	li, ok := m.linkIndex[f.Link]
	if !ok {
		return UnknownLink, nil
	}
	if f.Sender == m.cfg.Local {
		return FromSelf, nil
	}
	p, ok := m.byName[f.Sender]
	if !ok {
		return UnknownSender, nil
	}
	if !PlausibleGeneration(f.Generation, now) {
		return FutureGeneration, nil
	}
	var evs []*messages.MembershipEvent
	switch {
	case f.Generation < p.generation:
		return OldGeneration, m.oldGeneration(now, p, f.Generation)
	case f.Generation > p.generation:
		m.hear(p, f)
		if f.Generation < p.echoGen || !m.echoesUs(f.Heartbeat) {
			p.unconfirmed = later(p.unconfirmed, now)
			return Unconfirmed, nil
		}
		// The handshake is complete: this generation heard ours, so its
		// frames from now on are fresh.
		if p.generation != 0 {
			evs = append(evs, m.event(now, p, messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_RESTARTED,
				fmt.Sprintf("%s restarted: generation %d, was %d", p.name, f.Generation, p.generation)))
			evs[len(evs)-1].Generation = f.Generation
		}
		p.generation = f.Generation
		p.ackedSend, p.acked, p.hearsUs = time.Time{}, time.Time{}, false
		// Whatever this generation sent before the confirming frame may
		// have been captured before this node started: never count it.
		p.seq.floor(f.Sequence - 1)
		for _, l := range p.links {
			l.seq.floor(f.Sequence - 1)
		}
	}
	link := p.links[li]
	// Each link keeps its own window too: a frame already seen on this
	// link is a replay, whatever the other links carried, so a captured
	// frame sent again cannot make a link look alive.
	if link.seq.accept(f.Sequence) != seqNew {
		return Replayed, evs
	}
	switch p.seq.accept(f.Sequence) {
	case seqTooOld:
		return Replayed, evs
	case seqDuplicate:
		// The same frame on a second link: proof that this link works,
		// nothing more (and nothing at all once the node is dead).
		if p.status != messages.NodeStatus_NODE_STATUS_DEAD {
			evs = append(evs, m.linkHeard(now, p, link)...)
		}
		return Duplicate, evs
	}

	m.hear(p, f)
	wasDead := p.status == messages.NodeStatus_NODE_STATUS_DEAD
	if f.Heartbeat != nil && f.Heartbeat.Status == messages.NodeStatus_NODE_STATUS_DEAD {
		// The last heartbeat of a clean shutdown: dead now, no deadtime.
		p.heard, link.heard, p.late = now, now, false
		if !wasDead {
			evs = append(evs, m.setLinksDead(now, p, "shut down")...)
			evs = append(evs, m.setStatus(now, p, messages.NodeStatus_NODE_STATUS_DEAD, p.name+" shut down cleanly"))
		}
		return Accepted, evs
	}
	if wasDead && len(evs) == 0 && !p.heard.IsZero() {
		evs = append(evs, m.event(now, p, messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_RETURNED,
			fmt.Sprintf("%s is back with the same generation %d after %v of silence: it was cut off, not restarted",
				p.name, p.generation, round(now.Sub(p.heard)))))
	}
	// A frame's time is when it arrived, and the frames of two sockets
	// of a link (IPv4 and IPv6, two ports) reach the machine in the order
	// their readers hand them over, not always in the order they came:
	// what was heard never moves back.
	p.heard = later(p.heard, now)
	p.late = false
	evs = append(evs, m.linkHeard(now, p, link)...)

	// A frame without a heartbeat, or a heartbeat that says nothing else,
	// still proves the node runs.
	next := messages.NodeStatus_NODE_STATUS_UP
	if f.Heartbeat.GetStatus() == messages.NodeStatus_NODE_STATUS_ACTIVE ||
		(f.Heartbeat == nil && p.status == messages.NodeStatus_NODE_STATUS_ACTIVE) {
		next = messages.NodeStatus_NODE_STATUS_ACTIVE
	}
	if next != p.status {
		evs = append(evs, m.setStatus(now, p, next, fmt.Sprintf("%s is %s: heartbeat on %s", p.name, statusWord(next), link.name)))
	}
	evs = append(evs, m.acknowledged(now, p, f.Heartbeat)...)
	return Accepted, evs
}

// hear records an authenticated frame for the echo in this node's
// heartbeats: the newest generation heard and its newest send time.
func (m *Machine) hear(p *peer, f Frame) {
	switch {
	case f.Generation > p.echoGen:
		p.echoGen, p.echoSend = f.Generation, f.SendTime
	case f.Generation == p.echoGen && f.SendTime.After(p.echoSend):
		p.echoSend = f.SendTime
	}
}

// echoesUs says whether a heartbeat echoes this node's current generation.
func (m *Machine) echoesUs(hb *messages.Heartbeat) bool {
	for _, s := range hb.GetSessions() {
		if s.Node == m.cfg.Local && s.Generation == m.generation {
			return true
		}
	}
	return false
}

// acknowledged takes the acknowledgement in a live peer's heartbeat: when
// it last heard this node, by this node's clock, and how much of the time
// since its own stalls excuse.
//
// An overloaded peer reads its frames seconds late: its acknowledgements
// are that much older, yet it hears this node, and its own failure
// detector does not count those seconds in this node's silence (Late). At
// 128 nodes on one machine every node ran 13 s behind, acknowledgements
// arrived 50 s old, and every node lost quorum though every view was
// whole. Moving the acknowledgement later by the excused time (capped as
// the peer caps its own credit) keeps what it stands for: the peer will
// not declare this node dead before deadtime of its listening past it.
func (m *Machine) acknowledged(now time.Time, p *peer, hb *messages.Heartbeat) []*messages.MembershipEvent {
	for _, s := range hb.GetSessions() {
		if s.Node != m.cfg.Local || s.Generation != m.generation {
			continue
		}
		sent := time.Unix(0, s.HeardSendTimeUnixNano)
		if sent.After(p.ackedSend) {
			p.ackedSend = sent
		}
		at := sent.Add(min(time.Duration(s.ExcusedMs)*time.Millisecond, MaxStallCredit*m.cfg.Deadtime))
		if at.After(now) {
			// The peer's stalls lie within the time between this
			// node's frame and now; more is a bad clock or a lie.
			at = now
		}
		if at.After(p.acked) {
			p.acked = at
		}
	}
	// A peer whose acknowledgements hover about deadtime old would come
	// and go with each heartbeat, and quorum with it: once lost, hearing
	// comes back only with an acknowledgement clearly within deadtime.
	if p.hearsUs || p.acked.IsZero() || m.silent(p.acked, now) >= m.RegainAck() {
		return nil
	}
	p.hearsUs = true
	ev := m.event(now, p, messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_REACH, fmt.Sprintf("%s hears this node", p.name))
	ev.HearsUs = true
	return []*messages.MembershipEvent{ev}
}

// oldGeneration reports, once per generation, a peer that speaks with a
// lower generation than already seen after a silence of deadtime: it lost
// its state directory (its generation went back), or its old frames are
// replayed. Either way the frames are dropped; an operator must know.
func (m *Machine) oldGeneration(now time.Time, p *peer, gen uint64) []*messages.MembershipEvent {
	silent := p.status == messages.NodeStatus_NODE_STATUS_DEAD || (!p.heard.IsZero() && now.Sub(p.heard) > m.cfg.Deadtime)
	if !silent || (p.oldReported != 0 && gen >= p.oldReported) {
		return nil
	}
	p.oldReported = gen
	ev := m.event(now, p, messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_OLD_GENERATION,
		fmt.Sprintf("%s speaks with generation %d, lower than %d seen before: its frames are dropped (replayed frames, or %s lost its state directory: then restart this node so that it forgets the old generation)",
			p.name, gen, p.generation, p.name))
	ev.Generation = gen
	return []*messages.MembershipEvent{ev}
}

// Session is what this node's heartbeats echo of one peer.
type Session struct {
	Node       string
	Generation uint64
	// SendTime is the peer's send time of its newest frame heard.
	SendTime time.Time
}

// Echo is what this node's heartbeats echo of one peer (zero generation
// when nothing was heard of it).
func (m *Machine) Echo(node string) Session {
	p := m.byName[node]
	if p == nil || p.echoGen == 0 {
		return Session{}
	}
	return Session{Node: p.name, Generation: p.echoGen, SendTime: p.echoSend}
}

// RegainAck is how recent (in time this node could listen) a peer's
// acknowledgement must be for the peer to hear this node again, or for the
// first time: three quarters of deadtime, a band of a quarter deadtime
// below the deadtime at which it stops hearing it. A heartbeat answers a
// frame at most a keepalive (under half the deadtime) and a quarter after
// it was sent (echoMoved), so an acknowledgement of a peer that keeps up
// is always within it.
func (m *Machine) RegainAck() time.Duration { return m.cfg.Deadtime * 3 / 4 }

// Excused is how much of the silence of node since it was last heard this
// node's own stalls excuse (at most MaxStallCredit deadtimes): what its
// heartbeats tell the peer (PeerSession.excused_ms), so that it counts
// this node's late acknowledgements as the time they stand for.
func (m *Machine) Excused(node string, now time.Time) time.Duration {
	p := m.byName[node]
	if p == nil || p.heard.IsZero() {
		return 0
	}
	return m.stalledWithin(p.heard, now)
}

// HearsUs says whether a live peer acknowledges hearing this node.
func (m *Machine) HearsUs(node string) bool {
	p := m.byName[node]
	return p != nil && p.hearsUs
}

// linkHeard records a frame on link and reports the link coming up.
func (m *Machine) linkHeard(now time.Time, p *peer, l *peerLink) []*messages.MembershipEvent {
	l.heard = later(l.heard, now)
	if l.state == linkUp {
		return nil
	}
	l.state = linkUp
	l.since = now
	return []*messages.MembershipEvent{m.linkEvent(now, p, l, fmt.Sprintf("%s link %s up", p.name, l.name))}
}

// Late records that this node itself ran late at now: a deadline fired
// late by late, or a frame waited that long before being handled. Like
// memberlist's Lifeguard, a node that is itself slow blames its peers
// less: a silence counts only for the time this node could listen (Heard
// minus its own stalls within it, at most MaxStallCredit deadtimes of
// them), so that heartbeats it could not read in time do not make healthy
// peers dead, while a peer that is really silent is still declared dead
// once this node has listened for deadtime. Lateness under LateTolerance
// is ordinary scheduling and ignored.
func (m *Machine) Late(now time.Time, late time.Duration) {
	if late < m.LateTolerance() {
		return
	}
	from := now.Add(-late)
	if n := len(m.stalls); n > 0 && !from.After(m.stalls[n-1].to) {
		last := &m.stalls[n-1]
		if from.Before(last.from) {
			last.from = from
		}
		if now.After(last.to) {
			last.to = now
		}
	} else {
		if len(m.stalls) == maxStalls {
			m.stalls = append(m.stalls[:0], m.stalls[1:]...)
		}
		m.stalls = append(m.stalls, stall{from: from, to: now})
	}
	// Keep the stalls apart: one that reaches back over earlier ones
	// takes them in, so no time counts twice (and NextDeadline may take
	// the earliest silence of a kind as the one that ends first).
	for n := len(m.stalls); n >= 2 && !m.stalls[n-1].from.After(m.stalls[n-2].to); n-- {
		prev, last := &m.stalls[n-2], m.stalls[n-1]
		if last.from.Before(prev.from) {
			prev.from = last.from
		}
		if last.to.After(prev.to) {
			prev.to = last.to
		}
		m.stalls = m.stalls[:n-1]
	}
}

// LateTolerance is the lateness Late ignores: a twentieth of deadtime.
func (m *Machine) LateTolerance() time.Duration { return m.cfg.Deadtime / 20 }

// MaxStallCredit bounds, in deadtimes, how much of a silence this node's
// own stalls may excuse: a node that hardly ever runs still declares its
// peers dead, later.
const MaxStallCredit = 4

// stalledWithin is how long this node stalled between from and to (at
// most MaxStallCredit deadtimes): time in which it could not listen.
func (m *Machine) stalledWithin(from, to time.Time) time.Duration {
	var d time.Duration
	for _, s := range m.stalls {
		lo, hi := s.from, s.to
		if lo.Before(from) {
			lo = from
		}
		if hi.After(to) {
			hi = to
		}
		if hi.After(lo) {
			d += hi.Sub(lo)
		}
	}
	return min(d, MaxStallCredit*m.cfg.Deadtime)
}

// Stalled is how long this node stalled within the deadtime before now,
// for its log.
func (m *Machine) Stalled(now time.Time) time.Duration {
	return m.stalledWithin(now.Add(-m.cfg.Deadtime), now)
}

// listened is how long, of the silence since heard, this node could
// listen; and the part of it excused by its own stalls.
func (m *Machine) listened(heard, now time.Time) (time.Duration, time.Duration) {
	stalled := m.stalledWithin(heard, now)
	return now.Sub(heard) - stalled, stalled
}

// peerExcused says what of an acknowledgement's age the peer's stalls
// excused, for the reason.
func peerExcused(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf(" (of which %v the peer itself could not run, not counted)", round(d))
}

// excused says what of a silence this node's own stalls excused, for the
// verdict's reason.
func excused(stalled time.Duration) string {
	if stalled == 0 {
		return ""
	}
	return fmt.Sprintf(" (of which %v this node itself could not run, not counted)", round(stalled))
}

// initEnd is when initdead is over: initdead after this node started, and
// later by the time it could not run meanwhile (at most MaxStallCredit
// deadtimes), as a silence is; a node starting on a machine too busy to
// run it has not heard its peers because it could not listen.
func (m *Machine) initEnd() time.Time {
	return m.started.Add(m.cfg.Initdead + m.stalledWithin(m.started, m.started.Add(1<<62)))
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Tick applies every timeout due at now.
func (m *Machine) Tick(now time.Time) []*messages.MembershipEvent {
	// A stall older than any silence still judged (a peer silent for
	// 1+MaxStallCredit deadtimes is dead) excuses nothing: forgotten.
	for len(m.stalls) > 0 && now.Sub(m.stalls[0].to) >= (1+MaxStallCredit)*m.cfg.Deadtime {
		m.stalls = m.stalls[1:]
	}
	var evs []*messages.MembershipEvent
	initOver := !now.Before(m.initEnd())
	for _, p := range m.peers {
		if p.status == messages.NodeStatus_NODE_STATUS_INIT && p.heard.IsZero() {
			if !initOver {
				continue
			}
			if !p.unconfirmed.IsZero() {
				// Its frames arrive, but none echoes this node yet: it
				// runs, and may only be slow to answer. Dead once it is
				// silent for deadtime, or its frames never echo this
				// node for deadtime past initdead.
				if listened, _ := m.listened(p.unconfirmed, now); listened <= m.cfg.Deadtime && now.Before(m.initEnd().Add(m.cfg.Deadtime)) {
					continue
				}
				evs = append(evs, m.setLinksDead(now, p, "")...)
				evs = append(evs, m.setStatus(now, p, messages.NodeStatus_NODE_STATUS_DEAD,
					fmt.Sprintf("%s dead: its frames never acknowledged this node within initdead %v and deadtime %v", p.name, m.cfg.Initdead, m.cfg.Deadtime)))
				continue
			}
			evs = append(evs, m.setLinksDead(now, p, "")...)
			evs = append(evs, m.setStatus(now, p, messages.NodeStatus_NODE_STATUS_DEAD,
				fmt.Sprintf("%s dead: no heartbeat since start (initdead %v%s)", p.name, m.cfg.Initdead, excused(m.stalledWithin(m.started, now)))))
			continue
		}
		if p.status == messages.NodeStatus_NODE_STATUS_DEAD {
			continue
		}
		// Links first, so that the node's death names them.
		for _, l := range p.links {
			switch {
			case l.state == linkUp && m.silent(l.heard, now) > m.cfg.Deadtime:
				l.state, l.since = linkDead, now
				evs = append(evs, m.linkEvent(now, p, l, fmt.Sprintf("%s link %s dead: no frame for %v", p.name, l.name, round(now.Sub(l.heard)))))
			case l.state == linkInit && initOver:
				l.state, l.since = linkDead, now
				evs = append(evs, m.linkEvent(now, p, l, fmt.Sprintf("%s link %s dead: no frame since start", p.name, l.name)))
			}
		}
		silence := now.Sub(p.heard)
		listened, stalled := m.listened(p.heard, now)
		if p.hearsUs && m.silent(p.acked, now) >= m.cfg.Deadtime && listened <= m.cfg.Deadtime {
			// It has not said it heard us for deadtime: it may declare us
			// dead at any moment.
			p.hearsUs = false
			ev := m.event(now, p, messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_REACH,
				fmt.Sprintf("%s has not acknowledged this node's frames for %v%s: it may declare this node dead", p.name, round(now.Sub(p.ackedSend)), peerExcused(p.acked.Sub(p.ackedSend))))
			evs = append(evs, ev)
		}
		switch {
		case listened > m.cfg.Deadtime:
			links := make([]string, len(p.links))
			for i, l := range p.links {
				links[i] = l.name
			}
			// A link whose last frame was a late duplicate may not have
			// timed out yet; a dead node has no live link.
			evs = append(evs, m.setLinksDead(now, p, "node dead")...)
			ev := m.setStatus(now, p, messages.NodeStatus_NODE_STATUS_DEAD,
				fmt.Sprintf("%s dead: no heartbeat on %s for %v%s", p.name, strings.Join(links, ", "), round(silence), excused(stalled)))
			ev.Silence = durationpb.New(silence)
			evs = append(evs, ev)
		case listened >= m.cfg.Warntime && !p.late && m.warns():
			p.late = true
			ev := m.event(now, p, messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_LATE,
				fmt.Sprintf("late heartbeat: %s silent for %v (warntime %v)", p.name, round(silence), m.cfg.Warntime))
			ev.Silence = durationpb.New(silence)
			evs = append(evs, ev)
		}
	}
	return evs
}

// silent is how long, since t, this node listened without hearing.
func (m *Machine) silent(t, now time.Time) time.Duration {
	l, _ := m.listened(t, now)
	return l
}

// warns says whether late heartbeats are reported: not with a warntime at
// or above deadtime (Heartbeat accepts one, and then never warns either).
func (m *Machine) warns() bool { return m.cfg.Warntime < m.cfg.Deadtime }

// NextDeadline is the earliest time at which Tick has something to do, or
// the zero time when nothing is pending.
//
// Each kind of silence (a warning, a death, an acknowledgement, a link)
// ends a fixed time after it began, later by the stalls within it; the
// one that began first ends first (a later start can gain at most the
// time between the two from the stalls, which are kept apart), so each
// kind costs one look at the stalls, not one per peer and link: it is
// asked after every frame.
func (m *Machine) NextDeadline() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	earliest := func(cur *time.Time, t time.Time) {
		if cur.IsZero() || t.Before(*cur) {
			*cur = t
		}
	}
	// A silence ends later by the stalls within it (all in the past, so
	// the deadline is exact until the next stall, which re-arms).
	after := func(t time.Time, d time.Duration) time.Time {
		if t.IsZero() {
			return t
		}
		return t.Add(d + m.stalledWithin(t, t.Add(1<<62)))
	}
	var unheard bool
	var warn, dead, acked, link time.Time
	for _, p := range m.peers {
		switch {
		case p.status == messages.NodeStatus_NODE_STATUS_DEAD:
			continue
		case p.heard.IsZero() && !p.unconfirmed.IsZero():
			// Past initdead, a peer whose handshake is under way is
			// judged by its silence, and at the latest deadtime later.
			end := m.initEnd()
			silent := after(p.unconfirmed, m.cfg.Deadtime+deadSlack)
			if limit := end.Add(m.cfg.Deadtime); limit.Before(silent) {
				silent = limit
			}
			consider(latest(end, silent))
			continue
		case p.heard.IsZero():
			unheard = true
			continue
		}
		if !p.late && m.warns() {
			earliest(&warn, p.heard)
		}
		earliest(&dead, p.heard)
		if p.hearsUs {
			earliest(&acked, p.acked)
		}
		for _, l := range p.links {
			switch l.state {
			case linkUp:
				earliest(&link, l.heard)
			case linkInit:
				unheard = true
			}
		}
	}
	if unheard {
		consider(m.initEnd())
	}
	consider(after(warn, m.cfg.Warntime))
	// Dead is a silence longer than deadtime: look a moment after.
	consider(after(dead, m.cfg.Deadtime+deadSlack))
	consider(after(acked, m.cfg.Deadtime))
	consider(after(link, m.cfg.Deadtime+deadSlack))
	return next
}

// SetLocalLink records the state of one of this node's own links: up when
// it is open and sending, down with a reason when it fails.
func (m *Machine) SetLocalLink(now time.Time, link string, up bool, detail string) []*messages.MembershipEvent {
	i, ok := m.linkIndex[link]
	if !ok {
		return nil
	}
	l := m.localLinks[i]
	if l.up == up && l.detail == detail {
		return nil
	}
	changed := l.up != up
	l.up, l.detail = up, detail
	if !changed {
		return nil
	}
	l.since = now
	ev := &messages.MembershipEvent{
		Time:       timestamppb.New(now),
		Kind:       messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_LINK_STATUS,
		Node:       m.cfg.Local,
		Link:       link,
		LinkStatus: linkStatus(up),
		Generation: m.generation,
		Reason:     fmt.Sprintf("own link %s %s", link, map[bool]string{true: "up", false: "down: " + detail}[up]),
	}
	return []*messages.MembershipEvent{ev}
}

// Status returns the status of a node, and false for a name that is not a
// member.
func (m *Machine) Status(node string) (messages.NodeStatus, bool) {
	if node == m.cfg.Local {
		return messages.NodeStatus_NODE_STATUS_ACTIVE, true
	}
	p, ok := m.byName[node]
	if !ok {
		return messages.NodeStatus_NODE_STATUS_UNSPECIFIED, false
	}
	return p.status, true
}

// Snapshot returns every member as this node sees it at now, in
// configuration order.
func (m *Machine) Snapshot() []*messages.NodeState {
	out := make([]*messages.NodeState, 0, len(m.cfg.Nodes))
	for _, n := range m.cfg.Nodes {
		if n == m.cfg.Local {
			out = append(out, m.localState())
			continue
		}
		p := m.byName[n]
		s := &messages.NodeState{
			Name:       p.name,
			Type:       messages.NodeType_NODE_TYPE_NORMAL,
			Status:     p.status,
			Generation: p.generation,
			Since:      timestamppb.New(p.since),
			Late:       p.late,
			HearsUs:    p.hearsUs,
		}
		if !p.heard.IsZero() {
			s.LastHeard = timestamppb.New(p.heard)
		}
		for _, l := range p.links {
			ls := &messages.LinkState{Name: l.name, Status: linkStatus(l.state == linkUp), Since: timestamppb.New(l.since)}
			if !l.heard.IsZero() {
				ls.LastHeard = timestamppb.New(l.heard)
			}
			s.Links = append(s.Links, ls)
		}
		out = append(out, s)
	}
	return out
}

func (m *Machine) localState() *messages.NodeState {
	s := &messages.NodeState{
		Name:       m.cfg.Local,
		Type:       messages.NodeType_NODE_TYPE_NORMAL,
		Status:     messages.NodeStatus_NODE_STATUS_ACTIVE,
		Local:      true,
		Generation: m.generation,
		Since:      timestamppb.New(m.started),
	}
	for _, l := range m.localLinks {
		s.Links = append(s.Links, &messages.LinkState{Name: l.name, Status: linkStatus(l.up), Since: timestamppb.New(l.since), Detail: l.detail})
	}
	return s
}

// Alive lists the members that are up or active, this node included, in
// configuration order.
func (m *Machine) Alive() []string {
	var out []string
	for _, n := range m.cfg.Nodes {
		if st, _ := m.Status(n); st == messages.NodeStatus_NODE_STATUS_ACTIVE || st == messages.NodeStatus_NODE_STATUS_UP {
			out = append(out, n)
		}
	}
	return out
}

func (m *Machine) setStatus(now time.Time, p *peer, st messages.NodeStatus, reason string) *messages.MembershipEvent {
	prev := p.status
	p.status, p.since = st, now
	if st == messages.NodeStatus_NODE_STATUS_DEAD {
		p.late, p.hearsUs = false, false
	}
	ev := m.event(now, p, messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS, reason)
	ev.Status, ev.PreviousStatus = st, prev
	return ev
}

// setLinksDead marks every link of p dead (a dead node has no live link),
// reporting those that were up.
func (m *Machine) setLinksDead(now time.Time, p *peer, why string) []*messages.MembershipEvent {
	var evs []*messages.MembershipEvent
	for _, l := range p.links {
		wasUp := l.state == linkUp
		if l.state != linkDead {
			l.state, l.since = linkDead, now
		}
		if wasUp && why != "" {
			evs = append(evs, m.linkEvent(now, p, l, fmt.Sprintf("%s link %s dead: %s", p.name, l.name, why)))
		}
	}
	return evs
}

func (m *Machine) event(now time.Time, p *peer, kind messages.MembershipEventKind, reason string) *messages.MembershipEvent {
	return &messages.MembershipEvent{
		Time:       timestamppb.New(now),
		Kind:       kind,
		Node:       p.name,
		Status:     p.status,
		Generation: p.generation,
		Reason:     reason,
	}
}

func (m *Machine) linkEvent(now time.Time, p *peer, l *peerLink, reason string) *messages.MembershipEvent {
	ev := m.event(now, p, messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_LINK_STATUS, reason)
	ev.Link = l.name
	ev.LinkStatus = linkStatus(l.state == linkUp)
	if l.state != linkUp && !l.heard.IsZero() {
		ev.Silence = durationpb.New(now.Sub(l.heard))
	}
	return ev
}

func linkStatus(up bool) messages.LinkStatus {
	if up {
		return messages.LinkStatus_LINK_STATUS_UP
	}
	return messages.LinkStatus_LINK_STATUS_DEAD
}

func statusWord(s messages.NodeStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "NODE_STATUS_"))
}

// round shortens a duration for messages: 512.345678ms -> 512ms.
func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d
}

// SortEvents orders events by time, keeping the order of simultaneous ones.
func SortEvents(evs []*messages.MembershipEvent) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.AsTime().Before(evs[j].Time.AsTime()) })
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
