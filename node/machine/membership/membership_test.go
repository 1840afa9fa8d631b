package membership

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

const (
	active = messages.NodeStatus_NODE_STATUS_ACTIVE
	up     = messages.NodeStatus_NODE_STATUS_UP
	dead   = messages.NodeStatus_NODE_STATUS_DEAD
	initSt = messages.NodeStatus_NODE_STATUS_INIT
)

// scenario drives a Machine on a fake clock measured in milliseconds since
// t0 and renders events as short lines.
type scenario struct {
	t   *testing.T
	m   *Machine
	now time.Time
	seq map[string]uint64
	// excused is what frameEcho's acknowledgements say the peer's own
	// stalls excuse.
	excused time.Duration
}

func newScenario(t *testing.T, links ...string) *scenario {
	t.Helper()
	if len(links) == 0 {
		links = []string{"eth0"}
	}
	cfg := Config{
		Cluster:  "c1",
		Local:    "n1",
		Nodes:    []string{"n1", "n2", "n3"},
		Links:    links,
		Warntime: 300 * time.Millisecond,
		Deadtime: 500 * time.Millisecond,
		Initdead: 2 * time.Second,
	}
	return &scenario{t: t, m: New(cfg, t0, 7), now: t0, seq: map[string]uint64{}}
}

func (s *scenario) at(ms int) *scenario {
	s.t.Helper()
	next := t0.Add(time.Duration(ms) * time.Millisecond)
	if next.Before(s.now) {
		s.t.Fatalf("time goes backwards: %v", next)
	}
	s.now = next
	return s
}

// hb delivers a new heartbeat from sender (next sequence) on link.
func (s *scenario) hb(sender, link string, gen uint64, st messages.NodeStatus) (Verdict, string) {
	s.seq[sender]++
	return s.frame(sender, link, gen, s.seq[sender], st)
}

// frame delivers a heartbeat that echoes n1's generation (7) and says it
// heard n1 just now: the handshake is done and n1 is heard.
func (s *scenario) frame(sender, link string, gen, seq uint64, st messages.NodeStatus) (Verdict, string) {
	return s.frameEcho(sender, link, gen, seq, st, 7, s.now)
}

// frameEcho delivers a heartbeat echoing n1's generation echoGen (0: no
// echo), heard at heard by n1's clock.
func (s *scenario) frameEcho(sender, link string, gen, seq uint64, st messages.NodeStatus, echoGen uint64, heard time.Time) (Verdict, string) {
	hb := &messages.Heartbeat{Status: st}
	if echoGen != 0 {
		hb.Sessions = []*messages.PeerSession{{Node: "n1", Generation: echoGen, HeardSendTimeUnixNano: heard.UnixNano(), ExcusedMs: uint32(s.excused.Milliseconds())}}
	}
	v, evs := s.m.Receive(s.now, Frame{Link: link, Cluster: "c1", Sender: sender, Generation: gen, Sequence: seq, SendTime: s.now, Heartbeat: hb})
	return v, render(evs)
}

func (s *scenario) tick() string { return render(s.m.Tick(s.now)) }

func render(evs []*messages.MembershipEvent) string {
	var lines []string
	for _, e := range evs {
		switch e.Kind {
		case messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS:
			lines = append(lines, fmt.Sprintf("%s %s->%s", e.Node, statusWord(e.PreviousStatus), statusWord(e.Status)))
		case messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_LINK_STATUS:
			lines = append(lines, fmt.Sprintf("%s/%s %s", e.Node, e.Link, strings.ToLower(strings.TrimPrefix(e.LinkStatus.String(), "LINK_STATUS_"))))
		case messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_LATE:
			lines = append(lines, e.Node+" late")
		case messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_RESTARTED:
			lines = append(lines, fmt.Sprintf("%s restarted gen %d", e.Node, e.Generation))
		case messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_RETURNED:
			lines = append(lines, e.Node+" returned")
		case messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_OLD_GENERATION:
			lines = append(lines, fmt.Sprintf("%s old gen %d", e.Node, e.Generation))
		}
	}
	return strings.Join(lines, "; ")
}

func expect(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s:\n got: %q\nwant: %q", what, got, want)
	}
}

func (s *scenario) status(node string) messages.NodeStatus {
	st, _ := s.m.Status(node)
	return st
}

func TestFirstHeartbeatMakesPeerActive(t *testing.T) {
	s := newScenario(t)
	expect(t, "start", statusWord(s.status("n2")), "init")
	v, ev := s.at(10).hb("n2", "eth0", 3, active)
	if v != Accepted {
		t.Fatalf("verdict %v", v)
	}
	expect(t, "events", ev, "n2/eth0 up; n2 init->active")
	_, ev = s.at(110).hb("n2", "eth0", 3, active)
	expect(t, "second heartbeat", ev, "")
}

func TestPeerSayingUpThenActive(t *testing.T) {
	s := newScenario(t)
	_, ev := s.at(10).hb("n2", "eth0", 3, up)
	expect(t, "up", ev, "n2/eth0 up; n2 init->up")
	_, ev = s.at(100).hb("n2", "eth0", 3, active)
	expect(t, "active", ev, "n2 up->active")
}

