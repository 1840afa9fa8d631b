package actors

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

// TestWarningsThatComeAndGoAreFolded: a peer that stops hearing this node
// a hundred times within a deadtime (an overloaded node's acknowledgements
// flap) costs one log line, and the next one, a deadtime later, says how
// many were left out; another peer, another kind, and deaths have lines
// of their own.
func TestWarningsThatComeAndGoAreFolded(t *testing.T) {
	var out lockedBuffer
	now := time.Unix(1_800_000_000, 0)
	a := &Membership{st: &MembershipState{info: MembershipInfo{Local: "n1", Deadtime: 10 * time.Second}},
		log: slog.New(slog.NewTextHandler(&out, nil)), now: func() time.Time { return now }}
	reach := func(node string) *messages.MembershipEvent {
		return &messages.MembershipEvent{Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_REACH, Node: node,
			Reason: node + " has not acknowledged this node's frames for 11s: it may declare this node dead"}
	}
	for range 100 {
		a.logEvent(reach("n2"))
		now = now.Add(50 * time.Millisecond)
	}
	a.logEvent(reach("n3"))
	a.logEvent(&messages.MembershipEvent{Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_LATE, Node: "n2", Reason: "late heartbeat: n2 silent for 6s"})
	a.logEvent(&messages.MembershipEvent{Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS, Node: "n4",
		Status: messages.NodeStatus_NODE_STATUS_DEAD, Reason: "n4 dead: no heartbeat on net for 10s"})
	a.logEvent(&messages.MembershipEvent{Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS, Node: "n4",
		Status: messages.NodeStatus_NODE_STATUS_DEAD, Reason: "n4 dead: no heartbeat on net for 10s"})
	now = now.Add(10 * time.Second)
	a.logEvent(reach("n2"))
	text := out.String()
	if n := strings.Count(text, "n2 has not acknowledged"); n != 2 {
		t.Fatalf("%d lines for 101 of n2's in 15s, want 2:\n%s", n, text)
	}
	if !strings.Contains(text, "more_like_this=99") {
		t.Fatalf("the second line does not count the 99 left out:\n%s", text)
	}
	for _, want := range []string{"n3 has not acknowledged", "late heartbeat: n2", "n4 dead"} {
		if !strings.Contains(text, want) {
			t.Fatalf("no line %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "n4 dead"); n != 2 {
		t.Fatalf("%d lines for two deaths, want 2 (never folded):\n%s", n, text)
	}
}
