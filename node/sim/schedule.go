package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/hanode/hanode/node/machine/placement"
)

// Result is the outcome of one schedule.
type Result struct {
	Seed       uint64
	Options    Options
	Violations []string
	Trace      string
	Steps      []string
}

// Failed says whether an invariant was broken.
func (r *Result) Failed() bool { return len(r.Violations) > 0 }

// Report is a readable account of a failed schedule.
func (r *Result) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %d nodes, %d groups, fencing %v, auto_failback %v, everywhere %v\n", r.Seed, r.Options.Nodes, r.Options.Groups, r.Options.Fencing, r.Options.AutoFailback, r.Options.Everywhere)
	fmt.Fprintf(&b, "violations:\n  %s\n", strings.Join(r.Violations, "\n  "))
	fmt.Fprintf(&b, "schedule:\n  %s\n", strings.Join(r.Steps, "\n  "))
	fmt.Fprintf(&b, "trace (fake time since the start):\n%s", r.Trace)
	return b.String()
}

// Shape draws a cluster shape from a seed: 2 to 5 nodes, one or two groups
// of one or two resources, fencing or not, auto_failback on or off.
func Shape(seed uint64) Options {
	rng := rand.New(rand.NewPCG(seed, 0x5a11))
	return Options{
		Seed:         seed,
		Nodes:        2 + rng.IntN(4),
		Groups:       1 + rng.IntN(2),
		Resources:    1 + rng.IntN(2),
		Fencing:      rng.IntN(2) == 0,
		AutoFailback: rng.IntN(2) == 0,
		// Drawn last: the shapes of earlier draws stay as they were.
		Everywhere: rng.IntN(2) == 0,
	}
}

// NewBehaviour draws how agents and devices behave.
func NewBehaviour(seed uint64) *Behaviour {
	return &Behaviour{rng: rand.New(rand.NewPCG(seed, 0xbe4a)),
		MinOp: 20 * time.Millisecond, MaxOp: 900 * time.Millisecond,
		StartFail: 0.05, StartHang: 0.02, StopFail: 0.05,
		FenceMin: 100 * time.Millisecond, FenceMax: 1500 * time.Millisecond, fenceTimeout: 3 * time.Second,
		BootAfterFenceMin: time.Second, BootAfterFenceMax: 6 * time.Second, RebootFencedProbability: 0.5}
}

// calm makes agents and devices reliable, for the end of a schedule.
func (b *Behaviour) calm() {
	b.mu.Lock()
	b.StartFail, b.StartHang, b.StopFail, b.fenceMode = 0, 0, 0, FenceWorks
	b.mu.Unlock()
}

// SettleTime is how long the healed cluster is left alone before the
// final checks: a node booted at the end waits initdead (3s) and a node
// lost then has its stop budget (4s) waited for; fencing retried after
// failures comes back within 6s.
const SettleTime = 15 * time.Second

