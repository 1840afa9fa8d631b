package actors

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/transports"
)

// flappingMedium fails every other send, as a device dropping in and out
// (or a full socket buffer under a flood) does.
type flappingMedium struct{ n int }

func (m *flappingMedium) Send([]byte) error {
	m.n++
	if m.n%2 == 1 {
		return errors.New("no buffer space available")
	}
	return nil
}
func (m *flappingMedium) Close() error { return nil }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFlappingLinkLogsOncePerPeriod: a link whose sends fail and work in
// turn reports every change to membership, but logs "cannot send" and
// "sends again" at most once per period between them, with the count of
// the changes not logged.
func TestFlappingLinkLogsOncePerPeriod(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	var logs lockedBuffer
	changes := make(chan *LinkChanged, 512)
	membership := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*LinkChanged); ok {
			changes <- m
		}
	}))
	medium := &flappingMedium{}
	link := sys.Root.Spawn(actor.PropsFromProducer(NewLink(LinkConfig{
		Name:       "eth0",
		Open:       func(transports.Deliver, transports.ReadError) (transports.Link, error) { return medium, nil },
		Membership: membership,
		Log:        slog.New(slog.NewTextHandler(&logs, nil)),
	})))
	const sends = 200
	for range sends {
		if _, err := sys.Root.RequestFuture(link, &SendFrame{Data: []byte("x")}, 2*time.Second).Result(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(5 * time.Second)
	// One "open" change, then one per send.
	for got := 0; got < sends+1; got++ {
		select {
		case <-changes:
		case <-deadline:
			t.Fatalf("membership told of %d link changes, want %d", got, sends+1)
		}
	}
	out := logs.String()
	if n := strings.Count(out, "link cannot send") + strings.Count(out, "link sends again"); n != 1 {
		t.Fatalf("%d lines about %d send failures and recoveries within a period, want 1:\n%s", n, sends, out)
	}
}
