package node

import (
	"github.com/hanode/hanode/actors"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/host/agents"
	"github.com/hanode/hanode/node/host/fence"
)

// A Plan is a resolved configuration made ready to run on this host,
// prepared once: `hanode check` prints it and `hanode run` starts it, so
// that every check on the host (agents, respawn programs, fencing
// programs, message sizes) runs once and both say the same.
//
// Contract:
//
//   - Prepare checks everything that does not open a socket or start a
//     process, and returns every problem of a kind together (errors.Join),
//     each naming the line or field that configured it, in this order:
//     resource agents, respawn programs, fencing devices, message sizes
//     (a *MessageSizeError). Nothing is started or changed on the host;
//   - the media are not checked here: `hanode check` often runs on an
//     admin host without the cluster's interfaces. Start checks them
//     (CheckMedia) when it opens the real media;
//   - a Plan is read-only once prepared; Start copies what it changes.
type Plan struct {
	// Config is the configuration the plan was prepared from.
	Config *config.Effective
	// Agents are the resources' agents found on disk, by group and
	// resource in configuration order; nil when an AgentFactory builds
	// them (the simulation's fake agents).
	Agents [][]*agents.Agent
	// Respawn are the respawned programs, checked.
	Respawn []actors.RespawnSpec
	// FenceDevices are the fencing devices' drivers, their programs found.
	FenceDevices []*fence.Device

	// runners are the agents as the group actors run them.
	runners [][]actors.AgentRunner
}

// MessageSizeError is Prepare's error when the largest cluster message
// may not fit the links (CheckMessageSizes): a property of the whole
// configuration, not of one line, which `hanode check` prefixes with the
// configuration's file.
type MessageSizeError struct{ Err error }

func (e *MessageSizeError) Error() string { return e.Err.Error() }
func (e *MessageSizeError) Unwrap() error { return e.Err }

// Prepare makes cfg ready to run: it finds every resource's agent (or
// builds it with factory, when not nil), checks the respawn programs and
// the fencing devices, and that the largest cluster message fits the
// links.
func Prepare(cfg *config.Effective, factory AgentFactory) (*Plan, error) {
	p := &Plan{Config: cfg}
	if factory == nil {
		resolved, err := ResolveAgents(cfg)
		if err != nil {
			return nil, err
		}
		p.Agents = resolved
		p.runners = make([][]actors.AgentRunner, len(resolved))
		for i, rs := range resolved {
			for _, a := range rs {
				p.runners[i] = append(p.runners[i], a)
			}
		}
	} else {
		runners, err := groupAgents(cfg, factory)
		if err != nil {
			return nil, err
		}
		p.runners = runners
	}
	var err error
	if p.Respawn, err = ResolveRespawn(cfg); err != nil {
		return nil, err
	}
	if p.FenceDevices, err = ResolveFence(cfg); err != nil {
		return nil, err
	}
	if err := CheckMessageSizes(cfg); err != nil {
		return nil, &MessageSizeError{err}
	}
	return p, nil
}

// Unfenceable lists the nodes no device of the plan can fence (see
// Unfenceable).
func (p *Plan) Unfenceable() []string { return Unfenceable(p.Config, p.FenceDevices) }

// PartitionWaits says what a partition costs the plan's groups (see
// PartitionWaits).
func (p *Plan) PartitionWaits() []string { return PartitionWaits(p.Config, p.FenceDevices) }
