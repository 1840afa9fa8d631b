package sim

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// World is the ground truth of a simulated cluster: which machine runs
// which resource of which group, from the moment its start begins to the
// moment its stop ends (or the machine dies). The fake agents and fencing
// devices act on it, under its lock; the invariant checks read it.
type World struct {
	mu       sync.Mutex
	trace    *Trace
	groups   map[string]int // group -> number of resources
	machines map[string]*machine
	// res[group][node][i] is resource i of group on node.
	res map[string]map[string][]resState
	// since[group][node] is when the group became active on node (a
	// resource left stopped); absent while it is not.
	since map[string]map[string]time.Time
	// episodes are pairs of nodes on which a group was active at once.
	episodes []*episode
	// bannedUntil[group][node]: a start failed there.
	bannedUntil map[string]map[string]time.Time
	// arp[group] are the moments a node took the group's clients: its
	// start (the address resource announces itself) or a re-announcement.
	// The clients talk to the last one.
	arp map[string][]arpEvent
	// excused says whether a double run beginning at on nodes a and b is
	// allowed (a two-node cluster without fencing whose nodes could not
	// hear each other).
	excused func(a, b string, at time.Time) bool
	// started is called (under the lock) when a group becomes active on a
	// node, with where it last ran before: the auto_failback check.
	started     func(group, node string, at time.Time, prev lastRun)
	last        map[string]lastRun
	violations  []string
	BanDuration time.Duration
	// kept[group][node] is the machine epoch in which the group's part
	// kept on every node was last started there (0: stopped since); nil
	// when groups keep nothing everywhere.
	kept map[string]map[string]int
}

type resState int

const (
	resStopped resState = iota
	resStarting
	resRunning
	resStopping
)

func (s resState) String() string {
	return [...]string{"stopped", "starting", "running", "stopping"}[s]
}

// machine is one simulated host.
type machine struct {
	// epoch counts its lives: an agent or fencing run begun in an earlier
	// life has no effect.
	epoch int
	up    bool // powered on
	// hanode says the hanode process runs; life counts its starts.
	hanode bool
	life   int
}

// lastRun is where a group last stopped being active: node, when, how
// (stop, crash) and that node's hanode life then.
type lastRun struct {
	node string
	at   time.Time
	how  string
	life int
}

type arpEvent struct {
	at   time.Time
	node string
}

// clientsOf is the node group's clients talk to at t: the last to
// announce it.
func (w *World) clientsOf(group string, t time.Time) string {
	owner := ""
	for _, ev := range w.arp[group] {
		if !ev.at.After(t) {
			owner = ev.node
		}
	}
	return owner
}

// episode is a group active on two nodes at once.
type episode struct {
	group   string
	a, b    string
	begin   time.Time
	end     time.Time // zero while it lasts
	excused bool
	// ender is the node whose activity ended first, how ("stop" or
	// "crash"), its hanode life then, and keeper the other.
	ender, how, keeper string
	enderLife          int
}

func newWorld(trace *Trace, nodes []string, groups map[string]int) *World {
	w := &World{trace: trace, groups: groups, machines: map[string]*machine{}, res: map[string]map[string][]resState{},
		since: map[string]map[string]time.Time{}, bannedUntil: map[string]map[string]time.Time{}, arp: map[string][]arpEvent{},
		last: map[string]lastRun{}, BanDuration: 5 * time.Minute}
	for _, n := range nodes {
		w.machines[n] = &machine{}
	}
	for g, k := range groups {
		w.res[g] = map[string][]resState{}
		w.since[g] = map[string]time.Time{}
		w.bannedUntil[g] = map[string]time.Time{}
		for _, n := range nodes {
			w.res[g][n] = make([]resState, k)
		}
	}
	return w
}

func (w *World) violate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	w.violations = append(w.violations, msg)
	w.trace.add("sim", "VIOLATION: "+msg)
}

// Violations are the invariant breaches seen so far.
func (w *World) Violations() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.violations...)
}

// active says whether group is active on node: a resource between the
// beginning of its start and the end of its stop.
func (w *World) active(group, node string) bool {
	for _, s := range w.res[group][node] {
		if s != resStopped {
			return true
		}
	}
	return false
}

