package actors

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/host/agents"
	"github.com/hanode/hanode/node/host/procrun"
	"github.com/hanode/hanode/node/machine/events"
	"github.com/hanode/hanode/node/machine/group"
	"github.com/hanode/hanode/node/ops/metrics"
)

// AgentRunner runs one resource's agent: *agents.Agent, or a fake one in
// the whole-cluster simulation.
type AgentRunner interface {
	Run(ctx context.Context, action agents.Action, timeout time.Duration) agents.Result
}

// GroupResource is one resource of a group: its agent and the timeouts of
// its actions.
type GroupResource struct {
	// ID names the resource in logs and status.
	ID             string
	Agent          AgentRunner
	StartTimeout   time.Duration
	StopTimeout    time.Duration
	MonitorTimeout time.Duration
}

// Announcer announces a group's addresses again (gratuitous ARP): the
// group ran on another node too, which took the clients.
type Announcer func(ctx context.Context, group string, addrs []netip.Addr) error

func (r GroupResource) timeout(a agents.Action) time.Duration {
	switch a {
	case agents.Start:
		return r.StartTimeout
	case agents.Stop:
		return r.StopTimeout
	}
	return r.MonitorTimeout
}

// GroupConfig is what a group actor's state is built from.
type GroupConfig struct {
	Name      string
	Runner    *group.Runner
	Resources []GroupResource
	// Everywhere says that this is the part of group Name kept running on
	// every node (a group.Config.Kept runner): nobody commands it; its
	// reports say so, and placement keeps them for status only; it stops
	// when asked to Retire, at the end of a clean stop.
	Everywhere bool
	// Events is the node's timeline; may be nil.
	Events *events.Log
	// Local is this node's name, for events.
	Local string
	// Metrics counts agent runs; may be nil.
	Metrics *metrics.Metrics
	// Addresses are the group's IP addresses (IPaddr, IPaddr2), and
	// Announce re-announces them when placement says so.
	Addresses []netip.Addr
	Announce  Announcer
	// Watcher, when set, is told of every agent run's process group (the
	// node records the runs under way).
	Watcher procrun.Watcher
	// Probes bound the probes under way at once on this node, across all
	// its groups (ProbeSlots of them; nil: unbounded). The node makes
	// them once and gives the same to every group: they outlive any
	// group actor.
	Probes *procrun.Slots
}

// Probes are background work: at start every group of the cluster probes
// each of its resources on every node (is it running here?), all at the
// same moment. In a cluster of 64 nodes with a group each, that is 64
// scripts at once per node (IPaddr2 is a shell script of some hundred
// forks), which took the CPU from the node's own threads long enough for
// heartbeats to go out late and peers to be declared dead. So a probe
// waits for one of ProbeSlots slots, shared by all the node's groups, and
// runs ProbeNice steps below the node's priority. Starts, stops and the
// regular checks of running resources are neither bounded nor lowered: a
// service a start launches inherits the start's priority, and a check's
// answer is due within its timeout.

// ProbeSlots is how many probes a node runs at once: one per CPU this
// process may use (at least one). A probe is mostly CPU work (a script
// forking small programs); with one per CPU the probes keep every CPU
// busy when the node has nothing else to do, so running more at once
// would not end them sooner, only add memory and run-queue length; fewer
// would leave CPUs idle at start. The CPU left for the node itself comes
// from their priority (ProbeNice), not from their number. A probe's
// timeout counts from its own start, not from its wait for a slot.
func ProbeSlots() int { return max(1, runtime.NumCPU()) }

// ProbeNice is how many nice steps below the node its probes run (and
// what they start): at nice 10 a probe weighs 110 in the kernel's fair
// scheduler against 1024 for the node at nice 0, so a node's thread that
// wakes to send or read a heartbeat gets the CPU ahead of them and more
// than 90% of a contended CPU; a probe still runs, and ends, on a CPU the
// node leaves idle (nice 19, weight 15, could starve for long on a machine
// busy with other work, and probes hold up placement). A node running
// real-time (realtime on) preempts them whatever their nice value.
const ProbeNice = 10