// TestForeignAndMalformedFramesAreRefused: a frame of another cluster
// sharing the medium, or one without sender or generation, is refused
// before anything else is looked at: it keeps no peer alive.
func TestForeignAndMalformedFramesAreRefused(t *testing.T) {
	s := newScenario(t)
	s.at(0).hb("n2", "eth0", 3, active)
	heartbeat := &messages.Heartbeat{Status: active}
	for _, c := range []struct {
		name  string
		frame Frame
		want  Verdict
	}{
		{"another cluster", Frame{Link: "eth0", Cluster: "c2", Sender: "n2", Generation: 3, Sequence: 100, Heartbeat: heartbeat}, WrongCluster},
		{"another cluster, unknown link", Frame{Link: "eth9", Cluster: "c2", Sender: "n2", Generation: 3, Sequence: 100}, WrongCluster},
		{"no cluster", Frame{Link: "eth0", Sender: "n2", Generation: 3, Sequence: 100, Heartbeat: heartbeat}, WrongCluster},
		{"no sender", Frame{Link: "eth0", Cluster: "c1", Generation: 3, Sequence: 100, Heartbeat: heartbeat}, Malformed},
		{"no generation", Frame{Link: "eth0", Cluster: "c1", Sender: "n2", Sequence: 100, Heartbeat: heartbeat}, Malformed},
	} {
		v, evs := s.at(400).m.Receive(s.now, c.frame)
		if v != c.want || len(evs) != 0 {
			t.Fatalf("%s: verdict %v, events %q; want %v and none", c.name, v, render(evs), c.want)
		}
	}
	expect(t, "verdict names", WrongCluster.String()+", "+Malformed.String(), "wrong cluster, malformed")
	expect(t, "refused frames keep nobody alive", s.at(501).tick(), "n2/eth0 dead; n2 active->dead")
}

// TestLateThenDeadAfterDeadtime: late at warntime; dead only when the
// silence is longer than deadtime, as in Heartbeat (a silence of exactly
// deadtime, four lost heartbeats of five, is not death).
func TestLateThenDeadAfterDeadtime(t *testing.T) {
	s := newScenario(t)
	s.at(0).hb("n2", "eth0", 3, active)
	s.at(0).hb("n3", "eth0", 4, active)
	if got, want := s.m.NextDeadline(), t0.Add(300*time.Millisecond); !got.Equal(want) {
		t.Fatalf("next deadline %v, want warntime %v", got, want)
	}
	s.at(100).hb("n3", "eth0", 4, active)
	expect(t, "before warntime", s.at(299).tick(), "")
	expect(t, "at warntime", s.at(300).tick(), "n2 late")
	expect(t, "late reported once", s.at(350).tick(), "")
	if !s.m.Snapshot()[1].Late {
		t.Fatal("snapshot does not show n2 late")
	}
	s.at(400).hb("n3", "eth0", 4, active)
	expect(t, "just before deadtime", s.at(499).tick(), "")
	expect(t, "at deadtime", s.at(500).tick(), "")
	if got, want := s.m.NextDeadline(), t0.Add(501*time.Millisecond); !got.Equal(want) {
		t.Fatalf("next deadline %v, want just after deadtime %v", got, want)
	}
	expect(t, "after deadtime", s.at(501).tick(), "n2/eth0 dead; n2 active->dead")
	expect(t, "n2 dead", statusWord(s.status("n2")), "dead")
	expect(t, "n3 still active", statusWord(s.status("n3")), "active")
	if s.m.Snapshot()[1].Late {
		t.Fatal("a dead node is not late")
	}
}

func TestLateHeartbeatClearsLateness(t *testing.T) {
	s := newScenario(t)
	s.at(0).hb("n2", "eth0", 3, active)
	expect(t, "late", s.at(320).tick(), "n2 late")
	_, ev := s.at(400).hb("n2", "eth0", 3, active)
	expect(t, "late heartbeat arrives", ev, "")
	if s.m.Snapshot()[1].Late {
		t.Fatal("still late after a heartbeat")
	}
	expect(t, "late again after a new silence", s.at(700).tick(), "n2 late")
}

func TestDeathReasonNamesEveryLinkAndSilence(t *testing.T) {
	s := newScenario(t, "eth0", "eth1")
	s.at(0).hb("n2", "eth0", 3, active)
	s.frame("n2", "eth1", 3, 1, active)
	var evs []*messages.MembershipEvent
	s.at(300).tick()
	s.now = t0.Add(512 * time.Millisecond)
	evs = s.m.Tick(s.now)
	last := evs[len(evs)-1]
	if want := "n2 dead: no heartbeat on eth0, eth1 for 512ms"; last.Reason != want {
		t.Fatalf("reason %q, want %q", last.Reason, want)
	}
	if last.Silence.AsDuration() != 512*time.Millisecond {
		t.Fatalf("silence %v", last.Silence.AsDuration())
	}
}

