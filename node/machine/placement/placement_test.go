package placement

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// sim is a cluster of placement machines on a fake clock (set
// PLACEMENT_TRACE=1 to log every delivery and view change on failure): a message bus
// (in order per sender, like the reliable layer), group actors that take a
// step to start and stop, and each node's own membership view.
type sim struct {
	t      *testing.T
	now    time.Time
	names  []string
	nodes  map[string]*simNode
	queue  []envelope
	rng    *rand.Rand
	failOn map[string]bool // node:group whose start fails
	log    []string
	dual   map[string]time.Time // a+b+group -> since when both hold it
	runNo  int
	// fences are the fencing requests: "n2 fences n1"; orders the same
	// with the device ordered: "n2 fences n1 with pdu".
	fences, orders []string
	// onApply, when set, sees every node's effects.
	onApply func(n *simNode, e Effects)
	// deferEval, when set, has each node absorb the messages of a step
	// and evaluate once after them (Absorb, Evaluate), as the actor does
	// with the messages that queued in its mailbox.
	deferEval bool
}

type simNode struct {
	name   string
	gen    uint64
	m      *Machine
	up     bool            // the process runs
	view   map[string]bool // peers it sees alive
	actual map[string]Phase
	todo   []actorCmd
}

type actorCmd struct {
	group string
	start bool
}

type envelope struct {
	from, to string
	msg      *messages.ClusterMessage
}

func newSim(t *testing.T, n int, autoFailback bool, groups ...GroupSpec) *sim {
	s := &sim{t: t, now: t0, nodes: map[string]*simNode{}, rng: rand.New(rand.NewPCG(1, 2)), failOn: map[string]bool{}, dual: map[string]time.Time{}}
	for i := 1; i <= n; i++ {
		s.names = append(s.names, fmt.Sprintf("n%d", i))
	}
	for _, name := range s.names {
		s.newNode(name, autoFailback, groups)
	}
	return s
}

func (s *sim) newNode(name string, autoFailback bool, groups []GroupSpec) *simNode {
	gen := uint64(1)
	if old := s.nodes[name]; old != nil {
		gen = old.gen + 1
	}
	n := &simNode{name: name, gen: gen, up: true, view: map[string]bool{}, actual: map[string]Phase{}}
	s.nodes[name] = n
	s.setMachine(name, Config{Local: name, Nodes: s.names, Groups: groups, AutoFailback: autoFailback})
	return n
}

// setMachine gives node name a new machine, whose groups it has probed
// (stopped).
// Groups stop within 50ms here (two steps): a majority waits 60ms for a
// node it lost without fencing.
func (s *sim) setMachine(name string, cfg Config) {
	n := s.nodes[name]
	cfg.Generation = n.gen
	if cfg.StopBudget == nil {
		cfg.StopBudget = map[string]time.Duration{}
		for _, g := range cfg.Groups {
			cfg.StopBudget[g.Name] = 50 * time.Millisecond
		}
		cfg.PartitionMargin = 10 * time.Millisecond
	}
	n.m = New(cfg, s.now)
	for _, g := range cfg.Groups {
		n.actual[g.Name] = Stopped
		s.apply(n, n.m.Report(s.now, GroupReport{Group: g.Name, Phase: Stopped}))
	}
}

// viewOf is the membership view of the given live peers.
func (s *sim) viewOf(peers []string) []Peer {
	var v []Peer
	for _, p := range peers {
		v = append(v, Peer{Name: p, Alive: true, Generation: s.nodes[p].gen, HearsUs: true})
	}
	return v
}

// apply carries out a machine's effects.
func (s *sim) apply(n *simNode, e Effects) {
	if s.onApply != nil {
		s.onApply(n, e)
	}
	for _, l := range e.Log {
		s.log = append(s.log, n.name+": "+l)
	}
	for _, msg := range e.Send {
		for _, to := range s.names {
			if to != n.name && (msg.Destination == "" || msg.Destination == to) {
				s.queue = append(s.queue, envelope{from: n.name, to: to, msg: msg})
			}
		}
	}
	for _, g := range e.Start {
		s.startSafe(n, g)
		n.todo = append(n.todo, actorCmd{g, true})
	}
	for _, g := range e.Stop {
		n.todo = append(n.todo, actorCmd{g, false})
	}
	for _, o := range e.Fence {
		s.fences = append(s.fences, n.name+" fences "+o.Target)
		s.orders = append(s.orders, n.name+" fences "+o.Target+" with "+o.Device)
	}
}

// setView makes node see exactly the given peers (settled).
func (s *sim) setView(name string, peers ...string) {
	n := s.nodes[name]
	n.view = map[string]bool{}
	for _, p := range peers {
		n.view[p] = true
	}
	if os.Getenv("PLACEMENT_TRACE") != "" {
		s.log = append(s.log, fmt.Sprintf("  %v view of %s: %v", s.now.Sub(t0), name, peers))
	}
	s.apply(n, n.m.Membership(s.now, s.viewOf(peers), true))
}

