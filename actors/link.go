package actors

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/reliable"
	"github.com/hanode/hanode/node/ops/logging"
	"github.com/hanode/hanode/node/ops/metrics"
	"github.com/hanode/hanode/transports"
	"github.com/hanode/hanode/transports/frame"
)

// OpenLink opens the medium of a link; deliver and readErr are called from
// the medium's reader goroutine.
type OpenLink func(deliver transports.Deliver, readErr transports.ReadError) (transports.Link, error)

// LinkConfig is what a link actor needs; it does not change across
// restarts.
type LinkConfig struct {
	// Name of the link ("eth0"), as shown in status.
	Name    string
	Open    OpenLink
	Keyring *frame.Keyring
	// Local is this node's name: of a heartbeat's sessions, only the one
	// naming it is decoded (frame.Keyring.OpenFor). Empty: all are.
	Local      string
	Membership *actor.PID
	Log        *slog.Logger
	// Metrics counts frames sent; may be nil.
	Metrics *metrics.Metrics
	// Inbound bounds the frames waiting for the membership actor, per
	// sender (its MembershipState.Inbound); nil: unbounded.
	Inbound *Gates
	// Coalesce, when positive, is how long the reader pauses after a
	// frame before it reads on (ReadCoalesce): frames that arrive
	// meanwhile wait in the socket and are taken in together.
	Coalesce time.Duration
	// ShedAfter, when positive, is how long a heartbeat may have waited
	// in the socket and still be handled (ShedAfter); older ones are left
	// out, except a sender's last (status dead).
	ShedAfter time.Duration
	// RepairShedAfter, when positive, is how long a retransmission
	// request or NAK may have waited in the socket and still be handled
	// (RepairShedAfter); older ones are left out.
	RepairShedAfter time.Duration
	// DeepLag, when positive, is how long a frame may have waited before
	// the reader keeps only one heartbeat of each sender per DeepLag of
	// arrivals, rather than per ShedAfter (DeepLag).
	DeepLag time.Duration
	// Delivered, when set, leaves out the cluster messages this node
	// delivered already (resends others asked for) before they are
	// verified.
	Delivered *DeliveredMarks
}

// ShedAfter is how long a heartbeat may wait in a link's socket before the
// reader leaves it out: two keepalives, at most half of deadtime. A
// heartbeat is superseded by its sender's next one, and one that waited
// two keepalives has, unless they were lost, successors in the socket
// behind it. A node that reads behind (a flood, a stall, more peers than
// its CPU keeps up with) thus skips to the news instead of answering
// seconds-old heartbeats: its acknowledgements would go out stale, its
// peers stop counting it, and the retransmissions that follow would make
// it later still (at 96 nodes on two cores, nodes read 8 to 10 s behind
// through a 4 MiB socket buffer and never formed a stable view). Looking
// at a frame's bytes (frame.Peek) costs a fraction of its MAC
// and decoding, so the reader catches up. Cluster messages and
// retransmissions are never left out: they are not superseded.
func ShedAfter(keepalive, deadtime time.Duration) time.Duration {
	return min(2*keepalive, deadtime/2)
}

// DeepLag is how long a frame may have waited in a link's socket before
// its reader counts as far behind (half of deadtime): its lag then costs
// more than the old frames are worth. At 128 nodes on two cores, readers
// fell 20 to 38 s behind and stayed there, a standing queue in a 4 MiB
// socket buffer: they handled every cluster message, every retransmission
// request and one heartbeat of each peer in two seconds of arrivals, all
// half a minute old; their acknowledgements left a minute old, their
// peers took them for nodes that no longer hear them, and quorum came and
// went hundreds of times. A reader that far behind takes in one heartbeat
// of each peer per DeepLag of arrivals and no retransmission requests or
// NAKs (RepairShedAfter), so that it catches up; cluster messages it
// always takes in.
func DeepLag(deadtime time.Duration) time.Duration { return deadtime / 2 }

// RepairShedAfter is how long a retransmission request or NAK may wait in
// a link's socket before the reader leaves it out: DeepLag, or longer if
// askers with maxRexmitDelay may pause longer between two requests for
// the same message (reliable.LongestAskPause). A request older than that
// has a newer one of its asker behind it in the socket, or its asker no
// longer misses what it asked for; a NAK answers a request that has been
// made again since. (Left out after ShedAfter, as heartbeats are, they
// made formation at 128 nodes slower: readers a few seconds behind, which
// catch up, then served no request.) A node that stays that far behind
// resends nothing until it catches up: what its peers miss of it they
// keep asking for (or give up when it NAKs, or when its stream moves past
// their window).
func RepairShedAfter(deadtime, maxRexmitDelay time.Duration) time.Duration {
	return max(DeepLag(deadtime), reliable.LongestAskPause(maxRexmitDelay))
}

