package actors

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/reliable"
	"github.com/hanode/hanode/node/ops/control"
	"github.com/hanode/hanode/node/ops/logging"
)

// MaxNotes is how many received notes a node remembers.
const MaxNotes = 1000

// DefaultMaxLag bounds the messenger's lag credit when the configuration
// does not (MessengerConfig.MaxLag; the node gives its deadtime): past it,
// what is missing is asked for however far behind the node is.
const DefaultMaxLag = 10 * time.Second

// MessengerConfig is what a messenger's state is built from.
type MessengerConfig struct {
	Local      string
	Generation uint64
	// Peers are the other members.
	Peers    []string
	Reliable reliable.Config
	// MaxLag bounds how far behind the arrival of its frames the
	// messenger's requests run (MessengerState.lag); 0: DefaultMaxLag.
	MaxLag time.Duration
	// Stream is the gate of the stream frames membership hands over (it
	// holds the same gates); nil: unbounded.
	Stream *Gates
	// Delivered, when set, is told how far each peer's stream is
	// delivered, for the links to leave out what comes again.
	Delivered *DeliveredMarks
}

// MessengerState is the reliable layer's state. Built once
// (NewMessengerState) and handed to each incarnation of the messenger, so
// that a restarted messenger keeps its streams: a restart must not make
// it deliver a message twice or forget one. Nothing outside the actor
// reads or writes it.
type MessengerState struct {
	local      string
	generation uint64
	outbox     *reliable.Outbox
	// batcher holds the messages of a burst to send them as one.
	batcher *reliable.Batcher
	// frameBudget is what one frame may carry of a body (the reliable
	// layer's MaxMessage): combined retransmission requests stay within.
	frameBudget int
	// requestSlack: requests due this soon after others go with them (a
	// quarter of MaxRexmitDelay).
	requestSlack time.Duration
	inboxes      map[string]*reliable.Inbox
	alive        map[string]bool
	// lag is how long the frame handled last waited between its arrival
	// and the messenger (in the socket, the gates, the mailboxes), at
	// most maxLag. A node that is behind has not yet read what arrived
	// since: a message missing at the arrival of a frame it handles now
	// may be waiting in its own queue, behind it. Requests are timed by
	// the arrival clock (clock: now less lag), so that a node too busy to
	// read asks for what it did not receive, not for what it has not yet
	// read: in a 96-node cluster forming on two cores, nodes read seconds
	// behind, and each resend they asked for reached every node.
	lag, maxLag time.Duration
	// armedLag is the lag when the deadline was last set from every
	// inbox (rearm): a frame then re-arms for its sender's alone
	// (rearmFor), unless the lag shrank since, which brings every
	// inbox's requests closer.
	armedLag time.Duration
	notes    []*messages.ReceivedNote
	// notesDropped counts the oldest notes forgotten beyond MaxNotes.
	notesDropped uint64
	stream       *Gates
	delivered    *DeliveredMarks
	// subscribers receive every peer's cluster message (ClusterDelivered);
	// subscribed by the node (Subscribe) before any frame can arrive.
	subscribers []*actor.PID
	// heartbeat sends this node's frames (WatchHeartbeat); until it is
	// known, what is to be broadcast is held, in order.
	heartbeat *actor.PID
	held      []*messages.Envelope
	// warnings limit the stream warnings, by message and peer.
	warnings map[string]*logging.Limiter
}

// NewMessengerState returns the state of a node that has sent nothing and
// heard nobody yet.
func NewMessengerState(cfg MessengerConfig) *MessengerState {
	st := &MessengerState{
		local: cfg.Local, generation: cfg.Generation, outbox: reliable.NewOutbox(cfg.Reliable),
		batcher: reliable.NewBatcher(cfg.Reliable), frameBudget: cmp.Or(cfg.Reliable.MaxMessage, reliable.DefaultMaxMessage),
		requestSlack: cmp.Or(cfg.Reliable.MaxRexmitDelay, reliable.DefaultMaxRexmitDelay) / 4,
		inboxes:      map[string]*reliable.Inbox{}, alive: map[string]bool{}, stream: cfg.Stream, warnings: map[string]*logging.Limiter{},
		maxLag: cmp.Or(cfg.MaxLag, DefaultMaxLag), delivered: cfg.Delivered,
	}
	for _, p := range cfg.Peers {
		st.inboxes[p] = reliable.NewInbox(cfg.Reliable)
	}
	return st
}