// TestReplayCannotKeepALinkAlive: a frame captured on eth1 and sent again
// there is refused, so eth1 dies when it stops carrying new frames even if
// an attacker replays old ones.
func TestReplayCannotKeepALinkAlive(t *testing.T) {
	s := newScenario(t, "eth0", "eth1")
	s.at(0).hb("n2", "eth0", 3, active)
	captured := s.seq["n2"]
	if v, _ := s.frame("n2", "eth1", 3, captured, active); v != Duplicate {
		t.Fatalf("first copy on eth1: %v", v)
	}
	for ms := 100; ms <= 700; ms += 100 {
		s.at(ms).hb("n2", "eth0", 3, active)
		if v, _ := s.frame("n2", "eth1", 3, captured, active); v != Replayed {
			t.Fatalf("replay at %dms: %v", ms, v)
		}
		got := s.tick()
		if ms == 600 {
			expect(t, "eth1 dies despite the replays", got, "n2/eth1 dead")
		}
	}
}

// TestRelayedFrameIsOnlyADuplicate states what a link's state guarantees
// (README): a frame relayed live from eth0 onto eth1 is new on eth1, so it
// keeps eth1 looking up, but for membership it is a duplicate: it neither
// refreshes the node nor keeps a dead node alive; relayed again it is a
// replay.
func TestRelayedFrameIsOnlyADuplicate(t *testing.T) {
	s := newScenario(t, "eth0", "eth1")
	s.at(0).hb("n2", "eth0", 3, active)
	for ms := 100; ms <= 400; ms += 100 {
		s.at(ms).hb("n2", "eth0", 3, active)
		if v, _ := s.frame("n2", "eth1", 3, s.seq["n2"], active); v != Duplicate {
			t.Fatalf("relayed at %dms: %v, want duplicate", ms, v)
		}
		if v, _ := s.frame("n2", "eth1", 3, s.seq["n2"], active); v != Replayed {
			t.Fatalf("relayed twice at %dms: %v, want replayed", ms, v)
		}
		expect(t, "eth1 kept up by the relay", s.tick(), "")
	}
	// n2 falls silent; the last frame relayed after the silence does not
	// bring it back.
	last := s.seq["n2"]
	s.at(1000)
	expect(t, "n2 dies", s.tick(), "n2/eth0 dead; n2/eth1 dead; n2 active->dead")
	if v, ev := s.frame("n2", "eth1", 3, last, active); v == Accepted || ev != "" {
		t.Fatalf("relayed frame after death: %v %q", v, ev)
	}
}

func TestLosingOneOfTwoLinksIsNotDeath(t *testing.T) {
	s := newScenario(t, "eth0", "eth1")
	_, ev := s.at(0).hb("n2", "eth0", 3, active)
	expect(t, "first link", ev, "n2/eth0 up; n2 init->active")
	v, ev := s.frame("n2", "eth1", 3, 1, active)
	if v != Duplicate {
		t.Fatalf("same frame on the second link: verdict %v, want duplicate", v)
	}
	expect(t, "second link", ev, "n2/eth1 up")
	// From now on eth1 carries nothing.
	for ms := 100; ms <= 1000; ms += 100 {
		s.at(ms).hb("n2", "eth0", 3, active)
		got := s.tick()
		if ms == 600 {
			expect(t, "eth1 dies after deadtime", got, "n2/eth1 dead")
		} else {
			expect(t, fmt.Sprintf("tick at %dms", ms), got, "")
		}
	}
	expect(t, "node", statusWord(s.status("n2")), "active")
	// eth1 comes back.
	s.at(1100).hb("n2", "eth0", 3, active)
	v, ev = s.frame("n2", "eth1", 3, s.seq["n2"], active)
	if v != Duplicate {
		t.Fatalf("verdict %v", v)
	}
	expect(t, "eth1 restored", ev, "n2/eth1 up")
}

func TestInitdeadAppliesToPeersNeverHeard(t *testing.T) {
	s := newScenario(t)
	s.at(100).hb("n2", "eth0", 3, active)
	if got, want := s.m.NextDeadline(), t0.Add(400*time.Millisecond); !got.Equal(want) {
		t.Fatalf("next deadline %v, want %v", got, want)
	}
	for ms := 200; ms < 2000; ms += 100 {
		s.at(ms).hb("n2", "eth0", 3, active)
		expect(t, fmt.Sprintf("tick %d", ms), s.tick(), "")
	}
	if st := statusWord(s.status("n3")); st != "init" {
		t.Fatalf("n3 is %s before initdead", st)
	}
	s.at(2000).hb("n2", "eth0", 3, active)
	expect(t, "initdead", s.tick(), "n3 init->dead")
}

func TestNeverUpLinkOfLivePeerIsReportedAtInitdead(t *testing.T) {
	s := newScenario(t, "eth0", "eth1")
	s.at(0).hb("n3", "eth0", 4, active)
	for ms := 100; ms < 2000; ms += 100 {
		s.at(ms).hb("n2", "eth0", 3, active)
		s.at(ms).hb("n3", "eth0", 4, active)
		s.tick()
	}
	s.at(2000).hb("n2", "eth0", 3, active)
	s.at(2000).hb("n3", "eth0", 4, active)
	expect(t, "initdead", s.tick(), "n2/eth1 dead; n3/eth1 dead")
}

