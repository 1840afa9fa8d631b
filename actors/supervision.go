package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Backoff is a supervisor strategy that restarts a failed child after a
// delay that doubles with every failure in a row, from Initial up to Max. A
// child that ran for Reset without failing starts again from Initial. It
// never gives up: a link whose device is missing keeps trying, and shows as
// dead meanwhile.
//
// protoactor's own exponential strategy grows linearly and adds nanoseconds
// of noise; this one is what its name says.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	Reset   time.Duration
}

var _ actor.SupervisorStrategy = (*Backoff)(nil)

// Delay is the pause before the nth restart in a row (n >= 1).
func (b *Backoff) Delay(n int) time.Duration {
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// HandleFailure schedules the restart of child. The decision is published
// on the event stream as a *actor.SupervisorEvent, where the node logs it.
func (b *Backoff) HandleFailure(sys *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason any, _ any) {
	if rs.NumberOfFailures(b.Reset) == 0 {
		rs.Reset()
	}
	rs.Fail()
	delay := b.Delay(rs.FailureCount())
	sys.EventStream.Publish(&actor.SupervisorEvent{Child: child, Reason: reason, Directive: actor.RestartDirective})
	time.AfterFunc(delay, func() { supervisor.RestartChildren(child) })
}

// Policy supervises each child by the strategy of its kind, chosen from
// the child's name.
type Policy struct {
	// ByName maps a child name prefix (the part after the parent's id and
	// "/", up to the first "-") to its strategy.
	ByName map[string]actor.SupervisorStrategy
	// Default applies to every other child.
	Default actor.SupervisorStrategy
}

var _ actor.SupervisorStrategy = (*Policy)(nil)

// HandleFailure dispatches to the strategy of the child's kind.
func (p *Policy) HandleFailure(sys *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason any, msg any) {
	if s, ok := p.ByName[Kind(child)]; ok {
		s.HandleFailure(sys, supervisor, child, rs, reason, msg)
		return
	}
	p.Default.HandleFailure(sys, supervisor, child, rs, reason, msg)
}

// Kind is the kind of a child from its id: "node/link-eth0" is "link",
// "node/membership" is "membership".
func Kind(pid *actor.PID) string {
	id := pid.GetId()
	for i := len(id) - 1; i >= 0; i-- {
		if id[i] == '/' {
			id = id[i+1:]
			break
		}
	}
	for i := 0; i < len(id); i++ {
		if id[i] == '-' {
			return id[:i]
		}
	}
	return id
}
