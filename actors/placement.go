package actors

import (
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/events"
	"github.com/hanode/hanode/node/machine/placement"
	"github.com/hanode/hanode/node/ops/metrics"
)

// PlacementStateConfig is what a placement actor's state is built from.
type PlacementStateConfig struct {
	Machine *placement.Machine
	// Local is this node's name; Peers the other members.
	Local string
	Peers []string
	// Events is the node's timeline; may be nil.
	Events *events.Log
	// Metrics counts moves; may be nil.
	Metrics *metrics.Metrics
}

// PlacementState is the placement machine and the membership view it is
// fed. Built once (NewPlacementState) and handed to each incarnation of
// the actor, so that a restarted placement actor keeps ownership, claims
// and grants; nothing outside the actor reads or writes it.
type PlacementState struct {
	machine *placement.Machine
	// resources are each group's resources as its last report
	// (GroupReported) gave them, for status; everywhere those of the
	// groups' parts kept on every node.
	resources  map[string][]*messages.ResourceStatus
	everywhere map[string][]*messages.ResourceStatus
	// checks are each fencing device's last check (DeviceChecked).
	checks map[string]*DeviceChecked
	// status, gen and hearsUs are each peer's last known membership
	// status, generation and acknowledgement of this node.
	status  map[string]messages.NodeStatus
	gen     map[string]uint64
	hearsUs map[string]bool
	// pids are the group actors by group name, set by the node.
	pids    map[string]*actor.PID
	waiters []*actor.PID
	left    bool
	// pending are group commands for actors not known yet.
	pending map[string]bool
	// viewGiven: the machine has had its first membership view.
	viewGiven bool
	// evalOwed: cluster messages were absorbed since the machine last
	// evaluated (an evaluateOwed is in the mailbox behind them).
	evalOwed bool
	// viewStale: membership events changed status, gen or hearsUs since
	// the machine's last view; a viewChanged is on its way.
	viewStale bool
	events    *events.Log
	metrics   *metrics.Metrics
	// lastHeard and deathReason are, for each dead peer, when it was last
	// heard from and why it was declared dead: a move after a death is
	// measured from the last sign of life.
	lastHeard   map[string]time.Time
	deathReason map[string]string
	local       string
}

// NewPlacementState returns the state of a node whose peers have not been
// heard from yet.
func NewPlacementState(cfg PlacementStateConfig) *PlacementState {
	st := &PlacementState{machine: cfg.Machine, local: cfg.Local, events: cfg.Events, metrics: cfg.Metrics, resources: map[string][]*messages.ResourceStatus{},
		everywhere: map[string][]*messages.ResourceStatus{}, checks: map[string]*DeviceChecked{}, status: map[string]messages.NodeStatus{}, gen: map[string]uint64{}, hearsUs: map[string]bool{},
		pids: map[string]*actor.PID{}, pending: map[string]bool{},
		lastHeard: map[string]time.Time{}, deathReason: map[string]string{}}
	for _, p := range cfg.Peers {
		st.status[p] = messages.NodeStatus_NODE_STATUS_INIT
	}
	return st
}

// GroupActors tells the placement actor where the group actors are. Sent by
// the node actor after spawning them.
type GroupActors struct {
	ByName map[string]*actor.PID
}

// SendCluster asks the messenger to send a cluster message to every node.
type SendCluster struct {
	Message *messages.ClusterMessage
}

func (m *SendCluster) TraceSummary() string { return payloadName(m.Message) }

// ClusterDelivered carries a peer's cluster message from the messenger to
// its subscribers (Subscribe), once and in order.
type ClusterDelivered struct {
	From    string
	Message *messages.ClusterMessage
}

func (m *ClusterDelivered) TraceSummary() string { return payloadName(m.Message) + " from " + m.From }

// ClusterLost tells the messenger's subscribers that messages of From's
// life Generation were given up: what they said is unknown here. It comes
// after the messages delivered on the same frame (those the loss
// unblocked).
type ClusterLost struct {
	From       string
	Generation uint64
}

