package actors

import (
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Backoff is a supervisor strategy that restarts a failed child after a
// delay that doubles with every failure in a row, from Initial up to Max. A
// child that ran for Reset without failing starts again from Initial.
// Without a Limit it never gives up: a link whose device is missing keeps
// trying, and shows as dead meanwhile. With one, a child that fails more
// than Limit times within Window is stopped for good: an actor whose state
// makes it fail would otherwise fail forever.
//
// protoactor's own exponential strategy grows linearly and adds nanoseconds
// of noise; this one is what its name says.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	Reset   time.Duration
	// Limit, when positive, is how many failures within Window are
	// restarted; the next one stops the child.
	Limit  int
	Window time.Duration
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
	if b.Limit > 0 && rs.NumberOfFailures(b.Window) > b.Limit {
		sys.EventStream.Publish(&actor.SupervisorEvent{Child: child, Reason: reason, Directive: actor.StopDirective})
		supervisor.StopChildren(child)
		return
	}
	delay := b.Delay(rs.FailureCount())
	sys.EventStream.Publish(&actor.SupervisorEvent{Child: child, Reason: reason, Directive: actor.RestartDirective})
	time.AfterFunc(delay, func() { supervisor.RestartChildren(child) })
}

// ChildKind is what a child of the node actor is, given when it is
// spawned: it chooses how the child's failures are handled.
type ChildKind int

const (
	// I/O actors: they own a socket, a device or a process, and start
	// afresh.
	KindLink ChildKind = iota + 1
	KindPing
	KindFenceDevice
	KindControl
	KindWatchdog
	// Actors whose state outlives their restarts.
	KindMembership
	KindMessenger
	KindPlacement
	KindGroup
	KindRespawn
	// KindHeartbeat sends this node's frames.
	KindHeartbeat
	// KindStatus gathers one status and stops: its end is no failure.
	KindStatus
)

var kindNames = map[ChildKind]string{
	KindLink: "link", KindPing: "ping", KindFenceDevice: "fence device", KindControl: "control", KindWatchdog: "watchdog",
	KindMembership: "membership", KindMessenger: "messenger", KindPlacement: "placement", KindGroup: "group",
	KindRespawn: "respawn", KindHeartbeat: "heartbeat", KindStatus: "status",
}

func (k ChildKind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("ChildKind(%d)", int(k))
}

// Kinds lists every kind of child.
func Kinds() []ChildKind {
	out := make([]ChildKind, 0, len(kindNames))
	for k := KindLink; k <= KindStatus; k++ {
		out = append(out, k)
	}
	return out
}

// Supervision supervises each child of an actor by the strategy of the
// kind it was spawned as (Spawn).
type Supervision struct {
	// ByKind maps kinds to their strategies; every kind spawned must have
	// one.
	ByKind map[ChildKind]actor.SupervisorStrategy
	// mu guards kinds: Spawn runs on the parent's goroutine, HandleFailure
	// on whichever the failure is handled.
	mu    sync.Mutex
	kinds map[string]ChildKind
	// spawns counts spawns; first and last are each kind's first and
	// latest spawn by that count (the start order, for tests).
	spawns      uint64
	first, last map[ChildKind]uint64
}

var _ actor.SupervisorStrategy = (*Supervision)(nil)

// Spawn starts a child of kind under ctx, which must be supervised by s.
func (s *Supervision) Spawn(ctx actor.Context, kind ChildKind, props *actor.Props, name string) (*actor.PID, error) {
	if _, ok := s.ByKind[kind]; !ok {
		return nil, fmt.Errorf("spawn %s: no supervision for kind %v", name, kind)
	}
	var pid *actor.PID
	var err error
	if name == "" {
		pid = ctx.Spawn(props)
	} else if pid, err = ctx.SpawnNamed(props, name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kinds == nil {
		s.kinds, s.first, s.last = map[string]ChildKind{}, map[ChildKind]uint64{}, map[ChildKind]uint64{}
	}
	s.kinds[pid.Id] = kind
	s.spawns++
	if s.first[kind] == 0 {
		s.first[kind] = s.spawns
	}
	s.last[kind] = s.spawns
	return pid, nil
}

// SpawnOrder says when the first and the latest child of kind were
// spawned, counting every spawn from 1 (0: never).
func (s *Supervision) SpawnOrder(kind ChildKind) (first, last uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first[kind], s.last[kind]
}

// Kind is the kind pid was spawned as, 0 when it was not spawned by s.
func (s *Supervision) Kind(pid *actor.PID) ChildKind {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kinds[pid.GetId()]
}

// Forget drops a child that has stopped.
func (s *Supervision) Forget(pid *actor.PID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.kinds, pid.GetId())
}

// HandleFailure dispatches to the strategy of the child's kind; a child of
// no known kind is stopped.
func (s *Supervision) HandleFailure(sys *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason any, msg any) {
	if st, ok := s.ByKind[s.Kind(child)]; ok {
		st.HandleFailure(sys, supervisor, child, rs, reason, msg)
		return
	}
	Stop.HandleFailure(sys, supervisor, child, rs, reason, msg)
}

// Stop is the strategy that stops a failed child at once.
var Stop actor.SupervisorStrategy = stopStrategy{}

type stopStrategy struct{}

func (stopStrategy) HandleFailure(sys *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason any, _ any) {
	sys.EventStream.Publish(&actor.SupervisorEvent{Child: child, Reason: reason, Directive: actor.StopDirective})
	supervisor.StopChildren(child)
}
