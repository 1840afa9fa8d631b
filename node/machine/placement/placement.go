// Package placement decides which node runs each resource group, and makes
// sure that a group never runs on two nodes at once. It is a pure state
// machine: inputs are membership changes, cluster messages, reports of the
// local group actors, fencing outcomes, operator requests and time;
// outputs (Effects) are the messages to send, the groups to start or stop
// here, fencing orders (one device, one attempt each) and the timeline's
// events, moves named by how the group was lost (LossKind).
//
// Files by concern: peers.go (the membership view, deaths), sync.go (the
// state exchanged on joining), claims.go, desired.go (the desired owner
// and acting on it), fencing.go (waits for dead nodes, fencing records),
// fenceorders.go (devices and fencing orders), quorum.go,
// connectivity.go (ipfail), overrides.go (standby, takeover), view.go
// (status), inputs.go (the other inputs and timeouts), effects.go.
//
// Every node computes, from the same facts, the node a group should run on
// (its desired owner): an operator's override (hanode takeover/standby),
// else the node that runs it when auto_failback is off, else its preferred
// node when alive, else the first live node in configuration order.
//
// The rules that keep a group single (each is checked over random whole
// cluster histories by the simulation in node/sim):
//
//   - Join by state. A node that comes up, and a peer seen again (restarted
//     or back from a partition), exchange their full placement state: the
//     phase of every group (probing, starting, running, stopping), grants,
//     fencing done and pending, operator overrides. Nobody claims a group
//     while a live peer's state of its current life is missing, and a peer
//     is no candidate for a group before its state (probes done) is known.
//   - Claims and grants. The desired owner does not start a group on its
//     own say: it claims it, and starts only when every node it sees alive
//     has granted the claim. A node never grants a group it holds, is
//     probing, starting or stopping, until its stop has completed; nor one
//     it granted to another live node, nor one a dead node may still run.
//     A grant names the claimant's generation: a later life of it cannot
//     use it.
//   - Death. The groups of a node that died (not one that stopped cleanly)
//     move only once it cannot run them: once it is fenced when fencing is
//     configured; else, in a cluster of three or more with quorum, once it
//     must have stopped them by itself (it lost quorum at the same silence:
//     peers' heartbeats acknowledge hearing it, see package membership; it
//     then has the group's stop budget, and resets itself if it has not
//     stopped them by then); else (two nodes, nothing to lean on) at once.
//   - Healing. A group that ran on two nodes anyway (a false death, a two
//     node partition) stops on the one that should not have it, and the one
//     that keeps it re-announces its addresses once the other has stopped.
package placement

import (
	"slices"
	"sort"
	"time"

	"github.com/hanode/hanode/messages"
	mutate "github.com/hanode/hanode/node/machine/mutation"
)

// GroupSpec is a configured group.
type GroupSpec struct {
	Name      string
	Preferred string
}

// Config is what the machine needs to know.
type Config struct {
	Local string
	// Generation is this node's life: operator requests made here last as
	// long as it.
	Generation uint64
	// Nodes in configuration order, Local included.
	Nodes  []string
	Groups []GroupSpec
	// AutoFailback moves a group back to its preferred node when that node
	// returns (auto_failback on, and legacy).
	AutoFailback bool
	// RetryDelay is the pause before claiming again after a denial.
	RetryDelay time.Duration
	// QuickRetry is the pause after a denial in favour of a node this one
	// knows dead.
	QuickRetry time.Duration
	// ClaimTimeout gives up a claim whose grants do not all arrive; it
	// doubles after each claim in a row that timed out, at most
	// maxClaimBackoff times (voters that answer late).
	ClaimTimeout time.Duration
	// GrantTimeout forgets a grant whose claimant never said it started.
	GrantTimeout time.Duration
	// SyncInterval spaces this node's full states: the joins and requests
	// of one interval share one broadcast (0: 250ms). SyncRetry is how
	// long a live peer may stay without sending its full state before it
	// is asked again, and how long an answer given stands for its
	// requests (0: 3s).
	SyncInterval, SyncRetry time.Duration
	// BanDuration keeps a group off a node where it failed.
	BanDuration time.Duration
	// PingNodes is the number of configured ping nodes; with any, groups
	// avoid nodes that reach fewer of them than another live node (the
	// built-in ipfail).
	PingNodes int
	// Fencers are the nodes that can use a fencing device; with any, a
	// dead node that held groups is fenced before they start elsewhere,
	// by the first live fencer in configuration order.
	Fencers []string
	// Devices are the fencing devices in configuration order. The
	// machine chooses those that fence a node from here and orders
	// attempts with them one after the other (Effects.Fence). Fencers,
	// when not given, are the nodes that may use one of them.
	Devices []FenceDevice
	// FenceRetries failed attempts are retried FenceRetryDelay apart;
	// after that the failure is reported and attempts go on every
	// 6×FenceRetryDelay. Groups held by an unfenced node never move.
	FenceRetries    int
	FenceRetryDelay time.Duration
	// FenceQueryInterval is how often a node waiting for another to be
	// fenced asks its peers whether it was (the fencer's notice may have
	// been lost with it).
	FenceQueryInterval time.Duration
	// Quorum is what this node does in a partition without a majority of
	// the configured nodes (three or more nodes only).
	Quorum QuorumPolicy
	// PingHoldoff is how long a node must reach fewer ping nodes than the
	// best before its groups move, and as many again before it is trusted
	// again: a flapping router does not bounce services.
	PingHoldoff time.Duration
	// StopBudget is, per group, the time a node has to stop it: the sum of
	// its resources' stop timeouts (DefaultStopBudget when missing). A node
	// without quorum that has not stopped a group within it since it lost
	// quorum resets itself; a majority waits that long (plus
	// PartitionMargin) before running the groups of a node it lost
	// without fencing.
	StopBudget map[string]time.Duration
	// PartitionMargin covers timer lateness and clock rate between the
	// two sides of a partition.
	PartitionMargin time.Duration
}