// connectAll makes every running node see every other running node.
func (s *sim) connectAll() {
	for _, a := range s.names {
		if !s.nodes[a].up {
			continue
		}
		var peers []string
		for _, b := range s.names {
			if b != a && s.nodes[b].up {
				peers = append(peers, b)
			}
		}
		s.setView(a, peers...)
	}
}

// step advances the clock, delivers messages between nodes that see each
// other (others are lost, as to a dead node), and lets each group actor do
// one thing.
func (s *sim) step(d time.Duration) {
	s.now = s.now.Add(d)
	q := s.queue
	s.queue = nil
	var owed []*simNode
	for _, env := range q {
		to, from := s.nodes[env.to], s.nodes[env.from]
		if !to.up || !to.view[env.from] || !from.up || (env.msg.DestinationGeneration != 0 && env.msg.DestinationGeneration != to.gen) {
			continue
		}
		if os.Getenv("PLACEMENT_TRACE") != "" {
			s.log = append(s.log, fmt.Sprintf("  %v %s -> %s: %v", s.now.Sub(t0), env.from, env.to, env.msg))
		}
		if !s.deferEval {
			s.apply(to, to.m.Receive(s.now, env.from, env.msg))
			continue
		}
		e, evaluate := to.m.Absorb(s.now, env.from, env.msg)
		s.apply(to, e)
		if evaluate && !slices.Contains(owed, to) {
			owed = append(owed, to)
		}
	}
	for _, n := range owed {
		if n.up {
			s.apply(n, n.m.Evaluate(s.now))
		}
	}
	for _, name := range s.names {
		n := s.nodes[name]
		if !n.up {
			continue
		}
		if len(n.todo) > 0 {
			c := n.todo[0]
			n.todo = n.todo[1:]
			s.act(n, c)
		}
		s.apply(n, n.m.Tick(s.now))
		if next := n.m.NextDeadline(); !next.IsZero() && !next.After(s.now) {
			s.t.Fatalf("run %d: after Tick at %v, %s's next deadline is %v: the actor would spin\n%s",
				s.runNo, s.now.Sub(t0), name, next.Sub(t0), strings.Join(s.log, "\n"))
		}
	}
	s.checkSafety()
	s.checkDesiredShortcut()
}

// act is a group actor: start goes starting -> running (or fails and rolls
// back to stopped), stop goes stopping -> stopped.
func (s *sim) act(n *simNode, c actorCmd) {
	report := func(p Phase, failed bool) {
		n.actual[c.group] = p
		s.apply(n, n.m.Report(s.now, GroupReport{Group: c.group, Phase: p, Failed: failed, Reason: "test failure"}))
	}
	if c.start {
		report(Starting, false)
		if s.failOn[n.name+":"+c.group] {
			report(Stopped, true)
			return
		}
		report(Running, false)
		return
	}
	if n.actual[c.group] == Stopped || n.actual[c.group] == 0 {
		report(Stopped, false)
		return
	}
	report(Stopping, false)
	report(Stopped, false)
}

// checkSafety fails the test if a node starts a group while it and a node
// holding it see each other, or if two nodes that see each other (after a
// healed partition) both keep holding one for more than 300ms.
func (s *sim) checkSafety() {
	for _, a := range s.names {
		for _, b := range s.names {
			na, nb := s.nodes[a], s.nodes[b]
			if a >= b || !na.up || !nb.up || !na.view[b] || !nb.view[a] {
				delete(s.dual, a+b)
				continue
			}
			for g, pa := range na.actual {
				if holds(pa) && holds(nb.actual[g]) {
					since, ok := s.dual[a+b+g]
					if !ok {
						s.dual[a+b+g] = s.now
					} else if s.now.Sub(since) > 300*time.Millisecond {
						s.t.Fatalf("at %v %s and %s see each other and both hold %s since %v\n%s",
							s.now.Sub(t0), a, b, g, since.Sub(t0), strings.Join(s.log, "\n"))
					}
				} else {
					delete(s.dual, a+b+g)
				}
			}
		}
	}
}

// startSafe fails the test if node a decides to start group g while it
// sees a node that sees it and holds g.
func (s *sim) startSafe(a *simNode, g string) {
	for _, b := range s.names {
		nb := s.nodes[b]
		if b != a.name && nb.up && a.view[b] && nb.view[a.name] && holds(nb.actual[g]) {
			s.t.Fatalf("run %d: at %v %s starts %s while it and %s, which holds it (%v), see each other\n%s",
				s.runNo, s.now.Sub(t0), a.name, g, b, nb.actual[g], strings.Join(s.log, "\n"))
		}
	}
}

func (s *sim) run(steps int) {
	for i := 0; i < steps; i++ {
		s.step(10 * time.Millisecond)
	}
}