func TestGenerations(t *testing.T) {
	s := newScenario(t)
	s.at(0).hb("n2", "eth0", 5, active)
	s.at(100).hb("n2", "eth0", 5, active)
	v, ev := s.at(150).frame("n2", "eth0", 4, 99, active)
	if v != OldGeneration || ev != "" {
		t.Fatalf("older generation: %v %q", v, ev)
	}
	// A quick restart, within deadtime: a new incarnation, sequence from 1.
	v, ev = s.at(200).frame("n2", "eth0", 6, 1, active)
	if v != Accepted {
		t.Fatalf("restart: %v", v)
	}
	expect(t, "restart", ev, "n2 restarted gen 6")
	if got := s.m.Snapshot()[1].Generation; got != 6 {
		t.Fatalf("generation %d", got)
	}
	// The old incarnation's frames are now replays.
	if v, _ := s.frame("n2", "eth0", 5, 3, active); v != OldGeneration {
		t.Fatalf("old incarnation accepted: %v", v)
	}
}

func TestRestartAfterDeath(t *testing.T) {
	s := newScenario(t)
	s.at(0).hb("n2", "eth0", 5, active)
	expect(t, "death", s.at(501).tick(), "n2/eth0 dead; n2 active->dead")
	_, ev := s.at(3000).frame("n2", "eth0", 6, 1, active)
	expect(t, "back", ev, "n2 restarted gen 6; n2/eth0 up; n2 dead->active")
}

func TestReturnAfterPartitionWithSameGeneration(t *testing.T) {
	s := newScenario(t)
	s.at(0).hb("n2", "eth0", 5, active)
	s.at(600).tick()
	_, ev := s.at(900).hb("n2", "eth0", 5, active)
	expect(t, "return", ev, "n2 returned; n2/eth0 up; n2 dead->active")
}

func TestDuplicatesAndReplays(t *testing.T) {
	s := newScenario(t)
	s.at(0).frame("n2", "eth0", 5, 90, active)
	s.at(0).frame("n2", "eth0", 5, 100, active)
	if v, _ := s.at(10).frame("n2", "eth0", 5, 100, active); v != Replayed {
		t.Fatalf("same frame twice on one link: %v, want replayed", v)
	}
	if v, _ := s.frame("n2", "eth0", 5, 99, active); v != Accepted {
		t.Fatalf("reordered frame within the window: %v", v)
	}
	if v, _ := s.frame("n2", "eth0", 5, 100-windowSize, active); v != Replayed {
		t.Fatalf("frame below the window: %v", v)
	}
	if v, _ := s.frame("n2", "eth0", 5, 0, active); v != Replayed {
		t.Fatalf("sequence 0: %v", v)
	}
	// A replay does not refresh the node: only new frames prove it alive.
	s.at(400).tick()
	s.at(400).frame("n2", "eth0", 5, 100, active)
	expect(t, "death despite duplicates", s.at(511).tick(), "n2/eth0 dead; n2 active->dead")
}

func TestCleanShutdownIsImmediateDeath(t *testing.T) {
	s := newScenario(t, "eth0", "eth1")
	s.at(0).hb("n2", "eth0", 5, active)
	s.frame("n2", "eth1", 5, 1, active)
	_, ev := s.at(50).hb("n2", "eth0", 5, dead)
	expect(t, "shutdown", ev, "n2/eth0 dead; n2/eth1 dead; n2 active->dead")
	v, ev := s.frame("n2", "eth1", 5, s.seq["n2"], dead)
	if v != Duplicate || ev != "" {
		t.Fatalf("copy of the last heartbeat: %v %q", v, ev)
	}
	expect(t, "no later death", s.at(1000).tick(), "")
}

func TestFramesThatAreNotFromMembers(t *testing.T) {
	s := newScenario(t)
	cases := []struct {
		sender, link string
		want         Verdict
	}{
		{"intruder", "eth0", UnknownSender},
		{"n1", "eth0", FromSelf},
		{"n2", "eth9", UnknownLink},
	}
	for _, c := range cases {
		if v, ev := s.frame(c.sender, c.link, 1, 1, active); v != c.want || ev != "" {
			t.Errorf("%s on %s: %v %q, want %v", c.sender, c.link, v, ev, c.want)
		}
	}
	if st := statusWord(s.status("n2")); st != "init" {
		t.Fatalf("n2 changed to %s", st)
	}
	if _, ok := s.m.Status("intruder"); ok {
		t.Fatal("unknown node has a status")
	}
}

func TestLocalLinks(t *testing.T) {
	s := newScenario(t)
	local := s.m.Snapshot()[0]
	if !local.Local || local.Status != active || local.Links[0].Status != messages.LinkStatus_LINK_STATUS_DEAD {
		t.Fatalf("local at start: %v", local)
	}
	expect(t, "up", render(s.m.SetLocalLink(s.now, "eth0", true, "")), "n1/eth0 up")
	expect(t, "same again", render(s.m.SetLocalLink(s.now, "eth0", true, "")), "")
	expect(t, "down", render(s.m.SetLocalLink(s.now, "eth0", false, "send: network is unreachable")), "n1/eth0 dead")
	if d := s.m.Snapshot()[0].Links[0].Detail; d != "send: network is unreachable" {
		t.Fatalf("detail %q", d)
	}
}

