package reliable

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

// Batcher coalesces the cluster messages a node sends in a burst into one
// stream message (messages.Batch), so that a burst costs every peer one
// frame and one delivery, not one per message. In a cluster of N nodes a
// burst of N replies or N group reports would otherwise cost N*(N-1)
// receptions: what made formation of 64 nodes a storm.
//
// A message leaves at once when the last one left at least Window ago (a
// lone message is never delayed); otherwise it waits, with the others of
// the burst, until Window after the last one left (Due), and they leave
// together, in order. A batch is kept within one frame (the
// configuration's MaxMessage): a message that would overflow it sends the batch
// first, and a message too large for a frame on its own leaves alone,
// after what was held, to be fragmented. Order is never changed, so the
// receivers see the same sequence of messages as without batching, only
// later by at most Window.
//
// A pure state machine: time comes with each call.
type Batcher struct {
	window time.Duration
	limit  int
	held   []*messages.ClusterMessage
	size   int // encoded size of held as one Batch
	last   time.Time
	Stats  BatcherStats
}

// BatcherStats counts what the batcher did.
type BatcherStats struct {
	// Messages counts the messages added; Sent the stream messages that
	// carried them (a batch counts once).
	Messages, Sent uint64
}

// batchFieldOverhead bounds the bytes one message adds to a Batch beyond
// its own encoding (field tag and length), and the batch to its
// ClusterMessage (payload tag, length, sequence number).
const (
	batchFieldOverhead = 1 + 3
	batchOverhead      = 1 + 3 + 11
)

// NewBatcher returns a batcher that holds a burst for at most
// cfg.BatchWindow (0: never holds) in batches of at most cfg.MaxMessage
// bytes: one frame.
func NewBatcher(cfg Config) *Batcher {
	cfg = cfg.withDefaults()
	return &Batcher{window: cfg.BatchWindow, limit: cfg.MaxMessage}
}

// Window is how long a message may be held.
func (b *Batcher) Window() time.Duration { return b.window }

// Add takes msg (which must not be a Batch) and returns the stream
// messages to send now, in order: none while a burst is held.
func (b *Batcher) Add(now time.Time, msg *messages.ClusterMessage) []*messages.ClusterMessage {
	b.Stats.Messages++
	if len(b.held) == 0 && (b.window <= 0 || b.last.IsZero() || now.Sub(b.last) >= b.window) {
		return b.out(now, nil, msg)
	}
	var out []*messages.ClusterMessage
	size := proto.Size(msg) + batchFieldOverhead
	switch {
	case batchOverhead+size > b.limit:
		// Fragmented whatever is done: it follows what waits, now.
		return b.out(now, nil, b.take(), msg)
	case batchOverhead+b.size+size > b.limit:
		out = b.out(now, nil, b.take())
	}
	b.held = append(b.held, msg)
	b.size += size
	if !now.Before(b.Due()) {
		// Added late (the flush was not served in time): it all leaves.
		out = b.out(now, out, b.take())
	}
	return out
}

// Due is when the held burst must leave; zero when nothing is held.
func (b *Batcher) Due() time.Time {
	if len(b.held) == 0 {
		return time.Time{}
	}
	return b.last.Add(b.window)
}

// Flush returns what is held as one stream message (nil when nothing
// is): at Due, or at once before something that must follow every
// message already sent (a note, the start of a new peer's stream).
func (b *Batcher) Flush(now time.Time) *messages.ClusterMessage {
	m := b.take()
	if m == nil {
		return nil
	}
	b.out(now, nil, m)
	return m
}

// take empties the batcher: nil, the one message held, or a Batch.
func (b *Batcher) take() *messages.ClusterMessage {
	held := b.held
	b.held, b.size = nil, 0
	switch len(held) {
	case 0:
		return nil
	case 1:
		return held[0]
	}
	return &messages.ClusterMessage{Payload: &messages.ClusterMessage_Batch{Batch: &messages.Batch{Messages: held}}}
}

// out appends the messages that leave now (nil ones skipped) and notes the
// time.
func (b *Batcher) out(now time.Time, out []*messages.ClusterMessage, ms ...*messages.ClusterMessage) []*messages.ClusterMessage {
	for _, m := range ms {
		if m != nil {
			out = append(out, m)
			b.Stats.Sent++
			b.last = now
		}
	}
	return out
}

// Unbatch returns the messages msg carries: those of a Batch (nested
// batches, which no sender makes, are dropped), or msg itself. They are
// not modified (a sent batch is read by the frames that carry it): their
// position in the stream is the batch's.
func Unbatch(msg *messages.ClusterMessage) []*messages.ClusterMessage {
	batch := msg.GetBatch()
	if batch == nil {
		return []*messages.ClusterMessage{msg}
	}
	out := make([]*messages.ClusterMessage, 0, len(batch.Messages))
	for _, m := range batch.Messages {
		if m == nil || m.GetBatch() != nil {
			continue
		}
		out = append(out, m)
	}
	return out
}
