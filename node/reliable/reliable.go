// Package reliable delivers cluster messages once and in order over lossy
// links: a pure state machine (no I/O, no clock of its own) in the manner of
// Heartbeat's retransmission protocol (HEARTBEAT.md 1.13).
//
// The sender numbers its messages (per generation) and keeps the last
// History of them in an Outbox. A receiver keeps one Inbox per peer: it
// buffers messages that arrive early, delivers in order, and asks for the
// missing ones (NACK, pull): the first request after a random delay in
// [50ms, MaxRexmitDelay] that absorbs reordering, then every
// MaxRexmitDelay until they arrive. Heartbeats carry the sender's last
// message number, so a lost tail is noticed too. A sender asked for a
// message that fell out of its history answers with a NAK: the receiver
// counts it lost and delivers what follows.
package reliable

import (
	"math/rand/v2"
	"sort"
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
	// request and is the period of the following ones (max_rexmit_delay,
	// 250ms).
	MaxRexmitDelay time.Duration
	// MaxMissing bounds how many missing messages a receiver tracks per
	// peer; beyond it the oldest are given up (Heartbeat's MAXMISSING, 500).
	MaxMissing int
	// MaxBatch bounds the messages resent for one request (50).
	MaxBatch int
	// Rand draws the random delays; nil uses a fresh generator.
	Rand *rand.Rand
}

func (c Config) withDefaults() Config {
	if c.History <= 0 {
		c.History = 500
	}
	if c.MaxRexmitDelay <= 0 {
		c.MaxRexmitDelay = 250 * time.Millisecond
	}
	if c.MaxMissing <= 0 {
		c.MaxMissing = 500
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 50
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return c
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
	Stats   OutboxStats
}

type sent struct {
	msg    *messages.ClusterMessage
	sentAt time.Time
}

// OutboxStats counts what the sender did.
type OutboxStats struct {
	Sent          uint64
	Retransmitted uint64
	Naks          uint64
}

// NewOutbox returns an empty stream (a new generation starts at 1).
func NewOutbox(cfg Config) *Outbox { return &Outbox{cfg: cfg.withDefaults()} }

// Last is the sequence number of the last message sent, 0 before any.
func (o *Outbox) Last() uint64 { return o.last }

// Send numbers msg and keeps it for retransmission. It returns the message
// to transmit (a copy; msg is not modified).
func (o *Outbox) Send(now time.Time, msg *messages.ClusterMessage) *messages.ClusterMessage {
	m := proto.Clone(msg).(*messages.ClusterMessage)
	o.last++
	m.MessageSequence = o.last
	o.history = append(o.history, sent{msg: m, sentAt: now})
	if len(o.history) > o.cfg.History {
		o.history = o.history[len(o.history)-o.cfg.History:]
	}
	o.Stats.Sent++
	return m
}

// Range is an inclusive range of sequence numbers.
type Range struct{ First, Last uint64 }

// Retransmit answers a request for first..last: the messages to send again
// (those not already resent within the last MaxRexmitDelay, at most
// MaxBatch), and the range that fell out of the history, if any, to NAK.
// Requests beyond the last message sent are ignored.
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
	for seq := first; seq <= last && len(resend) < o.cfg.MaxBatch; seq++ {
		h := &o.history[seq-oldest]
		if now.Sub(h.sentAt) < quiet {
			continue
		}
		h.sentAt = now
		resend = append(resend, h.msg)
		o.Stats.Retransmitted++
	}
	return resend, nak
}

// Inbox is one peer's stream as this node receives it.
type Inbox struct {
	cfg        Config
	generation uint64
	// opened: the stream of generation has a known start; until then
	// nothing is delivered or asked for.
	opened    bool
	delivered uint64 // every message up to this one is delivered or lost
	known     uint64 // highest sequence known to exist
	pending   map[uint64]*messages.ClusterMessage
	missing   map[uint64]time.Time // sequence -> when to ask for it next
	lost      map[uint64]bool      // given up, skipped by delivery
	Stats     InboxStats
}

// InboxStats counts what happened to a peer's stream.
type InboxStats struct {
	Delivered  uint64
	Duplicates uint64
	Lost       uint64
	Requests   uint64
	// Early counts messages of a stream not opened yet (dropped; asked
	// for again once it opens).
	Early uint64
}