func TestAlive(t *testing.T) {
	s := newScenario(t)
	s.at(0).hb("n3", "eth0", 1, up)
	if got := strings.Join(s.m.Alive(), ","); got != "n1,n3" {
		t.Fatalf("alive %s", got)
	}
}

// TestRandomHistories checks invariants over many random histories: a dead
// node has no live link, NextDeadline is never before the last tick once
// Tick has run, and ticking exactly at NextDeadline always makes progress.
func TestRandomHistories(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for run := 0; run < 300; run++ {
		s := newScenario(t, "eth0", "eth1")
		gens := map[string]uint64{"n2": 3, "n3": 9}
		for step := 0; step < 200; step++ {
			s.now = s.now.Add(time.Duration(rng.IntN(200)) * time.Millisecond)
			switch rng.IntN(6) {
			case 0, 1, 2:
				n := []string{"n2", "n3"}[rng.IntN(2)]
				link := []string{"eth0", "eth1"}[rng.IntN(2)]
				st := []messages.NodeStatus{active, active, active, up, dead}[rng.IntN(5)]
				seq := s.seq[n] + 1
				if back := uint64(rng.IntN(3)); back < seq {
					seq -= back // a reordered or repeated frame
				}
				if seq > s.seq[n] {
					s.seq[n] = seq
				}
				// Some frames do not echo this node: a peer that has not
				// heard it yet (its handshake under way).
				// In every third run n3 never hears this node: its frames
				// arrive, its handshake never completes.
				echo := uint64(7)
				if rng.IntN(4) == 0 || (run%3 == 0 && n == "n3") {
					echo = 0
				}
				// Most acknowledge what n1 just sent; some what it sent
				// up to two deadtimes ago, some of it excused by the
				// peer's own stalls (up to six deadtimes: more than
				// MaxStallCredit).
				heard := s.now
				s.excused = 0
				if rng.IntN(3) == 0 {
					heard = heard.Add(-time.Duration(rng.Int64N(int64(2 * s.m.cfg.Deadtime))))
					if rng.IntN(2) == 0 {
						s.excused = time.Duration(rng.Int64N(int64(6 * s.m.cfg.Deadtime))).Truncate(time.Millisecond)
					}
				}
				s.frameEcho(n, link, gens[n], seq, st, echo, heard)
			case 3:
				if rng.IntN(10) == 0 {
					n := []string{"n2", "n3"}[rng.IntN(2)]
					gens[n]++
					s.seq[n] = 0
				}
				if rng.IntN(3) == 0 {
					// This node ran late, by up to three deadtimes.
					s.m.Late(s.now, time.Duration(rng.Int64N(int64(3*s.m.cfg.Deadtime))))
				}
			default:
				s.tick()
				if d := s.m.NextDeadline(); !d.IsZero() && !d.After(s.now) {
					t.Fatalf("run %d: after Tick(%v) the next deadline %v is not in the future", run, s.now, d)
				}
			}
			for i := 1; i < len(s.m.stalls); i++ {
				if !s.m.stalls[i-1].to.Before(s.m.stalls[i].from) {
					t.Fatalf("run %d: stalls %v and %v overlap or are out of order", run, s.m.stalls[i-1], s.m.stalls[i])
				}
			}
			if got, want := s.m.NextDeadline(), referenceNextDeadline(s.m); !got.Equal(want) {
				t.Fatalf("run %d step %d: NextDeadline %v, a deadline per peer and link gives %v", run, step, got, want)
			}
			if d := s.m.NextDeadline(); !d.IsZero() && !d.Before(s.now) {
				before := render(s.m.Tick(d))
				if after := s.m.NextDeadline(); before == "" && after.Equal(d) {
					t.Fatalf("run %d: Tick at the deadline %v changed nothing", run, d)
				}
				s.now = d
			}
			for _, p := range s.m.peers {
				// A peer hears this node only on an acknowledgement no
				// later than its arrival, and not past deadtime of
				// listening after it (Tick just ran, or it just came).
				if p.hearsUs && (p.acked.After(s.now) || p.acked.Before(p.ackedSend) || p.status == dead) {
					t.Fatalf("run %d step %d: %s hears n1 with acknowledgement %v (sent %v) at %v, status %v", run, step, p.name, p.acked, p.ackedSend, s.now, p.status)
				}
				if p.acked.After(p.ackedSend.Add(MaxStallCredit * s.m.cfg.Deadtime)) {
					t.Fatalf("run %d step %d: %s's acknowledgement %v counts more than MaxStallCredit deadtimes after %v", run, step, p.name, p.acked, p.ackedSend)
				}
			}
			for _, n := range s.m.Snapshot() {
				if n.Status != dead || n.Local {
					continue
				}
				for _, l := range n.Links {
					if l.Status == messages.LinkStatus_LINK_STATUS_UP {
						t.Fatalf("run %d: dead node %s has live link %s", run, n.Name, l.Name)
					}
				}
			}
		}
	}
}