// where lists the nodes running group g.
func (s *sim) where(g string) string {
	var out []string
	for _, name := range s.names {
		if n := s.nodes[name]; n.up && n.actual[g] == Running {
			out = append(out, name)
		}
	}
	return strings.Join(out, ",")
}

func (s *sim) expectWhere(g, want string) {
	s.t.Helper()
	if got := s.where(g); got != want {
		s.t.Fatalf("%s runs on %q, want %q\n%s", g, got, want, strings.Join(s.log, "\n"))
	}
}

// crash stops node name: its peers no longer see it.
func (s *sim) crash(name string) {
	n := s.nodes[name]
	n.up = false
	n.actual = map[string]Phase{}
	n.todo = nil
	for _, other := range s.names {
		if o := s.nodes[other]; o.up && o.view[name] {
			var peers []string
			for p := range o.view {
				if p != name {
					peers = append(peers, p)
				}
			}
			sort.Strings(peers)
			s.setView(other, peers...)
		}
	}
}

// restart brings node name back as a new process (nothing running).
func (s *sim) restart(name string, autoFailback bool, groups ...GroupSpec) {
	s.newNode(name, autoFailback, groups)
	s.connectAll()
}

var web = GroupSpec{Name: "web", Preferred: "n1"}

func TestStartsOnPreferredNodeOnly(t *testing.T) {
	s := newSim(t, 2, true, web, GroupSpec{Name: "db", Preferred: "n2"})
	s.connectAll()
	s.run(20)
	s.expectWhere("web", "n1")
	s.expectWhere("db", "n2")
}

func TestNothingStartsBeforeEveryPeerIsKnown(t *testing.T) {
	s := newSim(t, 2, true, web)
	n1 := s.nodes["n1"]
	s.apply(n1, n1.m.Membership(s.now, nil, false))
	s.run(20)
	s.expectWhere("web", "")
	s.apply(n1, n1.m.Membership(s.now, nil, true)) // initdead: n2 is dead
	s.run(5)
	s.expectWhere("web", "n1")
}

func TestFailoverAndAutoFailback(t *testing.T) {
	s := newSim(t, 3, true, web)
	s.connectAll()
	s.run(10)
	s.expectWhere("web", "n1")
	s.crash("n1")
	s.run(10)
	s.expectWhere("web", "n2") // the first live node in order, only one
	s.restart("n1", true, web)
	s.run(20)
	s.expectWhere("web", "n1") // auto_failback on: back to its preferred node
}

func TestNoAutoFailbackStays(t *testing.T) {
	s := newSim(t, 2, false, web)
	s.connectAll()
	s.run(10)
	s.crash("n1")
	s.run(10)
	s.expectWhere("web", "n2")
	s.restart("n1", false, web)
	s.run(30)
	s.expectWhere("web", "n2")
}

func TestCleanLeaveHandsOverWithoutDeath(t *testing.T) {
	s := newSim(t, 2, true, web)
	s.connectAll()
	s.run(10)
	var moves []Event
	s.onApply = func(n *simNode, e Effects) {
		for _, ev := range e.Events {
			if n.name == "n2" && ev.Kind == messages.EventKind_EVENT_KIND_GROUP_MOVED {
				moves = append(moves, ev)
			}
		}
	}
	n1 := s.nodes["n1"]
	e := n1.m.Leave(s.now)
	s.apply(n1, e)
	left := false
	for i := 0; i < 20 && !left; i++ {
		s.step(10 * time.Millisecond)
		left = n1.actual["web"] == Stopped
	}
	// n1 still runs and is seen, yet n2 takes over once n1 has stopped.
	s.run(5)
	s.expectWhere("web", "n2")
	if e := n1.m.Tick(s.now); !e.Left {
		t.Fatal("n1 never said it left")
	}
	// Its last stop is heard before it departs: the move is its clean
	// stop all the same, not a release.
	if len(moves) != 1 || moves[0].From != "n1" || moves[0].How != LossStopped {
		t.Fatalf("n2's moves: %+v, want one from n1, stopped", moves)
	}
}

func TestStartFailureMovesTheGroupAndBansTheNode(t *testing.T) {
	s := newSim(t, 2, true, web)
	s.failOn["n1:web"] = true
	s.connectAll()
	s.run(20)
	s.expectWhere("web", "n2")
	v := s.nodes["n2"].m.View(s.now)[0]
	if len(v.Banned) != 1 || v.Banned[0] != "n1" {
		t.Fatalf("n2 does not know n1 is banned: %+v", v)
	}
	// After the ban, auto_failback brings it back (the failure is gone).
	delete(s.failOn, "n1:web")
	s.now = s.now.Add(6 * time.Minute)
	s.run(20)
	s.expectWhere("web", "n1")
}

