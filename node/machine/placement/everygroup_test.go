package placement

import (
	"slices"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

// TestANeverHeardNodeIsSentAsEveryGroup: a node that gives up on a peer it
// never heard (initdead) waits for it for every group, and its full state
// says "every group" instead of naming them: a full state of a node that
// heard few of a large cluster was nodes x groups names long. A node that
// started later takes the wait over for every group of its own
// configuration, one the sender does not have included; a listed group it
// does not have is left out instead of kept (its tick would find no such
// group).
func TestANeverHeardNodeIsSentAsEveryGroup(t *testing.T) {
	nodes := []string{"n1", "n2", "n3"}
	g1, g2 := GroupSpec{Name: "g1", Preferred: "n3"}, GroupSpec{Name: "g2", Preferred: "n3"}
	budget := map[string]time.Duration{"g1": time.Second, "g2": time.Second, "g3": time.Second}
	now := t0
	n1 := New(Config{Local: "n1", Generation: 1, Nodes: nodes, Groups: []GroupSpec{g1, g2}, StopBudget: budget}, now)
	n1.Membership(now, []Peer{{Name: "n2", Alive: true, Generation: 1, HearsUs: true}}, true) // initdead: n3 never heard

	p := n1.pending["n3"]
	if p == nil || !p.everyGroup || !p.has("g1") || !p.has("g2") {
		t.Fatalf("n1's wait for n3: %+v, want every group", p)
	}
	full := n1.snapshot(now).GetGroupStates()
	var pt *messages.PendingTakeover
	for _, x := range full.GetPending() {
		if x.Node == "n3" {
			pt = x
		}
	}
	if pt == nil || !pt.EveryGroup || len(pt.Groups) != 0 {
		t.Fatalf("n1's full state says of n3: %v, want every_group and no names", pt)
	}

	// n2 started after n3 went away, with a group n1 lacks.
	g3 := GroupSpec{Name: "g3", Preferred: "n3"}
	n2 := New(Config{Local: "n2", Generation: 1, Nodes: nodes, Groups: []GroupSpec{g1, g2, g3}, StopBudget: budget}, now)
	n2.Membership(now, []Peer{{Name: "n1", Alive: true, Generation: 1, HearsUs: true}}, false)
	n2.Receive(now, "n1", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: full}})
	q := n2.pending["n3"]
	if q == nil || !q.everyGroup || !slices.Equal(q.groups, []string{"g1", "g2", "g3"}) {
		t.Fatalf("n2's wait for n3, taken from n1: %+v, want every group of n2's: g1 g2 g3", q)
	}
	for _, g := range []string{"g1", "g2", "g3"} {
		if !holds(n2.groups[g].holders["n3"]) {
			t.Errorf("n2 does not count %s as possibly held by n3", g)
		}
	}
	// And passes it on as such.
	for _, x := range n2.snapshot(now).GetGroupStates().GetPending() {
		if x.Node == "n3" && (!x.EveryGroup || len(x.Groups) != 0) {
			t.Errorf("n2's full state says of n3: %v, want every_group", x)
		}
	}

	// A peer naming a group this node does not have: left out.
	n1b := New(Config{Local: "n1", Generation: 2, Nodes: nodes, Groups: []GroupSpec{g1}, StopBudget: budget}, now)
	n1b.Membership(now, []Peer{{Name: "n2", Alive: true, Generation: 1, HearsUs: true}}, false)
	n1b.Receive(now, "n2", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{
		Full: true, Pending: []*messages.PendingTakeover{{Node: "n3", Generation: 4, Groups: []string{"g3", "g1", "g1"}, RemainingMs: 10}}}}})
	if r := n1b.pending["n3"]; r == nil || r.everyGroup || !slices.Equal(r.groups, []string{"g1"}) {
		t.Fatalf("n1's wait for n3 named g3 (unknown here) and g1 twice: %+v, want g1 alone", r)
	}
	// The wait runs out without a panic on the unknown group.
	n1b.Tick(now.Add(time.Second))
	if n1b.pending["n3"] != nil {
		t.Errorf("n1's wait for n3 outlived its 10ms")
	}
}
