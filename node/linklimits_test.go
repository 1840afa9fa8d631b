package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/machine/reliable"
)

// limitsConfig resolves a two-node cluster of groups groups named with
// nameLen characters, on a serial link or on UDP.
func limitsConfig(t *testing.T, groups, nameLen int, serial bool) *config.Effective {
	t.Helper()
	c := &messages.Cluster{
		Name:   "test",
		Timing: &messages.Timing{Keepalive: "1s", Deadtime: "10s"},
		Auth: &messages.Auth{ActiveKey: proto.Uint32(1), Keys: []*messages.AuthKey{
			{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_SHA256, Secret: "s"},
		}},
		Nodes: []*messages.Node{{Name: "n1"}, {Name: "n2"}},
		Links: []*messages.Link{{Name: "lan", Medium: &messages.Link_Ucast{Ucast: &messages.Ucast{Peers: []string{"10.0.0.1", "10.0.0.2"}}}}},
	}
	if serial {
		c.Links = append(c.Links, &messages.Link{Name: "cable", Medium: &messages.Link_Serial{Serial: &messages.Serial{Device: "/dev/ttyS0"}}})
	}
	for i := range groups {
		name := fmt.Sprintf("g%0*d", nameLen-1, i)
		c.Groups = append(c.Groups, &messages.ResourceGroup{Name: name, PreferredNode: "n1", Resources: []*messages.Resource{{
			Id: name + "-r", Agent: &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: "fake"}},
		}}})
	}
	l := config.NewLoaded(config.FormatNative, "test")
	l.Cluster = c
	eff, err := config.Resolve(l, "n1")
	if err != nil {
		t.Fatal(err)
	}
	return eff
}

func TestFrameCapacityIsTheSmallestLinks(t *testing.T) {
	if c := FrameCapacity(limitsConfig(t, 1, 5, false)); c != reliable.UDPFrame {
		t.Fatalf("UDP only: %d", c)
	}
	eff := limitsConfig(t, 1, 5, true)
	if c := FrameCapacity(eff); c != reliable.SerialFrame {
		t.Fatalf("with a serial link: %d", c)
	}
	if rc := ReliableConfig(eff); rc.MaxMessage != reliable.MessageCapacity(reliable.SerialFrame, "test", "n1") || rc.MaxRexmitDelay != eff.MaxRexmitDelay {
		t.Fatalf("reliable configuration %+v", rc)
	}
}

// TestClusterMessagesTravelInSmallFrames: on UDP, cluster messages are
// cut to frames of a few IP fragments, so that a lost packet loses one
// piece of a message; frames grow (doubling) only where the
// largest full state would not otherwise fit, and then it fits. A serial
// link keeps its frame.
func TestClusterMessagesTravelInSmallFrames(t *testing.T) {
	small := limitsConfig(t, 5, 8, false)
	if c := StreamFrameCapacity(small); c != reliable.UDPStreamFrame {
		t.Fatalf("5 groups over UDP: cluster messages in frames of %d bytes, want %d", c, reliable.UDPStreamFrame)
	}
	if rc := ReliableConfig(small); rc.MaxMessage != reliable.MessageCapacity(reliable.UDPStreamFrame, "test", "n1") {
		t.Fatalf("reliable configuration %+v", rc)
	}
	// The largest states that fit at all need larger frames, and get them.
	grown := false
	for groups := 4800; groups <= 5200 && !grown; groups += 20 {
		big := limitsConfig(t, groups, 40, false)
		c := StreamFrameCapacity(big)
		if c == reliable.UDPStreamFrame {
			continue
		}
		grown = true
		if c > reliable.UDPFrame {
			t.Fatalf("%d groups over UDP: frames of %d bytes", groups, c)
		}
		if _, err := reliable.NewOutbox(ReliableConfig(big)).Send(time.Now(), largestFullState(big)); err != nil && c < reliable.UDPFrame {
			t.Fatalf("%d groups over UDP, frames of %d bytes: %v", groups, c, err)
		}
		if half := c / 2; half >= reliable.UDPStreamFrame {
			rc := reliable.Config{MaxMessage: reliable.MessageCapacity(half, "test", "n1")}
			if reliable.NewOutbox(rc).MaxSendSize() >= proto.Size(largestFullState(big)) {
				t.Fatalf("frames of %d bytes, but %d would do", c, half)
			}
		}
	}
	if !grown {
		t.Fatal("no cluster of 4800 to 5200 groups needs frames larger than the default")
	}
	if c := StreamFrameCapacity(limitsConfig(t, 5, 8, true)); c != reliable.SerialFrame {
		t.Fatalf("with a serial link: %d", c)
	}
}

