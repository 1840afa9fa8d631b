package reliable

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
	"weak"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func cfg(seed uint64) Config {
	return Config{Rand: rand.New(rand.NewPCG(seed, seed))}
}

func msg(text string) *messages.ClusterMessage {
	return &messages.ClusterMessage{Payload: &messages.ClusterMessage_Note{Note: &messages.Note{Text: text}}}
}

func seqs(ms []*messages.ClusterMessage) []uint64 {
	var out []uint64
	for _, m := range ms {
		out = append(out, m.MessageSequence)
	}
	return out
}

// send1 sends a message that fits in one frame.
func send1(o *Outbox, now time.Time, m *messages.ClusterMessage) *messages.ClusterMessage {
	out, err := o.Send(now, m)
	if err != nil || len(out) != 1 {
		panic(fmt.Sprintf("sent as %d stream messages: %v", len(out), err))
	}
	return out[0]
}

// open7 opens the stream of generation 7 from its first message.
func open7(in *Inbox) *Inbox {
	in.Open(7, 0)
	return in
}

func TestInOrderDelivery(t *testing.T) {
	o, in := NewOutbox(cfg(1)), open7(NewInbox(cfg(1)))
	for i := 1; i <= 3; i++ {
		m := send1(o, t0, msg(fmt.Sprint(i)))
		if got := seqs(in.Receive(t0, 7, m)); len(got) != 1 || got[0] != uint64(i) {
			t.Fatalf("message %d delivered as %v", i, got)
		}
	}
	if o.Last() != 3 || in.Delivered() != 3 || in.Missing() != 0 {
		t.Fatalf("last %d delivered %d missing %d", o.Last(), in.Delivered(), in.Missing())
	}
}

func TestGapIsFilledByRetransmission(t *testing.T) {
	o, in := NewOutbox(cfg(1)), open7(NewInbox(cfg(2)))
	m1, m2, m3 := send1(o, t0, msg("a")), send1(o, t0, msg("b")), send1(o, t0, msg("c"))
	in.Receive(t0, 7, m1)
	if got := in.Receive(t0, 7, m3); len(got) != 0 {
		t.Fatalf("delivered %v past a gap", seqs(got))
	}
	// No request before the random delay (>= 50ms), one at the latest
	// after MaxRexmitDelay.
	if due := in.Due(t0.Add(49 * time.Millisecond)); len(due) != 0 {
		t.Fatalf("asked after 49ms: %v", due)
	}
	due := in.Due(t0.Add(250 * time.Millisecond))
	if len(due) != 1 || due[0] != (Range{2, 2}) {
		t.Fatalf("due %v", due)
	}
	// Just sent: the sender does not resend within MaxRexmitDelay-10ms.
	if re, _ := o.Retransmit(t0.Add(100*time.Millisecond), 2, 2); len(re) != 0 {
		t.Fatalf("resent too soon: %v", seqs(re))
	}
	re, nak := o.Retransmit(t0.Add(250*time.Millisecond), 2, 2)
	if len(re) != 1 || nak != nil {
		t.Fatalf("resend %v nak %v", seqs(re), nak)
	}
	if got := seqs(in.Receive(t0.Add(260*time.Millisecond), 7, re[0])); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("after the retransmission delivered %v", got)
	}
	if in.Missing() != 0 || in.NextDue() != (time.Time{}) {
		t.Fatal("still missing something")
	}
	_ = m2
}

func TestUnansweredRequestsBackOff(t *testing.T) {
	in := open7(NewInbox(cfg(3)))
	o := NewOutbox(cfg(3))
	send1(o, t0, msg("lost"))
	in.Receive(t0, 7, send1(o, t0, msg("b")))
	first := in.NextDue()
	if first.Before(t0.Add(50*time.Millisecond)) || first.After(t0.Add(250*time.Millisecond)) {
		t.Fatalf("first request at %v", first.Sub(t0))
	}
	// 250ms, then doubling while nothing comes, up to 8 times 250ms.
	at := first
	for i, want := range []time.Duration{250, 500, 1000, 2000, 2000, 2000} {
		if due := in.Due(at); len(due) != 1 || due[0] != (Range{1, 1}) {
			t.Fatalf("request %d at %v: %v", i+1, at.Sub(t0), due)
		}
		next := in.NextDue()
		if got := next.Sub(at); got != want*time.Millisecond {
			t.Fatalf("request %d: the next one %v later, want %v", i+2, got, want*time.Millisecond)
		}
		if due := in.Due(next.Add(-time.Millisecond)); len(due) != 0 {
			t.Fatalf("asked again before the pause ended: %v", due)
		}
		at = next
	}
}

