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
// lost for good. Without news of the loss n1 kept n3's claim unanswered
// (it waits for the probe's result) until n3 gave it up, and every claim
// after it, for as long as n2 said nothing more of g: at 64 nodes, the
// rest of the run. With it, n1 asks n2 for its full state at once and
// answers the claim as soon as that arrives.
func TestALostMessageMakesAPeersStateUnknownUntilItsFullStateArrives(t *testing.T) {
	m := threeNodes(t, "n1")
	now := t0.Add(time.Second)
	m.Receive(now, "n2", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{
		Groups: []*messages.GroupState{{Group: "g", Phase: Probing}}}}})
	if r := replyTo(m.Receive(now, "n3", claimOf("g", 1))); r != nil {
		t.Fatalf("claim while n2 probes g: reply %v, want none until the probe reports", r)
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
	if r := replyTo(e); r != nil {
		t.Fatalf("claim answered while n2's state is unknown: %v", r)
	}

	now = now.Add(100 * time.Millisecond)
	if r := replyTo(m.Receive(now, "n2", fullState())); r == nil || !r.Granted || r.Attempt != 1 {
		t.Fatalf("once n2's full state says it holds nothing, n1 answered n3's claim with %v: want attempt 1 granted", r)
	}
}

// TestAClaimThatCannotBeJudgedYetIsAnsweredOnceItCan: a voter that does
// not know yet who is there, or lacks a peer's state, neither grants nor
// denies a claim: it answers it once it can, within the claimant's
// timeout; a claim cancelled or timed out meanwhile is never answered.
func TestAClaimThatCannotBeJudgedYetIsAnsweredOnceItCan(t *testing.T) {
	nodes := []string{"n1", "n2", "n3"}
	m := New(Config{Local: "n1", Nodes: nodes, Groups: []GroupSpec{{Name: "g", Preferred: "n3"}, {Name: "h", Preferred: "n2"}}}, t0)
	m.Report(t0, GroupReport{Group: "g", Phase: Stopped})
	m.Report(t0, GroupReport{Group: "h", Phase: Stopped})
	view := []Peer{{Name: "n2", Alive: true, Generation: 1, HearsUs: true}, {Name: "n3", Alive: true, Generation: 1, HearsUs: true}}
	m.Membership(t0, view, false) // n1 does not know yet who is there
	m.Receive(t0, "n3", fullState())
	now := t0.Add(10 * time.Millisecond)
	if r := replyTo(m.Receive(now, "n3", claimOf("g", 1))); r != nil {
		t.Fatalf("claim before n1 knows who is there: reply %v, want none yet", r)
	}
	if r := replyTo(m.Receive(now, "n2", claimOf("h", 1))); r != nil {
		t.Fatalf("claim before n1 knows who is there: reply %v, want none yet", r)
	}
	// n2 gives its claim up: never answered.
	m.Receive(now, "n2", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupClaimCancel{GroupClaimCancel: &messages.GroupClaimCancel{Group: "h", Attempt: 1}}})

	now = now.Add(10 * time.Millisecond)
	if r := replyTo(m.Membership(now, view, true)); r != nil {
		t.Fatalf("settled but without n2's state: reply %v, want none yet", r)
	}
	now = now.Add(10 * time.Millisecond)
	e := m.Receive(now, "n2", fullState())
	var replies []*messages.GroupClaimReply
	for _, msg := range e.Send {
		if r := msg.GetGroupClaimReply(); r != nil {
			replies = append(replies, r)
			if msg.Destination != "n3" {
				t.Errorf("the answer went to %q, want n3", msg.Destination)
			}
		}
	}
	if len(replies) != 1 || replies[0].Group != "g" || !replies[0].Granted {
		t.Fatalf("once n1 can judge: replies %v, want g granted to n3 only (n2 cancelled h)", replies)
	}

	// A claim deferred past the claimant's timeout is dropped unanswered.
	m.Receive(now, "n2", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{
		Groups: []*messages.GroupState{{Group: "h", Phase: Probing}}}}})
	if r := replyTo(m.Receive(now, "n3", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupClaim{GroupClaim: &messages.GroupClaim{Group: "h", Attempt: 2, TimeoutMs: 1000}}})); r != nil {
		t.Fatalf("claim of h while n2 probes it: reply %v, want none yet", r)
	}
	now = now.Add(1500 * time.Millisecond)
	m.Tick(now)
	if r := replyTo(m.Receive(now, "n2", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{
		Groups: []*messages.GroupState{{Group: "h", Phase: Stopped}}}}})); r != nil {
		t.Fatalf("n3 gave its claim up 500ms ago, and n1 answered it: %v", r)
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

// TestAClaimHeardLateIsNotGrantedOnceItsClaimantHoldsTheGroup: after a
// partition heals, n2's stream brings its claim of g from before, then
// its state: it started g (and stopped it since). n1, which could not
// judge the claim when it arrived, must not grant it once it can: the
// claim ended long ago, and the grant would keep the group from its next
// claimant for a grant's lifetime (the simulation's seed 22: 15 s).
func TestAClaimHeardLateIsNotGrantedOnceItsClaimantHoldsTheGroup(t *testing.T) {
	m := threeNodes(t, "n1")
	now := t0.Add(time.Second)
	m.Lost(now, "n3", 1) // n1 lacks n3's state: it cannot judge claims
	if r := replyTo(m.Receive(now, "n2", claimOf("g", 4))); r != nil {
		t.Fatalf("claim while n3's state is unknown: reply %v, want none yet", r)
	}
	for _, ph := range []Phase{Starting, Running, Stopping, Stopped} {
		if r := replyTo(m.Receive(now, "n2", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{
			Groups: []*messages.GroupState{{Group: "g", Phase: ph}}}}})); r != nil {
			t.Fatalf("n2's state %v: n1 answered %v", ph, r)
		}
	}
	if r := replyTo(m.Receive(now.Add(10*time.Millisecond), "n3", fullState())); r != nil {
		t.Fatalf("once n1 can judge, it answered a claim that ended: %v", r)
	}
	if why := m.blocked(now.Add(20*time.Millisecond), m.groups["g"]); why != "" {
		t.Fatalf("g is blocked at n1: %s", why)
	}
}

