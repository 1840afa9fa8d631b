package placement

import (
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

// TestAWaitForANodeStillAliveHereIsTakenWhenItDies: n2 declares n3 dead
// holding g1 a moment before n1 does, and says it must be fenced; n1 still
// hears n3 then, and had seen this life of n3 hold nothing. When n1
// declares n3 dead too (within ClaimTimeout), it takes n2's wait and
// fences n3, instead of claiming g1 against n2's denials forever (node/sim
// seed 1485). A wait that came longer ago than ClaimTimeout before the
// death is not taken.
func TestAWaitForANodeStillAliveHereIsTakenWhenItDies(t *testing.T) {
	for _, c := range []struct {
		name   string
		after  time.Duration
		fences bool
	}{{"soon after", 300 * time.Millisecond, true}, {"long after", time.Minute, false}} {
		nodes := []string{"n1", "n2", "n3"}
		now := t0
		n1 := New(Config{Local: "n1", Generation: 1, Nodes: nodes, Groups: []GroupSpec{{Name: "g1", Preferred: "n1"}},
			Devices: []FenceDevice{{Name: "pdu"}}}, now)
		all := []Peer{{Name: "n2", Alive: true, Generation: 2, HearsUs: true}, {Name: "n3", Alive: true, Generation: 3, HearsUs: true}}
		n1.Membership(now, all, true)
		// This life of n3 says it holds nothing.
		n1.Receive(now, "n3", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{Full: true}}})
		n1.Receive(now, "n2", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{
			Pending: []*messages.PendingTakeover{{Node: "n3", Generation: 3, Groups: []string{"g1"}, Fence: true, Reason: "died holding [g1]"}}}}})
		if n1.pending["n3"] != nil {
			t.Fatalf("%s: n1 waits for n3, which it still hears", c.name)
		}
		now = now.Add(c.after)
		e := n1.Membership(now, all[:1], true)
		var notes []string
		for _, ev := range e.Events {
			notes = append(notes, ev.Summary)
		}
		fenced := false
		for _, f := range e.Fence {
			fenced = fenced || f.Target == "n3"
		}
		took := n1.pending["n3"] != nil && strings.Contains(strings.Join(notes, "; "), "n2 says n3 holds [g1] and is waiting to be fenced")
		if took != c.fences || fenced != c.fences {
			t.Fatalf("%s: n1 took n2's wait %v and fences n3 %v, want %v (notes: %q)", c.name, took, fenced, c.fences, notes)
		}
	}
}
