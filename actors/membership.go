package actors

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/events"
	"github.com/hanode/hanode/node/machine/membership"
	"github.com/hanode/hanode/node/machine/pingnodes"
	"github.com/hanode/hanode/node/ops/logging"
	"github.com/hanode/hanode/node/ops/metrics"
)

// MaxRecentEvents is how many membership events a node remembers for
// status.
const MaxRecentEvents = 100

// MembershipInfo is what the membership actor reports beside the view
// itself; it does not change while the node runs.
type MembershipInfo struct {
	Cluster   string
	Local     string
	Version   string
	Keepalive time.Duration
	Deadtime  time.Duration
	Warntime  time.Duration
	Initdead  time.Duration
}

// MembershipConfig is what a membership actor's state is built from.
type MembershipConfig struct {
	Info    MembershipInfo
	Machine *membership.Machine
	// Peers are the other members, in configuration order.
	Peers []string
	// Pings is the state of the ping nodes; nil without any.
	Pings *pingnodes.Machine
	// Events is the node's timeline; may be nil.
	Events *events.Log
	// Metrics counts heartbeats; may be nil.
	Metrics *metrics.Metrics
	// Inbound bounds the frames the links hand to the membership actor
	// (the links hold the same gates); Stream the frames it hands to the
	// messenger (which leaves them). What finds them full is counted as
	// "overload". Nil: unbounded.
	Inbound, Stream *Gates
}

// MembershipState is everything the membership actor knows. Built once
// (NewMembershipState) and handed to each incarnation of the actor, so
// that a restarted membership actor keeps the view (peers stay active,
// counters keep counting); nothing outside the actor reads or writes it.
type MembershipState struct {
	info        MembershipInfo
	machine     *membership.Machine
	recent      []*messages.MembershipEvent
	rejected    map[string]uint64
	received    uint64
	subscribers []*actor.PID
	// heartbeat receives HeartbeatFacts and HeartbeatNow (WatchHeartbeat).
	heartbeat *actor.PID
	// factsSent is when the heartbeat actor last had the facts.
	factsSent time.Time
	logLimit  map[string]*logging.Limiter
	// lateLog limits the log of this node's own lateness.
	lateLog *logging.Limiter
	// eventLog limits the log of warnings that come and go, by kind and
	// peer (logEvent).
	eventLog map[string]*logging.Limiter
	pings    *pingnodes.Machine
	// pingNodesUp is the last count of ping nodes this node reaches, which
	// every heartbeat carries.
	pingNodesUp uint32
	// peerPings is what each peer last said it reaches.
	peerPings map[string]uint32
	events    *events.Log
	metrics   *metrics.Metrics
	// echoes are what this node's heartbeats echo of each peer, sent to
	// the heartbeat actor as HeartbeatFacts.
	echoes          map[string]*peerEcho
	peers           []string
	inbound, stream *Gates
	// streamNews is, per peer, what the last heartbeat handed to the
	// messenger said of its stream (streamNewsOf).
	streamNews map[string]streamNews
}

// streamNews is what a heartbeat tells the messenger: the sender's
// generation and last cluster message, and where its stream for this
// life of this node starts (the session naming this node, if any).
// The messenger does nothing with a heartbeat that says what the one
// before it said (opening a stream already open and announcing a message
// already known are no-ops), so such a heartbeat is not handed to it: at
// scale every peer's heartbeat woke the messenger for nothing.
type streamNews struct {
	generation, last, sessionGeneration, streamStart uint64
}

// forMessenger says whether the messenger needs env, an accepted frame
// that carries a stream: every frame but a heartbeat that says what the
// last one handed over from its sender said; news is what a heartbeat
// says, to be remembered once it is handed over (nil for other frames).
func (st *MembershipState) forMessenger(env *messages.Envelope) (news *streamNews, hand bool) {
	hb := env.GetHeartbeat()
	if hb == nil {
		return nil, true
	}
	n := streamNewsOf(env, hb, st.info.Local, st.machine.Generation())
	old, seen := st.streamNews[env.Sender]
	if seen && n.sessionGeneration == 0 && n.generation == old.generation {
		// A heartbeat that leaves this node's session out (a large
		// cluster's heartbeats carry some sessions each, in turn:
		// sessions.Rotation) says nothing new of it.
		n.sessionGeneration, n.streamStart = old.sessionGeneration, old.streamStart
	}
	return &n, !seen || n != old
}