// StreamFrame carries an accepted frame that the reliable layer needs (a
// cluster message, a retransmission request or NAK, or a heartbeat
// announcing its sender's last message) from the membership actor to the
// messenger.
type StreamFrame struct {
	Envelope *messages.Envelope
	At       time.Time
	// Size is the frame's length, as taken in the stream gates.
	Size int
}

func (m *StreamFrame) TraceSummary() string {
	return bodyName(m.Envelope) + " from " + m.Envelope.GetSender()
}

// Broadcast asks the heartbeat actor to send Envelope, of which only the
// body is set, in a new frame on every link: it fills in cluster, sender,
// generation, sequence and time. Sent by the messenger.
type Broadcast struct {
	Envelope *messages.Envelope
}

func (m *Broadcast) TraceSummary() string { return bodyName(m.Envelope) }

// broadcast hands env to the heartbeat actor, or holds it until the
// heartbeat actor is known.
func (a *Messenger) broadcast(ctx actor.Context, env *messages.Envelope) {
	if a.st.heartbeat == nil {
		a.st.held = append(a.st.held, env)
		return
	}
	ctx.Send(a.st.heartbeat, &Broadcast{Envelope: env})
}

// PeerGeneration tells the messenger that a generation of Peer was heard
// for the first time (sent by membership until it has the answer); it
// answers *StreamStart.
type PeerGeneration struct {
	Peer       string
	Generation uint64
}

// StreamStart answers PeerGeneration: the messenger's last message number
// when it learnt of the generation. What was numbered up to it is history
// for that life of the peer: this node's stream for it starts after.
type StreamStart struct {
	Peer       string
	Generation uint64
	Start      uint64
}

func (m *StreamStart) TraceSummary() string {
	return fmt.Sprintf("%s generation %d from %d", m.Peer, m.Generation, m.Start)
}

// SendNote asks the messenger to send a note to every node; it answers
// *messages.NoteSent, or an error when the note is too large to be sent
// (see reliable.Outbox.Send).
type SendNote struct{ Text string }

// NotesQuery asks the messenger for the notes received; it answers
// *messages.NotesResponse.
type NotesQuery struct{}

// StreamsQuery asks the messenger for each node's message stream; it
// answers *Streams.
type StreamsQuery struct{}

// Streams maps node names to their message streams.
type Streams map[string]*messages.MessageStream

// Messenger is the actor of the reliable layer: it numbers this node's
// cluster messages, delivers the peers' ones once and in order, and asks
// for and answers retransmissions.
type Messenger struct {
	st       *MessengerState
	log      *slog.Logger
	deadline *Deadline
	now      func() time.Time
}

// NewMessenger returns a producer of messenger actors sharing st.
func NewMessenger(st *MessengerState, log *slog.Logger) actor.Producer {
	return func() actor.Actor { return &Messenger{st: st, log: log, now: time.Now} }
}

