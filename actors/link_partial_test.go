package actors

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/transports"
)

// partialMedium sends every frame by one of its two destinations only, as
// a link with bcast and a ucast peer on another network does.
type partialMedium struct{}

func (partialMedium) Send([]byte) error {
	return &transports.PartialSendError{Sent: 1, Failed: 1, Err: errors.New("send to 192.0.2.1:694: network is unreachable")}
}
func (partialMedium) Close() error { return nil }

// TestPartlySendingLinkIsUp: a frame that left by some media of a link
// was sent: the link is not reported failing, the sender is told it went,
// and the failing destination is logged once a period.
func TestPartlySendingLinkIsUp(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	var logs lockedBuffer
	changes := make(chan *LinkChanged, 64)
	membership := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*LinkChanged); ok {
			changes <- m
		}
	}))
	link := sys.Root.Spawn(actor.PropsFromProducer(NewLink(LinkConfig{
		Name:       "eth0",
		Open:       func(transports.Deliver, transports.ReadError) (transports.Link, error) { return partialMedium{}, nil },
		Membership: membership,
		Log:        slog.New(slog.NewTextHandler(&logs, nil)),
	})))
	for range 20 {
		res, err := sys.Root.RequestFuture(link, &SendFrame{Data: []byte("x")}, 2*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		if s := res.(*FrameSent); s.Err != nil {
			t.Fatalf("a frame sent by some media reported as failed: %v", s.Err)
		}
	}
	select {
	case c := <-changes:
		if !c.Up {
			t.Fatalf("link reported %q on open", c.Detail)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("link never opened")
	}
	select {
	case c := <-changes:
		t.Fatalf("a partly sending link was reported: up %v %q", c.Up, c.Detail)
	case <-time.After(100 * time.Millisecond):
	}
	out := logs.String()
	if n := strings.Count(out, "link cannot send by all its media"); n != 1 || !strings.Contains(out, "192.0.2.1") {
		t.Fatalf("%d lines about the failing destination, want 1 naming it:\n%s", n, out)
	}
	if strings.Contains(out, "link cannot send ") && strings.Contains(out, `msg="link cannot send"`) {
		t.Fatalf("the link was logged as failing:\n%s", out)
	}
}