func TestWindow(t *testing.T) {
	var w window
	steps := []struct {
		seq  uint64
		want seqVerdict
	}{
		{1, seqNew}, {1, seqDuplicate}, {3, seqNew}, {2, seqNew}, {2, seqDuplicate},
		{100, seqNew}, {37, seqNew}, {36, seqTooOld}, {37, seqDuplicate}, {99, seqNew},
		{1000, seqNew}, {999, seqNew}, {100, seqTooOld}, {0, seqTooOld},
	}
	for i, st := range steps {
		if got := w.accept(st.seq); got != st.want {
			t.Fatalf("step %d: accept(%d) = %v, want %v", i, st.seq, got, st.want)
		}
	}
	w.reset()
	if w.accept(1) != seqNew {
		t.Fatal("reset window refuses 1")
	}
}

func BenchmarkReceiveHeartbeat(b *testing.B) {
	nodes := []string{"n1"}
	for i := 2; i <= 16; i++ {
		nodes = append(nodes, fmt.Sprintf("n%d", i))
	}
	m := New(Config{Local: "n1", Nodes: nodes, Links: []string{"eth0", "eth1"}, Warntime: time.Second, Deadtime: 2 * time.Second, Initdead: 10 * time.Second}, t0, 1)
	hb := &messages.Heartbeat{Status: active}
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Millisecond)
		m.Receive(now, Frame{Link: "eth0", Sender: nodes[1+i%15], Generation: 1, Sequence: uint64(i/15 + 1), Heartbeat: hb})
		if i%15 == 0 {
			m.Tick(now)
		}
	}
}

// TestHandshake: a generation that has not echoed this node's generation
// is heard (and echoed back in Sessions) but not counted; the heartbeat
// that echoes it completes the join.
func TestHandshake(t *testing.T) {
	s := newScenario(t)
	v, ev := s.at(10).frameEcho("n2", "eth0", 3, 1, active, 0, time.Time{})
	if v != Unconfirmed || ev != "" {
		t.Fatalf("first frame without echo: %v %q", v, ev)
	}
	expect(t, "still init", statusWord(s.status("n2")), "init")
	if e := s.m.Echo("n2"); e.Generation != 3 || !e.SendTime.Equal(s.now) {
		t.Fatalf("echo %+v: want n2 generation 3 heard now", e)
	}
	if e := s.m.Echo("n3"); e.Generation != 0 {
		t.Fatalf("echo of n3, never heard: %+v", e)
	}
	// An echo of another generation of n1 (an earlier life) is no echo.
	if v, _ := s.at(20).frameEcho("n2", "eth0", 3, 2, active, 6, s.now); v != Unconfirmed {
		t.Fatalf("echo of an old generation of ours: %v", v)
	}
	v, ev = s.at(30).frameEcho("n2", "eth0", 3, 3, active, 7, s.now)
	if v != Accepted {
		t.Fatalf("echoing frame: %v", v)
	}
	expect(t, "joined", ev, "n2/eth0 up; n2 init->active")
	// Frames sent before the confirming one may predate this node's life:
	// refused even if they are in the window.
	if v, _ := s.at(40).frameEcho("n2", "eth0", 3, 2, active, 7, s.now); v != Replayed {
		t.Fatalf("frame older than the handshake: %v", v)
	}
	if v, _ := s.at(40).frameEcho("n2", "eth0", 3, 4, active, 0, time.Time{}); v != Accepted {
		t.Fatalf("later frame of the confirmed generation without echo: %v", v)
	}
}

// TestReplayAfterRestartCannotMakeAPeerAlive: frames of n2 captured while
// n1 ran as generation 7 are replayed to n1 restarted as generation 8:
// they echo 7, never 8, so n2 stays init, and is dead at the latest a
// deadtime (500ms) after initdead (2s) however long they go on: a peer
// whose frames arrive but never echo this node may be one slow to answer,
// given deadtime more, never more.
func TestReplayAfterRestartCannotMakeAPeerAlive(t *testing.T) {
	s := newScenario(t)
	s.m = New(s.m.cfg, t0, 8)
	for ms := 0; ms <= 2500; ms += 100 {
		v, ev := s.at(ms).frameEcho("n2", "eth0", 3, uint64(100+ms/100), active, 7, t0)
		if v != Unconfirmed || ev != "" {
			t.Fatalf("replayed frame at %dms: %v %q", ms, v, ev)
		}
		got := s.tick()
		switch ms {
		case 2000:
			expect(t, "initdead", got, "n3 init->dead")
		case 2500:
			expect(t, "initdead and deadtime", got, "n2 init->dead")
		default:
			expect(t, fmt.Sprintf("tick %d", ms), got, "")
		}
	}
}

func reach(evs []*messages.MembershipEvent) string {
	var out []string
	for _, e := range evs {
		if e.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_REACH {
			out = append(out, fmt.Sprintf("%s hears=%v", e.Node, e.HearsUs))
		}
	}
	return strings.Join(out, "; ")
}

