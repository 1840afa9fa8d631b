package trace

import (
	"bytes"
	"strings"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

// ctxStub is the part of a receiver context the middleware uses.
type ctxStub struct {
	actor.ReceiverContext
	self *actor.PID
}

func (c ctxStub) Self() *actor.PID { return c.self }

func TestRecordsToFileAndSubscribers(t *testing.T) {
	var file bytes.Buffer
	tr := New(&file)
	var got []Record
	detach := tr.Attach(func(r Record) { got = append(got, r) })
	delivered := 0
	recv := tr.Receiver(func(actor.ReceiverContext, *actor.MessageEnvelope) { delivered++ })
	c := ctxStub{self: actor.NewPID("local", "node/membership")}
	recv(c, &actor.MessageEnvelope{Message: &actor.Started{}})
	detach()
	recv(c, &actor.MessageEnvelope{Message: &actor.Started{}})
	if delivered != 2 || len(got) != 1 || got[0].Receiver != "node/membership" || got[0].Type != "*actor.Started" {
		t.Fatalf("delivered %d, subscriber got %v", delivered, got)
	}
	if strings.Count(file.String(), "\n") != 2 {
		t.Fatalf("file: %q", file.String())
	}
}

func TestInactiveTracerOnlyDelivers(t *testing.T) {
	tr := New(nil)
	if tr.Active() {
		t.Fatal("active without outputs")
	}
	delivered := 0
	recv := tr.Receiver(func(actor.ReceiverContext, *actor.MessageEnvelope) { delivered++ })
	recv(ctxStub{self: actor.NewPID("local", "x")}, &actor.MessageEnvelope{Message: &actor.Started{}})
	if delivered != 1 {
		t.Fatal("not delivered")
	}
}

// BenchmarkInactiveReceiver is the cost of the trace middleware on every
// message while nobody traces.
func BenchmarkInactiveReceiver(b *testing.B) {
	tr := New(nil)
	recv := tr.Receiver(func(actor.ReceiverContext, *actor.MessageEnvelope) {})
	c := ctxStub{self: actor.NewPID("local", "x")}
	env := &actor.MessageEnvelope{Message: &actor.Started{}}
	b.ReportAllocs()
	for b.Loop() {
		recv(c, env)
	}
}