// GroupState is a group's runner and what it has done. Built once
// (NewGroupState) and handed to each incarnation of the group actor, so
// that a restarted group actor neither forgets what runs nor runs an
// action twice: an agent run in flight finishes and reports to the same
// PID. Nothing outside the actor reads or writes it.
type GroupState struct {
	cfg   GroupConfig
	began bool
	// reported is the status of each resource last reported to
	// placement (once: reportedOnce).
	reported     []*messages.ResourceStatus
	reportedOnce bool
	// released: the group's other part was sent Release (Everywhere).
	released bool
	// retirers asked to Retire and wait for the group to have stopped.
	retirers []*actor.PID
}

// NewGroupState returns the state of a group not yet probed.
func NewGroupState(cfg GroupConfig) *GroupState {
	return &GroupState{cfg: cfg}
}

// Name is the group's name.
func (st *GroupState) Name() string { return st.cfg.Name }

// resourceStatus is the status of each resource, as the runner knows it.
func (st *GroupState) resourceStatus() []*messages.ResourceStatus {
	var out []*messages.ResourceStatus
	for _, r := range st.cfg.Runner.Resources() {
		rs := &messages.ResourceStatus{Id: r.ID, Up: r.Up}
		if !r.LastAt.IsZero() {
			rs.LastAction = string(r.Last.Action)
			rs.LastOutcome = r.Last.Outcome.String()
			rs.LastExitCode = int32(r.Last.ExitCode)
			rs.LastDuration = durationpb.New(r.Last.Duration)
			rs.LastAt = timestamppb.New(r.LastAt)
			rs.LastOutput = r.Last.Output
			if r.Last.Err != nil {
				rs.LastOutput = r.Last.Err.Error()
			}
		}
		out = append(out, rs)
	}
	return out
}

// GroupCommand tells a group actor whether its group should run here. Sent
// by the placement actor.
type GroupCommand struct {
	Run bool
}

func (m *GroupCommand) TraceSummary() string {
	if m.Run {
		return "start"
	}
	return "stop"
}

// GroupReported carries a group actor's report to the placement actor:
// its phase when it changed (Report; nil: unchanged) and the status of its
// resources, which placement keeps for status. Sent whenever either
// changes.
type GroupReported struct {
	Group string
	// Everywhere: from the part of the group kept on every node, which is
	// not placement's to run: kept for status only.
	Everywhere bool
	Report     *group.Report
	Resources  []*messages.ResourceStatus
}

func (m *GroupReported) TraceSummary() string {
	name := m.Group
	if m.Everywhere {
		name += " (everywhere)"
	}
	if m.Report == nil {
		return name + " resources"
	}
	s := name + " " + m.Report.Phase.String()
	if m.Report.Failed {
		s += " failed: " + m.Report.Reason
	}
	return s
}

// Release lets a group actor whose runner is held (group.Config.Held)
// begin. Sent by the actor of the group's part kept on every node, once
// that part has settled.
type Release struct{}

// Retire asks a group actor to stop its group here for good: the end of a
// clean stop, for the part of a group kept on every node. It answers
// *Retired once the group has stopped (or is unmanaged: a stop failed).
type Retire struct{}

// Retired answers Retire.
type Retired struct {
	// Failed says why the group could not be stopped, "" when it was.
	Failed string
}

// agentDone carries the result of an agent run back to its group actor.
type agentDone struct {
	op  group.Op
	res agents.Result
	// queued is how long a probe waited for a slot before it ran.
	queued time.Duration
}

func (m *agentDone) TraceSummary() string { return m.res.Summary() }

// Group is the actor of one resource group: it runs the agent actions its
// runner asks for, one at a time and off the actor's goroutine, and
// reports phase changes to the placement actor. The part of a group kept
// on every node has an actor of its own (GroupConfig.Everywhere), which
// releases the actor of the group's other part once it has settled.
type Group struct {
	st        *GroupState
	placement *actor.PID
	release   *actor.PID
	log       *slog.Logger
	deadline  *Deadline
	now       func() time.Time
}

// NewGroup returns a producer of group actors sharing st, reporting to
// placement (nil: nobody). release, for the part of a group kept on every
// node, is the actor of the group's other part, held until this part has
// settled (nil: none).
func NewGroup(st *GroupState, placement, release *actor.PID, log *slog.Logger) actor.Producer {
	log = log.With("group", st.cfg.Name)
	if st.cfg.Everywhere {
		log = log.With("everywhere", true)
	}
	return func() actor.Actor {
		return &Group{st: st, placement: placement, release: release, log: log, now: time.Now}
	}
}