// DefaultStopBudget is the stop budget of a group the configuration says
// nothing about.
const DefaultStopBudget = 60 * time.Second

func (c *Config) defaults() {
	if c.Fencers == nil {
		for _, n := range c.Nodes {
			if slices.ContainsFunc(c.Devices, func(d FenceDevice) bool { return d.usableFrom(n) }) {
				c.Fencers = append(c.Fencers, n)
			}
		}
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = 100 * time.Millisecond
	}
	if c.QuickRetry <= 0 {
		c.QuickRetry = 10 * time.Millisecond
	}
	if c.ClaimTimeout <= 0 {
		c.ClaimTimeout = 5 * time.Second
	}
	if c.GrantTimeout <= 0 {
		c.GrantTimeout = 10 * time.Second
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = 250 * time.Millisecond
	}
	if c.SyncRetry <= 0 {
		c.SyncRetry = 3 * time.Second
	}
	if c.BanDuration <= 0 {
		c.BanDuration = 5 * time.Minute
	}
	if c.PingHoldoff <= 0 {
		c.PingHoldoff = 2 * time.Second
	}
	if c.FenceRetries <= 0 {
		c.FenceRetries = 5
	}
	if c.FenceRetryDelay <= 0 {
		c.FenceRetryDelay = 5 * time.Second
	}
	if c.FenceQueryInterval <= 0 {
		c.FenceQueryInterval = time.Second
	}
	if c.PartitionMargin <= 0 {
		c.PartitionMargin = time.Second
	}
}

func (c *Config) stopBudget(group string) time.Duration {
	if d, ok := c.StopBudget[group]; ok && d > 0 {
		return d
	}
	return DefaultStopBudget
}

// longestStopBudget is the longest stop budget of groups: a node that may
// run them all has that long to stop them (they stop side by side).
func (c *Config) longestStopBudget(groups []string) time.Duration {
	var d time.Duration
	for _, g := range groups {
		d = max(d, c.stopBudget(g))
	}
	return d
}

// Phase is where a group stands on a node.
type Phase = messages.GroupPhase

// The phases.
const (
	Stopped   = messages.GroupPhase_GROUP_PHASE_STOPPED
	Starting  = messages.GroupPhase_GROUP_PHASE_STARTING
	Running   = messages.GroupPhase_GROUP_PHASE_RUNNING
	Stopping  = messages.GroupPhase_GROUP_PHASE_STOPPING
	Unmanaged = messages.GroupPhase_GROUP_PHASE_UNMANAGED
	Probing   = messages.GroupPhase_GROUP_PHASE_PROBING
)

// holds says whether a node in phase p may be running the group. A node
// stopping a group holds it until its stop has completed: nobody claims or
// grants it before.
func holds(p Phase) bool {
	if p == Stopping && mutation("grant-while-stopping") {
		return false
	}
	return p == Starting || p == Running || p == Stopping || p == Unmanaged || p == Probing
}

// runs says whether a node in phase p runs the group or is bringing it up.
func runs(p Phase) bool { return p == Starting || p == Running }

// active says whether a node in phase p has the group's resources up, or
// some of them: it may have taken the clients.
func active(p Phase) bool { return p == Starting || p == Running || p == Stopping || p == Unmanaged }