// Receive handles the actor's messages.
func (a *Messenger) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.deadline = NewDeadline(ctx.ActorSystem(), ctx.Self())
		a.rearm()
	case *actor.Restarting, *actor.Stopping:
		a.deadline.Stop()
	case *StreamFrame:
		a.st.stream.For(m.Envelope.GetSender()).LeaveBytes(m.Size)
		a.frame(ctx, m)
	case *messages.MembershipEvent:
		if m.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS {
			a.st.alive[m.Node] = m.Status == messages.NodeStatus_NODE_STATUS_ACTIVE || m.Status == messages.NodeStatus_NODE_STATUS_UP
			a.rearm()
		}
	case *DeadlineReached:
		if a.deadline.Fired(m) {
			if due := a.st.batcher.Due(); !due.IsZero() && !a.now().Before(due) {
				a.flush(ctx)
			}
			a.requestMissing(ctx)
			a.rearm()
		}
	case *Subscribe:
		// Idempotent: a restarted node actor subscribes its children again.
		if !slices.ContainsFunc(a.st.subscribers, m.PID.Equal) {
			a.st.subscribers = append(a.st.subscribers, m.PID)
		}
		if ctx.Sender() != nil {
			ctx.Respond(&Subscribed{})
		}
	case *WatchHeartbeat:
		// From the node actor once it spawned the heartbeat actor, and
		// from each incarnation of it (idempotent).
		a.st.heartbeat = m.PID
		held := a.st.held
		a.st.held = nil
		for _, env := range held {
			a.broadcast(ctx, env)
		}
	case *PeerGeneration:
		// Membership asks in the order it hears: every message numbered
		// because of what it heard (placement answering the events it
		// published after asking) comes after the start. What a burst
		// holds was said before: it is numbered before the start, as it
		// would have been without batching.
		a.flush(ctx)
		ctx.Respond(&StreamStart{Peer: m.Peer, Generation: m.Generation, Start: a.st.outbox.Last()})
	case *SendCluster:
		for _, out := range a.st.batcher.Add(a.now(), m.Message) {
			a.sendNumbered(ctx, out)
		}
		a.rearm()
	case *SendNote:
		// A note's answer is its number: what a burst holds goes first.
		a.flush(ctx)
		sent, err := a.send(ctx, &messages.ClusterMessage{Payload: &messages.ClusterMessage_Note{Note: &messages.Note{Text: m.Text}}})
		if err != nil {
			ctx.Respond(fmt.Errorf("note not sent: %w", err))
			return
		}
		ctx.Respond(&messages.NoteSent{MessageSequence: sent.MessageSequence})
	case *NotesQuery:
		ctx.Respond(&messages.NotesResponse{Notes: append([]*messages.ReceivedNote(nil), a.st.notes...), Dropped: a.st.notesDropped})
	case *StreamsQuery:
		ctx.Respond(a.streams())
	}
}

// flush sends what the batcher holds, now.
func (a *Messenger) flush(ctx actor.Context) {
	if m := a.st.batcher.Flush(a.now()); m != nil {
		a.sendNumbered(ctx, m)
	}
}

// sendNumbered sends a message (or batch) of placement's, logging what
// cannot be sent: nothing is numbered then, and the stream goes on
// without it.
func (a *Messenger) sendNumbered(ctx actor.Context, m *messages.ClusterMessage) {
	if _, err := a.send(ctx, m); err != nil {
		a.log.Error("cluster message not sent", "err", err)
	}
}

// send numbers a message, broadcasts it (in fragments when one frame of
// the smallest link cannot carry it) and delivers it here too, numbered as
// the peers will see it (the sequence number of its last fragment). A
// message that can never be sent whole is refused, nothing numbered.
func (a *Messenger) send(ctx actor.Context, msg *messages.ClusterMessage) (*messages.ClusterMessage, error) {
	out, err := a.st.outbox.Send(a.now(), msg)
	if err != nil {
		return nil, err
	}
	for _, m := range out {
		a.broadcast(ctx, &messages.Envelope{Body: &messages.Envelope_Message{Message: m}})
	}
	whole := out[0]
	if len(out) > 1 {
		whole = proto.Clone(msg).(*messages.ClusterMessage)
		whole.MessageSequence = a.st.outbox.Last()
	}
	a.deliver(ctx, a.st.local, a.st.generation, whole)
	return whole, nil
}

