package events

import (
	"fmt"
	"testing"

	"github.com/hanode/hanode/messages"
)

func TestRingKeepsTheLatestInOrder(t *testing.T) {
	l := New(3)
	var seen []string
	l.Subscribe(func(ev *messages.ClusterEvent) { seen = append(seen, ev.Summary) })
	for i := 1; i <= 5; i++ {
		l.Add(&messages.ClusterEvent{Summary: fmt.Sprint(i)})
	}
	got := ""
	for _, ev := range l.List(0) {
		got += ev.Summary
	}
	if got != "345" || len(seen) != 5 {
		t.Fatalf("list %q, subscriber saw %v", got, seen)
	}
	if evs := l.List(2); len(evs) != 2 || evs[0].Summary != "4" {
		t.Fatalf("limit: %v", evs)
	}
	if evs := New(4).List(0); len(evs) != 0 {
		t.Fatalf("empty: %v", evs)
	}
}

func TestFromMembershipKinds(t *testing.T) {
	cases := map[messages.EventKind]*messages.MembershipEvent{
		messages.EventKind_EVENT_KIND_LINK:         {Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_LINK_STATUS},
		messages.EventKind_EVENT_KIND_MEMBERSHIP:   {Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS, Status: messages.NodeStatus_NODE_STATUS_DEAD},
		messages.EventKind_EVENT_KIND_CONNECTIVITY: {Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS, Status: messages.NodeStatus_NODE_STATUS_PING},
	}
	for want, ev := range cases {
		if got := FromMembership(ev).Kind; got != want {
			t.Errorf("%v: %v, want %v", ev, got, want)
		}
	}
}