// TestResendBudgetShrinksWithTheCluster: what all nodes resend together
// reaches each node, so beyond 8 nodes each resends less, and what one
// node receives stays about what an 8-node cluster sends it.
func TestResendBudgetShrinksWithTheCluster(t *testing.T) {
	for _, c := range []struct{ nodes, want int }{{1, 50}, {2, 50}, {5, 50}, {8, 50}, {9, 44}, {16, 25}, {96, 4}, {200, 2}, {256, 2}} {
		if got := ResendBudget(c.nodes); got != c.want {
			t.Errorf("ResendBudget(%d) = %d, want %d", c.nodes, got, c.want)
		}
		if received := (c.nodes - 1) * ResendBudget(c.nodes); c.nodes > 1 && c.nodes <= 200 && received > 400 {
			t.Errorf("at %d nodes a node may receive %d resends every MaxRexmitDelay", c.nodes, received)
		}
	}
	if rc := ReliableConfig(limitsConfig(t, 5, 8, false)); rc.ResendBudget != 50 {
		t.Errorf("two nodes: resend budget %d", rc.ResendBudget)
	}
}

// TestEarlyMessagesShareABudget: what a node keeps of its peers' early
// messages is 8 MiB in all, however many they are, but at least 64 KiB a
// peer (a few frames).
func TestEarlyMessagesShareABudget(t *testing.T) {
	for _, c := range []struct{ nodes, want int }{{1, 8 << 20}, {2, 8 << 20}, {9, 1 << 20}, {96, 88301}, {200, 64 << 10}} {
		if got := EarlyBytes(c.nodes); got != c.want {
			t.Errorf("EarlyBytes(%d) = %d, want %d", c.nodes, got, c.want)
		}
	}
	if rc := ReliableConfig(limitsConfig(t, 5, 8, false)); rc.MaxEarlyBytes != 8<<20 {
		t.Errorf("two nodes: %d bytes of early messages", rc.MaxEarlyBytes)
	}
}

// TestCheckMessageSizes: 100 groups fit a serial cluster; 2000 groups of
// long names do not (a clear error naming the serial link), though they
// fit over UDP alone.
func TestCheckMessageSizes(t *testing.T) {
	if err := CheckMessageSizes(limitsConfig(t, 100, 25, true)); err != nil {
		t.Fatalf("100 groups on a serial link: %v", err)
	}
	err := CheckMessageSizes(limitsConfig(t, 2000, 40, true))
	if err == nil || !strings.Contains(err.Error(), "serial link cable") || !strings.Contains(err.Error(), "2000 groups") {
		t.Fatalf("2000 groups on a serial link: %v", err)
	}
	if err := CheckMessageSizes(limitsConfig(t, 2000, 40, false)); err != nil {
		t.Fatalf("2000 groups over UDP: %v", err)
	}
	// The estimate is what the reliable layer would refuse or accept.
	eff := limitsConfig(t, 2000, 40, true)
	if _, err := reliable.NewOutbox(ReliableConfig(eff)).Send(time.Now(), largestFullState(eff)); err == nil {
		t.Fatal("the reliable layer sends what the check refuses")
	}
}

// nodesConfig resolves a cluster of n nodes named with nameLen
// characters, on UDP and optionally a serial link.
func nodesConfig(t *testing.T, n, nameLen int, serial bool) (*config.Effective, error) {
	t.Helper()
	c := &messages.Cluster{
		Name:   "test",
		Timing: &messages.Timing{Keepalive: "1s", Deadtime: "10s"},
		Auth: &messages.Auth{ActiveKey: proto.Uint32(1), Keys: []*messages.AuthKey{
			{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_SHA256, Secret: "s"},
		}},
		Links: []*messages.Link{{Name: "lan", Medium: &messages.Link_Bcast{Bcast: &messages.Bcast{Dev: "eth0"}}}},
	}
	if serial {
		c.Links = append(c.Links, &messages.Link{Name: "cable", Medium: &messages.Link_Serial{Serial: &messages.Serial{Device: "/dev/ttyS0"}}})
	}
	for i := range n {
		c.Nodes = append(c.Nodes, &messages.Node{Name: fmt.Sprintf("n%0*d", nameLen-1, i)})
	}
	l := config.NewLoaded(config.FormatNative, "test")
	l.Cluster = c
	return config.Resolve(l, c.Nodes[0].Name)
}