// streamNewsOf is what env, a heartbeat received by the node named local
// in generation gen, tells the messenger.
func streamNewsOf(env *messages.Envelope, hb *messages.Heartbeat, local string, gen uint64) streamNews {
	n := streamNews{generation: env.Generation, last: hb.LastMessageSequence}
	for _, s := range hb.Sessions {
		if s.Node == local && s.Generation == gen {
			n.sessionGeneration, n.streamStart = s.Generation, s.StreamStart
		}
	}
	return n
}

// peerEcho is what a heartbeat says of one peer: the generation heard,
// where this node's stream for it starts (set together, once the messenger
// said where: StreamStart), and the peer's send time of its newest frame
// of that generation.
type peerEcho struct {
	session  *echoSession
	sendTime int64
}

type echoSession struct {
	generation, streamStart uint64
}

// NewMembershipState returns the state of a membership actor that has
// heard nobody yet.
func NewMembershipState(cfg MembershipConfig) *MembershipState {
	st := &MembershipState{info: cfg.Info, machine: cfg.Machine, rejected: map[string]uint64{}, logLimit: map[string]*logging.Limiter{},
		pings: cfg.Pings, peerPings: map[string]uint32{}, events: cfg.Events, metrics: cfg.Metrics,
		echoes: map[string]*peerEcho{}, peers: cfg.Peers, inbound: cfg.Inbound, stream: cfg.Stream,
		streamNews: map[string]streamNews{}}
	for _, p := range cfg.Peers {
		st.echoes[p] = &peerEcho{}
	}
	return st
}

// facts is what this node's next heartbeat says of its peers at now: each
// generation heard, where this node's message stream for it starts, when
// (by the peer's clock) it was last heard and how much of the time since
// this node's own stalls excuse; and how many ping nodes it reaches.
func (st *MembershipState) facts(now time.Time) *HeartbeatFacts {
	f := &HeartbeatFacts{PingNodesUp: st.pingNodesUp}
	for _, p := range st.peers {
		e := st.echoes[p]
		s := e.session
		if s == nil {
			continue
		}
		f.Sessions = append(f.Sessions, &messages.PeerSession{Node: p, Generation: s.generation, StreamStart: s.streamStart, HeardSendTimeUnixNano: e.sendTime,
			ExcusedMs: uint32(min(st.machine.Excused(p, now).Milliseconds(), math.MaxUint32))})
	}
	return f
}

// tellHeartbeat sends the heartbeat actor what its heartbeats say now.
func (a *Membership) tellHeartbeat(ctx actor.Context) {
	if a.st.heartbeat != nil {
		ctx.Send(a.st.heartbeat, a.st.facts(a.now()))
		a.st.factsSent = a.now()
	}
}

// echoMoved tells the heartbeat actor of a peer's newer send time, at most
// every quarter keepalive: the facts name every peer, and sending them
// after each of N peers' frames cost N^2 a keepalive. A peer reads the
// echo against deadtime (does this node hear it), so an echo that much
// older changes nothing; a new session still goes at once.
func (a *Membership) echoMoved(ctx actor.Context) {
	if !a.st.factsSent.IsZero() && a.now().Sub(a.st.factsSent) < a.st.info.Keepalive/4 {
		return
	}
	a.tellHeartbeat(ctx)
}

// updateEcho publishes the machine's echo of a peer after a frame from it;
// it returns the generation heard when this node's stream for it has yet
// to be started (0 otherwise). Until then the heartbeats echo the
// previous session, if any, as they did.
func (st *MembershipState) updateEcho(peer string) uint64 {
	e := st.echoes[peer]
	if e == nil {
		return 0
	}
	sess := st.machine.Echo(peer)
	if sess.Generation == 0 {
		return 0
	}
	if cur := e.session; cur == nil || cur.generation != sess.Generation {
		return sess.Generation
	}
	e.sendTime = sess.SendTime.UnixNano()
	return 0
}

