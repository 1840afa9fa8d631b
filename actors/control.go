package actors

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/actors/trace"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/events"
	"github.com/hanode/hanode/node/machine/placement"
	"github.com/hanode/hanode/node/ops/control"
)

// queryTimeout bounds how long a control request waits for the actors.
const queryTimeout = 3 * time.Second

// ControlConfig is what the control actor needs.
type ControlConfig struct {
	Socket string
	Log    *slog.Logger
	// Ready, when set, receives the listening socket's path once, or the
	// error that stopped it from listening.
	Ready func(error)
	// Tracer serves hanode trace; nil refuses it.
	Tracer *trace.Tracer
	// Membership takes subscriptions (Subscribe), Messenger notes
	// (SendNote, NotesQuery), Placement the commands (PlacementCommand,
	// ConfirmFenced); Placement is nil without resource groups.
	Membership, Messenger, Placement *actor.PID
	// Status is what a status gatherer asks and adds; Gatherer the props
	// options of the gatherers (the node's dispatcher).
	Status   StatusSources
	Gatherer []actor.PropsOption
	// Events is the node's timeline (EventsQuery).
	Events *events.Log
	// Parameters are the configuration's parameters (ParameterQuery);
	// read only.
	Parameters map[string]string
}

// Control is the actor that answers requests from outside the actors: the
// control socket's, whose connection goroutines ask it and wait, and the
// Node's methods. It answers from what it was given (the timeline, the
// parameters), spawns a status gatherer per status, and forwards the rest
// to the actor that answers it, which answers the asker. Without a socket
// it only does that.
type Control struct {
	cfg    ControlConfig
	server *control.Server
}

// NewControl returns a producer of control actors.
func NewControl(cfg ControlConfig) actor.Producer {
	return func() actor.Actor { return &Control{cfg: cfg} }
}

// ControlListenError is the panic reason of a control actor that cannot
// listen; the supervisor retries after a backoff.
type ControlListenError struct{ Err error }

func (e *ControlListenError) Error() string { return e.Err.Error() }
func (e *ControlListenError) Unwrap() error { return e.Err }

// Receive handles the actor's messages.
func (c *Control) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if c.cfg.Socket == "" {
			if c.cfg.Ready != nil {
				c.cfg.Ready(nil)
			}
			return
		}
		s, err := control.Listen(c.cfg.Socket, c.cfg.Log)
		if c.cfg.Ready != nil {
			c.cfg.Ready(err)
		}
		if err != nil {
			panic(&ControlListenError{Err: err})
		}
		c.server = s
		root, self := ctx.ActorSystem().Root, ctx.Self()
		go s.ServeStreams(func(ctx context.Context, req *messages.ControlRequest) *messages.ControlResponse {
			return answer(ctx, root, self, req)
		}, c.stream)
		c.cfg.Log.Info("control socket listening", "socket", c.cfg.Socket)
	case *actor.Restarting, *actor.Stopping:
		if c.server != nil {
			c.server.Close()
			c.server = nil
		}
	case *StatusQuery:
		if ctx.Sender() != nil {
			ctx.Spawn(actor.PropsFromProducer(NewStatusGatherer(c.cfg.Status, ctx.Sender()), c.cfg.Gatherer...))
		}
	case *Subscribe:
		ctx.Forward(c.cfg.Membership)
	case *SendNote, *NotesQuery:
		ctx.Forward(c.cfg.Messenger)
	case *ConfirmFenced:
		if c.cfg.Placement == nil {
			ctx.Respond(&messages.ConfirmFencedResponse{})
			return
		}
		ctx.Forward(c.cfg.Placement)
	case *PlacementCommand:
		if c.cfg.Placement == nil {
			ctx.Respond(&messages.PlacementResponse{})
			return
		}
		ctx.Forward(c.cfg.Placement)
	case *EventsQuery:
		ctx.Respond(&messages.EventsResponse{Events: c.cfg.Events.List(m.Limit)})
	case *ParameterQuery:
		v, ok := c.cfg.Parameters[m.Name]
		ctx.Respond(&messages.ParameterResponse{Name: m.Name, Value: v, Set: ok})
	}
}