func TestARequestOverheardDefersOurs(t *testing.T) {
	in := open7(NewInbox(cfg(3)))
	o := NewOutbox(cfg(3))
	send1(o, t0, msg("lost"))
	send1(o, t0, msg("lost too"))
	in.Receive(t0, 7, send1(o, t0, msg("c")))
	// Both are first asked for within MaxRexmitDelay. Another node asks
	// for message 1 before that: ours waits for the resend, a
	// MaxRexmitDelay from then; message 2 is asked for as planned.
	heard := t0.Add(time.Millisecond)
	in.Overheard(heard, 7, 1, 1)
	in.Overheard(heard, 6, 2, 2) // another life of the peer: nothing
	first := t0.Add(250 * time.Millisecond)
	due := in.Due(first)
	if len(due) != 1 || due[0] != (Range{2, 2}) {
		t.Fatalf("due %v, want only message 2", due)
	}
	if due := in.Due(heard.Add(250 * time.Millisecond)); len(due) != 1 || due[0] != (Range{1, 1}) {
		t.Fatalf("due %v a MaxRexmitDelay after the overheard request, want message 1", due)
	}
	// Overhearing never brings a request forward.
	next := in.NextDue()
	in.Overheard(first, 7, 1, 2)
	if in.NextDue() != next {
		t.Fatalf("an overheard request moved the next one from %v to %v", next, in.NextDue())
	}
}

func TestTailLossIsNoticedFromHeartbeats(t *testing.T) {
	o, in := NewOutbox(cfg(1)), open7(NewInbox(cfg(4)))
	in.Receive(t0, 7, send1(o, t0, msg("a")))
	send1(o, t0, msg("b")) // both lost
	send1(o, t0, msg("c"))
	in.Announce(t0, 7, o.Last())
	due := in.Due(t0.Add(time.Second))
	if len(due) != 1 || due[0] != (Range{2, 3}) {
		t.Fatalf("due %v", due)
	}
	re, _ := o.Retransmit(t0.Add(time.Second), 2, 3)
	var got []uint64
	for _, m := range re {
		got = append(got, seqs(in.Receive(t0.Add(time.Second), 7, m))...)
	}
	if len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("delivered %v", got)
	}
}

func TestNakSkipsWhatFellOutOfHistory(t *testing.T) {
	o := NewOutbox(Config{History: 3, Rand: rand.New(rand.NewPCG(1, 1))})
	in := open7(NewInbox(cfg(5)))
	var all []*messages.ClusterMessage
	for i := 0; i < 6; i++ {
		all = append(all, send1(o, t0, msg(fmt.Sprint(i))))
	}
	// The receiver got only the last one; 1..5 are missing, 1..3 are gone.
	in.Receive(t0, 7, all[5])
	due := in.Due(t0.Add(time.Second))
	if len(due) != 1 || due[0] != (Range{1, 5}) {
		t.Fatalf("due %v", due)
	}
	re, nak := o.Retransmit(t0.Add(time.Second), 1, 5)
	if nak == nil || *nak != (Range{1, 3}) || len(re) != 2 {
		t.Fatalf("resend %v nak %v", seqs(re), nak)
	}
	if got := in.Nak(7, nak.First, nak.Last); len(got) != 0 {
		t.Fatalf("NAK delivered %v before 4 arrived", seqs(got))
	}
	var got []uint64
	for _, m := range re {
		got = append(got, seqs(in.Receive(t0.Add(time.Second), 7, m))...)
	}
	if fmt.Sprint(got) != "[4 5 6]" || in.Stats.Lost != 3 {
		t.Fatalf("delivered %v, lost %d", got, in.Stats.Lost)
	}
}

