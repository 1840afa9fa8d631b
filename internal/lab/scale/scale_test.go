package scale

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/messages"
)

// The pure parts of the bench: reading views, counting deaths, checking
// groups, writing ha.cf, plotting. The bench itself runs in
// cmd/hanode-bench's TestScaleShort (root, network namespaces).

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func member(name string, st messages.NodeStatus, since time.Time) *messages.NodeState {
	return &messages.NodeState{Name: name, Type: messages.NodeType_NODE_TYPE_NORMAL, Status: st, Since: timestamppb.New(since)}
}

const active, dead = messages.NodeStatus_NODE_STATUS_ACTIVE, messages.NodeStatus_NODE_STATUS_DEAD

func TestNotActiveAndActiveSince(t *testing.T) {
	s := &messages.ClusterStatus{Nodes: []*messages.NodeState{
		member("node1", active, t0), member("node2", active, t0.Add(2*time.Second)), member("node3", messages.NodeStatus_NODE_STATUS_INIT, t0),
	}}
	if n := notActive(s, 3); n != 1 {
		t.Errorf("notActive = %d, want 1", n)
	}
	if n := notActive(s, 4); n != 2 {
		t.Errorf("notActive of 4 members, one missing = %d, want 2", n)
	}
	if n := notActive(nil, 4); n != 4 {
		t.Errorf("notActive without a view = %d, want 4", n)
	}
	if at := activeSince(s); !at.Equal(t0.Add(2 * time.Second)) {
		t.Errorf("activeSince = %v", at)
	}
}

func TestDeathLogCountsEachDeathOnce(t *testing.T) {
	d := newDeathLog()
	ev := func(node string, at time.Time) *messages.MembershipEvent {
		return &messages.MembershipEvent{Time: timestamppb.New(at), Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS, Node: node, Status: dead}
	}
	// Seen dead in two polls (event and state), then back.
	s1 := &messages.ClusterStatus{RecentEvents: []*messages.MembershipEvent{ev("node2", t0.Add(time.Second))},
		Nodes: []*messages.NodeState{member("node2", dead, t0.Add(time.Second))}}
	d.observe("node1", s1)
	d.observe("node1", s1)
	// A death that healed between two polls: only its event tells.
	s2 := &messages.ClusterStatus{RecentEvents: []*messages.MembershipEvent{ev("node2", t0.Add(time.Second)), ev("node3", t0.Add(3*time.Second))},
		Nodes: []*messages.NodeState{member("node2", active, t0.Add(2*time.Second)), member("node3", active, t0.Add(4*time.Second))}}
	d.observe("node1", s2)
	if n := d.count(t0, time.Time{}); n != 2 {
		t.Errorf("count = %d, want 2", n)
	}
	if n := d.count(t0.Add(2*time.Second), time.Time{}); n != 1 {
		t.Errorf("count after formation = %d, want 1", n)
	}
	if n := d.count(t0, t0.Add(2*time.Second)); n != 1 {
		t.Errorf("count before formation = %d, want 1", n)
	}
	if d.maybeMissed {
		t.Error("nothing was missed")
	}
	// A full list that starts after the newest event seen: some slipped.
	var full []*messages.MembershipEvent
	for i := range recentEventsCap {
		full = append(full, &messages.MembershipEvent{Time: timestamppb.New(t0.Add(time.Minute + time.Duration(i)*time.Millisecond))})
	}
	d.observe("node1", &messages.ClusterStatus{RecentEvents: full})
	if !d.maybeMissed {
		t.Error("an overflowed list not noticed")
	}
}

func TestTimelineDeathsAndQuorum(t *testing.T) {
	d := newDeathLog()
	// The status saw this death; the timeline has it too (same time).
	d.observe("node1", &messages.ClusterStatus{RecentEvents: []*messages.MembershipEvent{{Time: timestamppb.New(t0.Add(time.Second)),
		Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS, Node: "node2", Status: dead}}})
	membership := func(node, summary string, at time.Time) *messages.ClusterEvent {
		return &messages.ClusterEvent{Time: timestamppb.New(at), Kind: messages.EventKind_EVENT_KIND_MEMBERSHIP, Node: node, Summary: summary}
	}
	d.observeTimeline("node1", []*messages.ClusterEvent{
		membership("node2", "node2 dead: no heartbeat on eth0 for 10.5s", t0.Add(time.Second)),
		membership("node3", "node3 has not acknowledged this node's frames for 10.4s: it may declare this node dead", t0.Add(2*time.Second)),
		membership("node3", "node3 dead: no heartbeat on eth0 for 10.1s", t0.Add(3*time.Second)),
		{Time: timestamppb.New(t0.Add(4 * time.Second)), Kind: messages.EventKind_EVENT_KIND_QUORUM, Summary: "no quorum: only 1 of 3 nodes hear each other: groups stop"},
	})
	if n := d.count(t0, time.Time{}); n != 2 {
		t.Errorf("deaths = %d, want 2 (one from the status and the timeline, one from the timeline alone)", n)
	}
	if n := d.quorumChanges(t0); n != 1 {
		t.Errorf("quorum changes = %d, want 1", n)
	}
}