// NewInbox returns the receiving side of one peer's stream.
func NewInbox(cfg Config) *Inbox {
	in := &Inbox{cfg: cfg.withDefaults()}
	in.reset(0)
	return in
}

func (in *Inbox) reset(gen uint64) {
	in.generation, in.delivered, in.known, in.opened = gen, 0, 0, false
	in.pending = map[uint64]*messages.ClusterMessage{}
	in.missing = map[uint64]time.Time{}
	in.lost = map[uint64]bool{}
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
	in.opened = true
	in.delivered, in.known = start, start
	for seq := range in.pending {
		if seq <= start {
			delete(in.pending, seq)
		}
	}
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
// messages now deliverable, in order.
func (in *Inbox) Receive(now time.Time, gen uint64, m *messages.ClusterMessage) []*messages.ClusterMessage {
	seq := m.GetMessageSequence()
	if !in.current(gen) || seq == 0 {
		return nil
	}
	if seq <= in.delivered || in.pending[seq] != nil || in.lost[seq] {
		in.Stats.Duplicates++
		return nil
	}
	in.expect(now, seq-1)
	in.known = max(in.known, seq)
	delete(in.missing, seq)
	in.pending[seq] = m
	return in.deliver()
}

// Announce records that the peer (generation gen) has sent up to last, as
// its heartbeats say, so that a lost tail is asked for.
func (in *Inbox) Announce(now time.Time, gen, last uint64) {
	if !in.Opened(gen) || last <= in.known {
		return
	}
	in.expect(now, last)
}

// expect notes that every message up to last exists: those not received
// are missing, asked for after a random delay.
func (in *Inbox) expect(now time.Time, last uint64) {
	for s := max(in.known, in.delivered) + 1; s <= last; s++ {
		if _, asked := in.missing[s]; !asked && in.pending[s] == nil && !in.lost[s] {
			in.missing[s] = now.Add(in.cfg.firstDelay())
		}
	}
	in.known = max(in.known, last)
	// Beyond MaxMissing, the oldest gaps are given up rather than tracked
	// forever (the sender's history is no larger anyway).
	if len(in.missing) > in.cfg.MaxMissing {
		seqs := in.missingSorted()
		for _, s := range seqs[:len(seqs)-in.cfg.MaxMissing] {
			delete(in.missing, s)
			in.lost[s] = true
			in.Stats.Lost++
		}
	}
}

// Nak records that first..last are lost for good (the sender no longer has
// them) and returns the messages that this unblocks.
func (in *Inbox) Nak(gen, first, last uint64) []*messages.ClusterMessage {
	if gen != in.generation {
		return nil
	}
	for s := max(first, in.delivered+1); s <= last && s <= in.known; s++ {
		if in.pending[s] == nil && !in.lost[s] {
			delete(in.missing, s)
			in.lost[s] = true
			in.Stats.Lost++
		}
	}
	return in.deliver()
}

// deliver hands out the messages that follow the delivered ones without a
// gap, skipping lost ones.
func (in *Inbox) deliver() []*messages.ClusterMessage {
	var out []*messages.ClusterMessage
	for {
		next := in.delivered + 1
		if m := in.pending[next]; m != nil {
			delete(in.pending, next)
			out = append(out, m)
			in.Stats.Delivered++
		} else if in.lost[next] {
			delete(in.lost, next)
		} else {
			return out
		}
		in.delivered = next
	}
}

// Due returns the ranges of missing messages to ask for at now, and
// schedules the next requests for them MaxRexmitDelay later.
func (in *Inbox) Due(now time.Time) []Range {
	var due []uint64
	for s, at := range in.missing {
		if !at.After(now) {
			due = append(due, s)
			in.missing[s] = now.Add(in.cfg.MaxRexmitDelay)
		}
	}
	if len(due) == 0 {
		return nil
	}
	sort.Slice(due, func(i, j int) bool { return due[i] < due[j] })
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
	var next time.Time
	for _, at := range in.missing {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

// Generation is the peer generation this stream belongs to.
func (in *Inbox) Generation() uint64 { return in.generation }

// Delivered is the sequence up to which everything was delivered or lost.
func (in *Inbox) Delivered() uint64 { return in.delivered }

// Missing is how many messages are being asked for.
func (in *Inbox) Missing() int { return len(in.missing) }

func (in *Inbox) missingSorted() []uint64 {
	s := make([]uint64, 0, len(in.missing))
	for k := range in.missing {
		s = append(s, k)
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}
