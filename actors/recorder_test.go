package actors

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// recorder is an actor that records every message it receives, with its
// sender: a thin actor is tested by what it sends to the PIDs it is given.
type recorder struct {
	pid *actor.PID
	got chan recorded
}

type recorded struct {
	msg    any
	sender *actor.PID
}

func newTestSystem(t *testing.T) *actor.ActorSystem {
	t.Helper()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	t.Cleanup(sys.Shutdown)
	return sys
}

func newRecorder(t *testing.T, sys *actor.ActorSystem) *recorder {
	t.Helper()
	r := &recorder{got: make(chan recorded, 1000)}
	r.pid = sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case actor.SystemMessage, actor.AutoReceiveMessage:
			// Its own life cycle (Started, Stopping...), not a message sent
			// to it.
			return
		}
		r.got <- recorded{msg: ctx.Message(), sender: ctx.Sender()}
	}))
	return r
}

// expectMessage waits for the next message of type T that r receives and
// satisfies match (nil: any), skipping others; it fails the test after
// five seconds, naming what was skipped.
func expectMessage[T any](t *testing.T, r *recorder, match func(T) bool) (T, *actor.PID) {
	t.Helper()
	var skipped []string
	timeout := time.After(5 * time.Second)
	for {
		select {
		case rec := <-r.got:
			if m, ok := rec.msg.(T); ok && (match == nil || match(m)) {
				return m, rec.sender
			}
			skipped = append(skipped, fmt.Sprintf("%T", rec.msg))
		case <-timeout:
			var zero T
			t.Fatalf("no %T received within 5s; got only %v", zero, skipped)
			return zero, nil
		}
	}
}

// expectSilence fails the test if r receives a message of type T within d.
func expectSilence[T any](t *testing.T, r *recorder, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case rec := <-r.got:
			if m, ok := rec.msg.(T); ok {
				t.Fatalf("unexpected %T: %+v", m, m)
			}
		case <-timeout:
			return
		}
	}
}