func (a *Messenger) frame(ctx actor.Context, f *StreamFrame) {
	env := f.Envelope
	in := a.st.inboxes[env.Sender]
	if in == nil {
		return
	}
	a.st.lag = min(max(a.now().Sub(f.At), 0), a.st.maxLag)
	before := in.Stats
	defer func() {
		_, nak := env.Body.(*messages.Envelope_RetransmitNak)
		if in.Stats.Lost > before.Lost || in.Stats.Incomplete > before.Incomplete {
			for _, s := range a.st.subscribers {
				ctx.Send(s, &ClusterLost{From: env.Sender, Generation: in.Generation()})
			}
		}
		a.noteDropped(env.Sender, before, in.Stats, nak)
		if in.Opened(in.Generation()) {
			a.st.delivered.Set(env.Sender, in.Generation(), in.Delivered())
		}
	}()
	switch b := env.Body.(type) {
	case *messages.Envelope_Heartbeat:
		for _, m := range heartbeatToInbox(in, a.st.local, a.st.generation, f.At, env.Generation, b.Heartbeat) {
			a.deliver(ctx, env.Sender, env.Generation, m)
		}
	case *messages.Envelope_Message:
		for _, m := range in.Receive(f.At, env.Generation, b.Message) {
			a.deliver(ctx, env.Sender, env.Generation, m)
		}
	case *messages.Envelope_RetransmitRequest:
		a.retransmitRequest(ctx, env.Sender, b.RetransmitRequest)
	case *messages.Envelope_RetransmitRequests:
		for i, r := range b.RetransmitRequests.Requests {
			if i == maxRequestsPerFrame {
				break
			}
			a.retransmitRequest(ctx, env.Sender, r)
		}
	case *messages.Envelope_RetransmitNak:
		n := b.RetransmitNak
		if n.Destination != a.st.local {
			return
		}
		a.warn("cluster messages irretrievably lost", env.Sender, "first", n.First, "last", n.Last)
		for _, m := range in.Nak(env.Generation, n.First, n.Last) {
			a.deliver(ctx, env.Sender, env.Generation, m)
		}
	}
	a.rearmFor(env.Sender, in)
}

// heartbeatToInbox gives the sender's inbox what a heartbeat of its
// generation gen says, for the node named local in its generation
// localGen, and returns the messages that delivers.
func heartbeatToInbox(in *reliable.Inbox, local string, localGen uint64, at time.Time, gen uint64, hb *messages.Heartbeat) []*messages.ClusterMessage {
	var out []*messages.ClusterMessage
	for _, s := range hb.Sessions {
		if s.Node == local && s.Generation == localGen {
			// Where its stream for this life of ours begins: what it
			// sent before is history, never delivered here; what it sent
			// after and came before this heartbeat is taken now.
			in.Open(gen, s.StreamStart)
			out = append(out, in.ReceiveEarly(at)...)
		}
	}
	// An announcement far ahead gives up what falls out of the window,
	// which may deliver what waited behind it.
	return append(out, in.Announce(at, gen, hb.LastMessageSequence)...)
}

// maxRequestsPerFrame bounds the requests of one frame that are read: one
// per peer is all an honest node sends (a range each), so a frame of a
// key holder gone wrong costs a bounded amount of work.
const maxRequestsPerFrame = 256

// retransmitRequest answers a request for this node's messages, or, for
// another node's, defers this node's own requests for them: the resend
// will reach it too.
func (a *Messenger) retransmitRequest(ctx actor.Context, from string, r *messages.RetransmitRequest) {
	if r.Destination != a.st.local {
		if in := a.st.inboxes[r.Destination]; in != nil {
			in.Overheard(a.clock(), r.Generation, r.First, r.Last)
		}
		return
	}
	if r.Generation != a.st.generation {
		return
	}
	resend, nak := a.st.outbox.Retransmit(a.now(), r.First, r.Last)
	for _, m := range resend {
		a.broadcast(ctx, &messages.Envelope{Body: &messages.Envelope_Message{Message: m}})
	}
	if nak != nil {
		a.warn("asked for cluster messages no longer kept", from, "first", nak.First, "last", nak.Last)
		a.broadcast(ctx, &messages.Envelope{Body: &messages.Envelope_RetransmitNak{RetransmitNak: &messages.RetransmitNak{
			Destination: from, First: nak.First, Last: nak.Last,
		}}})
	}
}

