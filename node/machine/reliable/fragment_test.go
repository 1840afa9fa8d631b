package reliable

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/transports"
	"github.com/hanode/hanode/transports/frame"
)

// small is a configuration whose frames carry 300-byte stream messages, so
// that a few hundred bytes make a fragmented message.
func small(seed uint64) Config {
	return Config{MaxMessage: 300, Rand: rand.New(rand.NewPCG(seed, seed))}
}

// note returns a note of n bytes, recognisable by id.
func note(id, n int) *messages.ClusterMessage {
	text := fmt.Sprintf("note %d:", id)
	return msg(text + strings.Repeat("x", max(0, n-len(text))))
}

func sendAll(t *testing.T, o *Outbox, now time.Time, m *messages.ClusterMessage) []*messages.ClusterMessage {
	t.Helper()
	out, err := o.Send(now, m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLargeMessageIsSentInFragmentsThatFit(t *testing.T) {
	o := NewOutbox(small(1))
	m := note(1, 1000)
	out := sendAll(t, o, t0, m)
	if len(out) < 4 || o.Last() != uint64(len(out)) || o.Stats.Sent != 1 || o.Stats.Fragments != uint64(len(out)) {
		t.Fatalf("%d fragments, last %d, stats %+v", len(out), o.Last(), o.Stats)
	}
	for i, f := range out {
		if n := proto.Size(f); n > 300 {
			t.Fatalf("fragment %d: %d bytes, more than MaxMessage", i, n)
		}
		if f.MessageSequence != uint64(i+1) || f.GetFragment().GetIndex() != uint32(i) || f.GetFragment().GetCount() != uint32(len(out)) {
			t.Fatalf("fragment %d: %v", i, f)
		}
	}
	if m.MessageSequence != 0 {
		t.Fatal("Send modified its argument")
	}
	in := open7(NewInbox(small(2)))
	var got []*messages.ClusterMessage
	for _, f := range out {
		got = append(got, in.Receive(t0, 7, f)...)
	}
	if len(got) != 1 || got[0].MessageSequence != o.Last() || got[0].GetNote().GetText() != m.GetNote().GetText() {
		t.Fatalf("delivered %v", got)
	}
	// A message that fits is not fragmented.
	if out := sendAll(t, o, t0, note(2, 100)); len(out) != 1 || out[0].GetNote() == nil {
		t.Fatalf("a small message sent as %v", out)
	}
}

// TestTooLargeIsRefusedBeforeNumbering: a message that cannot be sent whole
// is refused with ErrTooLarge and takes no sequence number, so the stream
// goes on: the next message is delivered.
func TestTooLargeIsRefusedBeforeNumbering(t *testing.T) {
	o := NewOutbox(small(1))
	sendAll(t, o, t0, note(1, 10))
	limit := o.MaxSendSize()
	if limit != MaxFragments*(300-fragmentOverhead) {
		t.Fatalf("MaxSendSize %d", limit)
	}
	out, err := o.Send(t0, note(2, limit+1))
	if !errors.Is(err, ErrTooLarge) || out != nil || o.Last() != 1 || o.Stats.Sent != 1 {
		t.Fatalf("sent %d, err %v, last %d", len(out), err, o.Last())
	}
	if !strings.Contains(err.Error(), "note") || !strings.Contains(err.Error(), fmt.Sprint(limit)) {
		t.Fatalf("unclear error: %v", err)
	}
	// The largest message that fits is sent whole; the next one too.
	m := note(3, limit-10)
	for proto.Size(m) < limit {
		m.GetNote().Text += "y"
	}
	var got []*messages.ClusterMessage
	for o.Last() < 20 {
		sendAll(t, o, t0, note(1, 10))
	}
	in2 := NewInbox(small(2))
	in2.Open(7, 20)
	for _, f := range append(sendAll(t, o, t0, m), sendAll(t, o, t0, note(4, 10))...) {
		got = append(got, in2.Receive(t0, 7, f)...)
	}
	if len(got) != 2 || got[0].GetNote().GetText() != m.GetNote().GetText() || got[1].GetNote().GetText() != note(4, 10).GetNote().GetText() ||
		got[0].MessageSequence != 20+MaxFragments || got[1].MessageSequence != 21+MaxFragments {
		t.Fatalf("delivered %d: %v", len(got), seqs(got))
	}
	// History bounds the fragments too: a message must fit in it whole.
	o3 := NewOutbox(Config{MaxMessage: 300, History: 10})
	if _, err := o3.Send(t0, note(5, 11*300)); !errors.Is(err, ErrTooLarge) || o3.Last() != 0 {
		t.Fatalf("a message larger than the history: %v, last %d", err, o3.Last())
	}
}

// TestFragmentsUnderLossAndReordering: large and small messages, every
// stream message lost with 30% probability and the survivors delivered in
// a shuffled order, heartbeats, requests, retransmissions: every message
// arrives whole, once and in order.
func TestFragmentsUnderLossAndReordering(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		lose := func() bool { return rng.Float64() < 0.30 }
		o, in := NewOutbox(small(seed)), open7(NewInbox(small(seed+100)))
		var want []string
		var got []*messages.ClusterMessage
		var flight []*messages.ClusterMessage // sent, not yet arrived
		now := t0
		const total = 60
		for step := 0; step < 5000 && len(got) < total; step++ {
			now = now.Add(10 * time.Millisecond)
			if step%3 == 0 && len(want) < total {
				m := note(len(want), rng.IntN(2000))
				want = append(want, m.GetNote().GetText())
				flight = append(flight, sendAll(t, o, now, m)...)
			}
			// Deliver what is in flight in a random order, losing some.
			rng.Shuffle(len(flight), func(i, j int) { flight[i], flight[j] = flight[j], flight[i] })
			for _, m := range flight {
				if !lose() {
					got = append(got, in.Receive(now, 7, m)...)
				}
			}
			flight = flight[:0]
			if step%10 == 0 && !lose() {
				got = append(got, in.Announce(now, 7, o.Last())...)
			}
			for _, r := range in.Due(now) {
				re, nak := o.Retransmit(now, r.First, r.Last)
				if nak != nil {
					t.Fatalf("seed %d: NAK %v: nothing fell out of the history", seed, nak)
				}
				flight = append(flight, re...)
			}
		}
		if len(got) != total {
			t.Fatalf("seed %d: %d of %d delivered (stats %+v)", seed, len(got), total, in.Stats)
		}
		for i, m := range got {
			if m.GetNote().GetText() != want[i] {
				t.Fatalf("seed %d: message %d is %.20q, want %.20q", seed, i, m.GetNote().GetText(), want[i])
			}
			if i > 0 && m.MessageSequence <= got[i-1].MessageSequence {
				t.Fatalf("seed %d: sequence %d after %d", seed, m.MessageSequence, got[i-1].MessageSequence)
			}
		}
		if in.Stats.Incomplete != 0 || in.Stats.Stray != 0 || in.Stats.Lost != 0 {
			t.Fatalf("seed %d: stats %+v", seed, in.Stats)
		}
	}
}

// TestLostFragmentLosesTheWholeMessage: a fragment the sender no longer
// has (NAK) makes its message lost: nothing of it is delivered, it is
// counted, and the next message is delivered.
func TestLostFragmentLosesTheWholeMessage(t *testing.T) {
	o, in := NewOutbox(small(1)), open7(NewInbox(small(2)))
	big := sendAll(t, o, t0, note(1, 1200))
	after := sendAll(t, o, t0, note(2, 10))
	if len(big) < 4 {
		t.Fatalf("%d fragments", len(big))
	}
	var got []*messages.ClusterMessage
	for i, f := range append(big, after...) {
		if i != 1 { // the second fragment is lost
			got = append(got, in.Receive(t0, 7, f)...)
		}
	}
	if len(got) != 0 {
		t.Fatalf("delivered past a gap: %v", seqs(got))
	}
	got = in.Nak(7, 2, 2)
	if len(got) != 1 || got[0].GetNote().GetText() != after[0].GetNote().GetText() {
		t.Fatalf("after the NAK delivered %v", got)
	}
	if in.Stats.Incomplete != 1 || in.Stats.Stray != uint64(len(big)-2) || in.Stats.Lost != 1 || in.Stats.Delivered != 1 {
		t.Fatalf("stats %+v", in.Stats)
	}
}

// frag builds stream message seq carrying a fragment.
func frag(seq uint64, index, count uint32, data string) *messages.ClusterMessage {
	return &messages.ClusterMessage{MessageSequence: seq, Payload: &messages.ClusterMessage_Fragment{
		Fragment: &messages.Fragment{Index: index, Count: count, Data: []byte(data)},
	}}
}

// TestHostileFragmentsAreDropped: fragments a faulty or hostile peer
// makes up deliver nothing, hold a bounded amount of memory, and leave the
// stream working: a good message after them is delivered.
func TestHostileFragmentsAreDropped(t *testing.T) {
	whole, _ := proto.Marshal(note(0, 10))
	nested, _ := proto.Marshal(frag(0, 0, 2, "x"))
	huge := strings.Repeat("h", 60000)
	cases := []struct {
		name       string
		frags      func(seq uint64) []*messages.ClusterMessage
		incomplete uint64
		delivered  int // messages among frags
	}{
		{"index beyond count", func(s uint64) []*messages.ClusterMessage {
			return []*messages.ClusterMessage{frag(s, 0, 2, "a"), frag(s+1, 2, 2, "b")}
		}, 1, 0},
		{"count of one", func(s uint64) []*messages.ClusterMessage {
			return []*messages.ClusterMessage{frag(s, 0, 1, string(whole))}
		}, 0, 0},
		{"count beyond MaxFragments", func(s uint64) []*messages.ClusterMessage {
			return []*messages.ClusterMessage{frag(s, 0, MaxFragments+1, "a")}
		}, 0, 0},
		{"count changes", func(s uint64) []*messages.ClusterMessage {
			return []*messages.ClusterMessage{frag(s, 0, 3, "a"), frag(s+1, 1, 2, "b")}
		}, 1, 0},
		{"index skipped", func(s uint64) []*messages.ClusterMessage {
			return []*messages.ClusterMessage{frag(s, 0, 3, "a"), frag(s+1, 2, 3, "b")}
		}, 1, 0},
		{"index repeated", func(s uint64) []*messages.ClusterMessage {
			return []*messages.ClusterMessage{frag(s, 0, 3, "a"), frag(s+1, 0, 3, "b"), frag(s+2, 0, 3, "c")}
		}, 3, 0},
		{"no start", func(s uint64) []*messages.ClusterMessage {
			return []*messages.ClusterMessage{frag(s, 1, 2, "a")}
		}, 0, 0},
		{"empty data", func(s uint64) []*messages.ClusterMessage {
			return []*messages.ClusterMessage{frag(s, 0, 2, ""), frag(s+1, 1, 2, "a")}
		}, 0, 0},
		{"message amid fragments", func(s uint64) []*messages.ClusterMessage {
			m := note(9, 10)
			m.MessageSequence = s + 1
			return []*messages.ClusterMessage{frag(s, 0, 2, "a"), m, frag(s+2, 1, 2, "b")}
		}, 1, 1},
		{"undecodable", func(s uint64) []*messages.ClusterMessage {
			return []*messages.ClusterMessage{frag(s, 0, 2, "\xff\xff"), frag(s+1, 1, 2, "\xff")}
		}, 1, 0},
		{"fragment in fragments", func(s uint64) []*messages.ClusterMessage {
			return []*messages.ClusterMessage{frag(s, 0, 2, string(nested[:1])), frag(s+1, 1, 2, string(nested[1:]))}
		}, 1, 0},
		{"never completes", func(s uint64) []*messages.ClusterMessage {
			var out []*messages.ClusterMessage
			for i := range MaxFragments - 1 {
				out = append(out, frag(s+uint64(i), uint32(i), MaxFragments, "abc"))
			}
			return out
		}, 1, 0},
		{"larger than MaxMessageSize", func(s uint64) []*messages.ClusterMessage {
			var out []*messages.ClusterMessage
			for i := range MaxFragments {
				out = append(out, frag(s+uint64(i), uint32(i), MaxFragments, huge))
			}
			return out
		}, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := open7(NewInbox(Config{Rand: rand.New(rand.NewPCG(1, 1))}))
			fs := c.frags(1)
			delivered := 0
			for _, f := range fs {
				for _, m := range in.Receive(t0, 7, f) {
					if m.GetFragment() != nil || m.GetNote() == nil {
						t.Fatalf("delivered %v", m)
					}
					delivered++
				}
				if len(in.join.data) > MaxMessageSize {
					t.Fatalf("joining %d bytes", len(in.join.data))
				}
			}
			good := note(1, 10)
			good.MessageSequence = uint64(len(fs) + 1)
			got := in.Receive(t0, 7, good)
			if len(got) != 1 || got[0] != good || delivered != c.delivered {
				t.Fatalf("the next message: delivered %v, before it %d", got, delivered)
			}
			if in.Stats.Incomplete != c.incomplete || in.Stats.Delivered != uint64(c.delivered+1) || in.join.count != 0 || in.join.data != nil {
				t.Fatalf("stats %+v, joining %d", in.Stats, in.join.count)
			}
		})
	}
}