func payloadName(m *messages.ClusterMessage) string {
	switch p := m.GetPayload().(type) {
	case *messages.ClusterMessage_Note:
		return "note"
	case *messages.ClusterMessage_GroupClaim:
		return fmt.Sprintf("claim %s #%d", p.GroupClaim.Group, p.GroupClaim.Attempt)
	case *messages.ClusterMessage_GroupClaimReply:
		r := p.GroupClaimReply
		return fmt.Sprintf("claim reply %s #%d granted=%v to %s", r.Group, r.Attempt, r.Granted, m.Destination)
	case *messages.ClusterMessage_GroupClaimCancel:
		return "claim cancel " + p.GroupClaimCancel.Group
	case *messages.ClusterMessage_GroupStates:
		return fmt.Sprintf("group states (%d)", len(p.GroupStates.Groups))
	case *messages.ClusterMessage_PlacementOverride:
		o := p.PlacementOverride
		return fmt.Sprintf("override %s node=%s prefer=%v", o.Group, o.Node, o.Prefer)
	case *messages.ClusterMessage_NodeLeaving:
		return "node leaving"
	case *messages.ClusterMessage_NodeFenced:
		f := p.NodeFenced
		return fmt.Sprintf("%s fenced (generation %d) by %s", f.Node, f.Generation, f.FencedBy)
	case *messages.ClusterMessage_FencingQuery:
		return "was " + p.FencingQuery.Node + " fenced?"
	}
	return "cluster message"
}

// PlacementCommand is hanode standby or takeover; answered with
// *messages.PlacementResponse.
type PlacementCommand struct {
	Takeover  bool
	Selection placement.Selection
}

// ConfirmFenced is an operator's word that a node waiting to be fenced is
// off; answered with *messages.ConfirmFencedResponse.
type ConfirmFenced struct{ Node string }

// Leave asks the placement actor to give every group away before a clean
// stop; it answers *Left once nothing runs here any more.
type Leave struct{}

// Left answers Leave.
type Left struct{}

// GroupsQuery asks the placement actor for the status of every group; it
// answers GroupsStatus.
type GroupsQuery struct{}

// GroupsStatus answers GroupsQuery.
type GroupsStatus struct {
	// Groups in configuration order.
	Groups []*messages.GroupStatus
	// NoQuorum: this node's partition holds no majority.
	NoQuorum bool
	// Unfenced are the nodes waiting to be fenced.
	Unfenced []*messages.FenceState
	// Fenced are the fencing records known; SelfStopWaits the dead nodes
	// given time to stop their groups by themselves.
	Fenced        []*messages.FenceRecord
	SelfStopWaits []*messages.SelfStopWait
}

// Reannounce asks a group actor to announce its addresses again (the
// group ran on another node too, which has stopped it). Sent by the
// placement actor.
type Reannounce struct{}

// ResetNode asks the node actor to reset the machine at once: it lost
// quorum and could not stop its groups in time. Sent by the placement
// actor.
type ResetNode struct{ Reason string }

// Placement is the actor that owns the placement machine: it feeds it
// membership events, peers' placement messages, group reports, operator
// commands and time, and carries out its effects.
type Placement struct {
	st       *PlacementState
	cfg      PlacementConfig
	log      *slog.Logger
	deadline *Deadline
	now      func() time.Time
}

// PlacementConfig is what a placement actor is built with.
type PlacementConfig struct {
	// Messenger sends cluster messages.
	Messenger *actor.PID
	// Devices are the fencing devices' actors by device name, which
	// carry out the machine's fencing orders (spawned before placement;
	// they report their checks once placement subscribes).
	Devices map[string]*actor.PID
	Log     *slog.Logger
}

// NewPlacement returns a producer of placement actors sharing st.
func NewPlacement(st *PlacementState, cfg PlacementConfig) actor.Producer {
	return func() actor.Actor { return &Placement{st: st, cfg: cfg, log: cfg.Log, now: time.Now} }
}