func group(name, preferred string, phase messages.GroupPhase) *messages.GroupStatus {
	return &messages.GroupStatus{Name: name, PreferredNode: preferred, LocalPhase: phase}
}

func TestGroupsPlaced(t *testing.T) {
	const run, stop = messages.GroupPhase_GROUP_PHASE_RUNNING, messages.GroupPhase_GROUP_PHASE_STOPPED
	names := []string{"node1", "node2"}
	good := map[string]*messages.ClusterStatus{
		"node1": {Groups: []*messages.GroupStatus{group("g1", "node1", run), group("g2", "node2", stop)}},
		"node2": {Groups: []*messages.GroupStatus{group("g1", "node1", stop), group("g2", "node2", run)}},
	}
	if p := groupsPlaced(good, names); len(p) != 0 {
		t.Errorf("problems in a good placement: %v", p)
	}
	twice := map[string]*messages.ClusterStatus{
		"node1": {Groups: []*messages.GroupStatus{group("g1", "node1", run), group("g2", "node2", messages.GroupPhase_GROUP_PHASE_STARTING)}},
		"node2": {Groups: []*messages.GroupStatus{group("g1", "node1", stop), group("g2", "node2", run)}},
	}
	if p := groupsPlaced(twice, names); len(p) != 1 || !strings.Contains(p[0], "g2") || !strings.Contains(p[0], "2 nodes") {
		t.Errorf("a group on two nodes: %v", p)
	}
	missing := map[string]*messages.ClusterStatus{"node1": good["node1"]}
	if p := groupsAtHome(missing, names); len(p) != 1 || !strings.Contains(p[0], "node2: no status") {
		t.Errorf("a node without status: %v", p)
	}
}

func TestHaCf(t *testing.T) {
	o := Options{Nodes: 20, Medium: "ucast", Keepalive: 200 * time.Millisecond, Deadtime: 2 * time.Second, Initdead: 4 * time.Second}
	cf := haCf(o, []string{"10.201.0.1", "10.201.0.2"})
	for _, want := range []string{"keepalive 200ms\n", "deadtime 2\n", "initdead 4\n", "ucast eth0 10.201.0.1\n", "ucast eth0 10.201.0.2\n",
		"node node1 node2 node3 node4 node5 node6 node7 node8 node9 node10 node11 node12 node13 node14 node15 node16\nnode node17 node18 node19 node20\n"} {
		if !strings.Contains(cf, want) {
			t.Errorf("ha.cf lacks %q:\n%s", want, cf)
		}
	}
	o.Medium = "bcast"
	if cf := haCf(o, nil); !strings.Contains(cf, "bcast eth0\n") || strings.Contains(cf, "ucast") {
		t.Errorf("bcast ha.cf:\n%s", cf)
	}
	o.Resource = ResourceIPaddr2
	if res := haresources(o); !strings.HasPrefix(res, "node1 IPaddr2::10.201.200.1/16/eth0\nnode2 IPaddr2::10.201.200.2/16/eth0\n") {
		t.Errorf("haresources:\n%s", res)
	}
}

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct {
		max       float64
		n         int
		last, two float64
	}{{23.4, 6, 25, 5}, {600, 10, 600, 100}, {0, 6, 1, 0.2}, {0.003, 5, 0.003, 0.001}} {
		ticks := niceTicks(c.max, c.n)
		if ticks[0] != 0 || ticks[len(ticks)-1] < c.max || ticks[len(ticks)-1] > c.last*1.0001 || len(ticks) < 2 || ticks[1] < c.two*0.9999 || ticks[1] > c.two*1.0001 {
			t.Errorf("niceTicks(%v, %d) = %v", c.max, c.n, ticks)
		}
	}
}

func TestPlotIsAPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.png")
	r := &Result{Options: Options{Nodes: 3, Medium: "bcast", Keepalive: time.Second, Deadtime: 10 * time.Second}, PlotPNG: path,
		StartSpan: 200 * time.Millisecond, Stable: true, StableAfter: 3 * time.Second}
	for i := range 20 {
		r.Samples = append(r.Samples, Sample{T: time.Duration(i) * time.Second, RSSMedian: 18 + float64(i)/10, RSSMax: 20, Msgs: float64(i % 3), Running: 3})
	}
	if err := plotRun(r); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != plotW || b.Dy() < 2*panelH {
		t.Errorf("plot of %v", b)
	}
}

func TestEveryLabelCharacterHasAGlyph(t *testing.T) {
	for _, s := range []string{"RSS per node (MiB)", "cluster messages per node per second", "resent + NAKs + rexmit requests",
		"time since the first node started (s)", "hanode scale: 64 nodes, bcast, keepalive 1s, deadtime 10s", "stable 12.3s", "last start", "0.005"} {
		for _, r := range strings.ToUpper(s) {
			if _, ok := glyphs[r]; !ok && r != ' ' {
				t.Errorf("no glyph for %q (in %q)", r, s)
			}
		}
	}
}
