package actors

import (
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

func TestBackoffDelayDoublesUpToMax(t *testing.T) {
	b := &Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for n, w := range want {
		if got := b.Delay(n + 1); got != w*time.Millisecond {
			t.Errorf("Delay(%d) = %v, want %v", n+1, got, w*time.Millisecond)
		}
	}
}

// TestBackoffRestartsAfterTheDelay: a child that panics is restarted, not
// at once but after the backoff, and the failure is published.
func TestBackoffRestartsAfterTheDelay(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	events := make(chan *actor.SupervisorEvent, 4)
	sys.EventStream.Subscribe(func(e any) {
		if se, ok := e.(*actor.SupervisorEvent); ok {
			events <- se
		}
	})
	starts := make(chan time.Time, 4)
	child := actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started:
			starts <- time.Now()
		case string:
			panic("boom")
		}
	})
	childPID := make(chan *actor.PID, 1)
	parent := actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			pid, _ := ctx.SpawnNamed(child, "link-x")
			childPID <- pid
		}
	}, actor.WithSupervisor(&Backoff{Initial: 150 * time.Millisecond, Max: time.Second, Reset: time.Minute}))
	p := sys.Root.Spawn(parent)
	defer func() { sys.Root.StopFuture(p).Wait() }()
	pid := <-childPID
	<-starts
	failed := time.Now()
	sys.Root.Send(pid, "crash")
	select {
	case e := <-events:
		if e.Directive != actor.RestartDirective || e.Child.Id != pid.Id {
			t.Fatalf("event %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no supervisor event")
	}
	select {
	case at := <-starts:
		if d := at.Sub(failed); d < 150*time.Millisecond {
			t.Fatalf("restarted after %v, before the 150ms backoff", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not restarted")
	}
}
