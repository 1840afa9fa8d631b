// Package reliable delivers cluster messages once and in order over lossy
// links: a pure state machine (no I/O, no clock of its own) in the manner of
// Heartbeat's retransmission protocol (HEARTBEAT.md 1.13).
//
// The sender numbers its messages (per generation) and keeps the last
// History of them in an Outbox. A receiver keeps one Inbox per peer: it
// buffers messages that arrive early, delivers in order, and asks for the
// missing ones (NACK, pull): the first request after a random delay in
// [50ms, MaxRexmitDelay] that absorbs reordering, then after
// MaxRexmitDelay, doubling while unanswered up to 8 times that, until they
// arrive; a request another node made for the same messages defers this
// node's own (the resend reaches everybody). Heartbeats carry the sender's last
// message number, so a lost tail is noticed too. A sender asked for a
// message that fell out of its history answers with a NAK: the receiver
// counts it lost and delivers what follows.
//
// A message larger than one frame of the smallest link can carry is cut
// into fragments (fragment.go), each a message of the stream of its own,
// and joined again as they are delivered; one that could never be sent
// whole is refused before anything is numbered.
//
// Whatever a peer announces or numbers its messages, a receiver keeps at
// most a window of MaxMissing messages after the last delivered one: what
// falls behind the window is given up (delivered if it arrived, lost
// otherwise) with work and memory bounded by the window, not by the
// numbers a peer sends.
package reliable

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

// Config tunes the protocol; the zero value is Heartbeat's.
type Config struct {
	// History is how many sent messages the sender keeps for
	// retransmission (Heartbeat's MAXMSGHIST, 500).
	History int
	// MaxRexmitDelay bounds the random delay of a first retransmission
	// request and is the first pause between the following ones, which
	// doubles while unanswered up to 8 times it (max_rexmit_delay,
	// 250ms).
	MaxRexmitDelay time.Duration
	// MaxMissing is the receiver's window per peer: it tracks (asks for,
	// buffers) at most this many messages after the last one delivered;
	// older ones are given up (Heartbeat's MAXMISSING, 500). No larger than
	// the sender's History is useful: the sender NAKs anything older.
	MaxMissing int
	// MaxBatch bounds the messages resent for one request (50).
	MaxBatch int
	// MaxEarlyBytes bounds, per peer, the bytes of messages that arrived
	// early and wait for a gap before them (0: only the window does). A
	// message beyond it is not kept but asked for again, like a lost one:
	// a node missing one message of each of many peers otherwise held
	// everything they sent after it, up to the window (500 messages of
	// up to a frame each, per peer).
	MaxEarlyBytes int
	// ResendBudget bounds the messages resent in all every
	// MaxRexmitDelay, whoever asks (0: MaxBatch). A resend reaches every
	// node, so in a large cluster the budget is smaller
	// (node.ResendBudget): what all nodes resend together reaches each.
	ResendBudget int
	// ResendRate, when positive, bounds the resends on average, in
	// messages a second: ResendBudget go in a window of ResendBudget /
	// ResendRate (never shorter than MaxRexmitDelay) rather than of
	// MaxRexmitDelay. A cluster's nodes resend to every node, so what
	// each receives is N times this (node.ResendRate).
	ResendRate float64
	// MaxMessage is the largest stream message (a ClusterMessage as
	// encoded, with its sequence number) that one frame of the smallest
	// link carries (MessageCapacity); larger messages are sent in
	// fragments. Zero is DefaultMaxMessage, right for any link.
	MaxMessage int
	// BatchWindow is how long a message of a burst may wait to leave with
	// the others of the burst in one Batch (see Batcher); 0 never holds a
	// message.
	BatchWindow time.Duration
	// Rand draws the random delays; nil uses a fresh generator.
	Rand *rand.Rand
}

// DefaultMaxRexmitDelay is Heartbeat's max_rexmit_delay.
const DefaultMaxRexmitDelay = 250 * time.Millisecond

