package actors

import (
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/sessions"
	"github.com/hanode/hanode/node/ops/logging"
	"github.com/hanode/hanode/node/ops/metrics"
	"github.com/hanode/hanode/transports/frame"
)

// HeartbeatConfig is what the heartbeat actor needs; it does not change
// across restarts.
type HeartbeatConfig struct {
	Cluster    string
	Local      string
	Generation uint64
	Keepalive  time.Duration
	Deadtime   time.Duration
	Keyring    *frame.Keyring
	// Links are the link actors every frame goes out on.
	Links []*actor.PID
	// Membership is told where to send what a heartbeat says of the peers
	// (HeartbeatFacts) and asked whether it answers (health).
	Membership *actor.PID
	// Messenger is asked, when the actor starts, for the number of the
	// last cluster message (a restarted heartbeat actor must not announce
	// less than was sent), and told to send its frames here (Broadcast).
	Messenger *actor.PID
	Log       *slog.Logger
	// Metrics counts heartbeats sent; may be nil.
	Metrics *metrics.Metrics
	// MaxSessions bounds the peer sessions a heartbeat carries (0: all),
	// chosen by a sessions.Rotation.
	MaxSessions int
	// NowSpacing is how far apart heartbeats asked for at once go
	// (HeartbeatNow); 0 is a quarter of Keepalive (DefaultNowSpacing);
	// negative sends none: the regular heartbeats carry a new session.
	NowSpacing time.Duration
}

// HeartbeatFacts is what membership knows that a heartbeat carries: one
// session per peer heard and the number of ping nodes this node reaches.
// Membership sends it to the heartbeat actor whenever it changes (every
// accepted frame moves a peer's echoed send time) and in answer to
// WatchHeartbeat.
type HeartbeatFacts struct {
	Sessions    []*messages.PeerSession
	PingNodesUp uint32
}

func (m *HeartbeatFacts) TraceSummary() string {
	return fmt.Sprintf("%d sessions, %d ping nodes up", len(m.Sessions), m.PingNodesUp)
}

// WatchHeartbeat names the heartbeat actor: membership sends it
// HeartbeatFacts and HeartbeatNow from now on, starting with the current
// facts; the messenger sends it what it broadcasts (Broadcast), starting
// with what it held. Sent to both by the node actor once it spawned the
// heartbeat actor, and by each incarnation of the heartbeat actor
// (idempotent).
type WatchHeartbeat struct{ PID *actor.PID }

// Depart asks the heartbeat actor for the last heartbeat of a clean
// shutdown, saying DEAD on every link; it answers *Departed once every
// link sent it or a second passed. Nothing is sent after it: the peers
// would take this node for one that returned.
type Depart struct{}

// Departed answers Depart.
type Departed struct{}

// SendQuery asks the heartbeat actor how many frames it sent; it answers
// *SendStatus.
type SendQuery struct{}

// SendStatus answers SendQuery.
type SendStatus struct {
	FramesSent uint64
}

// keepaliveTick is sent by the ticker every keepalive.
type keepaliveTick struct{}

// departTimeout bounds the wait for the links to send the last heartbeat.
const departTimeout = time.Second

// Heartbeat is the actor that sends this node's frames: it completes each
// envelope's header (the frame sequence is its own), seals it and hands it
// to every link; it sends a heartbeat every keepalive, and the last one,
// saying DEAD, on a clean shutdown. It knows what a heartbeat carries from
// messages: the facts membership sends, and the cluster messages it sends
// for the messenger (the highest number is the last message).
type Heartbeat struct {
	cfg    HeartbeatConfig
	ticker *Ticker
	// sent is shared by the incarnations of the actor: the frame sequence
	// must grow for the whole generation (peers drop a sequence they
	// already saw on a link as a replay), and the count is since start.
	sent        *sentFrames
	facts       HeartbeatFacts
	lastMessage uint64
	// lastTick and lastSent (a link answered FrameSent without error) are
	// what health is judged on.
	lastTick, lastSent time.Time
	departed           bool
	sealLog            *logging.Limiter
	// backlogs bound, per link (same order as cfg.Links), the bytes of
	// frames handed to the link and not yet taken in hand by it; shared
	// by the incarnations of the actor, as the links' mailboxes are.
	backlogs []*Gate
	// newest are, per link, the frame sequence of the newest heartbeat
	// handed to it (SendFrame.Newest); shared like backlogs.
	newest []*atomic.Uint64
	// dropLog limits the lines about frames dropped for a link behind.
	dropLog *logging.Limiter
	// nowAt is when the last heartbeat asked for at once (HeartbeatNow)
	// left; nowDue, armed, sends one more at nowAt+nowSpacing.
	nowAt  time.Time
	nowDue *Deadline
	// rotation picks the sessions each heartbeat carries; unsent are
	// the heartbeats handed to links that have not all answered yet
	// (shared by the incarnations of the actor, as rotation is), whose
	// sessions go back to the rotation if none of them left.
	rotation *sessions.Rotation
	unsent   *pendingHeartbeats
}