func TestRestartedPeerStartsANewStream(t *testing.T) {
	in := open7(NewInbox(cfg(6)))
	o := NewOutbox(cfg(6))
	for i := 0; i < 3; i++ {
		in.Receive(t0, 7, send1(o, t0, msg("old")))
	}
	o2 := NewOutbox(cfg(7))
	first := send1(o2, t0, msg("new"))
	if got := in.Receive(t0, 8, first); len(got) != 0 {
		t.Fatalf("a new generation's message delivered before its stream is opened: %v", seqs(got))
	}
	in.Open(8, 0)
	in.Announce(t0, 8, 1)
	if got := seqs(in.Receive(t0, 8, first)); fmt.Sprint(got) != "[1]" {
		t.Fatalf("new generation delivered %v", got)
	}
	if got := in.Receive(t0, 7, send1(o, t0, msg("stale"))); len(got) != 0 {
		t.Fatal("message of the old generation delivered")
	}
}

func TestDuplicatesAreDeliveredOnce(t *testing.T) {
	o, in := NewOutbox(cfg(1)), open7(NewInbox(cfg(1)))
	m := send1(o, t0, msg("x"))
	in.Receive(t0, 7, m)
	if got := in.Receive(t0, 7, m); len(got) != 0 || in.Stats.Duplicates != 1 {
		t.Fatalf("duplicate delivered: %v", seqs(got))
	}
}

func TestRetransmitIgnoresTheFutureAndBatches(t *testing.T) {
	o := NewOutbox(cfg(1))
	for i := 0; i < 120; i++ {
		send1(o, t0, msg("m"))
	}
	if re, nak := o.Retransmit(t0.Add(time.Second), 121, 200); re != nil || nak != nil {
		t.Fatal("answered for messages never sent")
	}
	if re, _ := o.Retransmit(t0.Add(time.Second), 1, 120); len(re) != 50 {
		t.Fatalf("batch of %d, want 50", len(re))
	}
}

// TestResendsAreBoundedWhoeverAsks: many peers asking at once for
// different parts of the history get MaxBatch resends in all per
// MaxRexmitDelay; the rest waits for their next requests.
func TestResendsAreBoundedWhoeverAsks(t *testing.T) {
	o := NewOutbox(cfg(1))
	for i := 0; i < 300; i++ {
		send1(o, t0, msg("m"))
	}
	at := t0.Add(time.Second)
	total := 0
	for first := uint64(1); first <= 300; first += 30 {
		re, _ := o.Retransmit(at, first, first+29)
		total += len(re)
	}
	if total != 50 {
		t.Fatalf("%d resent at once for ten requests, want 50", total)
	}
	if re, _ := o.Retransmit(at.Add(249*time.Millisecond), 200, 229); len(re) != 0 {
		t.Fatalf("%d more resent within the same MaxRexmitDelay", len(re))
	}
	if re, _ := o.Retransmit(at.Add(250*time.Millisecond), 200, 229); len(re) != 30 {
		t.Fatalf("%d resent a MaxRexmitDelay later, want the 30 asked for", len(re))
	}
}

// TestResendBudgetBoundsAllResends: with a ResendBudget below MaxBatch,
// one request and many together get that many resends per
// MaxRexmitDelay, and the rest a MaxRexmitDelay later.
func TestResendBudgetBoundsAllResends(t *testing.T) {
	c := cfg(1)
	c.ResendBudget = 2
	o := NewOutbox(c)
	for range 20 {
		send1(o, t0, msg("m"))
	}
	at := t0.Add(time.Second)
	total := 0
	for first := uint64(1); first <= 20; first += 5 {
		re, _ := o.Retransmit(at, first, first+4)
		total += len(re)
	}
	if total != 2 {
		t.Fatalf("%d resent at once for four requests, want the budget of 2", total)
	}
	if re, _ := o.Retransmit(at.Add(250*time.Millisecond), 6, 10); len(re) != 2 || re[0].MessageSequence != 6 {
		t.Fatalf("a MaxRexmitDelay later: resent %v, want 6 and 7", seqs(re))
	}
}