// ReadCoalesce is the pause of a link's reader after a frame (Coalesce)
// for a node expecting framesPerSecond from its peers with the given
// keepalive. Taking a frame in wakes the process, its threads and every
// actor on the way, and that, not the frame's own work, is most of what
// a frame costs: a node of a 64-node cluster hears a frame every 16 ms.
// Pausing a quarter of keepalive (at most 250 ms) after one lets the next
// ones wait in the socket and be handled in one wake, with the caches
// warm: at 64 nodes a node then took 24% less CPU than with a tenth
// (100 ms; same run, odd nodes against even ones). It delays a frame by
// less than a quarter of keepalive, which deadtimes of several keepalives
// do not notice (a cluster message too: a claim's round trip may take up
// to two pauses more, in a cluster large enough to pause at all), and at
// most half of membership's LateTolerance (a twentieth of deadtime), so
// that the wait is never taken for the node running late; under 40
// frames a second there is little to gather and frames are taken in at
// once.
func ReadCoalesce(framesPerSecond float64, keepalive, deadtime time.Duration) time.Duration {
	if framesPerSecond < 40 {
		return 0
	}
	return min(keepalive/4, deadtime/40, 250*time.Millisecond)
}

// LinkOpenError is the panic reason of a link that cannot open its medium:
// the supervisor restarts the actor after a backoff, which retries the open.
type LinkOpenError struct {
	Link string
	Err  error
}

func (e *LinkOpenError) Error() string { return fmt.Sprintf("link %s: %v", e.Link, e.Err) }
func (e *LinkOpenError) Unwrap() error { return e.Err }

// Link is the actor that owns one heartbeat medium: it sends the frames the
// heartbeat actor gives it, answering FrameSent to a request (the heartbeat
// actor knows by these answers that frames go out). The frames it receives
// are verified and decoded by the medium's reader goroutine, which hands
// them to membership itself: a frame that passed through the link's
// mailbox first cost one more wake of a goroutine, and waking, not the
// frame's own work, is most of what a frame costs at scale.
type Link struct {
	cfg     LinkConfig
	medium  transports.Link
	failing bool // the last send failed
	// sendLog limits the lines about sends failing and working again: a
	// device that fails every other send would log at the heartbeat rate.
	sendLog *logging.Limiter
	// partialLog limits the lines about frames that some media or peers
	// of the link could not send.
	partialLog *logging.Limiter
}

// NewLink returns a producer of link actors.
func NewLink(cfg LinkConfig) actor.Producer {
	// One limiter for every incarnation: a link restarted after a
	// failure does not start a new allowance.
	sendLog := logging.NewLimiter(10 * time.Second)
	partialLog := logging.NewLimiter(time.Minute)
	return func() actor.Actor { return &Link{cfg: cfg, sendLog: sendLog, partialLog: partialLog} }
}

// Receive handles the actor's messages.
func (l *Link) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		l.open(ctx)
	case *actor.Restarting, *actor.Stopping:
		l.close(ctx)
	case *SendFrame:
		// Given back first: whatever becomes of the send (a crash of
		// this actor included), the frame no longer waits.
		m.Backlog.LeaveN(len(m.Data))
		if m.Newest != nil && m.Newest.Load() > m.Sequence {
			l.cfg.Metrics.FrameLeftOut(l.cfg.Name, "superseded on send")
			if ctx.Sender() != nil {
				ctx.Respond(&FrameSent{Superseded: true, Sequence: m.Sequence})
			}
			return
		}
		err := l.sent(ctx, l.medium.Send(m.Data))
		if ctx.Sender() != nil {
			ctx.Respond(&FrameSent{Err: err, Sequence: m.Sequence})
		}
	}
}