func TestStandbyAndTakeover(t *testing.T) {
	s := newSim(t, 3, true, web, GroupSpec{Name: "db", Preferred: "n2"})
	s.connectAll()
	s.run(10)
	n1 := s.nodes["n1"]
	s.apply(n1, n1.m.Standby(s.now, All))
	s.run(20)
	s.expectWhere("web", "n2")
	s.expectWhere("db", "n2")
	s.apply(n1, n1.m.Takeover(s.now, Foreign)) // db comes to n1, web stays off
	s.run(20)
	s.expectWhere("db", "n1")
	s.expectWhere("web", "n2")
	s.apply(n1, n1.m.Takeover(s.now, Local))
	s.run(20)
	s.expectWhere("web", "n1")
}

// TestDifferentViewsStartItOnce: n3 does not see n1 and claims the group;
// n2 sees both. Only one node runs it.
func TestDifferentViewsStartItOnce(t *testing.T) {
	s := newSim(t, 3, true, GroupSpec{Name: "web", Preferred: "n3"})
	s.setView("n1", "n2", "n3")
	s.setView("n2", "n1", "n3")
	s.setView("n3", "n2")
	s.run(30)
	if w := s.where("web"); strings.Contains(w, ",") || w == "" {
		t.Fatalf("web runs on %q", w)
	}
}

// TestRandomHistories changes views, crashes and restarts nodes, fails
// starts and asks for standby at random; two nodes that see each other
// never both hold a group, and once things calm down every group runs
// exactly once.
// randomEvent does, now and then, something bad to the cluster: a crash or
// a restart (by restart), one node losing sight of another, a heal, a
// standby, a start that will fail.
func (s *sim) randomEvent(groups []GroupSpec, restart func(name string)) {
	nodes := len(s.names)
	switch s.rng.IntN(40) {
	case 0:
		name := s.names[s.rng.IntN(nodes)]
		if s.nodes[name].up {
			s.crash(name)
		} else {
			restart(name)
		}
	case 1:
		// One node stops seeing another for a while (asymmetric).
		a, b := s.names[s.rng.IntN(nodes)], s.names[s.rng.IntN(nodes)]
		if a != b && s.nodes[a].up {
			var peers []string
			for p := range s.nodes[a].view {
				if p != b {
					peers = append(peers, p)
				}
			}
			sort.Strings(peers)
			s.setView(a, peers...)
		}
	case 2:
		s.connectAll()
	case 3:
		n := s.nodes[s.names[s.rng.IntN(nodes)]]
		if n.up {
			s.apply(n, n.m.Standby(s.now, []Selection{All, Local, Foreign}[s.rng.IntN(3)]))
		}
	case 4:
		s.failOn[s.names[s.rng.IntN(nodes)]+":"+groups[s.rng.IntN(len(groups))].Name] = s.rng.IntN(2) == 0
	}
}

func TestRandomHistories(t *testing.T) {
	groups := []GroupSpec{{"a", "n1"}, {"b", "n2"}, {"c", "n3"}}
	for run := 0; run < 300; run++ {
		auto := run%2 == 0
		s := newSim(t, 3, auto, groups...)
		s.runNo = run
		// Half the runs act once after each step's messages, with and
		// without auto_failback.
		s.deferEval = run/2%2 == 1
		s.rng = rand.New(rand.NewPCG(uint64(run), 7))
		s.connectAll()
		for step := 0; step < 150; step++ {
			s.randomEvent(groups, func(name string) { s.restart(name, auto, groups...) })
			s.step(time.Duration(5+s.rng.IntN(30)) * time.Millisecond)
		}
		// Calm: everyone up and connected, no failures.
		s.failOn = map[string]bool{}
		for _, name := range s.names {
			if !s.nodes[name].up {
				s.restart(name, auto, groups...)
			}
		}
		s.connectAll()
		s.now = s.now.Add(10 * time.Minute) // bans expire
		for i := 0; i < 200; i++ {
			s.step(20 * time.Millisecond)
		}
		for _, g := range groups {
			if w := s.where(g.Name); w == "" || strings.Contains(w, ",") {
				var views []string
				for _, name := range s.names {
					n := s.nodes[name]
					for _, v := range n.m.View(s.now) {
						g := n.m.groups[v.Name]
						views = append(views, fmt.Sprintf("%s sees %+v actual=%v claim=%+v grant=%+v retry=%v todo=%v", name, v, n.actual[v.Name], g.claim, g.grant, g.retryAt.Sub(s.now), n.todo))
					}
				}
				t.Fatalf("run %d: after calm, %s runs on %q\n%s\n%s", run, g.Name, w, strings.Join(s.log[max(0, len(s.log)-30):], "\n"), strings.Join(views, "\n"))
			}
		}
	}
}