// TestUnderHeavyLoss simulates a sender and two receivers exchanging 300
// messages, heartbeats, requests, retransmissions and NAKs with 30% of
// every packet lost, on a fake clock: every message is delivered once and
// in order to each receiver.
func TestUnderHeavyLoss(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		rng := rand.New(rand.NewPCG(seed, 99))
		lose := func() bool { return rng.Float64() < 0.30 }
		o := NewOutbox(Config{Rand: rand.New(rand.NewPCG(seed, 1))})
		ins := []*Inbox{open7(NewInbox(Config{Rand: rand.New(rand.NewPCG(seed, 2))})), open7(NewInbox(Config{Rand: rand.New(rand.NewPCG(seed, 3))}))}
		got := make([][]uint64, len(ins))
		now := t0
		const total = 300
		for step := 0; step < 20000; step++ {
			now = now.Add(10 * time.Millisecond)
			if step%2 == 0 && o.Last() < total {
				m := send1(o, now, msg(fmt.Sprint(o.Last()+1)))
				for i, in := range ins {
					if !lose() {
						got[i] = append(got[i], seqs(in.Receive(now, 7, m))...)
					}
				}
			}
			if step%10 == 0 { // heartbeat every 100ms
				for i, in := range ins {
					if !lose() {
						got[i] = append(got[i], seqs(in.Announce(now, 7, o.Last()))...)
					}
				}
			}
			for i, in := range ins {
				for _, r := range in.Due(now) {
					if lose() {
						continue
					}
					re, nak := o.Retransmit(now, r.First, r.Last)
					if nak != nil && !lose() {
						got[i] = append(got[i], seqs(in.Nak(7, nak.First, nak.Last))...)
					}
					// A retransmission goes to every node: the other
					// receiver may use it too.
					for _, m := range re {
						for j, in2 := range ins {
							if !lose() {
								got[j] = append(got[j], seqs(in2.Receive(now, 7, m))...)
							}
						}
					}
				}
			}
			if o.Last() == total && len(got[0]) == total && len(got[1]) == total {
				break
			}
		}
		for i := range ins {
			if len(got[i]) != total {
				t.Fatalf("seed %d receiver %d: %d of %d delivered", seed, i, len(got[i]), total)
			}
			for k, s := range got[i] {
				if s != uint64(k+1) {
					t.Fatalf("seed %d receiver %d: message %d delivered as #%d", seed, i, s, k+1)
				}
			}
		}
	}
}

func TestMissingIsBounded(t *testing.T) {
	in := open7(NewInbox(Config{MaxMissing: 10, Rand: rand.New(rand.NewPCG(1, 1))}))
	in.Announce(t0, 7, 100)
	if in.Missing() != 10 || in.Stats.Lost != 90 {
		t.Fatalf("missing %d lost %d", in.Missing(), in.Stats.Lost)
	}
	o := NewOutbox(cfg(1))
	var last *messages.ClusterMessage
	for i := 0; i < 100; i++ {
		last = send1(o, t0, msg("m"))
		if i >= 90 {
			in.Receive(t0, 7, last)
		}
	}
	if in.Delivered() != 100 {
		t.Fatalf("delivered up to %d", in.Delivered())
	}
}

// TestHistoryBeforeTheStreamStartIsNeverDelivered: a node that restarts
// (a new inbox) while its peer has sent 500 messages opens the peer's
// stream where the peer's heartbeat says it heard this life: the old
// messages, retransmitted or late, are never applied; the new ones are,
// and a gap after the start is asked for.
func TestHistoryBeforeTheStreamStartIsNeverDelivered(t *testing.T) {
	o := NewOutbox(cfg(1))
	var old []*messages.ClusterMessage
	for i := 0; i < 500; i++ {
		old = append(old, send1(o, t0, msg("old")))
	}
	in := NewInbox(cfg(2))
	if got := in.Receive(t0, 7, old[499]); len(got) != 0 {
		t.Fatal("delivered before the stream was opened")
	}
	in.Announce(t0, 7, 500)
	if in.Missing() != 0 {
		t.Fatal("asked for messages of a stream not opened")
	}
	in.Open(7, 500)
	for _, m := range old {
		if got := in.Receive(t0, 7, m); len(got) != 0 {
			t.Fatalf("history message %d delivered", m.MessageSequence)
		}
	}
	send1(o, t0, msg("new 501"))
	m502 := send1(o, t0, msg("new 502"))
	if got := in.Receive(t0, 7, m502); len(got) != 0 {
		t.Fatal("delivered past a gap")
	}
	due := in.Due(t0.Add(time.Second))
	if len(due) != 1 || due[0] != (Range{501, 501}) {
		t.Fatalf("asked for %v, want [501,501]", due)
	}
	re, _ := o.Retransmit(t0.Add(time.Second), 501, 501)
	if got := seqs(in.Receive(t0.Add(time.Second), 7, re[0])); fmt.Sprint(got) != "[501 502]" {
		t.Fatalf("delivered %v", got)
	}
	// Opening again (the start is repeated in every heartbeat) changes
	// nothing.
	in.Open(7, 0)
	if in.Delivered() != 502 {
		t.Fatalf("reopened: delivered %d", in.Delivered())
	}
}

