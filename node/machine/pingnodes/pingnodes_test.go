package pingnodes

import (
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func reasons(evs []*messages.MembershipEvent) string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Reason)
	}
	return strings.Join(out, "; ")
}

func TestPingNodeLifecycle(t *testing.T) {
	m := New("n1", []Node{{Name: "10.0.0.254", Addresses: []string{"10.0.0.254"}}, {Name: "routers", Addresses: []string{"10.0.1.1", "10.0.1.2"}}}, time.Second, t0)
	if m.Up() != 0 || !m.NextDeadline().Equal(t0.Add(time.Second)) {
		t.Fatalf("at start: up %d, deadline %v", m.Up(), m.NextDeadline())
	}
	evs := m.Reply(t0.Add(100*time.Millisecond), "10.0.0.254", "10.0.0.254")
	if got := reasons(evs); got != "ping node 10.0.0.254 answers (10.0.0.254); n1 reaches 1 of 2 ping nodes" {
		t.Fatalf("first reply: %s", got)
	}
	if evs[1].Kind != messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_CONNECTIVITY || evs[1].PingNodesUp != 1 || evs[1].Node != "n1" {
		t.Fatalf("connectivity event: %v", evs[1])
	}
	// The group answers through either address.
	m.Reply(t0.Add(200*time.Millisecond), "routers", "10.0.1.2")
	if m.Up() != 2 {
		t.Fatalf("up %d", m.Up())
	}
	if evs := m.Reply(t0.Add(900*time.Millisecond), "routers", "10.0.1.1"); len(evs) != 0 {
		t.Fatalf("a reply from a live ping node is no event: %s", reasons(evs))
	}
	// 10.0.0.254 silent for deadping: dead.
	if evs := m.Tick(t0.Add(1099 * time.Millisecond)); len(evs) != 0 {
		t.Fatalf("early: %s", reasons(evs))
	}
	evs = m.Tick(t0.Add(1100 * time.Millisecond))
	if got := reasons(evs); got != "ping node 10.0.0.254 dead: no echo reply for 1s; n1 reaches 1 of 2 ping nodes" {
		t.Fatalf("deadping: %s", got)
	}
	// Answers again.
	m.Reply(t0.Add(1500*time.Millisecond), "10.0.0.254", "10.0.0.254")
	if m.Up() != 2 {
		t.Fatalf("back: up %d", m.Up())
	}
	st := m.States()
	if len(st) != 2 || st[1].Type != messages.NodeType_NODE_TYPE_PING || st[1].Status != messages.NodeStatus_NODE_STATUS_PING || st[1].AnsweredBy != "10.0.1.1" {
		t.Fatalf("states: %v", st)
	}
}

func TestSilentFromStartIsDeadAfterDeadping(t *testing.T) {
	m := New("n1", []Node{{Name: "gw", Addresses: []string{"10.0.0.1"}}}, 2*time.Second, t0)
	if evs := m.Tick(t0.Add(time.Second)); len(evs) != 0 {
		t.Fatalf("early: %s", reasons(evs))
	}
	evs := m.Tick(t0.Add(2 * time.Second))
	if got := reasons(evs); got != "ping node gw dead: no echo reply since start (deadping 2s)" {
		t.Fatalf("got %q", got)
	}
	if !m.NextDeadline().IsZero() {
		t.Fatalf("a dead ping node has no deadline: %v", m.NextDeadline())
	}
	if evs := m.Reply(t0, "nosuch", "10.9.9.9"); evs != nil {
		t.Fatalf("unknown ping node: %v", evs)
	}
}
