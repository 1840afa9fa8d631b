// Package sim simulates whole hanode clusters inside one test process:
// the real node actors (membership, messenger, placement, group and fence
// actors, supervised by each node's root actor) of 2 to 5 nodes, over an
// in-memory network (transports/memnet) whose links can be cut, partitioned
// and made lossy per direction, with fake resource agents whose starts and
// stops take random times and sometimes fail, and fake fencing devices that
// power machines off, fail or hang. Run inside a testing/synctest bubble, a
// schedule of minutes of cluster time takes milliseconds.
//
// A World keeps the ground truth (which machine runs which resource, from
// the beginning of its start to the end of its stop) and checks the
// invariants as it changes: a group never active on two nodes at once
// (where fencing or quorum is configured; a two-node cluster without
// fencing only while its nodes hear each other), a group that ran twice is
// re-announced by the node that keeps it, auto_failback off never moves a
// group back to a node that returns, and (shapes with a resource kept on
// every node) a group starts on no node before its kept part runs there.
// At the end of each schedule the cluster is healed and left alone; then
// every group must run on exactly one node of the quorate partition (on
// its preferred node with auto_failback on).
package sim

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/actors"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/host/fence"
	"github.com/hanode/hanode/node/machine/placement"
	"github.com/hanode/hanode/transports"
	"github.com/hanode/hanode/transports/memnet"
)

// Options describe a simulated cluster.
type Options struct {
	Seed         uint64
	Nodes        int
	Groups       int
	Resources    int // per group
	Fencing      bool
	AutoFailback bool
	// Everywhere gives each group, after its first resource, one kept
	// running on every node (Resource.everywhere; keptAgent).
	Everywhere bool
	// Timing of the cluster.
	Keepalive, Deadtime time.Duration
	// StopTimeout of each resource: a group's stop budget is the sum.
	StopTimeout time.Duration
	// Dir holds the nodes' state directories.
	Dir string
}

func (o *Options) defaults() {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Groups == 0 {
		o.Groups = 1
	}
	if o.Resources == 0 {
		o.Resources = 2
	}
	if o.Keepalive == 0 {
		o.Keepalive = 250 * time.Millisecond
	}
	if o.Deadtime == 0 {
		o.Deadtime = time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 2 * time.Second
	}
}

// Cluster is a simulated cluster: machines, the network between them, and
// a hanode node on each machine that is up.
type Cluster struct {
	opts      Options
	names     []string
	world     *World
	behaviour *Behaviour
	trace     *Trace
	net       *memnet.Network
	cluster   *messages.Cluster
	rng       *rand.Rand

	mu    sync.Mutex
	nodes map[string]*node.Node
	// impairedSince: pairs that cannot hear each other now (a cut, loss,
	// a hanode down), since when; impairedUntil: when the last
	// impairment of a pair ended.
	impairedSince map[pair]time.Time
	impairedUntil map[pair]time.Time
	cuts          map[pair]bool // a cut or loss between the pair now
	lastOperator  time.Time
	// lastHolder of each group: who last ran it, when it stopped there,
	// how (stop, crash), and the epoch of that machine then.
	lastHolder map[string]holder
	// reboots are machines to boot again at a time (a fenced machine
	// that comes back).
	reboots map[string]time.Time
	// off are machines fenced off that stay off until the end.
	off map[string]bool
}

type pair struct{ a, b string }

func pairOf(a, b string) pair {
	if b < a {
		a, b = b, a
	}
	return pair{a, b}
}

type holder struct {
	node  string
	at    time.Time
	how   string
	epoch int
}

