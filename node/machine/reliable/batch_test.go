package reliable

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

func textNote(text string) *messages.ClusterMessage {
	return &messages.ClusterMessage{Payload: &messages.ClusterMessage_Note{Note: &messages.Note{Text: text}}}
}

func texts(ms []*messages.ClusterMessage) []string {
	var out []string
	for _, m := range ms {
		for _, in := range Unbatch(m) {
			out = append(out, in.GetNote().GetText())
		}
	}
	return out
}

func TestALoneMessageIsNeverHeld(t *testing.T) {
	b := NewBatcher(Config{BatchWindow: 100 * time.Millisecond})
	t0 := time.Unix(1000, 0)
	for i, at := range []time.Duration{0, 100 * time.Millisecond, 350 * time.Millisecond, 2 * time.Second} {
		out := b.Add(t0.Add(at), textNote(fmt.Sprint(i)))
		if len(out) != 1 || out[0].GetNote() == nil {
			t.Fatalf("message %d, %v after the previous: %v, want it sent alone at once", i, at, out)
		}
		if !b.Due().IsZero() {
			t.Fatalf("nothing held, yet due at %v", b.Due())
		}
	}
}

func TestABurstLeavesAsOneBatchWithinTheWindow(t *testing.T) {
	b := NewBatcher(Config{BatchWindow: 100 * time.Millisecond})
	t0 := time.Unix(1000, 0)
	if out := b.Add(t0, textNote("first")); len(out) != 1 {
		t.Fatalf("first message: %v, want it at once", out)
	}
	for i := range 5 {
		if out := b.Add(t0.Add(time.Duration(i+1)*time.Millisecond), textNote(fmt.Sprint(i))); len(out) != 0 {
			t.Fatalf("burst message %d sent at once: %v", i, out)
		}
	}
	if due := b.Due(); !due.Equal(t0.Add(100 * time.Millisecond)) {
		t.Fatalf("due %v, want the window after the first message", due)
	}
	m := b.Flush(t0.Add(100 * time.Millisecond))
	if m.GetBatch() == nil {
		t.Fatalf("flush: %v, want a batch", m)
	}
	if strings.Join(texts([]*messages.ClusterMessage{m}), ",") != "0,1,2,3,4" {
		t.Fatalf("batch carries %v, want 0..4 in order", texts([]*messages.ClusterMessage{m}))
	}
	if b.Flush(t0.Add(time.Second)) != nil {
		t.Fatal("a second flush returned something")
	}
	// The batch just left: the next message waits for the window again.
	if out := b.Add(t0.Add(150*time.Millisecond), textNote("after")); len(out) != 0 {
		t.Fatalf("a message 50ms after a batch left at once: %v", out)
	}
	if due := b.Due(); !due.Equal(t0.Add(200 * time.Millisecond)) {
		t.Fatalf("due %v, want the window after the batch", due)
	}
}

func TestABatchStaysWithinOneFrame(t *testing.T) {
	const limit = 300
	b := NewBatcher(Config{BatchWindow: time.Second, MaxMessage: limit})
	t0 := time.Unix(1000, 0)
	var out []*messages.ClusterMessage
	out = append(out, b.Add(t0, textNote("x"))...)
	var want []string
	want = append(want, "x")
	for i := range 60 {
		text := fmt.Sprintf("message-%02d", i)
		want = append(want, text)
		out = append(out, b.Add(t0.Add(time.Millisecond), textNote(text))...)
	}
	if len(out) < 3 {
		t.Fatalf("%d stream messages out before the window ended; want the full batches sent as they fill", len(out))
	}
	if m := b.Flush(t0.Add(time.Second)); m != nil {
		out = append(out, m)
	}
	for _, m := range out {
		m.MessageSequence = 1 << 40
		if s := proto.Size(m); s > limit {
			t.Fatalf("a stream message of %d bytes, over the limit of %d", s, limit)
		}
	}
	if got := texts(out); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("messages out of order or lost:\n got %v\nwant %v", got, want)
	}
}

func TestAMessageTooLargeForAFrameFollowsWhatWaits(t *testing.T) {
	b := NewBatcher(Config{BatchWindow: time.Second, MaxMessage: 200})
	t0 := time.Unix(1000, 0)
	b.Add(t0, textNote("a"))
	b.Add(t0, textNote("b"))
	b.Add(t0, textNote("c"))
	out := b.Add(t0, textNote(strings.Repeat("z", 500)))
	if got := texts(out); len(got) != 3 || got[0] != "b" || got[1] != "c" || len(got[2]) != 500 {
		t.Fatalf("got %v, want b, c, then the large message", got)
	}
}

func TestWindowZeroNeverHolds(t *testing.T) {
	b := NewBatcher(Config{BatchWindow: 0})
	t0 := time.Unix(1000, 0)
	for i := range 10 {
		if out := b.Add(t0, textNote(fmt.Sprint(i))); len(out) != 1 {
			t.Fatalf("message %d: %v, want it at once", i, out)
		}
	}
}

func TestUnbatchDropsNestedBatches(t *testing.T) {
	inner := &messages.ClusterMessage{Payload: &messages.ClusterMessage_Batch{Batch: &messages.Batch{Messages: []*messages.ClusterMessage{textNote("hidden")}}}}
	m := &messages.ClusterMessage{MessageSequence: 3, Payload: &messages.ClusterMessage_Batch{Batch: &messages.Batch{
		Messages: []*messages.ClusterMessage{textNote("a"), inner, nil, textNote("b")}}}}
	if got := texts([]*messages.ClusterMessage{m}); strings.Join(got, ",") != "a,b" {
		t.Fatalf("got %v, want a,b", got)
	}
}

// TestBatchingKeepsOrderAndBoundsTheDelay drives random bursts through a
// batcher flushed at its due times: every message comes out once, in
// order, no later than the window after it was added, and no two stream
// messages leave closer than the window unless the first was full.
func TestBatchingKeepsOrderAndBoundsTheDelay(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 1))
		window := time.Duration(1+r.IntN(200)) * time.Millisecond
		b := NewBatcher(Config{BatchWindow: window, MaxMessage: 200 + r.IntN(1200)})
		now := time.Unix(1000, 0)
		added := map[string]time.Time{}
		var want, got []string
		take := func(at time.Time, out []*messages.ClusterMessage) {
			for _, text := range texts(out) {
				if d := at.Sub(added[text]); d > window {
					t.Fatalf("seed %d: %s left %v after it was added, window %v", seed, text, d, window)
				}
				got = append(got, text)
			}
		}
		for i := range 200 {
			step := time.Duration(r.IntN(int(window)*2/int(time.Millisecond)+1)) * time.Millisecond / 4
			next := now.Add(step)
			if due := b.Due(); !due.IsZero() && !due.After(next) {
				if m := b.Flush(due); m != nil {
					take(due, []*messages.ClusterMessage{m})
				}
			}
			now = next
			text := fmt.Sprintf("%d:%s", i, strings.Repeat("p", r.IntN(300)))
			added[text] = now
			want = append(want, text)
			take(now, b.Add(now, textNote(text)))
		}
		if m := b.Flush(b.Due()); m != nil {
			take(b.Due(), []*messages.ClusterMessage{m})
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("seed %d: messages lost, repeated or reordered", seed)
		}
		if b.Stats.Messages != 200 || b.Stats.Sent > 200 {
			t.Fatalf("seed %d: stats %+v", seed, b.Stats)
		}
	}
}