// viewChanged, sent by the placement actor to itself after a membership
// event, gives the machine the view of every membership event received
// until it comes.
type viewChanged struct{}

// evaluateOwed, sent by the placement actor to itself after it absorbed a
// cluster message, has the machine act on every message absorbed until it
// comes, once (placement.Machine.Absorb).
type evaluateOwed struct{}

// Receive handles the actor's messages.
func (a *Placement) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *ClusterDelivered, *evaluateOwed, *actor.Started, *actor.Restarting, *actor.Stopping, *actor.Stopped:
	default:
		// Whatever else the machine is given or asked, it has acted on
		// the cluster messages before it.
		a.flushEvaluation(ctx)
	}
	switch ctx.Message().(type) {
	case *messages.MembershipEvent, *viewChanged, *evaluateOwed, *actor.Started, *actor.Restarting, *actor.Stopping, *actor.Stopped:
	default:
		// Whatever else the machine is given, it has the view of every
		// membership event before it, as if each were given at once.
		a.flushView(ctx)
	}
	switch m := ctx.Message().(type) {
	case *viewChanged:
		a.flushView(ctx)
	case *evaluateOwed:
		a.flushEvaluation(ctx)
	case *actor.Started:
		a.deadline = NewDeadline(ctx.ActorSystem(), ctx.Self())
		if !a.st.viewGiven {
			// The first view: nobody heard from yet (a cluster of one is
			// settled at once).
			a.st.viewGiven = true
			a.updateView(ctx)
		}
		// A view that changed before a restart (its viewChanged may
		// have been handled by the failed incarnation, or not), and
		// messages absorbed but not acted on.
		a.flushView(ctx)
		a.flushEvaluation(ctx)
		a.rearm()
	case *actor.Restarting, *actor.Stopping:
		a.deadline.Stop()
	case *GroupActors:
		a.st.pids = m.ByName
		for name, run := range a.st.pending {
			if pid := a.st.pids[name]; pid != nil {
				ctx.Send(pid, &GroupCommand{Run: run})
			}
		}
		a.st.pending = map[string]bool{}
	case *messages.MembershipEvent:
		a.membership(ctx, m)
	case *ClusterDelivered:
		e, owed := a.st.machine.Absorb(a.now(), m.From, m.Message)
		a.apply(ctx, e)
		if owed && !a.st.evalOwed {
			a.st.evalOwed = true
			ctx.Send(ctx.Self(), &evaluateOwed{})
		}
	case *ClusterLost:
		a.apply(ctx, a.st.machine.Lost(a.now(), m.From, m.Generation))
	case *GroupReported:
		if m.Everywhere {
			// Kept on every node whatever the machine decides: not an
			// input of it.
			a.st.everywhere[m.Group] = m.Resources
			return
		}
		a.st.resources[m.Group] = m.Resources
		if m.Report != nil {
			a.apply(ctx, a.st.machine.Report(a.now(), placement.GroupReport{
				Group: m.Group, Phase: m.Report.Phase, Failed: m.Report.Failed, Reason: m.Report.Reason}))
		}
	case *DeviceChecked:
		a.st.checks[m.Name] = m
	case *PlacementCommand:
		var e placement.Effects
		if m.Takeover {
			e = a.st.machine.Takeover(a.now(), m.Selection)
		} else {
			e = a.st.machine.Standby(a.now(), m.Selection)
		}
		var names []string
		for _, s := range e.Send {
			if o := s.GetPlacementOverride(); o != nil {
				names = append(names, o.Group)
			}
		}
		verb := "standby"
		if m.Takeover {
			verb = "takeover"
		}
		a.log.Info("operator request", "request", verb, "selection", string(m.Selection), "groups", names)
		if a.st.events != nil {
			a.st.events.Add(&messages.ClusterEvent{Time: timestamppb.New(a.now()), Kind: messages.EventKind_EVENT_KIND_OPERATOR, Node: a.st.local,
				Summary: fmt.Sprintf("operator: %s %s on %s (groups %v)", verb, m.Selection, a.st.local, names)})
		}
		a.apply(ctx, e)
		ctx.Respond(&messages.PlacementResponse{Groups: names})
	case *Leave:
		a.st.waiters = append(a.st.waiters, ctx.Sender())
		a.apply(ctx, a.st.machine.Leave(a.now()))
	case *GroupsQuery:
		ctx.Respond(a.groups())
	case *FenceOutcome:
		a.apply(ctx, a.st.machine.FenceResult(a.now(), m.Target, m.Device, m.Err))
	case *ConfirmFenced:
		e, was := a.st.machine.ConfirmFenced(a.now(), m.Node)
		a.apply(ctx, e)
		ctx.Respond(&messages.ConfirmFencedResponse{WasWaiting: was})
	case *DeadlineReached:
		if a.deadline.Fired(m) {
			a.apply(ctx, a.st.machine.Tick(a.now()))
		}
	}
}