// New builds a simulated cluster; nothing runs until Boot.
func New(opts Options, behaviour *Behaviour) (*Cluster, error) {
	opts.defaults()
	c := &Cluster{opts: opts, behaviour: behaviour, trace: newTrace(), nodes: map[string]*node.Node{},
		impairedSince: map[pair]time.Time{}, impairedUntil: map[pair]time.Time{}, cuts: map[pair]bool{},
		lastHolder: map[string]holder{}, reboots: map[string]time.Time{}, off: map[string]bool{},
		rng: rand.New(rand.NewPCG(opts.Seed, 0x5eed))}
	for i := 1; i <= opts.Nodes; i++ {
		c.names = append(c.names, fmt.Sprintf("n%d", i))
	}
	groups := map[string]int{}
	cl := &messages.Cluster{
		Name:    "sim",
		Timing:  &messages.Timing{Keepalive: opts.Keepalive.String(), Deadtime: opts.Deadtime.String(), Warntime: (opts.Deadtime * 3 / 5).String(), Initdead: (3 * opts.Deadtime).String()},
		UdpPort: proto.Uint32(memnet.Port),
		Auth: &messages.Auth{ActiveKey: proto.Uint32(1), Keys: []*messages.AuthKey{
			{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_SHA256, Secret: "simulated"}}},
		AutoFailback: messages.AutoFailback_AUTO_FAILBACK_OFF,
	}
	if opts.AutoFailback {
		cl.AutoFailback = messages.AutoFailback_AUTO_FAILBACK_ON
	}
	var addrs []string
	for i, n := range c.names {
		cl.Nodes = append(cl.Nodes, &messages.Node{Name: n})
		addrs = append(addrs, fmt.Sprintf("10.201.0.%d", i+1))
	}
	cl.Links = []*messages.Link{{Name: "net", Medium: &messages.Link_Ucast{Ucast: &messages.Ucast{Peers: addrs}}}}
	for g := 1; g <= opts.Groups; g++ {
		name := fmt.Sprintf("g%d", g)
		grp := &messages.ResourceGroup{Name: name, PreferredNode: c.names[c.rng.IntN(len(c.names))]}
		for r := 0; r < opts.Resources; r++ {
			grp.Resources = append(grp.Resources, &messages.Resource{
				Id:              fmt.Sprintf("%s-r%d", name, r),
				Agent:           &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: "fake", Args: []string{fmt.Sprintf("%s-r%d", name, r)}}},
				MonitorInterval: "5s", StartTimeout: "2s", StopTimeout: opts.StopTimeout.String(),
			})
		}
		if opts.Everywhere {
			// Its place in the group does not matter: second.
			kept := &messages.Resource{Id: name + "-kept", Everywhere: true,
				Agent:           &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: "fake", Args: []string{name + "-kept"}}},
				MonitorInterval: "5s", StartTimeout: "2s", StopTimeout: opts.StopTimeout.String()}
			grp.Resources = append(grp.Resources[:1], append([]*messages.Resource{kept}, grp.Resources[1:]...)...)
		}
		cl.Groups = append(cl.Groups, grp)
		groups[name] = opts.Resources
	}
	if opts.Fencing {
		cl.FenceDevices = []*messages.FenceDevice{{Name: "pdu", Kind: &messages.FenceDevice_Script{Script: &messages.FenceScript{Path: "/bin/true"}}}}
	}
	c.cluster = cl
	c.world = newWorld(c.trace, c.names, groups)
	if opts.Everywhere {
		c.world.kept = map[string]map[string]int{}
		for g := range groups {
			c.world.kept[g] = map[string]int{}
		}
	}
	if opts.Nodes == 2 && !opts.Fencing {
		// Two nodes and nothing to lean on: while they cannot hear each
		// other, both may run a group.
		c.world.excused = c.excused
	}
	if !opts.AutoFailback {
		c.world.started = c.checkNoFailback
	}
	c.net = memnet.New(memnet.Config{Seed: opts.Seed, Latency: time.Millisecond, Jitter: time.Millisecond})
	return c, nil
}

// Names are the nodes, in configuration order.
func (c *Cluster) Names() []string { return c.names }

// Trace is the schedule's story so far.
func (c *Cluster) Trace() string { return c.trace.String() }

// World is the ground truth.
func (c *Cluster) World() *World { return c.world }

// Log records a line of the simulation's own story.
func (c *Cluster) Log(format string, args ...any) { c.trace.add("sim", fmt.Sprintf(format, args...)) }

// effective resolves the configuration for node name.
func (c *Cluster) effective(name string) (*config.Effective, error) {
	l := config.NewLoaded(config.FormatNative, "sim")
	l.Cluster = proto.Clone(c.cluster).(*messages.Cluster)
	return config.Resolve(l, name)
}

// Boot powers a machine on and starts its hanode (nothing if it is on).
func (c *Cluster) Boot(name string) error {
	c.world.mu.Lock()
	if c.world.machines[name].up {
		c.world.mu.Unlock()
		return nil
	}
	c.world.boot(name)
	c.world.mu.Unlock()
	c.mu.Lock()
	delete(c.reboots, name)
	delete(c.off, name)
	c.mu.Unlock()
	return c.startHanode(name)
}