// TestClaimDeniedForADeadHolderRetriesSoon: n2 notices n1's death before
// n3 does. Its claim is denied by n3 in favour of n1 (alive for n3); n2
// must not wait the usual back-off: it claims again as soon as n3 can
// grant. With quorum and no fencing, both wait for n1 to have stopped web
// by itself, and n2 takes on n3's later wait as soon as n3 announces it.
func TestClaimDeniedForADeadHolderRetriesSoon(t *testing.T) {
	for _, tc := range []struct {
		name string
		// wait: the majority waits for n1 (no fencing, quorum): the
		// second denial names when n3's wait ends.
		quorum QuorumPolicy
		denial string
	}{
		{"held by a node dead for the claimant", QuorumIgnore, "denied it: held by n1"},
		{"waiting for the dead node to have stopped", QuorumStop, "n3 denied it: held by n1, which must have stopped it by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, 3, true, web)
			for _, name := range s.names {
				s.setMachine(name, Config{Local: name, Nodes: s.names, Groups: []GroupSpec{web}, AutoFailback: true, Quorum: tc.quorum})
			}
			s.connectAll()
			s.run(10)
			s.expectWhere("web", "n1")
			n1 := s.nodes["n1"]
			n1.up, n1.actual, n1.todo = false, map[string]Phase{}, nil
			s.setView("n2", "n3") // n2 first
			seen := s.now
			for s.now.Sub(seen) < 20*time.Millisecond {
				s.step(time.Millisecond)
			}
			if tc.quorum == QuorumStop {
				for s.now.Sub(seen) < 62*time.Millisecond {
					s.step(time.Millisecond)
				}
			}
			s.setView("n3", "n2")
			crash := s.now
			for i := 0; i < 40 && s.where("web") != "n2"; i++ {
				s.step(5 * time.Millisecond)
			}
			s.expectWhere("web", "n2")
			limit := 40 * time.Millisecond
			if tc.quorum == QuorumStop {
				limit = 60*time.Millisecond + 20*time.Millisecond // n3's own wait
			}
			if d := s.now.Sub(crash); d > limit {
				t.Fatalf("n2 started web %v after n3 saw n1 dead\n%s", d, strings.Join(s.log, "\n"))
			}
			if !strings.Contains(strings.Join(s.log, "\n"), tc.denial) {
				t.Fatalf("the test did not produce the denial it is about (%q):\n%s", tc.denial, strings.Join(s.log, "\n"))
			}
		})
	}
}

// ipfailSim is a 2-node sim with one ping node and a 500ms hold-off.
func ipfailSim(t *testing.T) *sim {
	s := newSim(t, 2, true, web)
	for _, name := range s.names {
		s.setMachine(name, Config{Local: name, Nodes: s.names, Groups: []GroupSpec{web}, AutoFailback: true,
			PingNodes: 1, PingHoldoff: 500 * time.Millisecond})
	}
	s.connectAll()
	s.connectivity("n1", 1)
	s.connectivity("n2", 1)
	s.run(10)
	s.expectWhere("web", "n1")
	return s
}

// connectivity tells every running node how many ping nodes node reaches.
func (s *sim) connectivity(node string, up int) {
	for _, name := range s.names {
		if n := s.nodes[name]; n.up {
			s.apply(n, n.m.Connectivity(s.now, node, up))
		}
	}
}

func TestIpfailMovesGroupFromPoorlyLinkedNode(t *testing.T) {
	s := ipfailSim(t)
	s.connectivity("n1", 0) // n1 loses the router; n2 still reaches it
	s.run(40)               // 400ms: within the hold-off
	s.expectWhere("web", "n1")
	s.run(20)
	s.expectWhere("web", "n2")
	// n1 reaches the router again: after the hold-off it is trusted again,
	// and auto_failback brings the group home.
	s.connectivity("n1", 1)
	s.run(30)
	s.expectWhere("web", "n2")
	s.run(40)
	s.expectWhere("web", "n1")
}

func TestIpfailIgnoresAFlappingRouter(t *testing.T) {
	s := ipfailSim(t)
	for i := 0; i < 5; i++ {
		s.connectivity("n1", 0)
		s.run(30)
		s.connectivity("n1", 1)
		s.run(30)
	}
	s.expectWhere("web", "n1")
	if strings.Contains(strings.Join(s.log, "\n"), "stopping") {
		t.Fatalf("a flapping router moved the group:\n%s", strings.Join(s.log, "\n"))
	}
}

func TestIpfailKeepsGroupWhenEveryNodeLostTheRouter(t *testing.T) {
	s := ipfailSim(t)
	s.connectivity("n1", 0)
	s.connectivity("n2", 0)
	s.run(100)
	s.expectWhere("web", "n1")
}

// quorumSim is a 3-node sim with the given quorum policy, web on n1.
func quorumSim(t *testing.T, policy QuorumPolicy) *sim {
	s := newSim(t, 3, true, web)
	for _, name := range s.names {
		s.setMachine(name, Config{Local: name, Nodes: s.names, Groups: []GroupSpec{web}, AutoFailback: true, Quorum: policy})
	}
	s.connectAll()
	s.run(10)
	s.expectWhere("web", "n1")
	return s
}