// startSession echoes a newly heard generation of peer, with where this
// node's stream for it starts; it says whether it is still the one the
// machine echoes (the peer may have restarted again meanwhile).
func (st *MembershipState) startSession(peer string, generation, start uint64) bool {
	e := st.echoes[peer]
	if e == nil {
		return false
	}
	sess := st.machine.Echo(peer)
	if sess.Generation != generation || (e.session != nil && e.session.generation == generation) {
		return false
	}
	e.session = &echoSession{generation: generation, streamStart: start}
	e.sendTime = sess.SendTime.UnixNano()
	return true
}

// HeartbeatNow asks the heartbeat actor to send a heartbeat at once: a
// new generation of a peer was heard, and it needs this node's echo to
// complete its handshake. Sent by the membership actor, after the
// HeartbeatFacts that carry the new session.
type HeartbeatNow struct{}

// Membership is the actor that owns the membership view: it feeds received
// frames and deadlines to the state machine and publishes its events.
type Membership struct {
	st *MembershipState
	// messenger receives the frames the reliable layer needs; may be nil.
	messenger *actor.PID
	log       *slog.Logger
	deadline  *Deadline
	now       func() time.Time
}

// NewMembership returns a producer of membership actors sharing st, which
// pass the frames of the reliable layer on to messenger.
func NewMembership(st *MembershipState, messenger *actor.PID, log *slog.Logger) actor.Producer {
	return func() actor.Actor { return &Membership{st: st, messenger: messenger, log: log, now: time.Now} }
}

// Receive handles the actor's messages.
func (a *Membership) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.deadline = NewDeadline(ctx.ActorSystem(), ctx.Self())
		a.rearm()
	case *actor.Restarting, *actor.Stopping:
		a.deadline.Stop()
	case *FrameReceived:
		a.st.inbound.For(m.Envelope.GetSender()).LeaveBytes(m.Size)
		a.st.received++
		a.frame(ctx, m)
	case *FrameRejected:
		a.st.inbound.For("").LeaveBytes(m.Size)
		a.st.received++
		a.reject(m.Reason, m.Link, m.From.String(), m.Detail)
	case *LinkChanged:
		a.publish(ctx, a.st.machine.SetLocalLink(a.now(), m.Link, m.Up, m.Detail))
	case *DeadlineReached:
		if a.deadline.Fired(m) {
			a.late(a.now().Sub(m.Due), "deadline")
			a.publish(ctx, a.st.machine.Tick(a.now()))
			if a.st.pings != nil {
				a.publish(ctx, a.st.pings.Tick(a.now()))
			}
			a.rearm()
		}
	case *PingReply:
		if a.st.pings != nil {
			a.publish(ctx, a.st.pings.Reply(m.At, m.Name, m.From.String()))
			a.deadline.ArmBy(a.now(), a.st.pings.NextDeadline())
		}
	case *Subscribe:
		// Idempotent: a restarted node actor subscribes its children again.
		known := false
		for _, s := range a.st.subscribers {
			known = known || s.Equal(m.PID)
		}
		if !known {
			a.st.subscribers = append(a.st.subscribers, m.PID)
			ctx.Watch(m.PID)
		}
		if ctx.Sender() != nil {
			ctx.Respond(&Subscribed{})
		}
	case *StreamStart:
		a.sessionStarted(ctx, m)
	case *WatchHeartbeat:
		a.st.heartbeat = m.PID
		a.tellHeartbeat(ctx)
	case *actor.Terminated:
		// A subscriber that stopped (Node.Events ended) is forgotten.
		a.st.subscribers = slices.DeleteFunc(a.st.subscribers, m.Who.Equal)
	case *StatusQuery:
		ctx.Respond(a.status())
	case *HealthQuery:
		ctx.Respond(&Health{OK: true})
	}
}