// Receive handles the actor's messages.
func (a *Group) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.deadline = NewDeadline(ctx.ActorSystem(), ctx.Self())
		if !a.st.began {
			a.st.began = true
			a.apply(ctx, a.st.cfg.Runner.Begin(a.now()))
		} else {
			a.settled(ctx)
			a.rearm()
		}
	case *actor.Restarting, *actor.Stopping:
		a.deadline.Stop()
	case *GroupCommand:
		if m.Run {
			a.apply(ctx, a.st.cfg.Runner.Start(a.now()))
		} else {
			a.apply(ctx, a.st.cfg.Runner.Stop(a.now()))
		}
	case *agentDone:
		a.logResult(m)
		a.apply(ctx, a.st.cfg.Runner.Done(a.now(), m.res))
	case *DeadlineReached:
		if a.deadline.Fired(m) {
			a.apply(ctx, a.st.cfg.Runner.Tick(a.now()))
		}
	case *Reannounce:
		a.reannounce()
	case *Release:
		a.apply(ctx, a.st.cfg.Runner.Release(a.now()))
	case *Retire:
		a.st.retirers = append(a.st.retirers, ctx.Sender())
		a.apply(ctx, a.st.cfg.Runner.Stop(a.now()))
	}
}

// reannounce announces the group's addresses again, off the actor's
// goroutine (the announcement repeats over a few seconds).
func (a *Group) reannounce() {
	if a.st.cfg.Announce == nil {
		return
	}
	a.log.Info("re-announcing the group's addresses: it ran on another node too", "addresses", a.st.cfg.Addresses)
	if a.st.cfg.Events != nil {
		a.st.cfg.Events.Add(&messages.ClusterEvent{Time: timestamppb.New(a.now()), Kind: messages.EventKind_EVENT_KIND_GROUP, Node: a.st.cfg.Local, Group: a.st.cfg.Name,
			Summary: fmt.Sprintf("%s: re-announced %v on %s (it ran on another node too)", a.st.cfg.Name, a.st.cfg.Addresses, a.st.cfg.Local)})
	}
	announce, name, addrs, log := a.st.cfg.Announce, a.st.cfg.Name, a.st.cfg.Addresses, a.log
	go func() {
		if err := announce(context.Background(), name, addrs); err != nil {
			log.Warn("re-announcing the group's addresses failed", "err", err)
		}
	}()
}

func (a *Group) apply(ctx actor.Context, out group.Out) {
	for _, l := range out.Log {
		a.log.Info(l)
	}
	if out.Run != nil {
		a.run(ctx, *out.Run)
	}
	if r := out.Report; r != nil && r.Failed && a.st.cfg.Everywhere {
		a.keptFailure(r)
	}
	a.report(ctx, out.Report)
	a.settled(ctx)
	a.retired(ctx)
	a.rearm()
}

// keptFailure reports a failure of the part of the group kept on every
// node: placement does not act on it (the group is not this part's to
// move), so the log and the timeline say it here.
func (a *Group) keptFailure(r *group.Report) {
	what := "restarting it here; the group does not move"
	if r.Phase == messages.GroupPhase_GROUP_PHASE_UNMANAGED {
		what = "it could not be stopped and may still run here"
	}
	a.log.Warn("a resource kept running on every node failed here: "+what, "reason", r.Reason)
	if a.st.cfg.Events != nil {
		a.st.cfg.Events.Add(&messages.ClusterEvent{Time: timestamppb.New(a.now()), Kind: messages.EventKind_EVENT_KIND_GROUP, Node: a.st.cfg.Local, Group: a.st.cfg.Name,
			Summary: fmt.Sprintf("%s: part kept on every node failed on %s: %s", a.st.cfg.Name, a.st.cfg.Local, what), Reason: r.Reason})
	}
}

// settled releases the group's other part once this part, kept on every
// node, has settled (once, across restarts of this actor).
func (a *Group) settled(ctx actor.Context) {
	if a.release == nil || a.st.released || !a.st.cfg.Runner.Settled() {
		return
	}
	a.st.released = true
	ctx.Send(a.release, &Release{})
}

// retired answers those waiting for the group to stop here for good, once
// it has stopped (or cannot be: unmanaged).
func (a *Group) retired(ctx actor.Context) {
	if len(a.st.retirers) == 0 {
		return
	}
	var failed string
	switch a.st.cfg.Runner.Phase() {
	case messages.GroupPhase_GROUP_PHASE_STOPPED:
	case messages.GroupPhase_GROUP_PHASE_UNMANAGED:
		failed = "a stop failed: it may still run here"
	default:
		return
	}
	for _, w := range a.st.retirers {
		if w != nil {
			ctx.Send(w, &Retired{Failed: failed})
		}
	}
	a.st.retirers = nil
}

