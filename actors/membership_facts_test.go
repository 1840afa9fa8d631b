package actors

import (
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/membership"
)

// TestHeartbeatsSayWhatTheNodesStallsExcuse: a node that could not run for
// 3s after it last heard a peer says so in its heartbeat's session for the
// peer (excused_ms), so that the peer counts its late acknowledgement as
// the time it stands for; a node that keeps up says nothing.
func TestHeartbeatsSayWhatTheNodesStallsExcuse(t *testing.T) {
	const gen = 7
	t0 := time.Now()
	m := membership.New(membership.Config{Cluster: "c", Local: "n1", Nodes: []string{"n1", "n2"}, Links: []string{"eth0"},
		Warntime: time.Second, Deadtime: 2 * time.Second, Initdead: 4 * time.Second}, t0, gen)
	st := NewMembershipState(MembershipConfig{Info: MembershipInfo{Local: "n1"}, Peers: []string{"n2"}, Machine: m})
	if v, _ := m.Receive(t0, membership.Frame{Link: "eth0", Cluster: "c", Sender: "n2", Generation: 5, Sequence: 1, SendTime: t0,
		Heartbeat: &messages.Heartbeat{Sessions: []*messages.PeerSession{{Node: "n1", Generation: gen}}}}); v != membership.Accepted {
		t.Fatalf("n2's heartbeat: %v", v)
	}
	if gen := st.updateEcho("n2"); gen != 5 || !st.startSession("n2", 5, 0) {
		t.Fatal("n2's session did not start")
	}
	f := st.facts(t0.Add(100 * time.Millisecond))
	if len(f.Sessions) != 1 || f.Sessions[0].ExcusedMs != 0 {
		t.Fatalf("keeping up: sessions %v, want one excusing nothing", f.Sessions)
	}
	now := t0.Add(4 * time.Second)
	m.Late(now, 3*time.Second)
	f = st.facts(now)
	if len(f.Sessions) != 1 || f.Sessions[0].ExcusedMs != 3000 {
		t.Fatalf("after a 3s stall: sessions %v, want one excusing 3000ms", f.Sessions)
	}
}
