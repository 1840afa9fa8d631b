package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/actors"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/agents"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/group"
	"github.com/hanode/hanode/node/placement"
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
// sum of every stop timeout, plus a little.
func LeaveTimeout(cfg *config.Effective) time.Duration {
	d := 5 * time.Second
	for _, g := range cfg.Groups {
		for _, r := range g.Resources {
			d += r.StopTimeout
		}
	}
	return d
}

// setupGroups builds the placement machine and a runner per group.
func (rt *runtime) setupGroups(groupAgents [][]*agents.Agent, fencers []string) {
	cfg := rt.cfg
	if len(cfg.Groups) == 0 {
		return
	}
	specs := make([]placement.GroupSpec, len(cfg.Groups))
	states := map[string]*actors.GroupState{}
	for i, g := range cfg.Groups {
		specs[i] = placement.GroupSpec{Name: g.Name, Preferred: g.Preferred}
		gc := group.Config{Name: g.Name}
		var res []actors.GroupResource
		for j, r := range g.Resources {
			gc.Resources = append(gc.Resources, r.ID)
			// One check period per group: the shortest configured.
			if r.MonitorInterval > 0 && (gc.MonitorInterval == 0 || r.MonitorInterval < gc.MonitorInterval) {
				gc.MonitorInterval = r.MonitorInterval
			}
			res = append(res, actors.GroupResource{Agent: groupAgents[i][j],
				StartTimeout: r.StartTimeout, StopTimeout: r.StopTimeout, MonitorTimeout: r.MonitorTimeout})
		}
		st := actors.NewGroupState(g.Name, group.New(gc), res)
		st.Events, st.Local, st.Metrics = rt.events, cfg.Local, rt.metrics
		rt.groups = append(rt.groups, st)
		states[g.Name] = st
	}
	m := placement.New(placement.Config{Local: cfg.Local, Nodes: cfg.Nodes, Groups: specs, AutoFailback: cfg.AutoFailback,
		PingNodes: len(cfg.Cluster.PingNodes), PingHoldoff: cfg.Deadping, Quorum: quorumPolicy(cfg.Cluster.GetQuorum().GetPolicy()),
		Fencers: fencers})
	rt.placement = actors.NewPlacementState(m, peers(cfg), states)
	rt.placement.Local = cfg.Local
	rt.placement.Events = rt.events
	rt.placement.Metrics = rt.metrics
	rt.placement.Devices = rt.fenceDevices
}

// startGroups spawns the placement actor and one actor per group.
func (a *nodeActor) startGroups(ctx actor.Context) {
	rt := a.rt
	a.placement = nil
	if rt.placement == nil {
		return
	}
	a.placement = spawn(ctx, actors.NewPlacement(rt.placement, a.messenger, rt.log), "placement")
	ctx.Send(a.messenger, &actors.RoutePlacement{PID: a.placement})
	ctx.Send(a.membership, &actors.Subscribe{PID: a.placement})
	pids := map[string]*actor.PID{}
	for _, st := range rt.groups {
		st.Placement = a.placement
		pids[st.Name] = spawn(ctx, actors.NewGroup(st, rt.log), "group-"+unsafeActorName.ReplaceAllString(st.Name, "_"))
	}
	ctx.Send(a.placement, &actors.GroupActors{ByName: pids})
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