// running says whether every resource of group runs on node.
func (w *World) running(group, node string) bool {
	rs := w.res[group][node]
	for _, s := range rs {
		if s != resRunning {
			return false
		}
	}
	return len(rs) > 0
}

// setRes changes one resource's state and keeps the group's activity and
// the double-run episodes up to date: the safety check runs at the very
// moment a start begins.
func (w *World) setRes(now time.Time, group, node string, i int, s resState, how string) {
	if s == resStarting && w.kept != nil && w.kept[group][node] != w.machines[node].epoch {
		// A node takes part in running a group only once its kept part
		// runs there (package group: the moving part is Held).
		w.violate("%s starts on %s at %s before its part kept on every node runs there", group, node, stamp(now))
	}
	if s == resRunning && w.res[group][node][i] == resStarting && i == 0 {
		// The first resource (the address) announces itself as it starts.
		w.arp[group] = append(w.arp[group], arpEvent{at: now, node: node})
	}
	was := w.active(group, node)
	if prev := w.res[group][node][i]; prev != s {
		w.trace.add(node, fmt.Sprintf("world: %s/r%d %s -> %s", group, i, prev, s))
	}
	w.res[group][node][i] = s
	is := w.active(group, node)
	switch {
	case !was && is:
		w.since[group][node] = now
		if w.started != nil {
			w.started(group, node, now, w.last[group])
		}
		for other := range w.since[group] {
			if other == node {
				continue
			}
			ep := &episode{group: group, a: other, b: node, begin: now}
			ep.excused = w.excused != nil && w.excused(other, node, now)
			w.episodes = append(w.episodes, ep)
			if !ep.excused {
				w.violate("%s starts on %s at %s while it is %s on %s: two nodes at once",
					group, node, stamp(now), w.describe(group, other), other)
			} else {
				w.trace.add("sim", fmt.Sprintf("%s on %s and %s at once (allowed: they could not hear each other)", group, other, node))
			}
		}
	case was && !is:
		delete(w.since[group], node)
		w.last[group] = lastRun{node: node, at: now, how: how, life: w.machines[node].life}
		for _, ep := range w.episodes {
			if ep.group == group && ep.end.IsZero() && (ep.a == node || ep.b == node) {
				ep.end, ep.ender, ep.how, ep.enderLife = now, node, how, w.machines[node].life
				ep.keeper = ep.a
				if ep.a == node {
					ep.keeper = ep.b
				}
			}
		}
	}
}

func (w *World) describe(group, node string) string {
	var parts []string
	for i, s := range w.res[group][node] {
		parts = append(parts, fmt.Sprintf("r%d %s", i, s))
	}
	return strings.Join(parts, ", ")
}

// crash ends everything a machine runs at once (power off, reset).
func (w *World) crash(now time.Time, node string) {
	m := w.machines[node]
	m.epoch++
	m.up, m.hanode = false, false
	for g := range w.groups {
		for i := range w.res[g][node] {
			if w.res[g][node][i] != resStopped {
				w.setRes(now, g, node, i, resStopped, "crash")
			}
		}
	}
}

// boot powers a machine on (its hanode is started by the cluster).
func (w *World) boot(node string) {
	m := w.machines[node]
	m.epoch++
	m.up = true
}

// ban records that a start of group failed on node.
func (w *World) ban(now time.Time, group, node string) {
	w.bannedUntil[group][node] = now.Add(w.BanDuration)
}

// banned says whether group may not run on node at now.
func (w *World) banned(now time.Time, group, node string) bool {
	return now.Before(w.bannedUntil[group][node])
}

// Announce records that node re-announced group's addresses.
func (w *World) Announce(now time.Time, group, node string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.arp[group] = append(w.arp[group], arpEvent{at: now, node: node})
	w.trace.add(node, "re-announced "+group)
}

// where lists the nodes on which group runs (every resource running).
func (w *World) where(group string) []string {
	var out []string
	for n := range w.machines {
		if w.running(group, n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// activeOn lists the nodes on which group is active.
func (w *World) activeOn(group string) []string {
	var out []string
	for n := range w.since[group] {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func stamp(t time.Time) string { return t.Format("15:04:05.000") }