// TestMaxMessageFitsAFrame: a stream message of MaxMessage bytes, sealed
// by the real frame code with the longest names and the largest numbers,
// fits the frame it was computed for; the constants match the transports.
func TestMaxMessageFitsAFrame(t *testing.T) {
	if SerialFrame != transports.MaxSerialPayload || UDPFrame != frame.MaxSize {
		t.Fatalf("SerialFrame %d, UDPFrame %d", SerialFrame, UDPFrame)
	}
	long := strings.Repeat("n", MaxNameLength)
	kr, err := frame.NewKeyring(&messages.Auth{ActiveKey: proto.Uint32(4294967295), Keys: []*messages.AuthKey{
		{Id: 4294967295, Method: messages.AuthMethod_AUTH_METHOD_SHA256, Secret: "s"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		capacity        int
		cluster, sender string
	}{
		{SerialFrame, long, long}, {SerialFrame, "c", "n1"}, {UDPFrame, long, long}, {UDPFrame, "test", "n1"},
	} {
		limit := MessageCapacity(c.capacity, c.cluster, c.sender)
		o := NewOutbox(Config{MaxMessage: limit})
		m := note(1, 0)
		for proto.Size(m)+2 < limit { // 2: sequence number 1
			m.GetNote().Text += "x"
		}
		big := note(2, 3*limit)
		for _, sent := range [][]*messages.ClusterMessage{sendAll(t, o, t0, m), sendAll(t, o, t0, big)} {
			for _, s := range sent {
				env := &messages.Envelope{Cluster: c.cluster, Sender: c.sender, Generation: 1<<64 - 1, Sequence: 1<<64 - 1,
					SendTimeUnixNano: -1, Body: &messages.Envelope_Message{Message: s}}
				data, err := kr.Seal(env)
				if err != nil {
					t.Fatal(err)
				}
				// Full frames waste little: the MAC reserve and the varints'
				// spare bytes.
				full := s.GetFragment() == nil || s.GetFragment().Index+1 < s.GetFragment().Count
				if len(data) > c.capacity-EnvelopeReserve || full && len(data) < c.capacity-EnvelopeReserve-64 {
					t.Fatalf("capacity %d, names of %d bytes: a frame of %d bytes (message %d, limit %d)",
						c.capacity, len(c.cluster), len(data), proto.Size(s), limit)
				}
			}
		}
	}
	if DefaultMaxMessage != MessageCapacity(SerialFrame, long, long) || DefaultMaxMessage < 1200 {
		t.Fatalf("DefaultMaxMessage %d", DefaultMaxMessage)
	}
}
