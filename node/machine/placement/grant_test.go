package placement

import (
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

// grantReply finds this machine's answer to a claim in its effects.
func grantReply(e Effects, to string) *messages.GroupClaimReply {
	for _, m := range e.Send {
		if r := m.GetGroupClaimReply(); r != nil && m.Destination == to {
			return r
		}
	}
	return nil
}

// TestAGrantOutlivesTheClaimantsStoppedState: a grant is used when the
// claimant says it holds the group, and given back by a cancel, the
// claimant's death or restart, or the grant timeout; a state of the
// claimant saying the group is stopped ends nothing, since a claimant says
// so until its last grant arrives (and a full state sent before the claim,
// delayed by a healed partition, says so too). Were the grant dropped on
// it, a second claimant would be granted the group while the first still
// waits for its last grant: after a partition healed, both started it.
func TestAGrantOutlivesTheClaimantsStoppedState(t *testing.T) {
	nodes := []string{"n1", "n2", "n3"}
	g1 := GroupSpec{Name: "g1", Preferred: "n2"}
	now := t0
	n1 := New(Config{Local: "n1", Generation: 1, Nodes: nodes, Groups: []GroupSpec{g1}, StopBudget: map[string]time.Duration{"g1": time.Second}}, now)
	n1.Membership(now, []Peer{{Name: "n2", Alive: true, Generation: 1, HearsUs: true}, {Name: "n3", Alive: true, Generation: 1, HearsUs: true}}, true)
	stopped := func() *messages.ClusterMessage {
		return &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{
			Full: true, Groups: []*messages.GroupState{{Group: "g1", Phase: Stopped}}}}}
	}
	n1.Report(now, GroupReport{Group: "g1", Phase: Stopped})
	n1.Receive(now, "n2", stopped())
	n1.Receive(now, "n3", stopped())
	n1.Tick(now)

	claim := func(from string, attempt uint64) *messages.GroupClaimReply {
		e := n1.Receive(now, from, &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupClaim{GroupClaim: &messages.GroupClaim{Group: "g1", Attempt: attempt}}})
		r := grantReply(e, from)
		if r == nil {
			t.Fatalf("n1 did not answer %s's claim", from)
		}
		return r
	}
	if r := claim("n2", 1); !r.Granted {
		t.Fatalf("n2's claim: %v, want granted", r)
	}
	// n2's state, still saying stopped (its claim waits for n3's grant).
	now = now.Add(100 * time.Millisecond)
	n1.Receive(now, "n2", stopped())
	if r := claim("n3", 7); r.Granted {
		t.Fatalf("n3's claim after n2's stopped state: granted while n2's grant is open")
	} else if r.InFavourOf != "n2" {
		t.Errorf("n3's claim denied in favour of %q, want n2", r.InFavourOf)
	}

	// Used: n2 says it starts it. Then n3's claim is denied as held by n2.
	now = now.Add(100 * time.Millisecond)
	n1.Receive(now, "n2", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{
		Groups: []*messages.GroupState{{Group: "g1", Phase: Starting}}}}})
	if n1.groups["g1"].grant != nil {
		t.Errorf("n2's grant outlived its start")
	}

	// Given back: a cancel of the attempt granted ends it; one of another
	// attempt does not.
	n1b := New(Config{Local: "n1", Generation: 1, Nodes: nodes, Groups: []GroupSpec{g1}, StopBudget: map[string]time.Duration{"g1": time.Second}}, now)
	n1b.Membership(now, []Peer{{Name: "n2", Alive: true, Generation: 1, HearsUs: true}, {Name: "n3", Alive: true, Generation: 1, HearsUs: true}}, true)
	n1b.Report(now, GroupReport{Group: "g1", Phase: Stopped})
	n1b.Receive(now, "n2", stopped())
	n1b.Receive(now, "n3", stopped())
	n1 = n1b
	if r := claim("n2", 3); !r.Granted {
		t.Fatalf("n2's claim: %v, want granted", r)
	}
	cancel := func(attempt uint64) {
		n1.Receive(now, "n2", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupClaimCancel{GroupClaimCancel: &messages.GroupClaimCancel{Group: "g1", Attempt: attempt}}})
	}
	cancel(2)
	if n1.groups["g1"].grant == nil {
		t.Fatalf("a cancel of another attempt ended n2's grant")
	}
	cancel(3)
	if r := claim("n3", 8); !r.Granted {
		t.Errorf("n3's claim after n2 cancelled: %v, want granted", r)
	}
}