// report tells placement of a phase change (r, may be nil) and of the
// resources' status when either changed since the last report.
func (a *Group) report(ctx actor.Context, r *group.Report) {
	res := a.st.resourceStatus()
	if r == nil && a.st.reportedOnce && slices.EqualFunc(res, a.st.reported, func(x, y *messages.ResourceStatus) bool { return proto.Equal(x, y) }) {
		return
	}
	a.st.reported, a.st.reportedOnce = res, true
	if a.placement == nil {
		return
	}
	m := &GroupReported{Group: a.st.cfg.Name, Everywhere: a.st.cfg.Everywhere, Resources: res}
	if r != nil {
		rep := *r
		m.Report = &rep
	}
	ctx.Send(a.placement, m)
}

// run starts an agent action; its result comes back as agentDone.
func (a *Group) run(ctx actor.Context, op group.Op) {
	r := a.st.cfg.Resources[op.Resource]
	self, sys := ctx.Self(), ctx.ActorSystem()
	if op.Action != agents.Monitor {
		a.log.Info("resource action", "resource", r.ID, "action", string(op.Action))
	}
	runCtx := context.Background()
	if a.st.cfg.Watcher != nil {
		runCtx = procrun.WithWatcher(runCtx, a.st.cfg.Watcher)
	}
	var slots *procrun.Slots
	if op.Probe {
		// Background work: one of the node's probe slots, at a lower
		// priority (see ProbeSlots).
		slots = a.st.cfg.Probes
		runCtx = procrun.WithNice(runCtx, ProbeNice)
	}
	// The slot is the goroutine's, not the actor's: a restarted actor
	// neither holds nor loses it, and the result still reaches the same
	// PID. It is given back however the run ends (its timeout counts
	// from its start, after the wait), before the result is sent.
	go func() {
		queuedAt := time.Now()
		release := slots.Acquire()
		defer release()
		queued := time.Since(queuedAt)
		res := r.Agent.Run(runCtx, op.Action, r.timeout(op.Action))
		release()
		sys.Root.Send(self, &agentDone{op: op, res: res, queued: queued})
	}()
}

func (a *Group) logResult(m *agentDone) {
	id := a.st.cfg.Resources[m.op.Resource].ID
	attrs := []any{"resource", id, "action", string(m.res.Action), "outcome", m.res.Outcome.String(),
		"exit", m.res.ExitCode, "took", m.res.Duration.Round(time.Millisecond)}
	action := string(m.res.Action)
	if m.op.Probe {
		action = "probe"
		if m.queued >= time.Millisecond {
			attrs = append(attrs, "queued", m.queued.Round(time.Millisecond))
		}
	}
	a.st.cfg.Metrics.ResourceOp(a.st.cfg.Name, id, action, m.res.Outcome.String(), m.res.Duration)
	failedCheck := m.op.Action == agents.Monitor && !m.op.Probe && m.res.Outcome != agents.Running
	if a.st.cfg.Events != nil && !m.op.Probe && (m.res.Outcome == agents.Failed || m.res.Outcome == agents.TimedOut || failedCheck) {
		a.st.cfg.Events.Add(&messages.ClusterEvent{Time: timestamppb.Now(), Kind: messages.EventKind_EVENT_KIND_RESOURCE, Node: a.st.cfg.Local,
			Group: a.st.cfg.Name, Summary: fmt.Sprintf("%s on %s: %s", id, a.st.cfg.Local, m.res.Summary()), Reason: procrun.LastLine(m.res.Output)})
	}
	switch {
	case m.res.Outcome == agents.Failed || m.res.Outcome == agents.TimedOut:
		if !m.op.Probe {
			a.log.Warn("resource action failed", append(attrs, "output", m.res.Summary())...)
			return
		}
		a.log.Info("resource probed", attrs...)
	case m.op.Action == agents.Monitor:
		a.log.Debug("resource checked", attrs...)
	default:
		a.log.Info("resource action done", attrs...)
	}
}

func (a *Group) rearm() {
	a.deadline.Arm(a.now(), a.st.cfg.Runner.NextDeadline())
}