func (c *Cluster) startHanode(name string) error {
	eff, err := c.effective(name)
	if err != nil {
		return err
	}
	dir := filepath.Join(c.opts.Dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	log := slog.New(&traceHandler{t: c.trace, node: name, min: slog.LevelInfo})
	// The new life begins before Start returns: its actors probe and stop
	// resources at once, and an agent run belongs to the life it began in
	// (fakeAgent.change drops what a run of an earlier life reports).
	c.world.mu.Lock()
	c.world.machines[name].hanode = true
	c.world.machines[name].life++
	for g := range c.world.groups {
		// A new life of hanode forgets the failures of the last (bans
		// live in memory).
		delete(c.world.bannedUntil[g], name)
	}
	c.world.mu.Unlock()
	n, err := node.Start(node.Options{
		Config: eff, StateDir: dir, Log: log,
		OpenMedium: func(spec config.LinkSpec, deliver transports.Deliver, readErr transports.ReadError) (transports.Link, error) {
			return c.net.Open(spec.Name, name, deliver, readErr)
		},
		Agents: func(group string, r config.ResourceSpec) (actors.AgentRunner, error) {
			if r.Everywhere {
				return &keptAgent{c: c, node: name, group: group}, nil
			}
			var idx int
			fmt.Sscanf(r.ID[len(group)+2:], "%d", &idx)
			return &fakeAgent{c: c, node: name, group: group, resource: idx}, nil
		},
		FenceDriver: func(*fence.Device) actors.FenceDriver { return &fakeDevice{c: c} },
		Announce: func(_ context.Context, group string, _ []netip.Addr) error {
			c.world.Announce(time.Now(), group, name)
			return nil
		},
		Reboot: func() error {
			c.Log("%s resets itself", name)
			go c.PowerOff(name, "reset itself")
			return nil
		},
		TunePlacement: func(pc *placement.Config) {
			pc.FenceRetryDelay = time.Second
			pc.FenceRetries = 3
		},
	})
	if err != nil {
		c.world.mu.Lock()
		c.world.machines[name].hanode = false
		c.world.mu.Unlock()
		return fmt.Errorf("start %s: %w", name, err)
	}
	c.mu.Lock()
	c.nodes[name] = n
	c.mu.Unlock()
	c.hanodeChanged(name)
	return nil
}

// checkNoFailback (auto_failback off) flags a group that starts on a node
// right after it was stopped on another that still runs, hears everyone
// and was not asked to give it up: a group stays where it runs, whoever
// comes back. Called under the world's lock.
func (c *Cluster) checkNoFailback(group, to string, at time.Time, prev lastRun) {
	w := c.world
	if prev.node == "" || prev.node == to || prev.how != "stop" || at.Sub(prev.at) > 2*time.Second {
		return
	}
	m := w.machines[prev.node]
	if !m.up || !m.hanode || m.life != prev.life || w.banned(at, group, prev.node) {
		return
	}
	for _, ep := range w.episodes {
		if ep.group == group && (ep.end.IsZero() || at.Sub(ep.end) < 10*time.Second) {
			return // resolving a double run: either may keep it
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.lastOperator.IsZero() {
		return // an operator's standby or takeover stands
	}
	window := 3 * c.opts.Deadtime
	for _, o := range c.names {
		if o == prev.node {
			continue
		}
		p := pairOf(prev.node, o)
		if _, now := c.impairedSince[p]; now {
			return
		}
		if until, ok := c.impairedUntil[p]; ok && at.Sub(until) < window {
			return
		}
	}
	w.violate("%s moved from %s to %s at %s although auto_failback is off and %s still runs, hears everyone and was not asked to give it up",
		group, prev.node, to, stamp(at), prev.node)
}

// Node is the running node on machine name, nil if none.
func (c *Cluster) Node(name string) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[name]
}

// stopHanode halts a node's process (no goodbye).
func (c *Cluster) stopHanode(name string) {
	c.mu.Lock()
	n := c.nodes[name]
	delete(c.nodes, name)
	c.mu.Unlock()
	if n != nil {
		n.Halt()
	}
	c.world.mu.Lock()
	c.world.machines[name].hanode = false
	c.world.mu.Unlock()
	c.hanodeChanged(name)
}

// PowerOff crashes a machine: its resources end at once and its hanode
// with them.
func (c *Cluster) PowerOff(name, why string) {
	c.world.mu.Lock()
	if !c.world.machines[name].up {
		c.world.mu.Unlock()
		return
	}
	c.world.crash(time.Now(), name)
	c.world.mu.Unlock()
	c.Log("%s powered off (%s)", name, why)
	c.stopHanode(name)
	if why == "fenced" {
		b := c.behaviour
		if b.float() < b.RebootFencedProbability {
			at := time.Now().Add(b.between(b.BootAfterFenceMin, b.BootAfterFenceMax))
			c.mu.Lock()
			c.reboots[name] = at
			c.mu.Unlock()
		} else {
			c.mu.Lock()
			c.off[name] = true
			c.mu.Unlock()
		}
	}
}

// CrashHanode kills a node's hanode alone: its resources keep running.
func (c *Cluster) CrashHanode(name string) {
	c.Log("%s: hanode killed (resources keep running)", name)
	c.stopHanode(name)
}

// Up says whether a machine is powered on.
func (c *Cluster) Up(name string) bool {
	c.world.mu.Lock()
	defer c.world.mu.Unlock()
	return c.world.machines[name].up
}

// hanodeChanged records a hanode starting or stopping as an impairment of
// every pair with that node: a node whose hanode is down hears nobody.
func (c *Cluster) hanodeChanged(name string) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.names {
		if o != name {
			c.updateImpairment(now, pairOf(name, o))
		}
	}
}

// updateImpairment sets whether the pair can hear each other now, from
// the cuts and the hanode processes. Holds c.mu.
func (c *Cluster) updateImpairment(now time.Time, p pair) {
	impaired := c.cuts[p] || c.nodes[p.a] == nil || c.nodes[p.b] == nil
	_, was := c.impairedSince[p]
	switch {
	case impaired && !was:
		c.impairedSince[p] = now
	case !impaired && was:
		delete(c.impairedSince, p)
		c.impairedUntil[p] = now
	}
}

// excused says whether a double run beginning at at on a and b is one a
// two-node cluster without fencing cannot avoid: the nodes could not hear
// each other then, or shortly before (the death detected then).
func (c *Cluster) excused(a, b string, at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := pairOf(a, b)
	if _, ok := c.impairedSince[p]; ok {
		return true
	}
	until, ok := c.impairedUntil[p]
	return ok && at.Sub(until) <= c.opts.Deadtime+4*c.opts.Keepalive
}

// Partition splits the network into sides (every other cut healed first);
// a node in no side is cut from everyone.
func (c *Cluster) Partition(sides ...[]string) {
	c.Heal()
	c.Log("partition %v", sides)
	c.net.Partition(sides...)
	side := map[string]int{}
	for i, s := range sides {
		for _, n := range s {
			side[n] = i + 1
		}
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, a := range c.names {
		for _, b := range c.names[i+1:] {
			if side[a] == 0 || side[b] == 0 || side[a] != side[b] {
				c.cuts[pairOf(a, b)] = true
				c.updateImpairment(now, pairOf(a, b))
			}
		}
	}
}

// Lossy drops frames between a and b (both ways) with probability p.
func (c *Cluster) Lossy(a, b string, p float64) {
	c.Log("loss %.0f%% between %s and %s", 100*p, a, b)
	c.net.SetLoss(a, b, p)
	c.net.SetLoss(b, a, p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cuts[pairOf(a, b)] = true
	c.updateImpairment(time.Now(), pairOf(a, b))
}

// Heal removes every cut and loss.
func (c *Cluster) Heal() {
	c.net.HealAll()
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := range c.cuts {
		delete(c.cuts, p)
		c.updateImpairment(now, p)
	}
}

// Operator runs hanode standby (takeover false) or takeover on node.
func (c *Cluster) Operator(name string, takeover bool, sel placement.Selection) {
	n := c.Node(name)
	if n == nil {
		return
	}
	c.mu.Lock()
	c.lastOperator = time.Now()
	c.mu.Unlock()
	verb := "standby"
	if takeover {
		verb = "takeover"
	}
	c.Log("operator: %s %s on %s", verb, sel, name)
	if takeover {
		// An operator's takeover lifts the node's bans of the groups it
		// selects.
		c.world.mu.Lock()
		for _, g := range c.cluster.Groups {
			mine := g.PreferredNode == name
			if sel == placement.All || (sel == placement.Local && mine) || (sel != placement.Local && !mine) {
				delete(c.world.bannedUntil[g.Name], name)
			}
		}
		c.world.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.Placement(ctx, takeover, sel)
}

// Close stops every node and the network.
func (c *Cluster) Close() {
	for _, n := range c.names {
		c.stopHanode(n)
	}
	c.net.Close()
}

// DueReboots boots the fenced machines whose time has come.
func (c *Cluster) DueReboots() {
	now := time.Now()
	c.mu.Lock()
	var due []string
	for n, at := range c.reboots {
		if !now.Before(at) {
			due = append(due, n)
			delete(c.reboots, n)
		}
	}
	c.mu.Unlock()
	sort.Strings(due)
	for _, n := range due {
		c.Log("%s boots again after fencing", n)
		if err := c.Boot(n); err != nil {
			c.Log("boot %s: %v", n, err)
		}
	}
}

// StaysOff says whether a machine was fenced off for good.
func (c *Cluster) StaysOff(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.off[name]
}