// TestHearsUs: a peer whose heartbeats keep arriving but stop
// acknowledging fresh frames of this node no longer hears it once the
// newest acknowledged frame is deadtime old: it may declare us dead.
func TestHearsUs(t *testing.T) {
	s := newScenario(t)
	hb := func(ms int, heard time.Time) string {
		s.at(ms)
		s.seq["n2"]++
		_, evs := s.m.Receive(s.now, Frame{Link: "eth0", Cluster: "c1", Sender: "n2", Generation: 3, Sequence: s.seq["n2"], SendTime: s.now,
			Heartbeat: &messages.Heartbeat{Status: active, Sessions: []*messages.PeerSession{{Node: "n1", Generation: 7, HeardSendTimeUnixNano: heard.UnixNano()}}}})
		return reach(evs)
	}
	expect(t, "join", hb(0, t0), "n2 hears=true")
	if !s.m.HearsUs("n2") || !s.m.Snapshot()[1].HearsUs {
		t.Fatal("n2 should hear us")
	}
	// n2 hears nothing from us after 100ms (one-way loss), but we hear it.
	frozen := t0.Add(100 * time.Millisecond)
	for ms := 100; ms <= 550; ms += 50 {
		expect(t, fmt.Sprintf("heartbeat at %d", ms), hb(ms, frozen), "")
		want := ""
		if ms == 600 {
			want = "n2 hears=false"
		}
		expect(t, fmt.Sprintf("tick at %d", ms), reach(s.m.Tick(s.now)), want)
	}
	if got, want := s.m.NextDeadline(), frozen.Add(500*time.Millisecond); got.After(want) {
		t.Fatalf("next deadline %v after the acknowledgement expires %v", got, want)
	}
	hb(600, frozen)
	expect(t, "acknowledgement expired", reach(s.m.Tick(s.now)), "n2 hears=false")
	expect(t, "still alive", statusWord(s.status("n2")), "active")
	expect(t, "fresh acknowledgement", hb(650, t0.Add(640*time.Millisecond)), "n2 hears=true")
}

// TestOldGenerationIsReportedAfterSilence: n2 comes back with a lower
// generation after being dead (its state directory was lost): dropped, and
// said once per generation; older frames while it is alive (in flight
// after a restart) are dropped silently.
func TestOldGenerationIsReportedAfterSilence(t *testing.T) {
	s := newScenario(t)
	s.at(0).hb("n2", "eth0", 5, active)
	if v, ev := s.at(100).frame("n2", "eth0", 4, 1, active); v != OldGeneration || ev != "" {
		t.Fatalf("old frame while alive: %v %q", v, ev)
	}
	s.at(300).tick()
	s.at(600).tick()
	v, ev := s.at(2000).frame("n2", "eth0", 1, 1, active)
	if v != OldGeneration {
		t.Fatalf("verdict %v", v)
	}
	expect(t, "reported", ev, "n2 old gen 1")
	_, ev = s.at(2100).frame("n2", "eth0", 1, 2, active)
	expect(t, "once", ev, "")
	expect(t, "still dead", statusWord(s.status("n2")), "dead")
}

// TestFutureGenerationIsNeverHeard: one frame with a generation far ahead
// of any clock (2^40, even echoing this node and saying DEAD) is refused
// before it is heard, echoed or confirmed: the real generation of the
// peer joins afterwards and stays alive.
func TestFutureGenerationIsNeverHeard(t *testing.T) {
	s := newScenario(t)
	real := uint64(t0.Unix())
	if v, _ := s.at(10).frame("n2", "eth0", real, 1, active); v != Accepted {
		t.Fatalf("real frame: %v", v)
	}
	if v, ev := s.at(20).frame("n2", "eth0", 1<<40, 1, dead); v != FutureGeneration || ev != "" {
		t.Fatalf("forged generation 2^40: %v %q", v, ev)
	}
	if e := s.m.Echo("n2"); e.Generation != real {
		t.Fatalf("echo after the forged frame: %+v, want generation %d", e, real)
	}
	ahead := uint64(t0.Add(MaxGenerationAhead).Unix()) + 1
	if v, _ := s.at(30).frame("n2", "eth0", ahead, 1, dead); v != FutureGeneration {
		t.Fatalf("generation one second past the margin: %v", v)
	}
	if v, _ := s.at(40).frame("n2", "eth0", real, 2, active); v != Accepted {
		t.Fatalf("real frame after the forged ones: %v", v)
	}
	expect(t, "alive", statusWord(s.status("n2")), "active")
	// Within the margin, a restart with a time-based generation from a
	// clock a day ahead is a restart.
	if v, ev := s.at(50).frame("n2", "eth0", uint64(t0.Add(24*time.Hour).Unix()), 1, active); v != Accepted || !strings.Contains(ev, "restarted") {
		t.Fatalf("restart with a clock a day ahead: %v %q", v, ev)
	}
	if !PlausibleGeneration(1, t0) || PlausibleGeneration(1<<63, t0) || PlausibleGeneration(^uint64(0), t0) {
		t.Fatal("PlausibleGeneration bounds")
	}
}

