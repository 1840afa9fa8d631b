package reliable

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

// ops reads fuzz bytes as operations; past the end it reads zeros.
type ops struct{ b []byte }

func (o *ops) more() bool { return len(o.b) > 0 }

func (o *ops) byte() byte {
	if len(o.b) == 0 {
		return 0
	}
	c := o.b[0]
	o.b = o.b[1:]
	return c
}

func (o *ops) u64() uint64 {
	var buf [8]byte
	n := copy(buf[:], o.b)
	o.b = o.b[n:]
	return binary.BigEndian.Uint64(buf[:])
}

// number is a sequence number near base (most of the time) or anything.
func (o *ops) number(base uint64) uint64 {
	switch c := o.byte(); c % 4 {
	case 0:
		return o.u64()
	case 1:
		return base - uint64(c/4)
	default:
		return base + uint64(c)
	}
}

// FuzzInbox drives a peer's inbox with what a faulty or hostile peer may
// send: messages and fragments with any numbers and generations,
// announcements, NAKs of any range, time passing, streams reopened. It
// never panics, tracks no more than its window, holds at most
// MaxMessageSize of a message being joined and at most MaxEarlyBytes of
// messages that came early, and delivers in strictly
// increasing order, never the same message twice.
func FuzzInbox(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{1, 0x80, 0, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 5, 200})
	f.Add([]byte{2, 5, 7, 9, 0, 2, 7, 9, 1, 2, 7, 9, 2, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte(strings.Repeat("\x07\x06\x00\x03\x61", 40)))
	f.Add([]byte(strings.Repeat("\x00\x09\x05\x40\x02\x0a", 60)))
	f.Fuzz(fuzzInbox)
}

func fuzzInbox(t *testing.T, data []byte) {
	{
		in := ops{data}
		window := 4 + int(in.byte()%60)
		earlyBytes := []int{0, 0, 300, 5000}[window%4]
		box := NewInbox(Config{MaxMissing: window, MaxEarlyBytes: earlyBytes, Rand: rand.New(rand.NewPCG(1, 2))})
		box.Open(7, uint64(in.byte()%8))
		now := t0
		gen := uint64(7)
		lastSeq := map[uint64]uint64{} // generation -> last delivered
		seen := map[*messages.ClusterMessage]bool{}
		var delivered uint64
		take := func(out []*messages.ClusterMessage) {
			for _, m := range out {
				if seen[m] {
					t.Fatalf("message %d delivered twice", m.MessageSequence)
				}
				seen[m] = true
				g := box.Generation()
				if m.MessageSequence <= lastSeq[g] || m.MessageSequence > box.Delivered() {
					t.Fatalf("message %d delivered after %d (delivered up to %d)", m.MessageSequence, lastSeq[g], box.Delivered())
				}
				if m.GetFragment() != nil {
					t.Fatal("a fragment delivered")
				}
				lastSeq[g] = m.MessageSequence
				delivered++
			}
		}
		for step := 0; step < 1500 && in.more(); step++ {
			switch in.byte() % 10 {
			case 0, 1: // a message
				m := msg("m")
				m.MessageSequence = in.number(box.Delivered() + 1)
				take(box.Receive(now, gen, m))
			case 2: // a fragment
				seq := in.number(box.Delivered() + 1)
				count := uint32(in.byte() % 6)
				if count == 5 {
					count = MaxFragments
				}
				index := uint32(in.byte())
				if index%2 == 0 {
					index = box.join.next // continues the message
				} else {
					index %= 7
				}
				size := int(in.byte())
				if size == 255 {
					size = 30000 // large pieces test the MaxMessageSize bound
				}
				take(box.Receive(now, gen, frag(seq, index, count, strings.Repeat("\x0a", size))))
			case 3:
				take(box.Announce(now, gen, in.number(box.Delivered()+uint64(window))))
			case 4:
				first := in.number(box.Delivered())
				take(box.Nak(gen, first, in.number(first)))
			case 5:
				now = now.Add(time.Duration(in.byte()) * 5 * time.Millisecond)
				for _, r := range box.Due(now) {
					if r.First > r.Last || r.First <= box.Delivered() {
						t.Fatalf("asked for %v, delivered up to %d", r, box.Delivered())
					}
				}
				if next := box.NextDue(); !next.IsZero() && !next.After(now) {
					t.Fatalf("a request due at %v was not asked for at %v", next, now)
				}
			case 6: // the peer restarts, or a stale generation speaks
				g := 6 + uint64(in.byte()%4)
				box.Open(g, uint64(in.byte()))
				if box.Generation() != gen {
					gen = box.Generation()
				}
				take(box.ReceiveEarly(now))
			case 7: // another generation's message
				m := msg("other")
				m.MessageSequence = in.number(1)
				take(box.Receive(now, 6+uint64(in.byte()%4), m))
			case 9: // another node's request, heard on the way
				first := in.number(box.Delivered())
				box.Overheard(now, gen, first, in.number(first))
				if next := box.NextDue(); !next.IsZero() && next.After(now.Add(8*250*time.Millisecond+time.Second)) {
					t.Fatalf("a request put off to %v at %v", next, now)
				}
			case 8: // a fragmented message, sent in order
				o := NewOutbox(Config{MaxMessage: 64 + int(in.byte()), Rand: rand.New(rand.NewPCG(3, 4))})
				o.last = box.known
				out, err := o.Send(now, note(int(in.byte()), int(in.byte())*20))
				if err != nil && !errors.Is(err, ErrTooLarge) {
					t.Fatal(err)
				}
				for _, m := range out {
					take(box.Receive(now, gen, m))
				}
			}
			checkWindow(t, box)
			var earliest time.Time
			for _, a := range box.missing {
				if earliest.IsZero() || a.at.Before(earliest) {
					earliest = a.at
				}
			}
			if next := box.NextDue(); !next.Equal(earliest) {
				t.Fatalf("NextDue %v, the earliest request %v", next, earliest)
			}
			early := 0
			for _, m := range box.pending {
				early += proto.Size(m)
			}
			if earlyBytes > 0 && (box.pendingBytes != early || early > earlyBytes) {
				t.Fatalf("%d bytes of %d messages wait early (counted %d), at most %d may", early, len(box.pending), box.pendingBytes, earlyBytes)
			}
			kept := 0
			for _, m := range box.early {
				kept += proto.Size(m)
			}
			if len(box.early) > window || (earlyBytes > 0 && (kept != box.earlyBytes || kept > earlyBytes)) {
				t.Fatalf("%d messages of %d bytes kept from before their stream opened (counted %d), at most %d of %d bytes may be",
					len(box.early), kept, box.earlyBytes, window, earlyBytes)
			}
			if len(box.join.data) > MaxMessageSize {
				t.Fatalf("joining %d bytes", len(box.join.data))
			}
			if box.Stats.Delivered != delivered {
				t.Fatalf("stats say %d delivered, %d were", box.Stats.Delivered, delivered)
			}
		}
	}
}