// sessionStarted echoes a new generation of a peer, and answers it at once
// so that its handshake completes within a round trip, not a keepalive.
func (a *Membership) sessionStarted(ctx actor.Context, m *StreamStart) {
	if !a.st.startSession(m.Peer, m.Generation, m.Start) {
		return
	}
	a.tellHeartbeat(ctx)
	if a.st.heartbeat != nil {
		ctx.Send(a.st.heartbeat, &HeartbeatNow{})
	}
}

func (a *Membership) frame(ctx actor.Context, m *FrameReceived) {
	// A frame handled long after its link read it waited behind others:
	// this node is the slow one.
	a.late(a.now().Sub(m.At), "frame")
	env := m.Envelope
	verdict, evs := a.st.machine.Receive(m.At, membership.Frame{
		Link:       m.Link,
		Cluster:    env.Cluster,
		Sender:     env.Sender,
		Generation: env.Generation,
		Sequence:   env.Sequence,
		SendTime:   time.Unix(0, env.SendTimeUnixNano),
		Heartbeat:  env.GetHeartbeat(),
	})
	if verdict == membership.Accepted || verdict == membership.Unconfirmed {
		if gen := a.st.updateEcho(env.Sender); gen != 0 {
			// A new life of the peer (or a first contact): the messenger
			// says where this node's stream for it starts (the messages
			// numbered so far are history for it), then the session is
			// echoed. Asked again on each frame until answered: the first
			// answer counts.
			if a.messenger != nil {
				ctx.Request(a.messenger, &PeerGeneration{Peer: env.Sender, Generation: gen})
			} else {
				a.sessionStarted(ctx, &StreamStart{Peer: env.Sender, Generation: gen})
			}
		} else {
			// Every such frame moves the echoed send time.
			a.echoMoved(ctx)
		}
	}
	a.publish(ctx, evs)
	if hb := env.GetHeartbeat(); hb != nil && (verdict == membership.Accepted || verdict == membership.Duplicate) {
		a.st.metrics.HeartbeatReceived(env.Sender, m.Link)
		if verdict == membership.Accepted && a.st.pings != nil {
			a.peerConnectivity(ctx, m.At, env.Sender, hb)
		}
	}
	if a.messenger != nil && forStream(verdict, env) {
		if news, hand := a.st.forMessenger(env); hand && a.st.stream.For(env.Sender).EnterBytes(m.Size) {
			ctx.Send(a.messenger, &StreamFrame{Envelope: env, At: m.At, Size: m.Size})
			if news != nil {
				a.st.streamNews[env.Sender] = *news
			}
		}
	}
	switch verdict {
	case membership.Unconfirmed:
		// The join handshake under way (or replays of an earlier life):
		// counted, not worth a log line.
		a.st.rejected[verdict.String()]++
		a.deadline.ArmBy(a.now(), a.st.machine.NextDeadline())
	case membership.Accepted, membership.Duplicate:
		// A frame only moves deadlines later, or adds the first one of a
		// peer: the armed timer is early enough unless there is none.
		a.deadline.ArmBy(a.now(), a.st.machine.NextDeadline())
	case membership.FromSelf:
		// Our own frame looped back (a medium that loops), unless it comes
		// from another generation: then another machine uses our name.
		if env.Generation != a.st.machine.Generation() {
			a.reject("name clash", m.Link, m.From.String(), "another node calls itself "+env.Sender)
		}
	case membership.WrongCluster:
		a.reject(verdict.String(), m.Link, m.From.String(), "cluster "+env.Cluster)
	case membership.Malformed:
		a.reject(verdict.String(), m.Link, m.From.String(), "no sender or generation")
	default:
		a.reject(verdict.String(), m.Link, m.From.String(), "from "+env.Sender)
	}
}

// carriesStream says whether the reliable layer needs env: every frame (a
// heartbeat opens the sender's stream and announces its last message).
func carriesStream(env *messages.Envelope) bool {
	return env.Body != nil
}

