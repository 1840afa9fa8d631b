package reliable

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

// checkWindow fails when the inbox tracks more than its window.
func checkWindow(t testing.TB, in *Inbox) {
	t.Helper()
	w := uint64(in.cfg.MaxMissing)
	if in.known < in.delivered || in.known-in.delivered > w || in.Missing() > int(w) || in.Pending() > int(w) || len(in.lost) > int(w) {
		t.Fatalf("delivered %d known %d: %d missing, %d pending, %d lost; window %d",
			in.delivered, in.known, in.Missing(), in.Pending(), len(in.lost), w)
	}
}

// hostileLasts are announcements no honest peer makes.
var hostileLasts = []uint64{4_000_000, 1 << 63, math.MaxUint64}

// TestHostileAnnounceIsBoundedByTheWindow: a peer announcing that it sent
// 4,000,000 or 2^63 messages costs what an honest announcement of one
// window costs (allocations counted, not time): what falls behind the
// window is given up at once; what had arrived is delivered in order; and
// the stream goes on from there.
func TestHostileAnnounceIsBoundedByTheWindow(t *testing.T) {
	const w = 500
	honest := testing.AllocsPerRun(20, func() {
		open7(NewInbox(cfg(1))).Announce(t0, 7, w)
	})
	for _, last := range hostileLasts {
		t.Run(fmt.Sprint(last), func(t *testing.T) {
			allocs := testing.AllocsPerRun(20, func() {
				in := open7(NewInbox(cfg(1)))
				in.Announce(t0, 7, last)
			})
			// Giving up the gap adds a few allocations, not one per
			// message.
			if allocs > honest+10 {
				t.Fatalf("%.0f allocations, an honest announcement of a window %.0f", allocs, honest)
			}
			o, in := NewOutbox(cfg(1)), open7(NewInbox(cfg(2)))
			var sent []*messages.ClusterMessage
			for i := 1; i <= 4; i++ {
				sent = append(sent, send1(o, t0, msg(fmt.Sprint(i))))
			}
			// 1 is missing, 2..4 arrived.
			for _, m := range sent[1:] {
				if got := in.Receive(t0, 7, m); len(got) != 0 {
					t.Fatal("delivered past a gap")
				}
			}
			got := in.Announce(t0, 7, last)
			if fmt.Sprint(seqs(got)) != "[2 3 4]" {
				t.Fatalf("the announcement delivered %v", seqs(got))
			}
			checkWindow(t, in)
			if in.Missing() != w || in.Delivered() != last-w || in.Stats.Lost != last-w-3 {
				t.Fatalf("missing %d, delivered %d, lost %d", in.Missing(), in.Delivered(), in.Stats.Lost)
			}
			// The requests that follow name the window only.
			due := in.Due(t0.Add(secs(1)))
			if len(due) != 1 || due[0] != (Range{last - w + 1, last}) {
				t.Fatalf("asked for %v", due)
			}
			// A message of the window arrives (a peer that really sent them):
			// delivered in order once the ones before it are there or lost.
			if last > math.MaxUint64-1 {
				return
			}
			m := &messages.ClusterMessage{MessageSequence: last + 1, Payload: msg("next").Payload}
			if got := in.Receive(t0, 7, m); len(got) != 0 {
				t.Fatal("delivered past a gap")
			}
			got = in.Nak(7, 0, math.MaxUint64)
			if len(got) != 1 || got[0] != m || in.Delivered() != last+1 || in.Missing() != 0 {
				t.Fatalf("after the NAK delivered %v, up to %d", seqs(got), in.Delivered())
			}
		})
	}
}

// TestHostileSequenceNumbersAreBounded: a message numbered 2^63 or 2^64-1,
// a NAK or a retransmission request for every number: bounded work, and
// the maps stay within the window.
func TestHostileSequenceNumbersAreBounded(t *testing.T) {
	for _, seq := range hostileLasts {
		in := open7(NewInbox(cfg(1)))
		allocs := testing.AllocsPerRun(5, func() {
			in = open7(NewInbox(cfg(1)))
			in.Receive(t0, 7, &messages.ClusterMessage{MessageSequence: seq, Payload: msg("x").Payload})
		})
		if allocs > 200 {
			t.Fatalf("seq %d: %.0f allocations", seq, allocs)
		}
		checkWindow(t, in)
		if in.Pending() != 1 || in.Missing() != 499 {
			t.Fatalf("seq %d: %d pending, %d missing", seq, in.Pending(), in.Missing())
		}
		if got := in.Nak(7, 0, math.MaxUint64); len(got) != 1 || got[0].MessageSequence != seq || in.Delivered() != seq {
			t.Fatalf("seq %d: NAK of everything delivered %v", seq, seqs(got))
		}
		// Nothing wraps around after the last possible number.
		if got := in.Receive(t0, 7, &messages.ClusterMessage{MessageSequence: 1, Payload: msg("x").Payload}); len(got) != 0 {
			t.Fatalf("seq %d: an old number delivered", seq)
		}
		in.Announce(t0, 7, math.MaxUint64)
		checkWindow(t, in)
	}
	o := NewOutbox(cfg(1))
	for range 600 {
		send1(o, t0, msg("m"))
	}
	re, nak := o.Retransmit(t0.Add(secs(1)), 0, math.MaxUint64)
	if len(re) != 50 || nak == nil || *nak != (Range{1, 100}) {
		t.Fatalf("resent %d, NAK %v", len(re), nak)
	}
	if re, nak := o.Retransmit(t0.Add(secs(2)), math.MaxUint64, math.MaxUint64); re != nil || nak != nil {
		t.Fatal("answered for a number never sent")
	}
}

// BenchmarkAnnounceHostile measures one announcement of a last message
// number far beyond anything sent, on a fresh stream.
func BenchmarkAnnounceHostile(b *testing.B) {
	for _, last := range hostileLasts[:2] {
		b.Run(fmt.Sprint(last), func(b *testing.B) {
			b.ReportAllocs()
			r := rand.New(rand.NewPCG(1, 1))
			for b.Loop() {
				in := NewInbox(Config{Rand: r})
				in.Open(7, 0)
				in.Announce(t0, 7, last)
			}
		})
	}
}

func secs(n int) time.Duration { return time.Duration(n) * time.Second }

// BenchmarkAnnounceHostileFlood is a key holder announcing an ever larger
// last message in every heartbeat, as hanode-bench flood -kind announce
// does: every announcement moves the whole window.
func BenchmarkAnnounceHostileFlood(b *testing.B) {
	b.ReportAllocs()
	in := NewInbox(Config{Rand: rand.New(rand.NewPCG(1, 1))})
	in.Open(7, 0)
	last := uint64(1 << 62)
	for b.Loop() {
		last += 1_000_000
		in.Announce(t0, 7, last)
	}
}

// BenchmarkOverheardThenNextDue is what a node of a large cluster does for
// each range of each request frame it hears while it misses 400 messages
// of that peer: defer its own requests in the range, then find its next
// request time (the messenger re-arms after every frame).
func BenchmarkOverheardThenNextDue(b *testing.B) {
	b.ReportAllocs()
	in := NewInbox(Config{Rand: rand.New(rand.NewPCG(1, 1))})
	in.Open(7, 0)
	in.Announce(t0, 7, 400)
	now := t0
	for b.Loop() {
		now = now.Add(time.Millisecond)
		first := uint64(100 + now.UnixMilli()%200)
		in.Overheard(now, 7, first, first+3)
		in.NextDue()
	}
}