// TestMessagesOutOfTheHistoryAreLetGo: a message that falls out of the
// history is no longer held by the outbox (the array behind the history
// slice kept it until it next grew), while those in it still are.
func TestMessagesOutOfTheHistoryAreLetGo(t *testing.T) {
	const history = 10
	o := NewOutbox(Config{History: history})
	now := time.Unix(1_700_000_000, 0)
	var sent []weak.Pointer[messages.ClusterMessage]
	for i := range history + 5 {
		out, err := o.Send(now, &messages.ClusterMessage{Payload: &messages.ClusterMessage_Note{Note: &messages.Note{Text: fmt.Sprint(i)}}})
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, weak.Make(out[0]))
	}
	runtime.GC()
	for i, w := range sent {
		if held, inHistory := w.Value() != nil, i >= 5; held != inHistory {
			t.Errorf("message %d (in the history: %v) still held: %v", i+1, inHistory, held)
		}
	}
	runtime.KeepAlive(o)
}

// TestEarlyMessagesAreBoundedInBytes: behind a gap, an inbox keeps at
// most MaxEarlyBytes of the messages that follow; the others are asked
// for again, as lost ones are, and the stream is delivered whole, in
// order, once they come.
func TestEarlyMessagesAreBoundedInBytes(t *testing.T) {
	c := cfg(1)
	size := proto.Size(&messages.ClusterMessage{MessageSequence: 9, Payload: msg("m").Payload})
	c.MaxEarlyBytes = 3 * size
	in := NewInbox(c)
	in.Open(7, 0)
	m := func(seq uint64) *messages.ClusterMessage {
		x := msg("m")
		x.MessageSequence = seq
		return x
	}
	for seq := uint64(2); seq <= 9; seq++ {
		if out := in.Receive(t0, 7, m(seq)); len(out) != 0 {
			t.Fatalf("delivered %v behind the gap", seqs(out))
		}
	}
	if in.Pending() != 3 || in.Stats.Refused != 5 {
		t.Fatalf("%d kept early, %d refused; want 3 and 5", in.Pending(), in.Stats.Refused)
	}
	var asked []uint64
	for _, r := range in.Due(t0.Add(time.Second)) {
		for s := r.First; s <= r.Last; s++ {
			asked = append(asked, s)
		}
	}
	if want := []uint64{1, 5, 6, 7, 8, 9}; !slices.Equal(asked, want) {
		t.Fatalf("asked for %v, want %v", asked, want)
	}
	var got []uint64
	for _, seq := range []uint64{1, 5, 6, 7, 8, 9} {
		got = append(got, seqs(in.Receive(t0.Add(time.Second), 7, m(seq)))...)
	}
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if in.pendingBytes != 0 {
		t.Fatalf("%d bytes counted early with nothing waiting", in.pendingBytes)
	}
}