// pendingHeartbeats are the heartbeats handed to the links and not yet
// answered by all of them, by frame sequence: when each link answers
// that it did not send one (a newer one superseded it, or sending
// failed), its sessions did not go out.
type pendingHeartbeats struct {
	bySequence map[uint64]*pendingHeartbeat
	order      []uint64 // oldest first
}

type pendingHeartbeat struct {
	at      time.Time
	picked  []*messages.PeerSession
	waiting int // links yet to answer
	left    bool
}

// maxPendingHeartbeats bounds the heartbeats remembered: a link that does
// not answer (it restarted, its mailbox lost) must not grow the record.
// The oldest is forgotten as if it left.
const maxPendingHeartbeats = 64

func (p *pendingHeartbeats) add(seq uint64, h *pendingHeartbeat) {
	if p.bySequence == nil {
		p.bySequence = map[uint64]*pendingHeartbeat{}
	}
	for len(p.order) >= maxPendingHeartbeats {
		delete(p.bySequence, p.order[0])
		p.order = p.order[1:]
	}
	p.bySequence[seq] = h
	p.order = append(p.order, seq)
}

// answered records a link's answer about heartbeat seq; it returns the
// heartbeat once every link answered and none sent it.
func (p *pendingHeartbeats) answered(seq uint64, left bool) *pendingHeartbeat {
	h := p.bySequence[seq]
	if h == nil {
		return nil
	}
	h.left = h.left || left
	if h.waiting--; h.waiting > 0 {
		return nil
	}
	delete(p.bySequence, seq)
	if i := slices.Index(p.order, seq); i >= 0 {
		p.order = slices.Delete(p.order, i, i+1)
	}
	if h.left {
		return nil
	}
	return h
}

// LinkBacklog bounds the bytes of frames waiting for one link to send
// them. A link falls behind when sending costs more than the node can
// give it (a broadcast to many peers, on a machine overloaded): frames
// then queued in its mailbox without bound (over 100 MiB per node in a
// 128-node cluster on one 2-core machine), though a heartbeat that old is
// worth nothing and a cluster message that old is asked for again by
// whoever missed it. What does not fit is dropped, as a full socket
// buffer would drop it. As much as a socket's receive buffer
// (transports.ReceiveBuffer) holds.
const LinkBacklog = 4 << 20

// DefaultNowSpacing is how far apart heartbeats asked for at once
// (HeartbeatNow, on a peer's new session) go: a node joining a cluster of
// N hears N-1 new sessions within a second or two, and a heartbeat for
// each cost N-1 heartbeats naming every peer; those that come within the
// spacing leave together in one, at its end. A large cluster spaces them
// more (node.HeartbeatNowSpacing).
func DefaultNowSpacing(keepalive time.Duration) time.Duration { return keepalive / 4 }

// nowSpacing is the spacing of the actor's heartbeats asked for at once.
func (c HeartbeatConfig) nowSpacing() time.Duration {
	if c.NowSpacing > 0 {
		return c.NowSpacing
	}
	return DefaultNowSpacing(c.Keepalive)
}

// SessionHold is how long a peer's session that changed (a new generation
// heard: a handshake under way) goes out in every heartbeat, whatever
// MaxSessions: three keepalives, so that a heartbeat or two lost does not
// hold up the peer's join until the session's turn comes again.
func SessionHold(keepalive time.Duration) time.Duration { return 3 * keepalive }

// NewHeartbeat returns a producer of heartbeat actors. Each incarnation
// starts fresh: it asks membership and the messenger for what it needs.
func NewHeartbeat(cfg HeartbeatConfig) actor.Producer {
	// One limiter for every incarnation, so that a restart does not start
	// a new allowance of log lines.
	sealLog := logging.NewLimiter(10 * time.Second)
	dropLog := logging.NewLimiter(10 * time.Second)
	sent := &sentFrames{}
	rotation := sessions.New(cfg.MaxSessions, SessionHold(cfg.Keepalive))
	unsent := &pendingHeartbeats{}
	backlogs := make([]*Gate, len(cfg.Links))
	newest := make([]*atomic.Uint64, len(cfg.Links))
	for i := range backlogs {
		backlogs[i] = NewGate(LinkBacklog)
		newest[i] = &atomic.Uint64{}
	}
	return func() actor.Actor {
		return &Heartbeat{cfg: cfg, sealLog: sealLog, dropLog: dropLog, sent: sent, backlogs: backlogs, newest: newest,
			rotation: rotation, unsent: unsent}
	}
}