// answer turns a control request into a query to the control actor, which
// answers it or passes it on to the actor that does.
func answer(_ context.Context, root *actor.RootContext, self *actor.PID, req *messages.ControlRequest) *messages.ControlResponse {
	var q any
	switch r := req.Request.(type) {
	case *messages.ControlRequest_Status:
		q = &StatusQuery{}
	case *messages.ControlRequest_Parameter:
		q = &ParameterQuery{Name: r.Parameter.GetName()}
	case *messages.ControlRequest_SendNote:
		if err := control.CheckNote(r.SendNote.GetText()); err != nil {
			return &messages.ControlResponse{Error: err.Error()}
		}
		q = &SendNote{Text: r.SendNote.GetText()}
	case *messages.ControlRequest_Notes:
		q = &NotesQuery{}
	case *messages.ControlRequest_ConfirmFenced:
		q = &ConfirmFenced{Node: strings.ToLower(r.ConfirmFenced.GetNode())}
	case *messages.ControlRequest_Events:
		q = &EventsQuery{Limit: int(r.Events.GetLimit())}
	case *messages.ControlRequest_Placement:
		sel := placement.Selection(r.Placement.GetSelection())
		switch sel {
		case "":
			sel = placement.All
		case placement.All, placement.Local, placement.Foreign, placement.Failback:
		default:
			return &messages.ControlResponse{Error: fmt.Sprintf("unknown selection %q: all, local, foreign or failback", sel)}
		}
		q = &PlacementCommand{Takeover: r.Placement.GetTakeover(), Selection: sel}
	default:
		return &messages.ControlResponse{Error: "unknown control request"}
	}
	res, err := root.RequestFuture(self, q, queryTimeout).Result()
	if err != nil {
		return &messages.ControlResponse{Error: fmt.Sprintf("node did not answer: %v", err)}
	}
	switch v := res.(type) {
	case *messages.ClusterStatus:
		return &messages.ControlResponse{Response: &messages.ControlResponse_Status{Status: v}}
	case *messages.ParameterResponse:
		return &messages.ControlResponse{Response: &messages.ControlResponse_Parameter{Parameter: v}}
	case *messages.NoteSent:
		return &messages.ControlResponse{Response: &messages.ControlResponse_NoteSent{NoteSent: v}}
	case *messages.NotesResponse:
		bounded := boundNotes(v.Notes, notesBudget)
		bounded.Dropped += v.Dropped
		return &messages.ControlResponse{Response: &messages.ControlResponse_Notes{Notes: bounded}}
	case *messages.PlacementResponse:
		return &messages.ControlResponse{Response: &messages.ControlResponse_Placement{Placement: v}}
	case *messages.EventsResponse:
		return &messages.ControlResponse{Response: &messages.ControlResponse_Events{Events: v}}
	case *messages.ConfirmFencedResponse:
		return &messages.ControlResponse{Response: &messages.ControlResponse_ConfirmFenced{ConfirmFenced: v}}
	case error:
		return &messages.ControlResponse{Error: v.Error()}
	}
	return &messages.ControlResponse{Error: fmt.Sprintf("unexpected answer %T", res)}
}

// notesBudget bounds the notes in one answer, well below the response
// bound (control.MaxMessage): with every note cut to control.MaxNote, it
// still holds the newest 250 or so of the longest notes.
const notesBudget = 1 << 20

// boundNotes returns the newest notes that fit in budget bytes, each text
// cut to control.MaxNote (a peer's note may be longer: only this node's
// own clients are refused longer ones), and how many older notes it leaves
// out. The notes given belong to the messenger: they are copied, not
// changed.
func boundNotes(notes []*messages.ReceivedNote, budget int) *messages.NotesResponse {
	kept := make([]*messages.ReceivedNote, 0, min(len(notes), 1024))
	size := 0
	i := len(notes) - 1
	for ; i >= 0; i-- {
		n := notes[i]
		if len(n.Text) > control.MaxNote {
			n = proto.CloneOf(n)
			n.Text = cutNote(n.Text)
		}
		size += proto.Size(n)
		if size > budget {
			break
		}
		kept = append(kept, n)
	}
	slices.Reverse(kept)
	return &messages.NotesResponse{Notes: kept, Dropped: uint64(i + 1)}
}

// cutNote cuts a text to control.MaxNote bytes, on a character boundary,
// and says how long it was.
func cutNote(text string) string {
	mark := fmt.Sprintf(" [cut: %d bytes]", len(text))
	n := control.MaxNote - len(mark)
	for n > 0 && !utf8.RuneStart(text[n]) {
		n--
	}
	return text[:n] + mark
}

// traceBuffer is how many records an attached client may lag behind
// before records are dropped (and counted) rather than slow the node.
const traceBuffer = 4096

// stream serves hanode trace: every traced delivery that passes the
// filters, until the client goes.
func (c *Control) stream(ctx context.Context, req *messages.ControlRequest, send func(*messages.ControlResponse) error) error {
	if c.cfg.Tracer == nil {
		return send(&messages.ControlResponse{Error: "tracing is not available on this node"})
	}
	tr := req.GetTrace()
	keep := func(r trace.Record) bool {
		if len(tr.Actors) > 0 && !containsAny(r.Receiver, tr.Actors) && !containsAny(r.Sender, tr.Actors) {
			return false
		}
		return len(tr.Types) == 0 || containsAny(r.Type, tr.Types)
	}
	records := make(chan trace.Record, traceBuffer)
	var dropped atomic.Uint64
	detach := c.cfg.Tracer.Attach(func(r trace.Record) {
		if !keep(r) {
			return
		}
		select {
		case records <- r:
		default:
			dropped.Add(1)
		}
	})
	defer detach()
	c.cfg.Log.Info("trace attached", "actors", tr.Actors, "types", tr.Types)
	defer c.cfg.Log.Info("trace detached")
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-records:
			rec := &messages.TraceRecord{Time: timestamppb.New(r.Time), Receiver: r.Receiver, Sender: r.Sender, Type: r.Type,
				Summary: r.Summary, Dropped: dropped.Swap(0)}
			if err := send(&messages.ControlResponse{Response: &messages.ControlResponse_TraceRecord{TraceRecord: rec}}); err != nil {
				return err
			}
		}
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
