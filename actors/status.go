package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hanode/hanode/messages"
)

// StatusSources are what a status gatherer asks and adds. Nil PIDs are
// not asked (placement without resource groups).
type StatusSources struct {
	Membership, Messenger, Heartbeat, Placement *actor.PID
	// Info fills in the header when membership does not answer.
	Info       MembershipInfo
	Generation uint64
	// FenceDevices are the fencing devices' actors, in configuration
	// order, each asked for its last check.
	FenceDevices []FenceDeviceSource
	// Finish adds what the node itself knows (the timeline, the links
	// that loop); may be nil.
	Finish func(*messages.ClusterStatus)
	// Timeout bounds the wait for each answer.
	Timeout time.Duration
}

// FenceDeviceSource is a fencing device's actor, by the device's name.
type FenceDeviceSource struct {
	Name string
	PID  *actor.PID
}

// StatusGatherer is a short-lived actor that answers one StatusQuery: it
// asks membership, the messenger, the heartbeat actor and placement at
// once, and answers when all have answered or the timeout passed, with
// what it has and, in Errors, what it lacks. It always answers, then
// stops.
type StatusGatherer struct {
	src   StatusSources
	asker *actor.PID
	// pending counts the questions not answered yet.
	pending    int
	membership *messages.ClusterStatus
	streams    Streams
	sent       *SendStatus
	groups     *GroupsStatus
	devices    []*messages.FenceDeviceState
	errs       []string
}

// NewStatusGatherer returns a producer of the gatherer of one status for
// asker.
func NewStatusGatherer(src StatusSources, asker *actor.PID) actor.Producer {
	return func() actor.Actor { return &StatusGatherer{src: src, asker: asker} }
}

// Receive handles the actor's messages.
func (g *StatusGatherer) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Started); !ok {
		return
	}
	g.ask(ctx, "membership", g.src.Membership, &StatusQuery{}, func(res any) bool {
		s, ok := res.(*messages.ClusterStatus)
		if ok {
			g.membership = s
		}
		return ok
	})
	g.ask(ctx, "messenger", g.src.Messenger, &StreamsQuery{}, func(res any) bool {
		s, ok := res.(Streams)
		g.streams = s
		return ok
	})
	g.ask(ctx, "heartbeat", g.src.Heartbeat, &SendQuery{}, func(res any) bool {
		s, ok := res.(*SendStatus)
		if ok {
			g.sent = s
		}
		return ok
	})
	g.ask(ctx, "placement", g.src.Placement, &GroupsQuery{}, func(res any) bool {
		s, ok := res.(GroupsStatus)
		if ok {
			g.groups = &s
		}
		return ok
	})
	g.devices = make([]*messages.FenceDeviceState, len(g.src.FenceDevices))
	for i, d := range g.src.FenceDevices {
		// Until it answers: named, not checked.
		g.devices[i] = &messages.FenceDeviceState{Name: d.Name}
		g.ask(ctx, "fence device "+d.Name, d.PID, &FenceDeviceQuery{}, func(res any) bool {
			s, ok := res.(*messages.FenceDeviceState)
			if ok {
				g.devices[i] = s
			}
			return ok
		})
	}
	if g.pending == 0 {
		g.answer(ctx)
	}
}

// ask sends q to pid and hands the answer to take, which says whether it
// was of the expected type.
func (g *StatusGatherer) ask(ctx actor.Context, name string, pid *actor.PID, q any, take func(any) bool) {
	if pid == nil {
		return
	}
	g.pending++
	f := ctx.RequestFuture(pid, q, g.src.Timeout)
	ctx.ReenterAfter(f, func(res any, err error) {
		switch {
		case err != nil:
			g.errs = append(g.errs, fmt.Sprintf("%s did not answer: %v", name, err))
		case !take(res):
			g.errs = append(g.errs, fmt.Sprintf("%s answered %T", name, res))
		}
		if g.pending--; g.pending == 0 {
			g.answer(ctx)
		}
	})
}

// answer assembles the status from what was gathered, sends it and stops.
func (g *StatusGatherer) answer(ctx actor.Context) {
	s := g.membership
	if s == nil {
		info := g.src.Info
		s = &messages.ClusterStatus{
			Cluster: info.Cluster, LocalNode: info.Local, Generation: g.src.Generation, Version: info.Version,
			Keepalive: durationpb.New(info.Keepalive), Deadtime: durationpb.New(info.Deadtime),
			Warntime: durationpb.New(info.Warntime), Initdead: durationpb.New(info.Initdead),
		}
	}
	for _, n := range s.Nodes {
		if m := g.streams[n.Name]; m != nil {
			n.Messages = m
		}
	}
	if g.sent != nil {
		s.FramesSent = g.sent.FramesSent
	}
	if gs := g.groups; gs != nil {
		s.Groups, s.NoQuorum, s.Unfenced = gs.Groups, gs.NoQuorum, gs.Unfenced
		s.Fenced, s.SelfStopWaits = gs.Fenced, gs.SelfStopWaits
	}
	if len(g.devices) > 0 {
		s.FenceDevices = g.devices
	}
	if g.src.Finish != nil {
		g.src.Finish(s)
	}
	s.Errors = g.errs
	ctx.Send(g.asker, s)
	ctx.Stop(ctx.Self())
}
