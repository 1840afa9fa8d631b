package node

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/actors"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/host/agents"
	"github.com/hanode/hanode/node/host/announce"
	"github.com/hanode/hanode/node/host/fence"
	"github.com/hanode/hanode/node/host/procrun"
	"github.com/hanode/hanode/node/machine/group"
	"github.com/hanode/hanode/node/machine/mutation"
	"github.com/hanode/hanode/node/machine/placement"
)

// ResolveAgents finds the agent of every configured resource, as Heartbeat
// does at start: a resource whose script cannot be found is an error naming
// the line that configured it.
func ResolveAgents(cfg *config.Effective) ([][]*agents.Agent, error) {
	dirs := agents.Dirs{HaDir: cfg.AgentDirs.GetHaDir(), InitD: cfg.AgentDirs.GetInitD(), OCFRoot: cfg.AgentDirs.GetOcfRoot()}
	lg := cfg.Cluster.GetLogging()
	env := agents.Env{Local: cfg.Local, LogFile: lg.GetFile(), DebugFile: lg.GetDebugFile(), LogFacility: lg.GetFacility(), Debug: int(lg.GetDebug())}
	var errs []error
	out := make([][]*agents.Agent, len(cfg.Groups))
	for i, g := range cfg.Groups {
		for _, r := range g.Resources {
			a, err := agents.Resolve(r.Resource, dirs, env)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.Where, err))
				continue
			}
			out[i] = append(out[i], a)
		}
	}
	return out, errors.Join(errs...)
}

// LeaveTimeout bounds a clean stop's wait for the groups to stop here: the
// sum of every stop timeout (those of the resources kept on every node
// too, which stop last), plus a little.
func LeaveTimeout(cfg *config.Effective) time.Duration {
	d := 5 * time.Second
	for _, g := range cfg.Groups {
		for _, r := range g.Resources {
			d += r.StopTimeout
		}
	}
	return d
}

// AgentFactory builds the agent of a resource (tests: fake agents);
// Options.Agents.
type AgentFactory func(group string, r config.ResourceSpec) (actors.AgentRunner, error)

// groupAgents are the agents of every group's resources, in configuration
// order.
func groupAgents(cfg *config.Effective, factory AgentFactory) ([][]actors.AgentRunner, error) {
	out := make([][]actors.AgentRunner, len(cfg.Groups))
	if factory == nil {
		resolved, err := ResolveAgents(cfg)
		if err != nil {
			return nil, err
		}
		for i, rs := range resolved {
			for _, a := range rs {
				out[i] = append(out[i], a)
			}
		}
		return out, nil
	}
	var errs []error
	for i, g := range cfg.Groups {
		for _, r := range g.Resources {
			a, err := factory(g.Name, r)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.Where, err))
				continue
			}
			out[i] = append(out[i], a)
		}
	}
	return out, errors.Join(errs...)
}

// Addresses lists the IP addresses a resource configures (IPaddr and
// IPaddr2, as Heartbeat scripts or OCF agents, and the built-in address
// resource): what a node re-announces when it keeps a group that ran on
// another node too.
func Addresses(r *messages.Resource) []netip.Addr {
	var spec string
	switch a := r.GetAgent().(type) {
	case *messages.Resource_Heartbeat:
		if (a.Heartbeat.Name == "IPaddr" || a.Heartbeat.Name == "IPaddr2") && len(a.Heartbeat.Args) > 0 {
			spec = a.Heartbeat.Args[0]
		}
	case *messages.Resource_Ocf:
		if a.Ocf.Type == "IPaddr" || a.Ocf.Type == "IPaddr2" {
			spec = a.Ocf.Params["ip"]
		}
	case *messages.Resource_Address:
		spec = a.Address.Ip
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(strings.SplitN(spec, "/", 2)[0]))
	if err != nil {
		return nil
	}
	return []netip.Addr{ip}
}

