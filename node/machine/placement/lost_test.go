package placement

import (
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

// threeNodes is node local's machine in a cluster of n1, n2, n3 with group
// g (preferred by n3), every peer alive and its (empty) full state known.
func threeNodes(t *testing.T, local string) *Machine {
	t.Helper()
	nodes := []string{"n1", "n2", "n3"}
	m := New(Config{Local: local, Nodes: nodes, Groups: []GroupSpec{{Name: "g", Preferred: "n3"}}}, t0)
	m.Report(t0, GroupReport{Group: "g", Phase: Stopped})
	var view []Peer
	for _, n := range nodes {
		if n != local {
			view = append(view, Peer{Name: n, Alive: true, Generation: 1, HearsUs: true})
		}
	}
	m.Membership(t0, view, true)
	for _, n := range nodes {
		if n != local {
			m.Receive(t0, n, fullState())
		}
	}
	return m
}

func fullState(groups ...*messages.GroupState) *messages.ClusterMessage {
	return &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{Full: true, Groups: groups}}}
}

func claimOf(group string, attempt uint64) *messages.ClusterMessage {
	return &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupClaim{GroupClaim: &messages.GroupClaim{Group: group, Attempt: attempt}}}
}

// replyTo returns the claim reply among e's messages, nil if none.
func replyTo(e Effects) *messages.GroupClaimReply {
	for _, m := range e.Send {
		if r := m.GetGroupClaimReply(); r != nil {
			return r
		}
	}
	return nil
}

// TestALostMessageMakesAPeersStateUnknownUntilItsFullStateArrives: n2
// said it probes g, and its next message (the probe found g stopped) was
// lost for good. Without news of the loss n1 denied n3's claims "held by
// n2" for as long as n2 said nothing more of g, which at 64 nodes was the
// rest of the run. With it, n1 asks n2 for its full state at once, denies
// claims only until it arrives, and then grants.
func TestALostMessageMakesAPeersStateUnknownUntilItsFullStateArrives(t *testing.T) {
	m := threeNodes(t, "n1")
	now := t0.Add(time.Second)
	m.Receive(now, "n2", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{
		Groups: []*messages.GroupState{{Group: "g", Phase: Probing}}}}})
	if r := replyTo(m.Receive(now, "n3", claimOf("g", 1))); r == nil || r.Granted || !strings.Contains(r.Reason, "held by n2") {
		t.Fatalf("claim while n2 probes g: reply %v, want a denial held by n2", r)
	}

	now = now.Add(time.Second)
	if e := m.Lost(now, "n2", 7); len(e.Send) != 0 {
		t.Fatalf("a loss in another life of n2 (7, it is in 1) changed something: %v", e.Send)
	}
	e := m.Lost(now, "n2", 1)
	asked := false
	for _, msg := range e.Send {
		if st := msg.GetGroupStates(); st.GetFull() && msg.Destination == "" {
			for _, n := range st.AnswerFrom {
				asked = asked || n == "n2"
			}
		}
	}
	if !asked {
		t.Fatalf("after losing messages of n2, n1 sent %v: want a full state that asks n2 for its own", e.Send)
	}
	if r := replyTo(m.Receive(now, "n3", claimOf("g", 2))); r == nil || r.Granted || !strings.Contains(r.Reason, "waiting for the state of n2") {
		t.Fatalf("claim while n2's state is unknown: reply %v, want a denial waiting for the state of n2", r)
	}

	now = now.Add(100 * time.Millisecond)
	m.Receive(now, "n2", fullState())
	if r := replyTo(m.Receive(now, "n3", claimOf("g", 3))); r == nil || !r.Granted {
		t.Fatalf("claim once n2's full state says it holds nothing: reply %v, want it granted", r)
	}
}

// TestClaimsDeniedInARowAreMadeLessAndLessOften: a voter that denies a
// claim for what the claimant cannot see (a state it has not heard yet)
// makes the claimant wait twice as long each time, up to ClaimTimeout,
// rather than claim every RetryDelay: each claim costs a reply of every
// node. Once the voter grants, the group starts.
func TestClaimsDeniedInARowAreMadeLessAndLessOften(t *testing.T) {
	m := threeNodes(t, "n3")
	var claimsAt []time.Time
	now := t0
	deny := true
	started := false
	for step := 0; step < 2000 && !started; step++ {
		now = now.Add(10 * time.Millisecond)
		if step == 1500 {
			deny = false // n1 heard what it lacked
		}
		queue := []Effects{m.Tick(now)}
		for len(queue) > 0 {
			e := queue[0]
			queue = queue[1:]
			started = started || len(e.Start) > 0
			for _, msg := range e.Send {
				c := msg.GetGroupClaim()
				if c == nil {
					continue
				}
				claimsAt = append(claimsAt, now)
				reason := ""
				if deny {
					reason = "held by n1 (probing)"
				}
				queue = append(queue,
					m.Receive(now, "n1", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupClaimReply{GroupClaimReply: &messages.GroupClaimReply{
						Group: c.Group, Attempt: c.Attempt, Granted: !deny, Reason: reason}}}),
					m.Receive(now, "n2", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupClaimReply{GroupClaimReply: &messages.GroupClaimReply{
						Group: c.Group, Attempt: c.Attempt, Granted: true}}}))
			}
		}
	}
	if !started {
		t.Fatalf("g never started on n3 once n1 granted; claims at %v", claimsAt)
	}
	// 15 s of denials: claims 200ms, 400, 800, 1.6 s, then 3.2 s apart
	// (16 times RetryDelay at the claimant's rank, within ClaimTimeout):
	// 8 claims, where one every 200ms would be 75.
	denied := 0
	for i, at := range claimsAt {
		if at.Sub(t0) > 15*time.Second {
			break
		}
		denied++
		if i >= 1 {
			want := min(200*time.Millisecond<<(i-1), 3200*time.Millisecond)
			if gap := at.Sub(claimsAt[i-1]); gap < want || gap > want+20*time.Millisecond {
				t.Errorf("claim %d came %v after the previous, want %v", i, gap, want)
			}
		}
	}
	if denied > 10 {
		t.Errorf("%d claims in 15 s of denials, want at most 10", denied)
	}
	if last := claimsAt[len(claimsAt)-1]; last.Sub(t0) > 15*time.Second+3200*time.Millisecond+20*time.Millisecond {
		t.Errorf("the claim that was granted came %v after the start, want within 3.2 s of the last denial", last.Sub(t0))
	}
}
