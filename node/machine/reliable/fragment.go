package reliable

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

// Fragments. A message too large for one frame is serialized (without its
// sequence number) and cut into pieces of equal size, the last shorter;
// each piece travels as a ClusterMessage of its own carrying a Fragment
// {index, count, data}, numbered consecutively in the stream. So a lost
// fragment is asked for, retransmitted and NAK'd like any message, and the
// receiver needs no message id: delivery in order hands it fragment 0,
// 1, ... count-1 at consecutive sequence numbers, or it learns of the gap.
// One that is lost for good (NAK'd, fallen out of the window) makes the
// whole message lost: the receiver drops what it joined and counts it
// (InboxStats.Incomplete), then drops the fragments that follow (Stray)
// until the next message starts.
//
// A fragmented message takes count places in the sender's History (500):
// MaxFragments keeps one message well inside it, so that a receiver that
// missed all of it can still get it whole. A burst of large messages can
// still push older ones out of the history sooner than small ones would:
// a receiver that lags behind by more than the history gets a NAK and
// counts them lost, as for any message.

// ErrTooLarge refuses a message that cannot be sent whole.
var ErrTooLarge = errors.New("too large for the reliable layer")

// fragmentOverhead bounds what a fragment adds to its data once encoded:
// the sequence number (tag and 10-byte varint), the payload's tag and
// length (3-byte varint: frames are below 2 MiB), and the Fragment's
// index, count (tag and 5-byte varint each) and data's tag and length.
const fragmentOverhead = 11 + 1 + 3 + 6 + 6 + 1 + 3

// chunkSize is how many bytes of the message each fragment carries.
func (c Config) chunkSize() int { return c.MaxMessage - fragmentOverhead }

// maxFragments is the most fragments Send cuts a message into: a message
// must fit in the sender's history to be retransmitted whole.
func (c Config) maxFragments() int { return min(MaxFragments, c.History) }

// maxSendSize is the largest encoded message (without its sequence number)
// that can be sent whole.
func (c Config) maxSendSize() int {
	return max(0, min(MaxMessageSize, c.maxFragments()*c.chunkSize()))
}

// split cuts m (numbered first) into fragments numbered from first on, or
// refuses it.
func split(m *messages.ClusterMessage, first uint64, cfg Config) ([]*messages.ClusterMessage, error) {
	if m.GetFragment() != nil {
		return nil, errors.New("a fragment is not fragmented again")
	}
	whole := proto.Clone(m).(*messages.ClusterMessage)
	whole.MessageSequence = 0
	data, err := proto.Marshal(whole)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	chunk := cfg.chunkSize()
	if len(data) > cfg.maxSendSize() || chunk <= 0 {
		return nil, fmt.Errorf("%w: at most %d bytes (%d fragments of %d bytes, the largest cluster message one frame of the smallest link carries)",
			ErrTooLarge, cfg.maxSendSize(), cfg.maxFragments(), cfg.MaxMessage)
	}
	count := (len(data) + chunk - 1) / chunk
	out := make([]*messages.ClusterMessage, 0, count)
	for i := range count {
		piece := data[i*chunk : min(len(data), (i+1)*chunk)]
		f := &messages.ClusterMessage{MessageSequence: first + uint64(i), Payload: &messages.ClusterMessage_Fragment{
			Fragment: &messages.Fragment{Index: uint32(i), Count: uint32(count), Data: piece},
		}}
		// Never number what cannot be sealed: fragmentOverhead is a bound,
		// this checks it.
		if n := proto.Size(f); n > cfg.MaxMessage {
			return nil, fmt.Errorf("fragment %d of %d: %d bytes, more than %d", i, count, n, cfg.MaxMessage)
		}
		out = append(out, f)
	}
	return out, nil
}

// joiner joins the fragments of one peer's messages as the inbox delivers
// them, in order. It trusts nothing in them: a fragment that does not
// continue the message being joined (index, count or sequence number) ends
// it, and what it holds never exceeds MaxMessageSize.
type joiner struct {
	count uint32 // fragments of the message being joined; 0: none
	next  uint32 // index of the fragment expected next
	seq   uint64 // sequence number of the last fragment taken
	data  []byte
}

// add takes fragment f, delivered at sequence seq, and returns the whole
// message when f completes it.
func (j *joiner) add(seq uint64, f *messages.Fragment, st *InboxStats) *messages.ClusterMessage {
	n, i := f.GetCount(), f.GetIndex()
	switch {
	case n < 2 || n > MaxFragments || i >= n || len(f.GetData()) == 0:
		j.gap(st)
		st.Stray++
		return nil
	case i == 0:
		j.gap(st) // a message starts: an unfinished one never will finish
		j.count, j.next = n, 0
	case j.count == 0 || n != j.count || i != j.next || seq != j.seq+1:
		j.gap(st)
		st.Stray++
		return nil
	}
	if len(j.data)+len(f.Data) > MaxMessageSize {
		j.gap(st)
		return nil
	}
	j.data = append(j.data, f.Data...)
	j.next, j.seq = j.next+1, seq
	if j.next < j.count {
		return nil
	}
	data := j.data
	*j = joiner{}
	m := &messages.ClusterMessage{}
	if err := proto.Unmarshal(data, m); err != nil || m.GetFragment() != nil {
		st.Incomplete++
		return nil
	}
	m.MessageSequence = seq
	return m
}

// gap ends the message being joined, if any: one of its fragments will
// never come.
func (j *joiner) gap(st *InboxStats) {
	if j.count != 0 {
		st.Incomplete++
	}
	*j = joiner{}
}

// payloadName names a message's payload for errors: "note", "group
// states", ...
func payloadName(m *messages.ClusterMessage) string {
	if m.GetPayload() == nil {
		return "empty"
	}
	name := string(m.ProtoReflect().WhichOneof(m.ProtoReflect().Descriptor().Oneofs().ByName("payload")).Name())
	return strings.ReplaceAll(name, "_", " ")
}