type group struct {
	spec GroupSpec
	// local is the phase this node's group actor reports (Probing until
	// its first report); commanded says the group should run here;
	// stopIssued that a stop was asked for and its Stopped report is
	// awaited.
	local      Phase
	commanded  bool
	stopIssued bool
	holders    map[string]Phase     // other nodes' phases (those that hold)
	banned     map[string]time.Time // node -> ban end
	claim      *claim
	grant      *grant
	// claimBackoff counts this node's claims of the group in a row that
	// timed out unanswered (claimTimeout).
	claimBackoff int
	// denials counts this node's claims of the group in a row that were
	// denied (retryDelay); a release of the group or a grant resets it.
	denials int
	// deferred are the claims of other nodes this node has not answered
	// yet, by claimant: it could not judge them (claimDeferral).
	deferred map[string]*deferredClaim
	override *override
	retryAt  time.Time
	// failed is the last failure on this node, for status.
	failed string
	// lost is when and how the group last stopped running elsewhere,
	// until it runs here (a move) or there again.
	lost *loss
	// conflict are the peers seen starting or running the group while
	// it ran here: once they have stopped, this node re-announces it.
	conflict map[string]bool
	// upHere is whether the group is up here (some of it); lastUp when it
	// last stopped being so: what a peer that could not hear this node
	// must be told (ran_apart).
	upHere bool
	lastUp time.Time
}

// Machine is the placement view of one node. Not safe for concurrent use.
type Machine struct {
	cfg     Config
	index   map[string]int // node -> configuration position
	groups  map[string]*group
	order   []string // group names in configuration order
	peers   map[string]*peer
	settled bool // no peer still in init: we know who is there
	// deferredClaims counts the claims deferred in every group, so that
	// evaluating needs no walk of the groups when there are none.
	deferredClaims int
	attempt        uint64
	left           bool
	// Connectivity (ipfail): ping nodes each node reaches, the nodes kept
	// from running groups for reaching fewer than another, and since when
	// a node's standing differs from that verdict.
	pingsUp       map[string]int
	poorlyLinked  map[string]bool
	standingSince map[string]time.Time
	// pending are dead nodes whose groups may not move yet: waiting to be
	// fenced, or to have stopped them by themselves.
	pending map[string]*pendingTakeover
	// fenced are the fencing records known, by node (the latest life).
	fenced map[string]*messages.NodeFenced
	// deferredPending are, by node, a peer's pending takeover for a node
	// still alive here when it came: taken if the node dies here in
	// that life within ClaimTimeout of it.
	deferredPending map[string]deferredPending
	// waitedOut is, by node, the latest life whose stop budget this node
	// waited out (tickPending): a peer's wait for that life is not
	// adopted again (adoptPending). Cleared when the node is alive again.
	waitedOut map[string]uint64
	// noQuorumSince is when this node lost quorum (zero while it has it).
	noQuorumSince time.Time
	resetAsked    bool
	// settledOnce: the first settled view was taken (peers never heard
	// by then were dealt with).
	settledOnce bool
	// fencing are the fencings under way from here, by target.
	fencing map[string]*fenceJob
	// reportedDown are the peers a live peer saw go down holding nothing
	// (their life): no need to fence or wait for them when this node
	// never heard them.
	reportedDown map[string]uint64
	// syncWanted: a full state is due (a newcomer, a request); it goes
	// out once SyncInterval has passed since lastSync.
	syncWanted bool
	lastSync   time.Time
}

// New returns a machine for a node that starts at now, its groups not yet
// probed.
func New(cfg Config, now time.Time) *Machine {
	cfg.defaults()
	m := &Machine{cfg: cfg, index: map[string]int{}, groups: map[string]*group{}, peers: map[string]*peer{},
		pingsUp: map[string]int{}, poorlyLinked: map[string]bool{}, standingSince: map[string]time.Time{},
		pending: map[string]*pendingTakeover{}, fenced: map[string]*messages.NodeFenced{}, fencing: map[string]*fenceJob{}, reportedDown: map[string]uint64{},
		deferredPending: map[string]deferredPending{}, waitedOut: map[string]uint64{}}
	for i, n := range cfg.Nodes {
		m.index[n] = i
		if n != cfg.Local {
			m.peers[n] = &peer{apartSince: now}
		}
	}
	for _, g := range cfg.Groups {
		m.groups[g.Name] = &group{spec: g, local: Probing, holders: map[string]Phase{}, banned: map[string]time.Time{}, conflict: map[string]bool{}}
		m.order = append(m.order, g.Name)
	}
	if !m.HasQuorum() {
		m.noQuorumSince = now
	}
	return m
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func orNobody(s string) string {
	if s == "" {
		return "no node"
	}
	return s
}

// mutation says whether a test switched off the rule it names (package
// mutation).
func mutation(name string) bool { return mutate.On(name) }