// TestAWaitAlreadyServedIsNotAdoptedAgain: n1 waited out the stop budget
// of n2's life, which died holding g; a peer's wait for the same life,
// arriving later (its remaining time counted from when it arrives,
// seconds late under load), is not taken again: passed from peer to peer,
// such waits kept a 64-node cluster from running any group for over a
// minute. A wait of a later life still is.
func TestAWaitAlreadyServedIsNotAdoptedAgain(t *testing.T) {
	m := threeNodes(t, "n1")
	now := t0.Add(time.Second)
	m.Receive(now, "n2", &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{
		Groups: []*messages.GroupState{{Group: "g", Phase: Running}}}}})
	view := []Peer{{Name: "n2", Alive: false, Generation: 1}, {Name: "n3", Alive: true, Generation: 1, HearsUs: true}}
	m.Membership(now, view, true)
	if m.pending["n2"] == nil {
		t.Fatal("n2 died holding g: no wait")
	}
	now = now.Add(10 * time.Minute)
	m.Tick(now)
	if m.pending["n2"] != nil {
		t.Fatal("the wait for n2 did not end")
	}
	wait := func(gen uint64) *messages.ClusterMessage {
		return &messages.ClusterMessage{Payload: &messages.ClusterMessage_GroupStates{GroupStates: &messages.GroupStates{
			Pending: []*messages.PendingTakeover{{Node: "n2", Generation: gen, Groups: []string{"g"}, RemainingMs: 5000, Reason: "died holding g"}}}}}
	}
	e := m.Receive(now, "n3", wait(1))
	if m.pending["n2"] != nil || strings.Contains(strings.Join(e.Log, "\n"), "n3 says n2") {
		t.Fatalf("n3's wait for the life n1 waited out was adopted again: %v", e.Log)
	}
	m.Receive(now, "n3", wait(2))
	if m.pending["n2"] == nil {
		t.Fatal("n3's wait for a later life of n2 was not adopted")
	}
}