// TestOverheardDefersTheRangeAlone: however the range compares with what
// is missing (narrower, wider, out of the window, huge), a request heard
// for it defers exactly the missing messages in it whose turn comes
// sooner than a MaxRexmitDelay from now, as a walk over every missing
// message does.
func TestOverheardDefersTheRangeAlone(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := range 500 {
		in := NewInbox(cfg(uint64(round)))
		in.Open(7, 0)
		now := t0
		in.Announce(now, 7, 1+r.Uint64N(60))
		for range r.IntN(20) {
			m := msg("m")
			m.MessageSequence = 1 + r.Uint64N(60)
			in.Receive(now, 7, m)
		}
		now = now.Add(time.Duration(r.IntN(300)) * time.Millisecond)
		first := r.Uint64N(70)
		last := first + r.Uint64N(70)
		if r.IntN(10) == 0 {
			last = 1<<64 - 1
		}
		want := map[uint64]ask{}
		later := now.Add(in.cfg.MaxRexmitDelay)
		for s, a := range in.missing {
			if s >= first && s <= last && a.at.Before(later) {
				a.at = later
			}
			want[s] = a
		}
		in.Overheard(now, 7, first, last)
		if len(in.missing) != len(want) {
			t.Fatalf("round %d: %d missing after, want %d", round, len(in.missing), len(want))
		}
		for s, a := range want {
			if in.missing[s] != a {
				t.Fatalf("round %d, range %d..%d: message %d asked at %v, want %v", round, first, last, s, in.missing[s], a)
			}
		}
	}
}

// TestResendRateStretchesTheBudgetsWindow: with ResendRate, the budget
// goes in a window of ResendBudget / ResendRate: 6 messages at 3 a second
// every 2s, never more however many ask.
func TestResendRateStretchesTheBudgetsWindow(t *testing.T) {
	c := cfg(1)
	c.ResendBudget, c.ResendRate = 6, 3
	o := NewOutbox(c)
	for range 40 {
		send1(o, t0, msg("m"))
	}
	at := t0.Add(time.Second)
	total := 0
	for i := 0; i < 40; i++ {
		// Requests every 100ms for 4s, asking for everything.
		re, _ := o.Retransmit(at.Add(time.Duration(i)*100*time.Millisecond), 1, 40)
		total += len(re)
		if i == 19 && total != 6 {
			t.Fatalf("%d resent in the first 2s, want 6", total)
		}
	}
	if total != 12 {
		t.Fatalf("%d resent in 4s at 3 a second with a budget of 6, want 12", total)
	}
}

// TestMessagesBeforeTheStreamOpensAreKeptForIt: a peer's first messages
// after a join (its full state) usually come before the heartbeat that
// opens its stream here. They are kept and delivered once it opens,
// without a request: those after its start, in order; those before it
// (history) never. A newer life's opening drops an older life's.
func TestMessagesBeforeTheStreamOpensAreKeptForIt(t *testing.T) {
	o := NewOutbox(cfg(1))
	var sent []*messages.ClusterMessage
	for i := 1; i <= 5; i++ {
		sent = append(sent, send1(o, t0, msg(fmt.Sprint(i))))
	}
	in := NewInbox(cfg(2))
	for _, i := range []int{4, 2, 3, 1} { // 1 is history (start 1), 5 is lost
		if got := in.Receive(t0, 7, sent[i-1]); len(got) != 0 {
			t.Fatalf("message %d delivered before the stream opened", i)
		}
	}
	in.Open(7, 1)
	if got := seqs(in.ReceiveEarly(t0)); fmt.Sprint(got) != "[2 3 4]" {
		t.Fatalf("delivered %v when the stream opened, want [2 3 4]", got)
	}
	in.Announce(t0, 7, 5)
	if due := in.Due(t0.Add(time.Second)); len(due) != 1 || due[0] != (Range{5, 5}) {
		t.Fatalf("asked for %v, want only [5,5]", due)
	}
	if got := in.ReceiveEarly(t0); len(got) != 0 {
		t.Fatalf("delivered %v again", seqs(got))
	}

	// Kept for life 8, then life 9 opens: life 8's are dropped.
	in2 := NewInbox(cfg(2))
	in2.Receive(t0, 8, sent[1])
	in2.Open(9, 0)
	if got := in2.ReceiveEarly(t0); len(got) != 0 || len(in2.early) != 0 {
		t.Fatalf("life 9 opened: delivered %v, kept %d of life 8", seqs(got), len(in2.early))
	}
}