// TestHeartbeatOfManyNodesMustFitTheLinks: a heartbeat names every peer,
// so 128 nodes are fine over UDP, but a serial link, whose frames are 2
// KiB, cannot carry the heartbeat of 200 nodes of long names: refused
// with a clear error. More than MaxNodes are refused whatever the links.
func TestHeartbeatOfManyNodesMustFitTheLinks(t *testing.T) {
	eff, err := nodesConfig(t, 128, 8, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckMessageSizes(eff); err != nil {
		t.Fatalf("128 nodes over UDP: %v", err)
	}
	if eff, err = nodesConfig(t, 200, 20, true); err != nil {
		t.Fatal(err)
	}
	if err := CheckMessageSizes(eff); err == nil || !strings.Contains(err.Error(), "200 nodes, this node's heartbeat") {
		t.Fatalf("200 nodes with a serial link: %v", err)
	}
	if _, err := nodesConfig(t, config.MaxNodes+1, 8, false); err == nil || !strings.Contains(err.Error(), "at most 256") {
		t.Fatalf("%d nodes: %v", config.MaxNodes+1, err)
	}
}

// TestAClusterOf128NodesAnd128GroupsFits: the scale bench's cluster, one
// group of a long name per node, sends its largest full state over UDP.
func TestAClusterOf128NodesAnd128GroupsFits(t *testing.T) {
	eff := limitsConfig(t, 128, 50, false)
	for i := 3; i <= 128; i++ {
		eff.Nodes = append(eff.Nodes, fmt.Sprintf("node%d", i))
	}
	if err := CheckMessageSizes(eff); err != nil {
		t.Fatal(err)
	}
}

// TestResendRateFallsWithTheCluster: what a node receives in resends from
// the whole cluster (nodes x ResendRate) is 1600 a second up to 8 nodes,
// today's rate, and falls beyond: 200 at 64 nodes, 100 at 128.
func TestResendRateFallsWithTheCluster(t *testing.T) {
	for _, c := range []struct {
		nodes    int
		received float64
	}{{2, 400}, {8, 1600}, {16, 800}, {64, 200}, {128, 100}, {256, 50}} {
		if got := float64(c.nodes) * ResendRate(c.nodes); got < c.received*0.99 || got > c.received*1.01 {
			t.Errorf("%d nodes: each receives %.0f resends a second, want %.0f", c.nodes, got, c.received)
		}
		if c.nodes <= 8 {
			rc := reliable.Config{ResendBudget: ResendBudget(c.nodes), ResendRate: ResendRate(c.nodes)}
			if per := float64(rc.ResendBudget) / 0.25; ResendRate(c.nodes) < per*0.99 {
				t.Errorf("%d nodes: rate %.0f a second, below the budget's %.0f", c.nodes, ResendRate(c.nodes), per)
			}
		}
	}
}

// TestHeartbeatsAskedAtOnceCostABoundedShareWhileAClusterForms: the
// heartbeats a node takes in that answer new sessions at once (every
// node sends them as fast as the spacing allows while a cluster forms)
// are at most 64 a keepalive whatever the size, none from 64 nodes; below
// 16 nodes the spacing is a quarter keepalive as before.
func TestHeartbeatsAskedAtOnceCostABoundedShareWhileAClusterForms(t *testing.T) {
	const keepalive = time.Second
	for _, c := range []struct {
		nodes int
		want  time.Duration
	}{{2, 250 * time.Millisecond}, {16, 250 * time.Millisecond}, {32, 500 * time.Millisecond}, {48, 750 * time.Millisecond}, {63, 984375 * time.Microsecond}, {64, -1}, {128, -1}} {
		got := HeartbeatNowSpacing(c.nodes, keepalive)
		if got != c.want {
			t.Errorf("%d nodes: spacing %v, want %v", c.nodes, got, c.want)
		}
		perKeepalive := 0.0
		if got > 0 {
			perKeepalive = float64(c.nodes-1) * float64(keepalive) / float64(got)
		}
		if c.nodes >= 16 && perKeepalive > 64 {
			t.Errorf("%d nodes: each takes in %.0f such heartbeats a keepalive, want at most 64", c.nodes, perKeepalive)
		}
	}
}