// announceAddresses is the default Announcer: three rounds of gratuitous
// ARP (IPv6: unsolicited neighbour advertisements) a second apart for each
// address (one is enough for Linux clients that have an entry; the repeats
// cover lost frames and clients that ignore updates within a second of the
// last).
func announceAddresses(ctx context.Context, group string, addrs []netip.Addr) error {
	var errs []error
	for _, a := range addrs {
		if err := announce.Address(ctx, a, 3, time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stopBudget is the time a group takes to stop at most: the sum of its
// moving resources' stop timeouts (they stop one after the other; those
// kept on every node do not stop when the group moves or quorum is lost).
func stopBudget(g config.GroupSpec) time.Duration {
	var d time.Duration
	for _, r := range g.Moving() {
		d += r.StopTimeout
	}
	return d
}

// retireTimeout bounds the stop of the resources kept on every node at the
// end of a clean stop: their groups' parts stop side by side, each
// resource after the other, so the longest sum of stop timeouts, plus a
// little.
func retireTimeout(cfg *config.Effective) time.Duration {
	var longest time.Duration
	for _, g := range cfg.Groups {
		var d time.Duration
		for _, r := range g.Everywhere() {
			d += r.StopTimeout
		}
		longest = max(longest, d)
	}
	return longest + 2*time.Second
}

// partitionMargin is what the majority adds to a lost node's stop budget
// before running its groups without fencing: two keepalives (timer
// lateness, clock rate), at least 200ms.
func partitionMargin(keepalive time.Duration) time.Duration {
	return max(2*keepalive, 200*time.Millisecond)
}

// groupPart is one runner's share of a group: the resources placement
// moves, or those kept running on every node.
type groupPart struct {
	cfg       group.Config
	resources []actors.GroupResource
	addrs     []netip.Addr
}

// add appends resource r, run by agent, to the part.
func (p *groupPart) add(r config.ResourceSpec, agent actors.AgentRunner) {
	p.cfg.Resources = append(p.cfg.Resources, r.ID)
	// One check period per part: the shortest configured.
	if r.MonitorInterval > 0 && (p.cfg.MonitorInterval == 0 || r.MonitorInterval < p.cfg.MonitorInterval) {
		p.cfg.MonitorInterval = r.MonitorInterval
	}
	p.resources = append(p.resources, actors.GroupResource{ID: r.ID, Agent: agent,
		StartTimeout: r.StartTimeout, StopTimeout: r.StopTimeout, MonitorTimeout: r.MonitorTimeout})
	p.addrs = append(p.addrs, Addresses(r.Resource)...)
}

// splitGroup splits a group's resources, in configuration order, into the
// part placement moves and the part kept running on every node (empty
// when none is). When there is a kept part, the moving part is held
// until it has settled (see package group: the group starts on no node
// before its kept part has started on every live node).
func splitGroup(g config.GroupSpec, agents []actors.AgentRunner) (moving, kept groupPart) {
	moving.cfg.Name, kept.cfg.Name = g.Name, g.Name
	for j, r := range g.Resources {
		if r.Everywhere {
			kept.add(r, agents[j])
		} else {
			moving.add(r, agents[j])
		}
	}
	if len(kept.resources) > 0 {
		kept.cfg.Kept = true
		moving.cfg.Held = !mutation.On("start-before-kept")
	}
	return moving, kept
}

// setupGroups builds the placement machine and a runner per group, and
// one per group's part kept on every node.
func (rt *runtime) setupGroups(agentsByGroup [][]actors.AgentRunner, fencers []string, announcer actors.Announcer, watcher procrun.Watcher, tune func(*placement.Config)) {
	cfg := rt.cfg
	if len(cfg.Groups) == 0 {
		return
	}
	specs := make([]placement.GroupSpec, len(cfg.Groups))
	budgets := map[string]time.Duration{}
	// One bound for the probes of all the node's groups, kept with their
	// states across restarts of their actors.
	probes := procrun.NewSlots(actors.ProbeSlots())
	for i, g := range cfg.Groups {
		specs[i] = placement.GroupSpec{Name: g.Name, Preferred: g.Preferred}
		budgets[g.Name] = stopBudget(g)
		moving, kept := splitGroup(g, agentsByGroup[i])
		rt.groups = append(rt.groups, actors.NewGroupState(actors.GroupConfig{
			Name: g.Name, Runner: group.New(moving.cfg), Resources: moving.resources,
			Events: rt.events, Local: cfg.Local, Metrics: rt.metrics,
			Addresses: moving.addrs, Announce: announcer, Watcher: watcher, Probes: probes,
		}))
		if len(kept.resources) > 0 {
			rt.everywhere = append(rt.everywhere, actors.NewGroupState(actors.GroupConfig{
				Name: g.Name, Runner: group.New(kept.cfg), Resources: kept.resources, Everywhere: true,
				Events: rt.events, Local: cfg.Local, Metrics: rt.metrics, Watcher: watcher, Probes: probes,
			}))
		}
	}
	pc := placement.Config{Local: cfg.Local, Generation: rt.generation, Nodes: cfg.Nodes, Groups: specs, AutoFailback: cfg.AutoFailback,
		PingNodes: len(cfg.Cluster.PingNodes), PingHoldoff: cfg.Deadping, Quorum: quorumPolicy(cfg.Cluster.GetQuorum().GetPolicy()),
		Fencers: fencers, Devices: actors.PlacementDevices(fenceDevices(rt.fenceDevices)), StopBudget: budgets, PartitionMargin: partitionMargin(cfg.Keepalive),
		SyncInterval: SyncInterval(len(cfg.Nodes), cfg.Keepalive)}
	if tune != nil {
		tune(&pc)
	}
	m := placement.New(pc, time.Now())
	rt.placement = actors.NewPlacementState(actors.PlacementStateConfig{
		Machine: m, Local: cfg.Local, Peers: peers(cfg), Events: rt.events, Metrics: rt.metrics,
	})
}

func fenceDevices(cfgs []actors.FenceDeviceConfig) []*fence.Device {
	var out []*fence.Device
	for _, c := range cfgs {
		out = append(out, c.Device)
	}
	return out
}

// startGroups spawns the placement actor, one actor per group and one per
// group's part kept on every node (which releases its group's actor once
// it has settled).
func (a *nodeActor) startGroups(ctx actor.Context) {
	rt := a.rt
	a.placement = nil
	if rt.placement == nil {
		return
	}
	devices := map[string]*actor.PID{}
	for _, d := range a.fenceDevices {
		devices[d.Name] = d.PID
	}
	a.placement = a.spawn(ctx, actors.KindPlacement, actors.NewPlacement(rt.placement, actors.PlacementConfig{
		Messenger: a.messenger, Devices: devices, Log: rt.log}), "placement")
	ctx.Send(a.messenger, &actors.Subscribe{PID: a.placement})
	ctx.Send(a.membership, &actors.Subscribe{PID: a.placement})
	for _, d := range a.fenceDevices {
		ctx.Send(d.PID, &actors.Subscribe{PID: a.placement})
	}
	pids := map[string]*actor.PID{}
	for _, st := range rt.groups {
		pids[st.Name()] = a.spawn(ctx, actors.KindGroup, actors.NewGroup(st, a.placement, nil, rt.log), "group-"+unsafeActorName.ReplaceAllString(st.Name(), "_"))
	}
	a.everywhere = nil
	for _, st := range rt.everywhere {
		a.everywhere = append(a.everywhere, a.spawn(ctx, actors.KindGroup, actors.NewGroup(st, a.placement, pids[st.Name()], rt.log),
			"everywhere-"+unsafeActorName.ReplaceAllString(st.Name(), "_")))
	}
	ctx.Send(a.placement, &actors.GroupActors{ByName: pids})
}

// retire stops the groups' parts kept on every node, side by side, and
// calls then once all have stopped or timeout has passed: the last step
// of a clean stop, after the groups themselves have stopped here.
func (a *nodeActor) retire(ctx actor.Context, timeout time.Duration, then func()) {
	var waits []*actor.Future
	for _, pid := range a.everywhere {
		waits = append(waits, ctx.RequestFuture(pid, &actors.Retire{}, timeout))
	}
	var wait func(i int)
	wait = func(i int) {
		if i == len(waits) {
			then()
			return
		}
		ctx.ReenterAfter(waits[i], func(res any, err error) {
			if err != nil {
				a.rt.log.Warn("resources kept on every node not all stopped before shutdown", "err", err)
			} else if r, ok := res.(*actors.Retired); ok && r.Failed != "" {
				a.rt.log.Warn("resources kept on every node not all stopped before shutdown", "reason", r.Failed)
			}
			wait(i + 1)
		})
	}
	wait(0)
}

func quorumPolicy(p messages.QuorumPolicy) placement.QuorumPolicy {
	switch p {
	case messages.QuorumPolicy_QUORUM_POLICY_FREEZE:
		return placement.QuorumFreeze
	case messages.QuorumPolicy_QUORUM_POLICY_IGNORE:
		return placement.QuorumIgnore
	}
	return placement.QuorumStop
}

// PartitionWaits describes, for hanode check, what a cluster of three or
// more nodes with quorum and no fencing adds to the failover of a lost
// node: its groups wait for their stop budget, the time the node (cut off,
// having lost quorum) has to stop them by itself.
func PartitionWaits(cfg *config.Effective, devices []*fence.Device) []string {
	if len(cfg.Nodes) < 3 || len(devices) > 0 || quorumPolicy(cfg.Cluster.GetQuorum().GetPolicy()) != placement.QuorumStop {
		return nil
	}
	var out []string
	for _, g := range cfg.Groups {
		out = append(out, fmt.Sprintf("no fencing: when the node running group %s is lost (dead or cut off), the others run it only after its stop budget, %v (the sum of its resources' stop timeouts, plus %v), when that node, cut off and without quorum, must have stopped it by itself or reset",
			g.Name, stopBudget(g), partitionMargin(cfg.Keepalive)))
	}
	return out
}

// SyncInterval spaces a node's full states (placement.Config.SyncInterval)
// in a cluster of nodes members at keepalive. Each one answers every join
// and request of its interval at once, and is heard by every other node:
// when N nodes start together a node sends about (the time they take to
// start) / interval of them, each costing N-1 receptions. So the interval
// grows with the cluster, 10ms per node from 250ms, but never beyond a
// keepalive: a node that joins an established cluster waits at most that
// for the states it needs before it may claim.
func SyncInterval(nodes int, keepalive time.Duration) time.Duration {
	return min(keepalive, max(250*time.Millisecond, time.Duration(nodes)*10*time.Millisecond))
}
