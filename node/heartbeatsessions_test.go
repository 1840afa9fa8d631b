package node

import (
	"fmt"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/machine/reliable"
	"github.com/hanode/hanode/transports/frame"
)

// clusterOf resolves a cluster of n nodes named with a prefix, with the
// given keepalive and deadtime.
func clusterOf(t *testing.T, n int, prefix, keepalive, deadtime string) *config.Effective {
	t.Helper()
	c := &messages.Cluster{
		Name:   "scale",
		Timing: &messages.Timing{Keepalive: keepalive, Deadtime: deadtime},
		Auth: &messages.Auth{ActiveKey: proto.Uint32(1), Keys: []*messages.AuthKey{
			{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_SHA256, Secret: "s"},
		}},
		Links: []*messages.Link{{Name: "lan", Medium: &messages.Link_Bcast{Bcast: &messages.Bcast{Dev: "eth0"}}}},
	}
	for i := range n {
		c.Nodes = append(c.Nodes, &messages.Node{Name: fmt.Sprintf("%s%d", prefix, i+1)})
	}
	l := config.NewLoaded(config.FormatNative, "test")
	l.Cluster = c
	eff, err := config.Resolve(l, c.Nodes[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	return eff
}

// TestHeartbeatsCarryEnoughSessionsInOneEthernetFrame: a heartbeat
// carries every session while they fit in one Ethernet frame; beyond, as
// many as fit, and never so few that a session waits more than a third of
// deadtime for its turn. A heartbeat of that many sessions, with the
// largest numbers, sealed, fits in one Ethernet frame whenever the turn
// allows it.
func TestHeartbeatsCarryEnoughSessionsInOneEthernetFrame(t *testing.T) {
	for _, c := range []struct {
		nodes                int
		prefix               string
		keepalive, deadtime  string
		all                  bool
		want                 int // 0: do not check the number
		fitsOneEthernetFrame bool
	}{
		{2, "node", "1s", "10s", true, 0, true},
		{16, "node", "1s", "10s", true, 0, true},
		{64, "node", "1s", "10s", false, 0, true},
		{128, "node", "1s", "10s", false, 43, false},
		{64, "node", "200ms", "2s", false, 0, true},
		{64, "node", "100ms", "10s", false, 0, true}, // a session's turn every 33 heartbeats
		{64, "node", "2s", "5s", true, 0, false},     // keepalive over deadtime/6: every session, every time
		{64, "db-primary-replica-", "1s", "10s", false, 0, true},
	} {
		eff := clusterOf(t, c.nodes, c.prefix, c.keepalive, c.deadtime)
		k := HeartbeatSessions(eff)
		name := fmt.Sprintf("%d nodes %s* %s/%s", c.nodes, c.prefix, c.keepalive, c.deadtime)
		if (k == 0) != c.all {
			t.Fatalf("%s: %d sessions a heartbeat, want all %v", name, k, c.all)
		}
		if c.want != 0 && k != c.want {
			t.Fatalf("%s: %d sessions a heartbeat, want %d", name, k, c.want)
		}
		peers := c.nodes - 1
		t.Logf("%s: %d sessions a heartbeat (0: all)", name, k)
		n := peers
		if k != 0 {
			n = k
			// Every session's turn comes within a third of deadtime.
			turn := time.Duration((peers+k-1)/k) * eff.Keepalive
			if turn > eff.Deadtime/3 {
				t.Fatalf("%s: %d of %d sessions a heartbeat: each waits %v for its turn, over a third of deadtime", name, k, peers, turn)
			}
		}
		// Sealed with the largest numbers: does it fit one frame?
		hb := largestHeartbeatOf(eff, eff.Nodes[:n+1])
		env := &messages.Envelope{Cluster: eff.Cluster.GetName(), Sender: eff.Local, Generation: math.MaxUint64, Sequence: math.MaxUint64,
			SendTimeUnixNano: math.MaxInt64, Body: &messages.Envelope_Heartbeat{Heartbeat: hb}}
		kr, err := frame.NewKeyring(eff.Cluster.Auth)
		if err != nil {
			t.Fatal(err)
		}
		data, err := kr.Seal(env)
		if err != nil {
			t.Fatal(err)
		}
		if fits := len(data) <= EthernetFrame; fits != c.fitsOneEthernetFrame {
			t.Fatalf("%s: a heartbeat of %d sessions takes %d bytes sealed: fits one Ethernet frame (%d) %v, want %v", name, n, len(data), EthernetFrame, fits, c.fitsOneEthernetFrame)
		}
		if k != 0 && k < peers && len(data) > reliable.UDPFrame {
			t.Fatalf("%s: %d bytes", name, len(data))
		}
	}
}