// FuzzOutbox sends messages of any size and answers retransmission
// requests for any range: a message is sent whole in fragments that fit,
// or refused before it is numbered; a request is answered with at most
// MaxBatch messages of the range that the history holds, and a NAK for
// the part of the range that fell out of it. What is sent, received in
// order, is delivered whole.
func FuzzOutbox(f *testing.F) {
	f.Add([]byte{10, 0, 0, 5, 0, 200, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{200, 255, 0, 1, 9, 0, 255, 1, 4, 5, 6})
	f.Add([]byte(strings.Repeat("\x00\x33", 100)))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := ops{data}
		cfg := Config{History: 1 + int(in.byte()%64), MaxMessage: 64 + int(in.byte())*2, MaxBatch: 1 + int(in.byte()%8), Rand: rand.New(rand.NewPCG(5, 6))}
		o := NewOutbox(cfg)
		box := open7(NewInbox(Config{Rand: rand.New(rand.NewPCG(7, 8))}))
		now := t0
		var sent, got []string
		for step := 0; step < 2000 && in.more(); step++ {
			now = now.Add(time.Duration(in.byte()) * time.Millisecond)
			if in.byte()%2 == 0 {
				last := o.Last()
				m := note(len(sent), int(in.byte())*int(in.byte()))
				out, err := o.Send(now, m)
				if err != nil {
					if !errors.Is(err, ErrTooLarge) || o.Last() != last || proto.Size(m) <= o.MaxSendSize() {
						t.Fatalf("refused %d bytes (at most %d): %v, last %d -> %d", proto.Size(m), o.MaxSendSize(), err, last, o.Last())
					}
					continue
				}
				sent = append(sent, m.GetNote().GetText())
				for i, s := range out {
					if s.MessageSequence != last+1+uint64(i) || proto.Size(s) > cfg.MaxMessage {
						t.Fatalf("stream message %d of %d: sequence %d after %d, %d bytes", i, len(out), s.MessageSequence, last, proto.Size(s))
					}
					for _, w := range box.Receive(now, 7, s) {
						got = append(got, w.GetNote().GetText())
					}
				}
				continue
			}
			first := in.number(o.Last() / 2)
			last := in.number(first)
			resend, nak := o.Retransmit(now, first, last)
			if len(resend) > cfg.MaxBatch {
				t.Fatalf("resent %d, batch %d", len(resend), cfg.MaxBatch)
			}
			for _, m := range resend {
				if s := m.MessageSequence; s < max(first, 1) || s > last || s > o.Last() {
					t.Fatalf("resent %d for %d..%d (last %d)", s, first, last, o.Last())
				}
			}
			if nak != nil && (nak.First < max(first, 1) || nak.Last > min(last, o.Last()) || nak.First > nak.Last ||
				len(o.history) > 0 && nak.Last >= o.history[0].msg.MessageSequence) {
				t.Fatalf("NAK %v for %d..%d (last %d)", *nak, first, last, o.Last())
			}
		}
		if len(got) != len(sent) {
			t.Fatalf("sent %d, delivered %d", len(sent), len(got))
		}
		for i := range sent {
			if got[i] != sent[i] {
				t.Fatalf("message %d: %.20q, want %.20q", i, got[i], sent[i])
			}
		}
	})
}