func (l *Link) open(ctx actor.Context) {
	root, self := ctx.ActorSystem().Root, ctx.Self()
	coalesce := l.cfg.Coalesce
	var woke time.Time
	shed := newShedding(l.cfg)
	deliver := func(p transports.Packet) time.Duration {
		if shed.superseded(p) {
			return 0
		}
		if l.cfg.Delivered.Delivered(p.Data) {
			l.cfg.Metrics.FrameLeftOut(l.cfg.Name, "delivered")
			return 0
		}
		// A flood on the port costs the reader the verification of each
		// frame; what it cannot keep up with waits in the socket buffer,
		// and the kernel drops what does not fit, as a congested network
		// would.
		if from := received(root, self, l.cfg, p); from != "" {
			shed.keep(from, p.At)
		}
		if coalesce > 0 && p.At.After(woke) && time.Since(p.At) < coalesce {
			// The first frame that came after the last pause ended: it
			// woke the reader, which pauses, so that those that follow
			// are read in one go after it (unless it is behind: this one
			// waited a pause already). The frames that waited during a
			// pause go on without one, and the next frame to come starts
			// the next: the process wakes at most once a pause. (Letting
			// every frame of a pause's length after it go on at once
			// woke a 64-node cluster's nodes about 35 times a second
			// rather than 10.)
			woke = time.Now().Add(coalesce)
			return coalesce
		}
		return 0
	}
	// Called from the medium's reader: rate limited, a noisy line must not
	// flood the log.
	limit := logging.NewLimiter(10 * time.Second)
	readErr := func(err error) {
		if n, ok := limit.Allow(time.Now()); ok {
			l.cfg.Log.Warn("link read problem", "link", l.cfg.Name, "err", err, "suppressed_since_last_log", n)
		}
	}
	medium, err := l.cfg.Open(deliver, readErr)
	if err != nil {
		ctx.Send(l.cfg.Membership, &LinkChanged{Link: l.cfg.Name, Detail: err.Error()})
		panic(&LinkOpenError{Link: l.cfg.Name, Err: err})
	}
	l.medium = medium
	l.cfg.Log.Info("link open", "link", l.cfg.Name)
	ctx.Send(l.cfg.Membership, &LinkChanged{Link: l.cfg.Name, Up: true})
}

func (l *Link) close(ctx actor.Context) {
	if l.medium == nil {
		return
	}
	if err := l.medium.Close(); err != nil {
		l.cfg.Log.Warn("link close failed", "link", l.cfg.Name, "err", err)
	}
	l.medium = nil
	if _, restarting := ctx.Message().(*actor.Restarting); restarting {
		ctx.Send(l.cfg.Membership, &LinkChanged{Link: l.cfg.Name, Detail: "restarting after a failure"})
	}
}

// sent reports a link that starts or stops failing to send; a failing link
// is shown dead, it does not stop the node. A frame that left by some of
// the link's media or peers and not by others was sent: the link works,
// and the failing medium or peer is logged (rarely: it fails every
// keepalive, for instance a ucast peer on a network this host is not on).
// It returns err, nil for such a frame.
func (l *Link) sent(ctx actor.Context, err error) error {
	var partial *transports.PartialSendError
	if errors.As(err, &partial) {
		if n, ok := l.partialLog.Allow(time.Now()); ok {
			l.cfg.Log.Warn("link cannot send by all its media", "link", l.cfg.Name, "err", partial, "suppressed_since_last_log", n)
		}
		err = nil
	}
	if err == nil {
		l.cfg.Metrics.FrameSent(l.cfg.Name)
	}
	switch {
	case err != nil && !l.failing:
		l.failing = true
		if n, ok := l.sendLog.Allow(time.Now()); ok {
			l.cfg.Log.Warn("link cannot send", "link", l.cfg.Name, "err", err, "changes_since_last_log", n)
		}
		ctx.Send(l.cfg.Membership, &LinkChanged{Link: l.cfg.Name, Detail: err.Error()})
	case err == nil && l.failing:
		l.failing = false
		if n, ok := l.sendLog.Allow(time.Now()); ok {
			l.cfg.Log.Info("link sends again", "link", l.cfg.Name, "changes_since_last_log", n)
		}
		ctx.Send(l.cfg.Membership, &LinkChanged{Link: l.cfg.Name, Up: true})
	}
	return err
}

// shedding leaves out the heartbeats that waited in a link's socket past
// LinkConfig.ShedAfter. It belongs to the link's reader goroutine.
type shedding struct {
	cfg LinkConfig
	log *logging.Limiter
	// shed counts the heartbeats left out since the last log line, and
	// repairs the retransmission requests and NAKs; behind is the
	// longest wait among them.
	shed, repairs int
	behind        time.Duration
	// kept is when the last heartbeat handed on of each sender arrived.
	kept map[string]time.Time
}