// Run runs one random schedule of steps faults and operator requests on
// a cluster of the given shape, then heals everything and checks that
// every group runs where it should. Call it inside a synctest bubble: it
// runs minutes of fake time.
func Run(opts Options, steps int) *Result {
	b := NewBehaviour(opts.Seed)
	c, err := New(opts, b)
	res := &Result{Seed: opts.Seed, Options: opts}
	if err != nil {
		res.Violations = []string{err.Error()}
		return res
	}
	defer func() {
		c.Close()
		// Agent runs, fencing and the actor library's timers still under
		// way end within this (fake) time: the bubble must end empty.
		time.Sleep(time.Minute)
	}()
	rng := rand.New(rand.NewPCG(opts.Seed, 0x57e9))
	step := func(format string, args ...any) {
		line := fmt.Sprintf("%s %s", stamp(time.Now()), fmt.Sprintf(format, args...))
		res.Steps = append(res.Steps, line)
		c.Log("STEP %s", fmt.Sprintf(format, args...))
	}
	for _, n := range c.names {
		if err := c.Boot(n); err != nil {
			res.Violations = []string{err.Error()}
			return res
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
	}
	time.Sleep(3*c.opts.Deadtime + time.Duration(rng.IntN(3000))*time.Millisecond)
	for i := 0; i < steps; i++ {
		c.randomStep(rng, step)
		time.Sleep(time.Duration(100+rng.IntN(2900)) * time.Millisecond)
		c.DueReboots()
	}
	// The end: everything healed, every machine that may come back back,
	// agents and devices reliable; then the cluster is left alone.
	step("heal, boot, calm")
	b.calm()
	c.Heal()
	for _, n := range c.names {
		switch {
		case c.StaysOff(n):
		case !c.Up(n):
			c.Boot(n)
		case c.Node(n) == nil:
			c.startHanode(n)
		}
	}
	c.mu.Lock()
	clear(c.reboots)
	c.mu.Unlock()
	time.Sleep(SettleTime)
	c.checkSettled(fmt.Sprintf("after %v of calm", SettleTime))
	first := c.placementNow()
	time.Sleep(3 * time.Second)
	c.checkSettled("3s later")
	if again := c.placementNow(); again != first {
		c.world.mu.Lock()
		c.world.violate("placement moved while nothing happened: %s, then %s", first, again)
		c.world.mu.Unlock()
	}
	c.checkHealing()
	res.Violations = c.world.Violations()
	res.Trace = c.Trace()
	return res
}

// randomStep takes one random fault or operator action.
func (c *Cluster) randomStep(rng *rand.Rand, step func(string, ...any)) {
	names := c.names
	pick := func() string { return names[rng.IntN(len(names))] }
	switch k := rng.IntN(100); {
	case k < 18:
		n := pick()
		if c.Up(n) {
			step("crash %s (power off)", n)
			c.PowerOff(n, "crash")
		} else if !c.StaysOff(n) {
			step("boot %s", n)
			c.Boot(n)
		}
	case k < 26:
		n := pick()
		if c.Up(n) && c.Node(n) == nil {
			step("start hanode on %s", n)
			c.startHanode(n)
		} else if c.Node(n) != nil && (c.opts.Fencing || c.opts.Nodes == 2) {
			// Only where it is safe without a watchdog: a fencing device
			// ends what it left running, or two nodes resolve it.
			step("kill hanode on %s", n)
			c.CrashHanode(n)
		}
	case k < 32:
		n := pick()
		if nd := c.Node(n); nd != nil {
			step("clean stop of hanode on %s", n)
			c.mu.Lock()
			delete(c.nodes, n)
			c.mu.Unlock()
			c.world.mu.Lock()
			c.world.machines[n].hanode = false // leaving: its groups move
			c.world.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			nd.Stop(ctx)
			cancel()
			c.hanodeChanged(n)
		}
	case k < 50:
		// A partition: one side, the other, or a node isolated.
		perm := rng.Perm(len(names))
		cut := 1 + rng.IntN(len(names)-1)
		var a, b []string
		for i, p := range perm {
			if i < cut {
				a = append(a, names[p])
			} else {
				b = append(b, names[p])
			}
		}
		sort.Strings(a)
		sort.Strings(b)
		step("partition %v | %v", a, b)
		c.Partition(a, b)
	case k < 65:
		step("heal the network")
		c.Heal()
	case k < 75:
		a, b := pick(), pick()
		if a != b {
			p := 0.2 + 0.6*rng.Float64()
			step("loss burst %.0f%% between %s and %s", 100*p, a, b)
			c.Lossy(a, b, p)
		}
	case k < 85:
		n := pick()
		sels := []placement.Selection{placement.All, placement.Local, placement.Foreign}
		sel := sels[rng.IntN(len(sels))]
		takeover := rng.IntN(2) == 0
		step("operator %s %s on %s", map[bool]string{true: "takeover", false: "standby"}[takeover], sel, n)
		c.Operator(n, takeover, sel)
	default:
		if c.opts.Fencing {
			m := FenceMode(rng.IntN(3))
			step("fencing devices now %s", [...]string{"work", "fail", "hang"}[m])
			c.behaviour.SetFenceMode(m)
		} else {
			step("wait")
		}
	}
}

// placementNow describes where every group runs.
func (c *Cluster) placementNow() string {
	c.world.mu.Lock()
	defer c.world.mu.Unlock()
	var parts []string
	for _, g := range c.groupNames() {
		parts = append(parts, fmt.Sprintf("%s on %v", g, c.world.where(g)))
	}
	return strings.Join(parts, ", ")
}

func (c *Cluster) groupNames() []string {
	var gs []string
	for g := range c.world.groups {
		gs = append(gs, g)
	}
	sort.Strings(gs)
	return gs
}

// checkSettled checks, once the cluster has been left alone long enough,
// that each group runs on exactly one eligible node of a quorate cluster
// (its preferred node with auto_failback on, when no operator asked
// otherwise), and nowhere without quorum.
func (c *Cluster) checkSettled(when string) {
	now := time.Now()
	w := c.world
	c.mu.Lock()
	var up []string
	for _, n := range c.names {
		if c.nodes[n] != nil {
			up = append(up, n)
		}
	}
	operator := !c.lastOperator.IsZero()
	c.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	quorate := len(c.names) < 3 || 2*len(up) > len(c.names)
	for _, g := range c.groupNames() {
		where, active := w.where(g), w.activeOn(g)
		var eligible []string
		for _, n := range up {
			if !w.banned(now, g, n) {
				eligible = append(eligible, n)
			}
		}
		switch {
		case !quorate:
			if len(active) > 0 {
				w.violate("%s: %s is active on %v without quorum (%v of %d nodes up)", when, g, active, up, len(c.names))
			}
		case len(eligible) == 0:
		case len(where) != 1 || len(active) != 1 || !contains(eligible, where[0]):
			w.violate("%s: %s runs on %v (active on %v), want exactly one of %v", when, g, where, active, eligible)
		case c.opts.AutoFailback && !operator:
			pref := c.preferred(g)
			if contains(eligible, pref) && where[0] != pref {
				w.violate("%s: %s runs on %s, not on its preferred node %s (auto_failback on)", when, g, where[0], pref)
			}
		}
	}
}

func (c *Cluster) preferred(group string) string {
	for _, g := range c.cluster.Groups {
		if g.Name == group {
			return g.PreferredNode
		}
	}
	return ""
}

// checkHealing checks that the clients of every group talk to the node
// that runs it: a node that keeps a group that also ran elsewhere must
// re-announce it (its own start may have been announced before the
// other's). Where the other node stopped it cleanly and stayed up, this
// must hold within two deadtimes of the moment the keeper could know
// (the stop, or the nodes hearing each other again); in any case it must
// hold once the cluster has been calm.
func (c *Cluster) checkHealing() {
	w := c.world
	w.mu.Lock()
	defer w.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for _, g := range c.groupNames() {
		if where := w.where(g); len(where) == 1 {
			if owner := w.clientsOf(g, now); owner != where[0] {
				w.violate("%s runs on %s but its clients were last sent to %s", g, where[0], orNone(owner))
			}
		}
	}
	for _, ep := range w.episodes {
		if ep.end.IsZero() || ep.how != "stop" || w.machines[ep.ender].life != ep.enderLife || !w.machines[ep.ender].hanode {
			continue
		}
		since, stillActive := w.since[ep.group][ep.keeper]
		if !stillActive || since.After(ep.begin) || !w.running(ep.group, ep.keeper) {
			continue
		}
		known := ep.end
		if until, ok := c.impairedUntil[pairOf(ep.ender, ep.keeper)]; ok && until.After(known) {
			known = until
		}
		deadline := known.Add(2 * c.opts.Deadtime)
		if now.Before(deadline) {
			continue
		}
		if owner := w.clientsOf(ep.group, deadline); owner != ep.keeper {
			w.violate("%s ran on %s and %s until %s stopped it at %s; %s kept it but its clients were still sent to %s at %s",
				ep.group, ep.a, ep.b, ep.ender, stamp(ep.end), ep.keeper, orNone(owner), stamp(deadline))
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