// sentFrames is what the heartbeat actor keeps across its restarts; only
// the current incarnation touches it.
type sentFrames struct {
	seq   uint64
	count uint64
}

// Receive handles the actor's messages.
func (a *Heartbeat) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *actor.Restarting, *actor.Stopping:
		a.ticker.Stop()
		a.nowDue.Stop()
	case *keepaliveTick:
		a.lastTick = time.Now()
		a.heartbeat(ctx, messages.NodeStatus_NODE_STATUS_ACTIVE)
	case *HeartbeatNow:
		a.heartbeatNow(ctx)
	case *DeadlineReached:
		if a.nowDue.Fired(m) {
			a.sendNow(ctx)
		}
	case *HeartbeatFacts:
		a.facts = *m
	case *Broadcast:
		if msg := m.Envelope.GetMessage(); msg != nil {
			a.lastMessage = max(a.lastMessage, msg.MessageSequence)
		}
		a.send(ctx, m.Envelope)
	case *FrameSent:
		left := m.Err == nil && !m.Superseded
		if left {
			a.lastSent = time.Now()
		}
		if m.Sequence != 0 {
			if h := a.unsent.answered(m.Sequence, left); h != nil {
				a.rotation.Unsent(h.at, h.picked)
			}
		}
	case *Depart:
		a.depart(ctx)
	case *SendQuery:
		ctx.Respond(&SendStatus{FramesSent: a.sent.count})
	case *HealthQuery:
		a.health(ctx)
	}
}

func (a *Heartbeat) start(ctx actor.Context) {
	a.nowDue = NewDeadline(ctx.ActorSystem(), ctx.Self())
	ctx.Send(a.cfg.Membership, &WatchHeartbeat{PID: ctx.Self()})
	if a.cfg.Messenger != nil {
		ctx.Send(a.cfg.Messenger, &WatchHeartbeat{PID: ctx.Self()})
		f := ctx.RequestFuture(a.cfg.Messenger, &StreamsQuery{}, a.cfg.Keepalive)
		ctx.ReenterAfter(f, func(res any, err error) {
			if s, ok := res.(Streams); ok && err == nil && s[a.cfg.Local] != nil {
				a.lastMessage = max(a.lastMessage, s[a.cfg.Local].Last)
			}
		})
	}
	// Say hello at once rather than one keepalive from now.
	a.lastTick = time.Now()
	a.heartbeat(ctx, messages.NodeStatus_NODE_STATUS_ACTIVE)
	a.ticker = Every(ctx.ActorSystem(), a.cfg.Keepalive, ctx.Self(), &keepaliveTick{})
}

func (a *Heartbeat) heartbeat(ctx actor.Context, status messages.NodeStatus) {
	if a.departed {
		return
	}
	a.cfg.Metrics.HeartbeatSent()
	at := time.Now()
	picked := a.rotation.Pick(at, a.facts.Sessions)
	env := &messages.Envelope{Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{
		Status:              status,
		DeadtimeMs:          uint32(a.cfg.Deadtime.Milliseconds()),
		LastMessageSequence: a.lastMessage,
		PingNodesUp:         a.facts.PingNodesUp,
		Sessions:            picked,
	}}}
	// Whether the sessions went out is known once the links answer.
	switch handed := a.send(ctx, env); {
	case handed == 0:
		a.rotation.Unsent(at, picked)
	case a.rotation.Max() > 0:
		a.unsent.add(env.Sequence, &pendingHeartbeat{at: at, picked: picked, waiting: handed})
	}
}

// seal completes env's header (cluster, sender, generation, the next frame
// sequence, time) and seals it; nil when it cannot be sealed.
func (a *Heartbeat) seal(env *messages.Envelope) *SendFrame {
	env.Cluster = a.cfg.Cluster
	env.Sender = a.cfg.Local
	env.Generation = a.cfg.Generation
	a.sent.seq++
	env.Sequence = a.sent.seq
	env.SendTimeUnixNano = time.Now().UnixNano()
	data, err := a.cfg.Keyring.Seal(env)
	if err != nil {
		if n, ok := a.sealLog.Allow(time.Now()); ok {
			a.cfg.Log.Error("cannot seal frame", "err", err, "suppressed_since_last_log", n)
		}
		return nil
	}
	a.sent.count++
	return &SendFrame{Data: data}
}