func (a *Placement) membership(ctx actor.Context, ev *messages.MembershipEvent) {
	if _, ok := a.st.status[ev.Node]; !ok && ev.Kind != messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_CONNECTIVITY {
		return
	}
	switch ev.Kind {
	case messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS:
		a.st.status[ev.Node] = ev.Status
		a.st.gen[ev.Node] = max(a.st.gen[ev.Node], ev.Generation)
		if ev.Status == messages.NodeStatus_NODE_STATUS_DEAD {
			a.st.hearsUs[ev.Node] = false
			at := ev.GetTime().AsTime()
			if ev.Silence != nil {
				at = at.Add(-ev.Silence.AsDuration())
			}
			a.st.lastHeard[ev.Node], a.st.deathReason[ev.Node] = at, ev.Reason
		}
	case messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_RESTARTED:
		a.st.gen[ev.Node] = max(a.st.gen[ev.Node], ev.Generation)
		a.st.hearsUs[ev.Node] = false
	case messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_REACH:
		a.st.hearsUs[ev.Node] = ev.HearsUs
	case messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_CONNECTIVITY:
		a.apply(ctx, a.st.machine.Connectivity(a.now(), ev.Node, int(ev.PingNodesUp)))
		return
	default:
		return
	}
	// The machine is given the view once for a run of membership events
	// (a viewChanged behind them in the mailbox), not once per event: at
	// 128 nodes on one machine, events came by the thousand (peers
	// declared dead, hearing this node or not), each cost a view of every
	// peer, and building views was a fifth of the cluster's CPU.
	if !a.st.viewStale {
		a.st.viewStale = true
		ctx.Send(ctx.Self(), &viewChanged{})
	}
}

// flushEvaluation has the machine act on the cluster messages it absorbed
// since it last did, if any.
func (a *Placement) flushEvaluation(ctx actor.Context) {
	if a.st.evalOwed {
		a.st.evalOwed = false
		a.apply(ctx, a.st.machine.Evaluate(a.now()))
	}
}

// flushView gives the machine the view, if membership events changed it
// since the last.
func (a *Placement) flushView(ctx actor.Context) {
	if a.st.viewStale {
		a.st.viewStale = false
		a.updateView(ctx)
	}
}

// updateView gives the machine the membership view: the live peers with
// their generations and whether they hear this node, and whether every
// peer has been heard from or given up on.
func (a *Placement) updateView(ctx actor.Context) {
	var view []placement.Peer
	settled := true
	for n, s := range a.st.status {
		switch s {
		case messages.NodeStatus_NODE_STATUS_UP, messages.NodeStatus_NODE_STATUS_ACTIVE:
			view = append(view, placement.Peer{Name: n, Alive: true, Generation: a.st.gen[n], HearsUs: a.st.hearsUs[n]})
		case messages.NodeStatus_NODE_STATUS_INIT:
			settled = false
		}
	}
	sort.Slice(view, func(i, j int) bool { return view[i].Name < view[j].Name })
	a.apply(ctx, a.st.machine.Membership(a.now(), view, settled))
}

