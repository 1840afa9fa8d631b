// Package trace records every message delivered to an actor: time,
// receiver, sender, type and a short summary, as JSON lines to a file
// (--trace) and to whoever attached (hanode trace, through the control
// socket). It is protoactor middleware installed on the node's root actor
// and propagated to every descendant; while nobody traces, it costs one
// atomic load per message.
package trace

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/actor/middleware/propagator"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// senderHeader carries the sending actor's id to the receiver middleware:
// protoactor sets a sender only for requests, not for plain sends.
const senderHeader = "hanode-trace-sender"

// maxSummary bounds the summary of one message.
const maxSummary = 240

// Summarizer is implemented by messages that know how to describe
// themselves briefly (and without secrets or large payloads).
type Summarizer interface {
	TraceSummary() string
}

// Record is one traced delivery.
type Record struct {
	Time     time.Time `json:"time"`
	Receiver string    `json:"receiver"`
	Sender   string    `json:"sender"`
	Type     string    `json:"type"`
	Summary  string    `json:"summary,omitempty"`
}

// Tracer writes Records as JSON lines and hands them to the attached
// subscribers. It is safe for concurrent use: actors deliver from many
// goroutines.
type Tracer struct {
	mu     sync.Mutex
	enc    *json.Encoder
	now    func() time.Time
	subs   map[int]func(Record)
	nextID int
	// active counts the outputs (the file, the subscribers): zero means
	// the middleware only passes messages on.
	active atomic.Int32
}

// New returns a tracer writing to w; nil writes nothing until someone
// attaches.
func New(w io.Writer) *Tracer {
	t := &Tracer{now: time.Now, subs: map[int]func(Record){}}
	if w != nil {
		t.enc = json.NewEncoder(w)
		t.active.Add(1)
	}
	return t
}

// Attach calls f (from the delivering goroutine: it must not block) with
// every record from now on, until detach is called.
func (t *Tracer) Attach(f func(Record)) (detach func()) {
	t.mu.Lock()
	id := t.nextID
	t.nextID++
	t.subs[id] = f
	t.mu.Unlock()
	t.active.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			delete(t.subs, id)
			t.mu.Unlock()
			t.active.Add(-1)
		})
	}
}

// Active says whether anybody traces.
func (t *Tracer) Active() bool { return t.active.Load() > 0 }

// Propagator installs the tracer on an actor and every actor it spawns,
// recursively.
func (t *Tracer) Propagator() *propagator.MiddlewarePropagator {
	return propagator.New().WithItselfForwarded().
		WithReceiverMiddleware(t.Receiver).
		WithSenderMiddleware(t.Sender)
}

// PropsOptions are the options that trace an actor spawned with them and,
// through the propagator, all its descendants.
func (t *Tracer) PropsOptions() []actor.PropsOption {
	return []actor.PropsOption{
		actor.WithReceiverMiddleware(t.Receiver),
		actor.WithSenderMiddleware(t.Sender),
		actor.WithSpawnMiddleware(t.Propagator().SpawnMiddleware),
	}
}

// Sender stamps the sending actor's id on every outgoing message.
func (t *Tracer) Sender(next actor.SenderFunc) actor.SenderFunc {
	return func(c actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope) {
		if self := c.Self(); self != nil && t.Active() {
			env.SetHeader(senderHeader, self.Id)
		}
		next(c, target, env)
	}
}

// Receiver writes one record per delivered message, then delivers it.
func (t *Tracer) Receiver(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
		if !t.Active() {
			next(c, env)
			return
		}
		from := env.GetHeader(senderHeader)
		if from == "" && env.Sender != nil {
			from = env.Sender.Id
		}
		if from == "" {
			from = "-" // the system, a timer or a socket reader
		}
		t.write(Record{
			Time:     t.now(),
			Receiver: c.Self().Id,
			Sender:   from,
			Type:     fmt.Sprintf("%T", env.Message),
			Summary:  Summary(env.Message),
		})
		next(c, env)
	}
}

func (t *Tracer) write(r Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.enc != nil {
		_ = t.enc.Encode(r) // tracing must never disturb the node
	}
	for _, f := range t.subs {
		f(r)
	}
}

// Summary describes a message in at most maxSummary characters.
func Summary(msg any) string {
	var s string
	switch m := msg.(type) {
	case Summarizer:
		s = m.TraceSummary()
	case proto.Message:
		b, _ := prototext.MarshalOptions{}.Marshal(m)
		s = strings.Join(strings.Fields(string(b)), " ")
	case fmt.Stringer:
		s = m.String()
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
		return ""
	default:
		s = fmt.Sprintf("%+v", msg)
	}
	if len(s) > maxSummary {
		s = s[:maxSummary-3] + "..."
	}
	return s
}