// send seals env and hands it to every link, which answer FrameSent; it
// returns how many links took it.
func (a *Heartbeat) send(ctx actor.Context, env *messages.Envelope) (handed int) {
	if a.departed {
		return 0
	}
	msg := a.seal(env)
	if msg == nil {
		return 0
	}
	// A heartbeat supersedes the ones still waiting for a link (but the
	// last one, of a shutdown, which depart sends).
	heartbeat := env.GetHeartbeat() != nil
	for i, l := range a.cfg.Links {
		gate := a.backlogs[i]
		if !gate.EnterN(len(msg.Data)) {
			if n, ok := a.dropLog.Allow(time.Now()); ok {
				a.cfg.Log.Warn("frame dropped: the link is behind", "link", l.Id, "backlog_bytes", LinkBacklog, "dropped_since_last_log", n)
			}
			continue
		}
		f := &SendFrame{Data: msg.Data, Backlog: gate}
		if heartbeat {
			f.Newest, f.Sequence = a.newest[i], env.Sequence
			a.newest[i].Store(env.Sequence)
		}
		ctx.Request(l, f)
		handed++
	}
	return handed
}

// heartbeatNow sends a heartbeat at once, unless one asked for at once
// left less than nowSpacing ago: then one leaves at the end of the
// spacing, carrying the facts of then.
func (a *Heartbeat) heartbeatNow(ctx actor.Context) {
	if a.nowDue.Armed() || a.cfg.NowSpacing < 0 {
		return
	}
	now := time.Now()
	if next := a.nowAt.Add(a.cfg.nowSpacing()); !a.nowAt.IsZero() && now.Before(next) {
		a.nowDue.Arm(now, next)
		return
	}
	a.sendNow(ctx)
}

// sendNow sends a heartbeat asked for at once.
func (a *Heartbeat) sendNow(ctx actor.Context) {
	a.nowAt = time.Now()
	a.heartbeat(ctx, messages.NodeStatus_NODE_STATUS_ACTIVE)
}

// depart sends the last heartbeat, saying DEAD, and answers once every
// link has sent it (or departTimeout passed): it must leave before the
// links close.
func (a *Heartbeat) depart(ctx actor.Context) {
	asker := ctx.Sender()
	if a.departed {
		ctx.Respond(&Departed{})
		return
	}
	a.ticker.Stop()
	a.cfg.Metrics.HeartbeatSent()
	msg := a.seal(&messages.Envelope{Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{
		Status:              messages.NodeStatus_NODE_STATUS_DEAD,
		DeadtimeMs:          uint32(a.cfg.Deadtime.Milliseconds()),
		LastMessageSequence: a.lastMessage,
		PingNodesUp:         a.facts.PingNodesUp,
		Sessions:            a.rotation.Pick(time.Now(), a.facts.Sessions),
	}}})
	a.departed = true
	pending := len(a.cfg.Links)
	if msg == nil || pending == 0 {
		ctx.Send(asker, &Departed{})
		return
	}
	for _, l := range a.cfg.Links {
		f := ctx.RequestFuture(l, msg, departTimeout)
		ctx.ReenterAfter(f, func(any, error) {
			if pending--; pending == 0 {
				ctx.Send(asker, &Departed{})
			}
		})
	}
}

// health answers whether heartbeats go out: the keepalive ticks, some
// link sent a frame lately, and the membership actor answers.
func (a *Heartbeat) health(ctx actor.Context) {
	keepalive := a.cfg.Keepalive
	if since := time.Since(a.lastTick); since > 3*keepalive {
		ctx.Respond(&Health{Reason: fmt.Sprintf("no keepalive tick for %v", since.Round(time.Millisecond))})
		return
	}
	if since := time.Since(a.lastSent); since > 3*keepalive {
		ctx.Respond(&Health{Reason: fmt.Sprintf("no heartbeat sent on any link for %v", since.Round(time.Millisecond))})
		return
	}
	asker := ctx.Sender()
	f := ctx.RequestFuture(a.cfg.Membership, &HealthQuery{}, keepalive)
	ctx.ReenterAfter(f, func(res any, err error) {
		if h, ok := res.(*Health); ok && err == nil {
			ctx.Send(asker, h)
			return
		}
		ctx.Send(asker, &Health{Reason: fmt.Sprintf("membership actor did not answer: %v", err)})
	})
}