// TestWarntimeAtDeadtimeNeverWarns: Heartbeat accepts a warntime at or
// above deadtime and then never reports a late heartbeat; neither does
// the machine, and it sets no deadline for one.
func TestWarntimeAtDeadtimeNeverWarns(t *testing.T) {
	s := newScenario(t)
	s.m.cfg.Warntime = s.m.cfg.Deadtime
	s.at(0).hb("n2", "eth0", 3, active)
	if next := s.m.NextDeadline(); !next.Equal(t0.Add(s.m.cfg.Deadtime+deadSlack)) && next.Before(t0.Add(s.m.cfg.Deadtime)) {
		t.Fatalf("next deadline %v: a late warning is armed", next.Sub(t0))
	}
	expect(t, "no late warning at deadtime", s.at(500).tick(), "")
	expect(t, "dead after deadtime", s.at(501).tick(), "n2/eth0 dead; n2 active->dead")
}

// referenceNextDeadline is NextDeadline worked out the long way: every
// peer's and link's own deadline, each with the stalls within its silence.
func referenceNextDeadline(m *Machine) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	after := func(t time.Time, d time.Duration) time.Time {
		return t.Add(d + m.stalledWithin(t, t.Add(1<<62)))
	}
	initdead := after(m.started, m.cfg.Initdead)
	for _, p := range m.peers {
		switch {
		case p.status == messages.NodeStatus_NODE_STATUS_DEAD:
			continue
		case p.heard.IsZero() && !p.unconfirmed.IsZero():
			// Silent for deadtime, or deadtime past initdead, whichever
			// is first, but not before initdead.
			t := after(p.unconfirmed, m.cfg.Deadtime+deadSlack)
			if u := initdead.Add(m.cfg.Deadtime); u.Before(t) {
				t = u
			}
			if t.Before(initdead) {
				t = initdead
			}
			consider(t)
			continue
		case p.heard.IsZero():
			consider(initdead)
			continue
		}
		if !p.late && m.warns() {
			consider(after(p.heard, m.cfg.Warntime))
		}
		consider(after(p.heard, m.cfg.Deadtime+deadSlack))
		if p.hearsUs {
			consider(after(p.acked, m.cfg.Deadtime))
		}
		for _, l := range p.links {
			switch l.state {
			case linkUp:
				consider(after(l.heard, m.cfg.Deadtime+deadSlack))
			case linkInit:
				consider(initdead)
			}
		}
	}
	return next
}

// TestAFrameThatArrivedEarlierNeverMovesHearingBack: a frame's time is
// when it arrived, and the two sockets of a link (IPv4 and IPv6) hand
// their frames over in the order their readers run: a frame that arrived
// before one already handled does not make the peer's (or the link's)
// silence start earlier.
func TestAFrameThatArrivedEarlierNeverMovesHearingBack(t *testing.T) {
	s := newScenario(t)
	s.at(0).hb("n2", "eth0", 3, active)
	s.at(200).hb("n2", "eth0", 3, active)
	// A frame that arrived at 150, handed over after the one of 200.
	s.seq["n2"]++
	arrived := t0.Add(150 * time.Millisecond)
	hb := &messages.Heartbeat{Status: active, Sessions: []*messages.PeerSession{{Node: "n1", Generation: 7, HeardSendTimeUnixNano: arrived.UnixNano()}}}
	if v, _ := s.m.Receive(arrived, Frame{Link: "eth0", Cluster: "c1", Sender: "n2", Generation: 3, Sequence: s.seq["n2"], SendTime: arrived, Heartbeat: hb}); v != Accepted {
		t.Fatalf("verdict %v", v)
	}
	if got, want := s.m.NextDeadline(), t0.Add(500*time.Millisecond); !got.Equal(want) {
		t.Fatalf("next deadline %v, want warntime after 200 (%v)", got, want)
	}
	expect(t, "warntime counts from 200", s.at(499).tick(), "")
	expect(t, "late at 500", s.at(500).tick(), "n2 late")
	expect(t, "deadtime counts from 200", s.at(700).tick(), "")
	expect(t, "dead after 700", s.at(701).tick(), "n2/eth0 dead; n2 active->dead")
}

// TestInitdeadExcludesThisNodesOwnStalls: a node that could not run for
// 800ms of its 2s initdead (a machine too busy to run it) gives its peers
// up at 2.8s, not at 2s: it could not listen meanwhile. A peer heard at
// 2.5s is alive, not given up on.
func TestInitdeadExcludesThisNodesOwnStalls(t *testing.T) {
	s := newScenario(t)
	s.m.Late(t0.Add(1000*time.Millisecond), 800*time.Millisecond)
	if got := s.m.NextDeadline(); !got.Equal(t0.Add(2800 * time.Millisecond)) {
		t.Fatalf("next deadline %v, want initdead plus the stall, 2.8s", got.Sub(t0))
	}
	expect(t, "at 2s", render(s.m.Tick(t0.Add(2000*time.Millisecond))), "")
	s.at(2500).hb("n2", "eth0", 3, active)
	got := render(s.m.Tick(t0.Add(2800 * time.Millisecond)))
	if !strings.Contains(got, "n3 init->dead") || strings.Contains(got, "n2 active->dead") {
		t.Fatalf("at 2.8s: %q, want n3 dead and n2 not", got)
	}
}