func (c Config) withDefaults() Config {
	if c.History <= 0 {
		c.History = 500
	}
	if c.MaxRexmitDelay <= 0 {
		c.MaxRexmitDelay = DefaultMaxRexmitDelay
	}
	if c.MaxMissing <= 0 {
		c.MaxMissing = 500
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 50
	}
	if c.ResendBudget <= 0 {
		c.ResendBudget = c.MaxBatch
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = DefaultMaxMessage
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return c
}

// resendWindow is the time in which at most ResendBudget messages are
// resent: MaxRexmitDelay, or longer to keep to ResendRate.
func (c Config) resendWindow() time.Duration {
	w := c.MaxRexmitDelay
	if c.ResendRate > 0 {
		w = max(w, time.Duration(float64(c.ResendBudget)/c.ResendRate*float64(time.Second)))
	}
	return w
}

// firstDelay is the random pause before the first request for a gap,
// which lets a reordered message arrive first.
func (c Config) firstDelay() time.Duration {
	lo, hi := 50*time.Millisecond, c.MaxRexmitDelay
	if hi < 100*time.Millisecond {
		lo = 0
	}
	return lo + time.Duration(c.Rand.Int64N(int64(hi-lo)+1))
}

// Outbox is this node's stream of cluster messages.
type Outbox struct {
	cfg     Config
	last    uint64
	history []sent // oldest first, consecutive sequence numbers
	// resent counts the messages resent since resentSince: at most
	// ResendBudget every resendWindow, whoever asks.
	resent      int
	resentSince time.Time
	Stats       OutboxStats
}

type sent struct {
	msg    *messages.ClusterMessage
	sentAt time.Time
}

// OutboxStats counts what the sender did.
type OutboxStats struct {
	// Sent counts messages, Fragments the stream messages that carried
	// them (one per message that fits in a frame).
	Sent          uint64
	Fragments     uint64
	Retransmitted uint64
	Naks          uint64
}

// NewOutbox returns an empty stream (a new generation starts at 1).
func NewOutbox(cfg Config) *Outbox { return &Outbox{cfg: cfg.withDefaults()} }

// Last is the sequence number of the last message sent, 0 before any.
func (o *Outbox) Last() uint64 { return o.last }

// Send numbers msg and keeps it for retransmission. It returns the stream
// messages to transmit: a copy of msg (msg is not modified), or, when one
// frame cannot carry it, its fragments, numbered consecutively; the whole
// message counts as sent at the sequence number of the last one (Last).
// A message too large to be sent whole (more than MaxSendSize) is refused
// with ErrTooLarge and nothing is numbered: a number that is never sent
// would stall every receiver's stream behind it.
func (o *Outbox) Send(now time.Time, msg *messages.ClusterMessage) ([]*messages.ClusterMessage, error) {
	m := proto.Clone(msg).(*messages.ClusterMessage)
	m.MessageSequence = o.last + 1
	out := []*messages.ClusterMessage{m}
	if size := proto.Size(m); size > o.cfg.MaxMessage {
		var err error
		if out, err = split(m, o.last+1, o.cfg); err != nil {
			return nil, fmt.Errorf("cluster message (%s) of %d bytes: %w", payloadName(msg), size, err)
		}
	}
	for _, f := range out {
		o.history = append(o.history, sent{msg: f, sentAt: now})
	}
	o.last += uint64(len(out))
	if over := len(o.history) - o.cfg.History; over > 0 {
		// Reslicing alone would leave the messages that fell out in the
		// array behind the slice until it next grows: up to as many
		// again as the history holds, fragments of 64 KB among them.
		clear(o.history[:over])
		o.history = o.history[over:]
	}
	o.Stats.Sent++
	o.Stats.Fragments += uint64(len(out))
	return out, nil
}

// MaxSendSize is the largest message (as encoded, without its sequence
// number) that Send accepts.
func (o *Outbox) MaxSendSize() int { return o.cfg.maxSendSize() }

// Range is an inclusive range of sequence numbers.
type Range struct{ First, Last uint64 }

// Retransmit answers a request for first..last: the messages to send again
// (those not already resent within the last MaxRexmitDelay, at most
// MaxBatch, and at most ResendBudget in all every MaxRexmitDelay, whoever
// asks), and the range that fell out of the history, if any, to NAK.
// Requests beyond the last message sent are ignored. The overall bound
// keeps a node that many peers ask at once (after a loss that all of them
// saw) from answering with a burst that its peers cannot take in: what is
// left out is asked for again, later.
func (o *Outbox) Retransmit(now time.Time, first, last uint64) (resend []*messages.ClusterMessage, nak *Range) {
	if first == 0 {
		first = 1
	}
	last = min(last, o.last)
	if first > last {
		return nil, nil
	}
	oldest := o.last + 1
	if len(o.history) > 0 {
		oldest = o.history[0].msg.MessageSequence
	}
	if first < oldest {
		nak = &Range{First: first, Last: min(last, oldest-1)}
		o.Stats.Naks++
		first = oldest
	}
	// Another node may have asked for the same messages a moment ago:
	// resending them again so soon would only add load.
	quiet := o.cfg.MaxRexmitDelay - 10*time.Millisecond
	if now.Sub(o.resentSince) >= o.cfg.resendWindow() || now.Before(o.resentSince) {
		o.resent, o.resentSince = 0, now
	}
	for seq := first; seq <= last && len(resend) < o.cfg.MaxBatch && o.resent < o.cfg.ResendBudget; seq++ {
		h := &o.history[seq-oldest]
		if now.Sub(h.sentAt) < quiet {
			continue
		}
		h.sentAt = now
		resend = append(resend, h.msg)
		o.resent++
		o.Stats.Retransmitted++
	}
	return resend, nak
}

// Inbox is one peer's stream as this node receives it.
//
// Every sequence number in (delivered, known] is in exactly one of
// pending (arrived early), missing (asked for) or lost (given up, skipped
// by delivery), and known-delivered never exceeds the window
// (MaxMissing): the maps, and all the work on them, are bounded by the
// window whatever numbers the peer sends.
type Inbox struct {
	cfg        Config
	generation uint64
	// opened: the stream of generation has a known start; until then
	// nothing is delivered or asked for.
	opened    bool
	delivered uint64 // every message up to this one is delivered or lost
	known     uint64 // highest sequence known to exist
	pending   map[uint64]*messages.ClusterMessage
	// pendingBytes is the encoded size of pending (MaxEarlyBytes).
	pendingBytes int
	missing      map[uint64]ask // sequence -> when to ask for it next
	// next caches the earliest ask of missing while nextKnown: NextDue
	// is asked after every frame, for every peer, and a scan of the
	// window each time made a node that missed much the slow one.
	next      time.Time
	nextKnown bool
	lost      map[uint64]bool // given up, skipped by delivery
	join      joiner          // the fragments of a message being delivered
	// early are messages of the peer's life earlyGen that came before its
	// stream opened here, by sequence, for ReceiveEarly once it opens: at
	// most the window of them and, with MaxEarlyBytes, that many bytes.
	// A join's first messages (the peer's full state) usually come before
	// the heartbeat that opens its stream; dropped, every node asked for
	// them again and the peer resent each to everybody, N^2 resends of
	// full states while a cluster formed.
	early      map[uint64]*messages.ClusterMessage
	earlyGen   uint64
	earlyBytes int
	Stats      InboxStats
}

// InboxStats counts what happened to a peer's stream.
type InboxStats struct {
	// Delivered counts whole messages (a fragmented one once).
	Delivered  uint64
	Duplicates uint64
	// Lost counts stream messages (fragments included) given up.
	Lost     uint64
	Requests uint64
	// Early counts messages of a stream not opened yet: kept for when
	// it opens (ReceiveEarly) within bounds, else dropped and asked for
	// again once it opens.
	Early uint64
	// Refused counts messages that arrived early beyond MaxEarlyBytes
	// (not kept; asked for again).
	Refused uint64
	// Incomplete counts fragmented messages given up before they were
	// whole: a fragment was lost or out of place, or the message was
	// larger than MaxMessageSize or undecodable.
	Incomplete uint64
	// Stray counts fragments dropped because they continue no message
	// being joined (its start was lost) or are malformed.
	Stray uint64
}

// NewInbox returns the receiving side of one peer's stream.
func NewInbox(cfg Config) *Inbox {
	in := &Inbox{cfg: cfg.withDefaults()}
	in.reset(0)
	return in
}

func (in *Inbox) reset(gen uint64) {
	in.generation, in.delivered, in.known, in.opened = gen, 0, 0, false
	in.pending, in.pendingBytes = map[uint64]*messages.ClusterMessage{}, 0
	in.missing = map[uint64]ask{}
	in.next, in.nextKnown = time.Time{}, true
	in.lost = map[uint64]bool{}
	in.join = joiner{}
	if in.earlyGen < gen {
		in.early, in.earlyBytes = nil, 0
	}
}

// Open starts the stream of the peer's generation gen after message start
// (the stream start its heartbeat names for this node): messages up to
// start are history and never delivered. A higher generation replaces the
// stream; an opened stream keeps its start.
func (in *Inbox) Open(gen, start uint64) {
	switch {
	case gen < in.generation, gen == in.generation && in.opened:
		return
	case gen > in.generation:
		in.reset(gen)
	}
	// Nothing is received or asked for before a stream opens: the maps
	// are empty.
	in.opened = true
	in.delivered, in.known = start, start
}

// keepEarly keeps m, a message of the peer's life gen that came before
// that life's stream opened here, within the bounds; a message of an
// older life than the inbox's is dropped.
func (in *Inbox) keepEarly(gen uint64, m *messages.ClusterMessage) {
	seq := m.GetMessageSequence()
	if seq == 0 || gen < in.generation || (gen == in.generation && in.opened) {
		return
	}
	if gen != in.earlyGen {
		if gen < in.earlyGen {
			return
		}
		in.early, in.earlyGen, in.earlyBytes = nil, gen, 0
	}
	if in.early[seq] != nil || len(in.early) >= in.cfg.MaxMissing {
		return
	}
	size := 0
	if in.cfg.MaxEarlyBytes > 0 {
		size = proto.Size(m)
		if in.earlyBytes+size > in.cfg.MaxEarlyBytes {
			return
		}
	}
	if in.early == nil {
		in.early = map[uint64]*messages.ClusterMessage{}
	}
	in.early[seq] = m
	in.earlyBytes += size
}

// ReceiveEarly takes the messages kept from before the stream opened
// (keepEarly), once it has: those of its life after its start are
// received as if they came now, the others are dropped. It returns the
// messages now deliverable. Call it after Open.
func (in *Inbox) ReceiveEarly(now time.Time) []*messages.ClusterMessage {
	if len(in.early) == 0 || !in.Opened(in.earlyGen) {
		return nil
	}
	early := in.early
	in.early, in.earlyBytes = nil, 0
	seqs := make([]uint64, 0, len(early))
	for seq := range early {
		if seq > in.delivered {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	var out []*messages.ClusterMessage
	for _, seq := range seqs {
		out = append(out, in.Receive(now, in.generation, early[seq])...)
	}
	return out
}

// Opened says whether the stream of gen is open.
func (in *Inbox) Opened(gen uint64) bool { return in.opened && gen == in.generation }

// current says whether a message of gen belongs to the open stream.
func (in *Inbox) current(gen uint64) bool {
	if gen != in.generation || !in.opened {
		in.Stats.Early++
		return false
	}
	return true
}

// Receive takes a message of the peer's generation gen and returns the
// messages now deliverable, in order (fragments joined).
func (in *Inbox) Receive(now time.Time, gen uint64, m *messages.ClusterMessage) []*messages.ClusterMessage {
	seq := m.GetMessageSequence()
	if !in.current(gen) || seq == 0 {
		in.keepEarly(gen, m)
		return nil
	}
	if seq <= in.delivered || in.pending[seq] != nil || in.lost[seq] {
		in.Stats.Duplicates++
		return nil
	}
	out := in.extend(now, seq, true)
	size := 0
	if in.cfg.MaxEarlyBytes > 0 {
		size = proto.Size(m)
		if seq > in.delivered+1 && in.pendingBytes+size > in.cfg.MaxEarlyBytes {
			// Not kept: asked for again (a MaxRexmitDelay from now if it
			// was not missing yet), as if it had been lost.
			in.Stats.Refused++
			if _, ok := in.missing[seq]; !ok {
				in.missing[seq] = ask{at: now.Add(in.cfg.MaxRexmitDelay)}
				in.nextKnown = false
			}
			return out
		}
	}
	if a, ok := in.missing[seq]; ok {
		delete(in.missing, seq)
		if !a.at.After(in.next) {
			in.nextKnown = false
		}
	}
	in.pending[seq] = m
	in.pendingBytes += size
	return append(out, in.deliver()...)
}

// unpend takes message s out of pending.
func (in *Inbox) unpend(s uint64) *messages.ClusterMessage {
	m := in.pending[s]
	if m == nil {
		return nil
	}
	delete(in.pending, s)
	if in.cfg.MaxEarlyBytes > 0 {
		in.pendingBytes -= proto.Size(m)
	}
	return m
}

// Announce records that the peer (generation gen) has sent up to last, as
// its heartbeats say, so that a lost tail is asked for. It returns the
// messages delivered because the announcement pushed older gaps out of
// the window.
func (in *Inbox) Announce(now time.Time, gen, last uint64) []*messages.ClusterMessage {
	if !in.Opened(gen) || last <= in.known {
		return nil
	}
	return in.extend(now, last, false)
}

// extend notes that every message up to last exists: those not received
// are missing, asked for after a random delay (last itself too unless
// arrived). A last beyond the window first gives up everything that falls
// out of it.
func (in *Inbox) extend(now time.Time, last uint64, arrived bool) []*messages.ClusterMessage {
	if last <= in.known {
		return nil
	}
	var out []*messages.ClusterMessage
	if w := uint64(in.cfg.MaxMissing); last-in.delivered > w {
		// The sender's history is no larger than the window: what falls
		// out of it would be NAK'd anyway.
		out = in.giveUpTo(last - w)
	}
	// Now last-known <= last-delivered <= window. Counted so that a last
	// of 2^64-1 cannot wrap the loop.
	for s := in.known; s < last; {
		s++
		if s < last || !arrived {
			at := now.Add(in.cfg.firstDelay())
			in.missing[s] = ask{at: at}
			if in.nextKnown && (len(in.missing) == 1 || at.Before(in.next)) {
				in.next = at
			}
		}
	}
	in.known = last
	return out
}

// giveUpTo stops waiting for every message up to floor (> delivered): the
// pending ones are delivered in order, the others are lost. The work is
// bounded by the maps (the window), not by floor-delivered.
func (in *Inbox) giveUpTo(floor uint64) []*messages.ClusterMessage {
	var arrived []uint64
	for s := range in.pending {
		if s <= floor {
			arrived = append(arrived, s)
		}
	}
	slices.Sort(arrived)
	counted := uint64(0) // already in lost, counted when they were given up
	for s := range in.lost {
		if s <= floor {
			delete(in.lost, s)
			counted++
		}
	}
	for s := range in.missing {
		if s <= floor {
			delete(in.missing, s)
		}
	}
	in.nextKnown = false
	in.Stats.Lost += floor - in.delivered - uint64(len(arrived)) - counted
	var out []*messages.ClusterMessage
	prev := in.delivered
	for _, s := range arrived {
		if s != prev+1 {
			in.join.gap(&in.Stats)
		}
		out = in.hand(out, in.unpend(s))
		prev = s
	}
	if prev != floor {
		in.join.gap(&in.Stats)
	}
	in.delivered, in.known = floor, max(in.known, floor)
	return append(out, in.deliver()...)
}

// Nak records that first..last are lost for good (the sender no longer has
// them) and returns the messages that this unblocks.
func (in *Inbox) Nak(gen, first, last uint64) []*messages.ClusterMessage {
	if gen != in.generation {
		return nil
	}
	// Only missing messages can be lost: the others arrived, or already
	// are. Ranging over them bounds the work by the window, whatever the
	// range says.
	for s := range in.missing {
		if s >= first && s <= last {
			delete(in.missing, s)
			in.lost[s] = true
			in.Stats.Lost++
		}
	}
	in.nextKnown = false
	return in.deliver()
}

// deliver hands out the messages that follow the delivered ones without a
// gap, skipping lost ones.
func (in *Inbox) deliver() []*messages.ClusterMessage {
	var out []*messages.ClusterMessage
	for in.delivered < in.known {
		next := in.delivered + 1
		if m := in.unpend(next); m != nil {
			out = in.hand(out, m)
		} else if in.lost[next] {
			delete(in.lost, next)
			in.join.gap(&in.Stats)
		} else {
			return out
		}
		in.delivered = next
	}
	return out
}

// hand appends m to out as it is to be delivered: a fragment is joined
// with the others of its message, which is handed out when whole.
func (in *Inbox) hand(out []*messages.ClusterMessage, m *messages.ClusterMessage) []*messages.ClusterMessage {
	if f := m.GetFragment(); f != nil {
		m = in.join.add(m.MessageSequence, f, &in.Stats)
	} else {
		in.join.gap(&in.Stats) // the sender never puts a message amid fragments
	}
	if m == nil {
		return out
	}
	in.Stats.Delivered++
	return append(out, m)
}

// ask is when a missing message is asked for next, and how many times it
// was asked for already.
type ask struct {
	at    time.Time
	times int
}

// maxBackoff bounds the doubling of the pause between two requests for
// the same message: MaxRexmitDelay, twice that, ... at most 8 times it.
const maxBackoff = 3

// LongestAskPause is the longest a node waits between two requests for
// the same missing message with the given MaxRexmitDelay (0: the
// default): a request older than this has a newer one behind it, or its
// asker no longer misses what it asked for.
func LongestAskPause(maxRexmitDelay time.Duration) time.Duration {
	return Config{MaxRexmitDelay: maxRexmitDelay}.withDefaults().backoff(maxBackoff + 1)
}

// backoff is the pause after the n-th request for a message.
func (c Config) backoff(n int) time.Duration {
	return c.MaxRexmitDelay << min(max(n-1, 0), maxBackoff)
}

// Due returns the ranges of missing messages to ask for at now, and
// schedules the next requests for them: MaxRexmitDelay later, doubling
// with each request that went unanswered, up to 8 times that. A sender
// that cannot answer (a storm of requests, a peer too busy to resend)
// is asked less and less often instead of being buried.
func (in *Inbox) Due(now time.Time) []Range {
	var due []uint64
	for s, a := range in.missing {
		if !a.at.After(now) {
			due = append(due, s)
			a.times++
			in.missing[s] = ask{at: now.Add(in.cfg.backoff(a.times)), times: a.times}
		}
	}
	in.nextKnown = false
	if len(due) == 0 {
		return nil
	}
	slices.Sort(due)
	var out []Range
	for _, s := range due {
		if n := len(out); n > 0 && out[n-1].Last+1 == s {
			out[n-1].Last = s
		} else {
			out = append(out, Range{First: s, Last: s})
		}
	}
	in.Stats.Requests += uint64(len(out))
	return out
}

// NextDue is when the next request falls due; zero when nothing is missing.
func (in *Inbox) NextDue() time.Time {
	if in.nextKnown {
		return in.next
	}
	var next time.Time
	for _, a := range in.missing {
		if next.IsZero() || a.at.Before(next) {
			next = a.at
		}
	}
	in.next, in.nextKnown = next, true
	return next
}

// Overheard takes another node's request, heard on the way, for the
// peer's messages first..last of generation gen: the peer resends them to
// everybody, so this node's own requests for them wait a MaxRexmitDelay
// more. Of the nodes that miss the same messages (a frame lost on a
// shared medium, an overloaded sender), the first to ask asks for all:
// the requests of a loss do not grow with the cluster. The work is
// bounded by the window, whatever the range says.
func (in *Inbox) Overheard(now time.Time, gen, first, last uint64) {
	if !in.Opened(gen) {
		return
	}
	later := now.Add(in.cfg.MaxRexmitDelay)
	defer1 := func(s uint64, a ask) {
		if s >= first && s <= last && a.at.Before(later) {
			in.missing[s] = ask{at: later, times: a.times}
			// Deferring moves a request later: the earliest changes only
			// if this one was it. Keeping it known spares NextDue a walk
			// of everything missing after each range heard.
			if in.nextKnown && !a.at.After(in.next) {
				in.nextKnown = false
			}
		}
	}
	// Whichever is smaller, the range or what is missing: every node
	// hears every request, so this runs for each range of each request
	// frame of the cluster.
	if last >= first && last-first < uint64(len(in.missing)) {
		for s := first; ; s++ {
			if a, ok := in.missing[s]; ok {
				defer1(s, a)
			}
			if s == last {
				break
			}
		}
		return
	}
	for s, a := range in.missing {
		defer1(s, a)
	}
}

// Generation is the peer generation this stream belongs to.
func (in *Inbox) Generation() uint64 { return in.generation }

// Delivered is the sequence up to which everything was delivered or lost.
func (in *Inbox) Delivered() uint64 { return in.delivered }

// Missing is how many messages are being asked for.
func (in *Inbox) Missing() int { return len(in.missing) }

// Pending is how many messages arrived early and wait for a gap.
func (in *Inbox) Pending() int { return len(in.pending) }