// forStream says whether the messenger takes a frame membership judged so:
// every accepted frame that carries the stream, and the cluster messages
// of a life of the sender whose handshake is under way (Unconfirmed).
//
// The messenger keeps those for when the sender's stream for this node
// opens (reliable.Inbox.ReceiveEarly) and drops them if another life's
// opens: what opens the stream is the sender's heartbeat echoing this
// node, which proves that life current. Dropping them meant asking for
// them once the handshake was done: while 64 nodes formed, 97% of the
// first retransmission requests were for messages that had arrived in
// the second or so a handshake takes, and each request and resend went
// to every node. Keeping them is safe: a message is authenticated, its
// number within its sender's life names it (a replay is a duplicate),
// and what was numbered before the stream's start is dropped as history.
func forStream(v membership.Verdict, env *messages.Envelope) bool {
	switch v {
	case membership.Accepted:
		return carriesStream(env)
	case membership.Unconfirmed:
		return env.GetMessage() != nil
	}
	return false
}

// late tells the machine that this node ran late by d (a deadline or a
// frame handled that long after its time) and says so in the log, at most
// once a deadtime with how many more, when it is late enough to matter.
func (a *Membership) late(d time.Duration, what string) {
	if d < a.st.machine.LateTolerance() {
		return
	}
	now := a.now()
	a.st.machine.Late(now, d)
	a.st.metrics.RanLate(what, d)
	lim := a.st.lateLog
	if lim == nil {
		lim = logging.NewLimiter(a.st.info.Deadtime)
		a.st.lateLog = lim
	}
	if more, ok := lim.Allow(now); ok {
		a.log.Warn("this node runs late: the time it could not run does not count in its peers' silences", "what", what, "late", d.Round(time.Millisecond),
			"stalled_in_last_deadtime", a.st.machine.Stalled(now).Round(time.Millisecond), "more_like_this", more)
	}
}

// reject counts a dropped frame and logs it, at most once per reason every
// 10 seconds, with the number dropped meanwhile.
func (a *Membership) reject(reason, link, from, detail string) {
	a.st.rejected[reason]++
	lim := a.st.logLimit[reason]
	if lim == nil {
		lim = logging.NewLimiter(10 * time.Second)
		a.st.logLimit[reason] = lim
	}
	if n, ok := lim.Allow(a.now()); ok {
		a.log.Warn("frame dropped", "reason", reason, "link", link, "from", from, "detail", detail, "dropped_since_last_log", n)
	}
}

// peerConnectivity publishes a change in the number of ping nodes a peer
// says it reaches.
func (a *Membership) peerConnectivity(ctx actor.Context, at time.Time, peer string, hb *messages.Heartbeat) {
	if hb.Status == messages.NodeStatus_NODE_STATUS_DEAD {
		return
	}
	prev, known := a.st.peerPings[peer]
	if known && prev == hb.PingNodesUp {
		return
	}
	a.st.peerPings[peer] = hb.PingNodesUp
	a.publish(ctx, []*messages.MembershipEvent{{Time: timestamppb.New(at), Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_CONNECTIVITY,
		Node: peer, PingNodesUp: hb.PingNodesUp, Reason: fmt.Sprintf("%s reaches %d ping nodes", peer, hb.PingNodesUp)}})
}

func (a *Membership) rearm() {
	next := a.st.machine.NextDeadline()
	if a.st.pings != nil {
		if p := a.st.pings.NextDeadline(); !p.IsZero() && (next.IsZero() || p.Before(next)) {
			next = p
		}
	}
	a.deadline.Arm(a.now(), next)
}

// publish logs events, remembers them and sends them to every subscriber.
func (a *Membership) publish(ctx actor.Context, evs []*messages.MembershipEvent) {
	for _, ev := range evs {
		if ev.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_CONNECTIVITY && ev.Node == a.st.info.Local {
			a.st.pingNodesUp = ev.PingNodesUp
			a.tellHeartbeat(ctx)
		}
		a.logEvent(ev)
		if ev.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_LATE {
			a.st.metrics.Late(ev.Node)
		}
		if a.st.events != nil && !(ev.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_REACH && ev.HearsUs) {
			a.st.events.Add(events.FromMembership(ev))
		}
		a.st.recent = append(a.st.recent, ev)
		if len(a.st.recent) > MaxRecentEvents {
			a.st.recent = a.st.recent[len(a.st.recent)-MaxRecentEvents:]
		}
		for _, s := range a.st.subscribers {
			ctx.Send(s, ev)
		}
	}
}