func TestMinorityStopsItsGroups(t *testing.T) {
	s := quorumSim(t, QuorumStop)
	// Split n1 | n2 n3.
	s.setView("n1")
	s.setView("n2", "n3")
	s.setView("n3", "n2")
	s.run(20)
	s.expectWhere("web", "n2")
	if !s.nodes["n2"].m.HasQuorum() || s.nodes["n1"].m.HasQuorum() {
		t.Fatal("quorum: the pair has it, the single node not")
	}
	// Healed: web returns to n1 (auto_failback), never on two nodes.
	s.connectAll()
	s.run(30)
	s.expectWhere("web", "n1")
}

func TestMinorityAloneStartsNothing(t *testing.T) {
	s := newSim(t, 3, true, web)
	for _, name := range s.names {
		s.setMachine(name, Config{Local: name, Nodes: s.names, Groups: []GroupSpec{web}, AutoFailback: true})
	}
	s.setView("n1") // n2 and n3 given up on (initdead): settled, alone
	s.run(20)
	s.expectWhere("web", "")
}

func TestFreezeKeepsWhatRuns(t *testing.T) {
	s := quorumSim(t, QuorumFreeze)
	s.setView("n1")
	s.setView("n2", "n3")
	s.setView("n3", "n2")
	s.run(20)
	// n1 keeps web (freeze); the pair, with quorum, starts it too: freeze
	// trades safety for availability and wants fencing.
	if got := s.nodes["n1"].actual["web"]; got != Running {
		t.Fatalf("n1 froze web? %v", got)
	}
	// A frozen minority starts nothing new: db prefers n1 but never ran.
	s2 := newSim(t, 3, true, GroupSpec{Name: "db", Preferred: "n1"})
	for _, name := range s2.names {
		s2.setMachine(name, Config{Local: name, Nodes: s2.names, Groups: []GroupSpec{{Name: "db", Preferred: "n1"}}, Quorum: QuorumFreeze})
	}
	s2.setView("n1")
	s2.run(20)
	s2.expectWhere("db", "")
}

func TestTwoNodesNeedNoQuorum(t *testing.T) {
	s := newSim(t, 2, true, web)
	s.connectAll()
	s.run(10)
	s.crash("n1")
	s.run(10)
	s.expectWhere("web", "n2")
}

// leave stops node name cleanly: it gives its groups away, then its peers
// see it gone.
func (s *sim) leave(name string) {
	n := s.nodes[name]
	s.apply(n, n.m.Leave(s.now))
	s.run(10)
	s.crash(name)
}

func TestCleanStopsDoNotCostQuorum(t *testing.T) {
	s := quorumSim(t, QuorumStop)
	s.leave("n3")
	s.leave("n2")
	s.run(10)
	s.expectWhere("web", "n1") // the last node standing keeps the group
	if !s.nodes["n1"].m.HasQuorum() {
		t.Fatal("n1 lost quorum to clean stops")
	}
}

func TestPartitionAfterACleanStopRunsNothingTwice(t *testing.T) {
	s := quorumSim(t, QuorumStop)
	s.leave("n3")
	s.run(10)
	s.expectWhere("web", "n1")
	// n1 | n2: two of three expected, one each: neither has quorum.
	s.setView("n1")
	s.setView("n2")
	s.run(20)
	s.expectWhere("web", "")
}

// fencingSim is an n-node sim where every node can fence, web on n1.
func fencingSim(t *testing.T, nodes int) *sim {
	s := newSim(t, nodes, true, web)
	for _, name := range s.names {
		s.setMachine(name, Config{Local: name, Nodes: s.names, Groups: []GroupSpec{web}, AutoFailback: true,
			Devices: []FenceDevice{{Name: "dev"}}, FenceRetries: 2, FenceRetryDelay: 100 * time.Millisecond})
	}
	s.connectAll()
	s.run(10)
	s.expectWhere("web", "n1")
	return s
}

func (s *sim) fenceResult(by, target string, err error) {
	n := s.nodes[by]
	s.apply(n, n.m.FenceResult(s.now, target, "dev", err))
}

func TestDeadHolderIsFencedBeforeTakeover(t *testing.T) {
	s := fencingSim(t, 2)
	s.crash("n1")
	s.run(30)
	s.expectWhere("web", "") // not before the fence
	if strings.Join(s.fences, ";") != "n2 fences n1" {
		t.Fatalf("fencing requests: %v", s.fences)
	}
	s.fenceResult("n2", "n1", nil)
	s.run(10)
	s.expectWhere("web", "n2")
}