func newShedding(cfg LinkConfig) *shedding {
	return &shedding{cfg: cfg, log: logging.NewLimiter(10 * time.Second), kept: map[string]time.Time{}}
}

// keep records that a verified heartbeat of sender, arrived at at, was
// handed on. Only verified ones count: a forged heartbeat must not make a
// real one look superseded.
func (s *shedding) keep(sender string, at time.Time) {
	if _, seen := s.kept[sender]; seen || len(s.kept) < maxShedSenders {
		s.kept[sender] = at
	}
}

// superseded reports whether p is a heartbeat to leave out: it waited past
// ShedAfter, is not its sender's last, and a verified heartbeat of its
// sender that arrived less than ShedAfter before it was handed on. So whatever the
// reader's lag, each sender is heard at least once per ShedAfter of
// arrivals: a reader too starved to catch up still hears everybody,
// instead of leaving out every heartbeat (at 96 nodes on two cores some
// nodes read 11 s behind and heard nobody within initdead).
//
// It also reports whether p is a retransmission request or NAK that waited
// past RepairShedAfter: superseded by its asker's next request.
func (s *shedding) superseded(p transports.Packet) bool {
	now := time.Now()
	waited := now.Sub(p.At)
	past := func(limit time.Duration) bool { return limit > 0 && waited > limit }
	if !past(s.cfg.ShedAfter) && !past(s.cfg.RepairShedAfter) {
		// Not behind: the common case costs no look at the bytes.
		return false
	}
	g, ok := frame.Peek(p.Data)
	switch {
	case !ok:
		return false
	case g.Repair:
		if !past(s.cfg.RepairShedAfter) {
			return false
		}
		s.cfg.Metrics.FrameLeftOut(s.cfg.Name, "stale repair")
		s.repairs++
	case g.Heartbeat && g.Status != messages.NodeStatus_NODE_STATUS_DEAD && past(s.cfg.ShedAfter):
		every := s.cfg.ShedAfter
		if s.cfg.DeepLag > every && past(s.cfg.DeepLag) {
			every = s.cfg.DeepLag
		}
		last, seen := s.kept[string(g.Sender)]
		if !seen || p.At.Sub(last) >= every || p.At.Before(last) {
			return false
		}
		s.cfg.Metrics.FrameLeftOut(s.cfg.Name, "superseded")
		s.shed++
	default:
		return false
	}
	s.behind = max(s.behind, waited)
	if _, ok := s.log.Allow(now); ok {
		s.cfg.Log.Warn("reading behind: heartbeats left out for newer ones, and stale retransmission requests", "link", s.cfg.Name,
			"heartbeats_left_out", s.shed, "requests_left_out", s.repairs, "longest_wait", s.behind.Round(time.Millisecond),
			"shed_after", s.cfg.ShedAfter, "repair_shed_after", s.cfg.RepairShedAfter)
		s.shed, s.repairs, s.behind = 0, 0, 0
	}
	return true
}

// maxShedSenders bounds the senders a reader remembers: the names in
// frames are unauthenticated, so a flood of made-up ones must not grow it
// (a configuration has at most 256 nodes).
const maxShedSenders = 1024

// received verifies and decodes a datagram of the link's medium, in the
// medium's reader goroutine, and hands it to membership with the link as
// its sender, as a trace shows it. It returns the sender of a heartbeat
// handed on ("" for anything else), read before membership has it.
func received(root *actor.RootContext, link *actor.PID, cfg LinkConfig, p transports.Packet) (heartbeatFrom string) {
	var env *messages.Envelope
	var err error
	if cfg.Local != "" {
		env, _, err = cfg.Keyring.OpenFor(p.Data, cfg.Local)
	} else {
		env, _, err = cfg.Keyring.Open(p.Data)
	}
	if !cfg.Inbound.For(env.GetSender()).EnterBytes(len(p.Data)) {
		// Membership is behind (a flood): this frame is lost, as on a
		// congested network; MembershipState counts it.
		return ""
	}
	if err != nil {
		root.RequestWithCustomSender(cfg.Membership, &FrameRejected{Link: cfg.Name, Reason: frame.Reason(err), From: p.From, Detail: err.Error(), Size: len(p.Data)}, link)
		return ""
	}
	if env.GetHeartbeat() != nil {
		heartbeatFrom = env.Sender
	}
	root.RequestWithCustomSender(cfg.Membership, &FrameReceived{Link: cfg.Name, Envelope: env, From: p.From, At: p.At, Size: len(p.Data)}, link)
	return heartbeatFrom
}