// warnEvery is how often one kind of stream warning about one peer is
// logged at most; the others are counted in the next line.
const warnEvery = 10 * time.Second

// warn logs a stream warning about peer, at most once per warnEvery for
// each message and peer, with how many more like it were left out: a
// storm of losses costs a line every few seconds, not one per frame.
func (a *Messenger) warn(msg, peer string, args ...any) {
	key := msg + "\x00" + peer
	lim := a.st.warnings[key]
	if lim == nil {
		if len(a.st.warnings) >= maxWarningKeys {
			// Keys are three messages times the configured peers; a
			// bound all the same.
			clear(a.st.warnings)
		}
		lim = logging.NewLimiter(warnEvery)
		a.st.warnings[key] = lim
	}
	more, ok := lim.Allow(a.now())
	if !ok {
		return
	}
	a.log.Warn(msg, append([]any{"peer", peer, "more_like_this", more}, args...)...)
}

// maxWarningKeys bounds the limiters kept.
const maxWarningKeys = 1024

// noteDropped logs the messages of peer that the reliable layer gave up
// while handling one frame (losses a NAK caused are logged with it).
func (a *Messenger) noteDropped(peer string, before, after reliable.InboxStats, nak bool) {
	if nak {
		before.Lost = after.Lost
	}
	if after.Lost == before.Lost && after.Incomplete == before.Incomplete && after.Stray == before.Stray {
		return
	}
	a.warn("cluster messages given up", peer, "lost", after.Lost-before.Lost,
		"incomplete", after.Incomplete-before.Incomplete, "stray_fragments", after.Stray-before.Stray)
}

// deliver acts on a message that the reliable layer hands over, once and
// in order: each message of a batch in turn.
func (a *Messenger) deliver(ctx actor.Context, sender string, gen uint64, m *messages.ClusterMessage) {
	if m.GetBatch() != nil {
		for _, in := range reliable.Unbatch(m) {
			a.deliverOne(ctx, sender, gen, in)
		}
		return
	}
	a.deliverOne(ctx, sender, gen, m)
}

func (a *Messenger) deliverOne(ctx actor.Context, sender string, gen uint64, m *messages.ClusterMessage) {
	if m.Destination != "" && m.Destination != a.st.local {
		return
	}
	if m.DestinationGeneration != 0 && m.Destination == a.st.local && m.DestinationGeneration != a.st.generation {
		// An answer to an earlier life of this node.
		return
	}
	if sender != a.st.local {
		// Subscribers take what concerns them; each knows what it said
		// itself.
		for _, s := range a.st.subscribers {
			ctx.Send(s, &ClusterDelivered{From: sender, Message: m})
		}
	}
	if p, ok := m.Payload.(*messages.ClusterMessage_Note); ok {
		// A peer's note may be longer than this node's clients may send
		// (a peer of another version, or a key holder gone wrong): what
		// is kept and logged is cut, so MaxNotes bounds the memory.
		text := p.Note.Text
		if len(text) > control.MaxNote {
			text = cutNote(text)
		}
		a.log.Info("note", "from", sender, "seq", m.MessageSequence, "text", text)
		a.st.notes = append(a.st.notes, &messages.ReceivedNote{
			Time: timestamppb.New(a.now()), Sender: sender, Generation: gen, MessageSequence: m.MessageSequence, Text: text,
		})
		if extra := len(a.st.notes) - MaxNotes; extra > 0 {
			a.st.notes = append(a.st.notes[:0:0], a.st.notes[extra:]...)
			a.st.notesDropped += uint64(extra)
		}
	}
}