func TestFailedFencingNeverTakesOver(t *testing.T) {
	s := fencingSim(t, 2)
	s.crash("n1")
	s.run(5)
	for i := 0; i < 4; i++ {
		s.fenceResult("n2", "n1", fmt.Errorf("device unreachable"))
		s.run(70) // past the retry delay (100ms, then 600ms after the limit)
	}
	s.expectWhere("web", "")
	if len(s.fences) < 3 {
		t.Fatalf("fencing not retried: %v", s.fences)
	}
	st := s.nodes["n2"].m.Unfenced()
	if len(st) != 1 || st[0].Node != "n1" || st[0].Attempts != 4 || !strings.Contains(st[0].LastFailure, "unreachable") {
		t.Fatalf("unfenced: %v", st)
	}
	s.fenceResult("n2", "n1", nil)
	s.run(10)
	s.expectWhere("web", "n2")
}

func TestFencingNewsReachesTheOthers(t *testing.T) {
	s := fencingSim(t, 3)
	s.crash("n1")
	s.run(5)
	if strings.Join(s.fences, ";") != "n2 fences n1" {
		t.Fatalf("one fencer, the first live one: %v", s.fences)
	}
	s.fenceResult("n2", "n1", nil)
	s.run(20)
	s.expectWhere("web", "n2")
	if len(s.nodes["n3"].m.Unfenced()) != 0 {
		t.Fatal("n3 did not hear that n1 was fenced")
	}
}

func TestNoFencingForANodeThatHeldNothingOrLeft(t *testing.T) {
	s := fencingSim(t, 4)
	s.crash("n4") // held nothing
	s.run(10)
	s.leave("n1") // clean stop
	s.run(20)
	s.expectWhere("web", "n2")
	if len(s.fences) != 0 {
		t.Fatalf("fencing requests: %v", s.fences)
	}
}

func TestHealedPartitionCancelsFencing(t *testing.T) {
	s := fencingSim(t, 2)
	s.setView("n2") // n2 loses n1; n1 loses n2
	s.setView("n1")
	s.run(5)
	s.connectAll() // healed before the fence
	s.run(10)
	if len(s.nodes["n2"].m.Unfenced()) != 0 {
		t.Fatal("n1 still to be fenced after it came back")
	}
	s.expectWhere("web", "n1")
}

func moves(s *sim, node string, e Effects) []string {
	var out []string
	for _, ev := range e.Events {
		if ev.Kind == messages.EventKind_EVENT_KIND_GROUP_MOVED {
			out = append(out, fmt.Sprintf("%s %s %v", ev.Summary, ev.How, ev.Gap))
		}
	}
	return out
}

func TestMovesAreReportedWithTheirGap(t *testing.T) {
	s := newSim(t, 2, true, web)
	s.connectAll()
	s.run(10)
	s.expectWhere("web", "n1")
	var got []string
	hook := func(n *simNode, e Effects) {
		if n.name == "n2" {
			got = append(got, moves(s, n.name, e)...)
		}
	}
	s.onApply = hook
	s.crash("n1")
	s.run(10)
	s.expectWhere("web", "n2")
	if len(got) != 1 || !strings.HasPrefix(got[0], "web moved from n1 (died) to n2 died ") {
		t.Fatalf("moves seen by n2: %v", got)
	}
}

// TestRandomHistoriesWithFencing: random crashes, restarts, asymmetric
// partitions, standbys and failing starts on 2 or 3 nodes that all can
// fence.
// A fence powers its target off (it crashes). The strong invariant holds
// at every step, whatever each node sees: a group is never held by two
// running nodes at once.
func TestRandomHistoriesWithFencing(t *testing.T) {
	for run := 0; run < 300; run++ {
		auto := run%2 == 0
		// Two nodes a third of the time: no quorum to lean on, fencing
		// alone keeps the group single.
		nodes := 3
		groups := []GroupSpec{{"a", "n1"}, {"b", "n2"}, {"c", "n3"}}
		if run%3 == 0 {
			nodes, groups = 2, groups[:2]
		}
		s := newSim(t, nodes, auto, groups...)
		mk := func(name string) Config {
			return Config{Local: name, Nodes: s.names, Groups: groups, AutoFailback: auto, Devices: []FenceDevice{{Name: "dev"}},
				FenceRetries: 2, FenceRetryDelay: 50 * time.Millisecond}
		}
		for _, name := range s.names {
			s.setMachine(name, mk(name))
		}
		s.runNo = run
		s.deferEval = run/2%2 == 1
		s.rng = rand.New(rand.NewPCG(uint64(run), 11))
		// Fencing requests are carried out one step later: the target is
		// powered off, then the requester hears it worked (or, sometimes,
		// that it failed).
		var pending []string
		s.onApply = func(n *simNode, e Effects) {
			for _, o := range e.Fence {
				pending = append(pending, n.name+" "+o.Target)
			}
		}
		restart := func(name string) {
			s.restart(name, auto, groups...)
			s.setMachine(name, mk(name))
			s.connectAll()
		}
		s.connectAll()
		for step := 0; step < 150; step++ {
			reqs := pending
			pending = nil
			for _, r := range reqs {
				by, target := strings.Fields(r)[0], strings.Fields(r)[1]
				if !s.nodes[by].up {
					continue
				}
				var err error
				if s.rng.IntN(4) == 0 {
					err = fmt.Errorf("device busy")
				} else if s.nodes[target].up {
					s.crash(target)
				}
				s.fenceResult(by, target, err)
			}
			s.randomEvent(groups, restart)
			s.step(time.Duration(5+s.rng.IntN(30)) * time.Millisecond)
			for _, g := range groups {
				var on []string
				for _, name := range s.names {
					if n := s.nodes[name]; n.up && holds(n.actual[g.Name]) {
						on = append(on, name)
					}
				}
				if len(on) > 1 {
					t.Fatalf("run %d step %d: %s held by %v at once\n%s", run, step, g.Name, on, strings.Join(s.log[max(0, len(s.log)-40):], "\n"))
				}
			}
		}
	}
}

