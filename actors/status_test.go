package actors

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/messages"
)

// TestStatusGathererAlwaysAnswers: with a membership actor that never
// answers, the gatherer still answers within its timeout, with the header
// it knows, what the others answered, and an error naming membership.
func TestStatusGathererAlwaysAnswers(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	silent := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	heartbeat := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*SendQuery); ok {
			ctx.Respond(&SendStatus{FramesSent: 7})
		}
	}))
	src := StatusSources{Membership: silent, Heartbeat: heartbeat, Info: MembershipInfo{Cluster: "c", Local: "n1"}, Generation: 3,
		Timeout: 200 * time.Millisecond}
	res, err := sys.Root.RequestFuture(sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*StatusQuery); ok {
			ctx.Spawn(actor.PropsFromProducer(NewStatusGatherer(src, ctx.Sender())))
		}
	})), &StatusQuery{}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	s := res.(*messages.ClusterStatus)
	if s.Cluster != "c" || s.LocalNode != "n1" || s.Generation != 3 || s.FramesSent != 7 {
		t.Fatalf("status %v", s)
	}
	if len(s.Errors) != 1 || !strings.Contains(s.Errors[0], "membership did not answer") {
		t.Fatalf("errors %q", s.Errors)
	}
}

// TestBackoffWithLimitStops: a bounded backoff stops the child once it
// failed more than Limit times within Window.
func TestBackoffWithLimitStops(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	starts := make(chan struct{}, 8)
	child := actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started:
			starts <- struct{}{}
		case string:
			panic("boom")
		}
	})
	childPID, terminated := make(chan *actor.PID, 1), make(chan struct{}, 1)
	p := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started:
			childPID <- ctx.Spawn(child)
		case *actor.Terminated:
			terminated <- struct{}{}
		}
	}, actor.WithSupervisor(&Backoff{Initial: time.Millisecond, Max: time.Millisecond, Reset: time.Minute, Limit: 2, Window: time.Minute})))
	defer func() { sys.Root.StopFuture(p).Wait() }()
	pid := <-childPID
	for i := 0; i < 3; i++ {
		select {
		case <-starts:
		case <-time.After(5 * time.Second):
			t.Fatalf("start %d missing", i+1)
		}
		sys.Root.Send(pid, "crash")
	}
	select {
	case <-terminated:
	case <-time.After(5 * time.Second):
		t.Fatal("child not stopped after 3 failures with a limit of 2")
	}
}