// requestMissing asks live peers for the messages due to be asked for,
// and for those due within requestSlack, every request in as few frames as
// they fit in: a node that misses messages of many peers asks for them all
// at once, a little early for some, rather than in one frame per peer.
// Nothing is asked of a dead peer: it could not answer.
func (a *Messenger) requestMissing(ctx actor.Context) {
	now := a.clock().Add(a.st.requestSlack)
	var reqs []*messages.RetransmitRequest
	for peer, in := range a.st.inboxes {
		if !a.st.alive[peer] {
			continue
		}
		for _, r := range in.Due(now) {
			reqs = append(reqs, &messages.RetransmitRequest{Destination: peer, Generation: in.Generation(), First: r.First, Last: r.Last})
		}
	}
	if len(reqs) == 1 {
		a.broadcast(ctx, &messages.Envelope{Body: &messages.Envelope_RetransmitRequest{RetransmitRequest: reqs[0]}})
		return
	}
	// Sorted, so that the frames do not depend on map order.
	slices.SortFunc(reqs, func(x, y *messages.RetransmitRequest) int { return strings.Compare(x.Destination, y.Destination) })
	var frame []*messages.RetransmitRequest
	size := 0
	send := func() {
		if len(frame) > 0 {
			a.broadcast(ctx, &messages.Envelope{Body: &messages.Envelope_RetransmitRequests{RetransmitRequests: &messages.RetransmitRequests{Requests: frame}}})
		}
		frame, size = nil, 0
	}
	for _, r := range reqs {
		n := proto.Size(r) + 4
		if size+n > a.st.frameBudget || len(frame) == maxRequestsPerFrame {
			send()
		}
		frame = append(frame, r)
		size += n
	}
	send()
}

// rearmFor sets the deadline after a frame of peer, whose inbox is in:
// only that inbox changed (another's requests only move later when one
// is overheard), so the deadline need only be brought forward for it. At
// 64 nodes, a walk of every inbox after each frame was a tenth of the
// cluster's CPU while it formed. Every other change re-arms for what it
// changed, so the deadline is never later than a request due (and unset
// only when none is).
func (a *Messenger) rearmFor(peer string, in *reliable.Inbox) {
	if a.st.lag < a.st.armedLag {
		a.rearm()
		return
	}
	next := a.st.batcher.Due()
	if d := in.NextDue(); !d.IsZero() && a.st.alive[peer] && (next.IsZero() || d.Add(a.st.lag).Before(next)) {
		next = d.Add(a.st.lag)
	}
	if !next.IsZero() {
		a.deadline.ArmBy(a.now(), next)
	}
}

func (a *Messenger) rearm() {
	a.st.armedLag = a.st.lag
	next := a.st.batcher.Due()
	for peer, in := range a.st.inboxes {
		if !a.st.alive[peer] {
			continue
		}
		// Requests fall due by the arrival clock: that much later by
		// the wall's.
		if d := in.NextDue(); !d.IsZero() && (next.IsZero() || d.Add(a.st.lag).Before(next)) {
			next = d.Add(a.st.lag)
		}
	}
	a.deadline.ArmBy(a.now(), next)
}

// clock is the arrival clock: the time at which the frames handled now
// arrived (now less lag). Requests and the requests overheard are timed by
// it.
func (a *Messenger) clock() time.Time { return a.now().Add(-a.st.lag) }

func (a *Messenger) streams() Streams {
	o := a.st.outbox
	out := Streams{a.st.local: {Last: o.Last(), Count: o.Stats.Sent, Retransmissions: o.Stats.Retransmitted, Naks: o.Stats.Naks}}
	for peer, in := range a.st.inboxes {
		out[peer] = &messages.MessageStream{
			Last: in.Delivered(), Count: in.Stats.Delivered, Missing: uint64(in.Missing()), Lost: in.Stats.Lost,
			Retransmissions: in.Stats.Requests, Duplicates: in.Stats.Duplicates,
		}
	}
	return out
}