func TestOperatorConfirmsFencing(t *testing.T) {
	s := fencingSim(t, 3)
	s.crash("n1")
	s.run(5)
	s.fenceResult("n2", "n1", fmt.Errorf("device unreachable"))
	s.run(10)
	s.expectWhere("web", "")
	// n3's operator powered n1 off by hand and says so.
	n3 := s.nodes["n3"]
	e, was := n3.m.ConfirmFenced(s.now, "n1")
	if !was {
		t.Fatal("n1 was not waiting to be fenced on n3")
	}
	s.apply(n3, e)
	s.run(20)
	s.expectWhere("web", "n2")
	if _, was := n3.m.ConfirmFenced(s.now, "n1"); was {
		t.Fatal("confirmed twice")
	}
}

// BenchmarkFailoverDecision is the cost of the decisions a node makes when
// a peer holding 50 groups dies in a 3-node cluster: forgetting it,
// claiming its groups and starting them once granted.
func BenchmarkFailoverDecision(b *testing.B) {
	names := []string{"n1", "n2", "n3"}
	var groups []GroupSpec
	for i := 0; i < 50; i++ {
		groups = append(groups, GroupSpec{Name: fmt.Sprintf("g%d", i), Preferred: "n1"})
	}
	holding := &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{Full: true}}}
	for _, g := range groups {
		holding.GetGroupStates().Groups = append(holding.GetGroupStates().Groups, &messages.GroupState{Group: g.Name, Phase: Running})
	}
	b.ReportAllocs()
	for b.Loop() {
		m := New(Config{Local: "n2", Nodes: names, Groups: groups, AutoFailback: true}, t0)
		for _, g := range groups {
			m.Report(t0, GroupReport{Group: g.Name, Phase: Stopped})
		}
		m.Membership(t0, []Peer{{Name: "n1", Alive: true, Generation: 1, HearsUs: true}, {Name: "n3", Alive: true, Generation: 1, HearsUs: true}}, true)
		m.Receive(t0, "n1", holding)
		m.Receive(t0, "n3", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{Full: true}}})
		e := m.Membership(t0, []Peer{{Name: "n3", Alive: true, Generation: 1, HearsUs: true}}, true) // n1 dies
		for _, c := range e.Send {
			if cl := c.GetGroupClaim(); cl != nil {
				m.Receive(t0, "n3", &messages.ClusterMessage{Destination: "n2", Payload: &messages.ClusterMessage_GroupClaimReply{
					GroupClaimReply: &messages.GroupClaimReply{Group: cl.Group, Attempt: cl.Attempt, Granted: true}}})
			}
		}
	}
}

// TestMessagesNotAboutPlacementChangeNothing: the messenger delivers every
// cluster message to its subscribers; a note is none of placement's
// business.
func TestMessagesNotAboutPlacementChangeNothing(t *testing.T) {
	s := newSim(t, 2, true, web)
	s.connectAll()
	s.run(10)
	e := s.nodes["n1"].m.Receive(s.now, "n2", &messages.ClusterMessage{Payload: &messages.ClusterMessage_Note{Note: &messages.Note{Text: "hello"}}})
	if len(e.Send)+len(e.Start)+len(e.Stop)+len(e.Log)+len(e.Fence)+len(e.Events) != 0 {
		t.Fatalf("a note had effects: %+v", e)
	}
}

// checkDesiredShortcut: where every node stands, Desired's shortcut for
// the common case names the same node as all the rules applied in turn.
func (s *sim) checkDesiredShortcut() {
	for _, name := range s.names {
		n := s.nodes[name]
		if !n.up || !n.m.HasQuorum() {
			continue
		}
		for _, g := range n.m.order {
			if got, want := n.m.Desired(s.now, g), n.m.byTheRules(s.now, n.m.groups[g], n.m.anyPoorlyLinked()); got != want {
				s.t.Fatalf("run %d at %v: %s: Desired(%s) = %q, by the rules %q", s.runNo, s.now.Sub(t0), name, g, got, want)
			}
		}
	}
}