// apply carries out the machine's effects.
func (a *Placement) apply(ctx actor.Context, e placement.Effects) {
	for _, l := range e.Log {
		a.log.Info(l)
	}
	a.record(e.Events)
	for _, m := range e.Send {
		ctx.Send(a.cfg.Messenger, &SendCluster{Message: m})
	}
	command := func(name string, run bool) {
		if pid := a.st.pids[name]; pid != nil {
			ctx.Send(pid, &GroupCommand{Run: run})
		} else {
			a.st.pending[name] = run
		}
	}
	for _, g := range e.Stop {
		command(g, false)
	}
	for _, g := range e.Start {
		command(g, true)
	}
	for _, g := range e.Reannounce {
		if pid := a.st.pids[g]; pid != nil {
			ctx.Send(pid, &Reannounce{})
		}
	}
	if e.Reset != "" {
		ctx.Send(ctx.Parent(), &ResetNode{Reason: e.Reset})
	}
	for _, o := range e.Fence {
		a.fence(ctx, o)
	}
	if e.Left {
		a.st.left = true
	}
	if a.st.left {
		for _, w := range a.st.waiters {
			if w != nil {
				ctx.Send(w, &Left{})
			}
		}
		a.st.waiters = nil
	}
	a.rearm()
}

// record adds the machine's decisions to the timeline. A move after a
// death is measured from the dead node's last heartbeat, not from the
// moment its death was declared: the gap users saw.
func (a *Placement) record(evs []placement.Event) {
	for _, ev := range evs {
		ce := &messages.ClusterEvent{Time: timestamppb.New(a.now()), Kind: ev.Kind, Node: ev.Node, Group: ev.Group, Summary: ev.Summary}
		if ev.Kind == messages.EventKind_EVENT_KIND_GROUP_MOVED {
			gap := ev.Gap
			switch ev.How {
			case placement.LossDied, placement.LossStopped:
				if at, ok := a.st.lastHeard[ev.From]; ok && at.Before(ev.LostAt) {
					gap = a.now().Sub(at)
				}
				ce.Reason = a.st.deathReason[ev.From]
			case placement.LossReleased:
				ce.Reason = ev.From + " gave it up (clean stop, standby or failback)"
			case placement.LossRestarted:
				ce.Reason = ev.From + " restarted"
			}
			ce.Gap = durationpb.New(gap)
			since := ev.From + " gave it up"
			if ev.How == placement.LossDied {
				since = ev.From + "'s last heartbeat"
			}
			ce.Summary = fmt.Sprintf("%s: running here %v after %s", ev.Summary, gap.Round(time.Millisecond), since)
			a.log.Info("group moved", "group", ev.Group, "from", ev.From, "how", ev.How.String(), "gap", gap.Round(time.Millisecond))
			a.st.metrics.GroupMoved(ev.Group, ev.From, ev.How.String(), gap)
		}
		if a.st.events != nil {
			a.st.events.Add(ce)
		}
	}
}

func (a *Placement) groups() GroupsStatus {
	out := GroupsStatus{NoQuorum: !a.st.machine.HasQuorum(), Unfenced: a.st.machine.Unfenced(),
		Fenced: a.st.machine.Fenced(), SelfStopWaits: a.st.machine.SelfStopWaits()}
	for _, v := range a.st.machine.View(a.now()) {
		gs := &messages.GroupStatus{
			Name: v.Name, PreferredNode: v.Preferred, DesiredNode: v.Desired, LocalPhase: v.Local,
			BannedOn: v.Banned, Claiming: v.Claiming, LastFailure: v.Failure,
			OverrideNode: v.Override, OverridePrefer: v.Prefer,
		}
		for n := range v.Holders {
			gs.RunningOn = append(gs.RunningOn, n)
		}
		sort.Strings(gs.RunningOn)
		gs.Resources = a.st.resources[v.Name]
		gs.Everywhere = a.st.everywhere[v.Name]
		out.Groups = append(out.Groups, gs)
	}
	return out
}

func (a *Placement) rearm() {
	a.deadline.Arm(a.now(), a.st.machine.NextDeadline())
}
