package actors

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/reliable"
)

// TestStreamWarningsAreFolded: a peer that NAKs this node 1000 times in a
// second (a storm, or a key holder gone wrong) costs one log line, and the
// next line, a warnEvery later, says how many were left out.
func TestStreamWarningsAreFolded(t *testing.T) {
	sys := newTestSystem(t)
	var out lockedBuffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	st := NewMessengerState(MessengerConfig{Local: "n1", Generation: 1, Peers: []string{"n2"}, Reliable: reliable.Config{}})
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		m := NewMessenger(st, log)().(*Messenger)
		m.now = clock
		return m
	}))
	nak := func() {
		sys.Root.Send(pid, &StreamFrame{At: clock(), Envelope: &messages.Envelope{Sender: "n2", Generation: 5,
			Body: &messages.Envelope_RetransmitNak{RetransmitNak: &messages.RetransmitNak{Destination: "n1", First: 1, Last: 2}}}})
	}
	for i := 0; i < 1000; i++ {
		nak()
	}
	// The streams query is answered after every frame before it.
	if _, err := sys.Root.RequestFuture(pid, &StreamsQuery{}, 5*time.Second).Result(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(warnEvery)
	mu.Unlock()
	nak()
	if _, err := sys.Root.RequestFuture(pid, &StreamsQuery{}, 5*time.Second).Result(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(out.String(), "cluster messages irretrievably lost")
	if lines != 2 {
		t.Fatalf("%d lines for 1001 NAKs, want 2:\n%s", lines, out.String())
	}
	if !strings.Contains(out.String(), "more_like_this=999") {
		t.Fatalf("the second line does not count the 999 left out:\n%s", out.String())
	}
}