// logEvent logs ev; the warnings that a peer's hearing or heartbeats
// come and go (REACH, NODE_LATE) at most once a deadtime per peer and
// kind, the next line saying how many were left out: an overloaded
// node's peers flap between heard and not several times a second, and
// logged each of those lines (thousands a minute in a forming 64-node
// cluster). Every event is still published and kept.
func (a *Membership) logEvent(ev *messages.MembershipEvent) {
	if ev.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_LATE ||
		(ev.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_REACH && !ev.HearsUs) {
		key := ev.Kind.String() + "\x00" + ev.Node
		lim := a.st.eventLog[key]
		if lim == nil {
			if a.st.eventLog == nil || len(a.st.eventLog) >= maxEventLogKeys {
				a.st.eventLog = map[string]*logging.Limiter{}
			}
			lim = logging.NewLimiter(a.st.info.Deadtime)
			a.st.eventLog[key] = lim
		}
		more, ok := lim.Allow(a.now())
		if !ok {
			return
		}
		logEvent(a.log, ev, "more_like_this", more)
		return
	}
	logEvent(a.log, ev)
}

// maxEventLogKeys bounds the limiters of logEvent: two kinds times the
// configured peers, bounded all the same.
const maxEventLogKeys = 1024

func logEvent(log *slog.Logger, ev *messages.MembershipEvent, extra ...any) {
	level := slog.LevelInfo
	switch {
	case ev.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_REACH && ev.HearsUs:
		level = slog.LevelDebug
	case ev.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_LATE,
		ev.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_RETURNED,
		ev.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_REACH,
		ev.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_OLD_GENERATION,
		ev.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_LINK_STATUS && ev.LinkStatus == messages.LinkStatus_LINK_STATUS_DEAD,
		ev.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS && ev.Status == messages.NodeStatus_NODE_STATUS_DEAD:
		level = slog.LevelWarn
	}
	attrs := []any{"member", ev.Node, "kind", ev.Kind.String()}
	if ev.Link != "" {
		attrs = append(attrs, "link", ev.Link)
	}
	if ev.Status != messages.NodeStatus_NODE_STATUS_UNSPECIFIED {
		attrs = append(attrs, "status", ev.Status.String())
	}
	log.Log(context.Background(), level, ev.Reason, append(attrs, extra...)...)
}

func (a *Membership) status() *messages.ClusterStatus {
	info := a.st.info
	s := &messages.ClusterStatus{
		Cluster:        info.Cluster,
		LocalNode:      info.Local,
		Generation:     a.st.machine.Generation(),
		Version:        info.Version,
		Started:        timestamppb.New(a.st.machine.Started()),
		Now:            timestamppb.New(a.now()),
		Keepalive:      durationpb.New(info.Keepalive),
		Deadtime:       durationpb.New(info.Deadtime),
		Warntime:       durationpb.New(info.Warntime),
		Initdead:       durationpb.New(info.Initdead),
		Nodes:          a.st.machine.Snapshot(),
		RecentEvents:   append([]*messages.MembershipEvent(nil), a.st.recent...),
		RejectedFrames: map[string]uint64{},
		FramesReceived: a.st.received,
	}
	for k, v := range a.st.rejected {
		s.RejectedFrames[k] = v
	}
	if n := a.st.inbound.Dropped() + a.st.stream.Dropped(); n > 0 {
		s.RejectedFrames["overload"] = n
	}
	if a.st.pings != nil {
		for _, n := range s.Nodes {
			if n.Local {
				n.PingNodesUp = uint32(a.st.pings.Up())
			} else {
				n.PingNodesUp = a.st.peerPings[n.Name]
			}
		}
		s.Nodes = append(s.Nodes, a.st.pings.States()...)
	}
	return s
}
