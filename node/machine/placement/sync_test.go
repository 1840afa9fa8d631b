package placement

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hanode/hanode/messages"
)

// fullStates counts the full states each node sends (onApply).
func fullStates(s *sim) map[string]int {
	count := map[string]int{}
	s.onApply = func(n *simNode, e Effects) {
		for _, m := range e.Send {
			if st := m.GetGroupStates(); st.GetFull() {
				count[n.name]++
				if m.Destination != "" {
					s.t.Errorf("%s sent a full state to %s only: every full state is a broadcast", n.name, m.Destination)
				}
			}
		}
	}
	return count
}

func ownGroups(n int) []GroupSpec {
	var gs []GroupSpec
	for i := 1; i <= n; i++ {
		gs = append(gs, GroupSpec{Name: fmt.Sprintf("g%d", i), Preferred: fmt.Sprintf("n%d", i)})
	}
	return gs
}

// TestAJoinCostsEachNodeOneFullState: 16 nodes that come up together see
// 15 newcomers each; each sends one full state, which asks every peer to
// answer and answers every request, not one per peer (the O(N) burst of
// every join that overran the message history at 32 nodes). Every group
// then starts on its preferred node.
func TestAJoinCostsEachNodeOneFullState(t *testing.T) {
	const n = 16
	s := newSim(t, n, true, ownGroups(n)...)
	count := fullStates(s)
	s.connectAll()
	s.run(100)
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		s.expectWhere(fmt.Sprintf("g%d", i), name)
		if count[name] != 1 {
			t.Errorf("%s sent %d full states for one join of all, want 1", name, count[name])
		}
	}
}

// TestJoinsOneAfterAnotherCostAConstantEach: nodes joining one at a time,
// 20ms apart (closer than SyncInterval), cost each node at most one full
// state per join it sees, and the joins of one interval share one.
func TestJoinsOneAfterAnotherCostAConstantEach(t *testing.T) {
	const n = 12
	s := newSim(t, n, true, ownGroups(n)...)
	count := fullStates(s)
	for _, name := range s.names {
		s.nodes[name].up = false
	}
	for i := range s.names {
		s.nodes[s.names[i]].up = true
		s.connectAll()
		s.run(2)
	}
	s.run(100)
	for i, name := range s.names {
		s.expectWhere(fmt.Sprintf("g%d", i+1), name)
		// A node that came up i-th sees n-1-i later joins, coalesced
		// 250ms at a time over n*20ms, plus its own.
		if limit := 1 + n*20/250 + 2; count[name] > limit {
			t.Errorf("%s sent %d full states for %d joins, want at most %d", name, count[name], n, limit)
		}
	}
}

// TestAMissingFullStateIsAskedForAgain: n2's answer never reaches n1 (the
// reliable layer gave it up); n1, still without n2's state, asks again
// after SyncRetry, and n2 answers although it answered n1's life once:
// nobody claims until then, and the groups start after.
func TestAMissingFullStateIsAskedForAgain(t *testing.T) {
	s := newSim(t, 2, true, web, GroupSpec{Name: "db", Preferred: "n2"})
	s.connectAll()
	dropped := 0
	for i := 0; i < len(s.queue); i++ {
		if env := s.queue[i]; env.from == "n2" && env.to == "n1" && env.msg.GetGroupStates().GetFull() {
			s.queue = slices.Delete(s.queue, i, i+1)
			i--
			dropped++
		}
	}
	if dropped != 1 {
		t.Fatalf("dropped %d full states of n2, want 1", dropped)
	}
	s.run(100) // 1s: n1 has no state of n2 and claims nothing
	if got := s.where("web"); got != "" {
		t.Fatalf("web runs on %q before n1 had n2's state", got)
	}
	s.run(300) // past SyncRetry (3s)
	s.expectWhere("web", "n1")
	s.expectWhere("db", "n2")
}

// TestRanApartReachesOnlyTheNodeItConcerns: a node that had a group up
// while apart from a newcomer marks it ran_apart_with that newcomer only.
func TestRanApartReachesOnlyTheNodeItConcerns(t *testing.T) {
	s := newSim(t, 3, true, web)
	s.connectAll()
	s.run(30)
	s.expectWhere("web", "n1")
	var sent []*messages.ClusterMessage
	s.onApply = func(n *simNode, e Effects) {
		if n.name == "n1" {
			sent = append(sent, e.Send...)
		}
	}
	s.crash("n3")
	s.run(10)
	s.restart("n3", true, web)
	s.run(30)
	for _, m := range sent {
		st := m.GetGroupStates()
		if !st.GetFull() {
			continue
		}
		for _, g := range st.Groups {
			if g.Group == "web" {
				if !slices.Equal(g.RanApartWith, []string{"n3"}) {
					t.Fatalf("n1's full state says web ran apart with %v, want [n3]", g.RanApartWith)
				}
				return
			}
		}
	}
	t.Fatal("n1 sent no full state after n3 came back")
}

func TestClipReason(t *testing.T) {
	if got := ClipReason("died holding [web]"); got != "died holding [web]" {
		t.Fatalf("a short reason changed: %q", got)
	}
	long := strings.Repeat("é", MaxReason) // two bytes each
	got := ClipReason(long)
	if len(got) > MaxReason || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Fatalf("clipped to %d bytes, valid UTF-8 %v: %q", len(got), utf8.ValidString(got), got)
	}
}

// TestGroupListsAreShort: a log line or a reason names at most five groups
// in brackets, then says how many more; a dead node that may hold 128
// groups is not worth 128 names in every line about it.
func TestGroupListsAreShort(t *testing.T) {
	var many []string
	for i := range 128 {
		many = append(many, fmt.Sprintf("g%d", i+1))
	}
	for _, c := range []struct {
		groups []string
		want   string
	}{
		{[]string{"web"}, "[web]"},
		{many[:5], "[g1 g2 g3 g4 g5]"},
		{many[:6], "[g1 g2 g3 g4 and 2 more]"},
		{many, "[g1 g2 g3 g4 and 124 more]"},
	} {
		if got := groupList(c.groups); got != c.want {
			t.Errorf("groupList(%d groups) = %q, want %q", len(c.groups), got, c.want)
		}
	}
}
