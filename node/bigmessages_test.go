package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/actors"
	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/host/agents"
	"github.com/hanode/hanode/node/machine/placement"
	"github.com/hanode/hanode/node/machine/reliable"
)

// waitNote waits until n has received a note from sender that starts with
// prefix, and returns it.
func waitNote(t *testing.T, n *Node, sender, prefix string) *messages.ReceivedNote {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, note := range n.notes(t) {
			if note.Sender == sender && strings.HasPrefix(note.Text, prefix) {
				return note
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no note %q from %s within 10s", prefix, sender)
	return nil
}

// TestLargeNotesOverUDP: a 70 KB note, more than a UDP datagram carries,
// reaches the other node whole over real UDP, and so does the next one; a
// note too large to be sent at all is refused with a clear error and
// takes no place in the stream, which goes on.
func TestLargeNotesOverUDP(t *testing.T) {
	c, addrs := loopbackCluster(t, 2, "50ms", "1s")
	n1 := startNode(t, nodeConfig(t, c, addrs, 1), Options{})
	n2 := startNode(t, nodeConfig(t, c, addrs, 2), Options{})
	for _, n := range []*Node{n1, n2} {
		waitStatus(t, n, 5*time.Second, "all active", allActive)
	}
	send := func(text string) (*messages.NoteSent, error) {
		res, err := n1.request(context.Background(), &actors.SendNote{Text: text})
		if err != nil {
			t.Fatal(err)
		}
		if err, ok := res.(error); ok {
			return nil, err
		}
		return res.(*messages.NoteSent), nil
	}
	big := "big:" + strings.Repeat("0123456789", 7000)
	sent, err := send(big)
	if err != nil {
		t.Fatal(err)
	}
	// The receiver keeps notes cut to control.MaxNote, saying how long
	// they were: the whole 70 KB arrived.
	mark := fmt.Sprintf(" [cut: %d bytes]", len(big))
	if got := waitNote(t, n2, "n1", "big:"); !strings.HasSuffix(got.Text, mark) || !strings.HasPrefix(big, strings.TrimSuffix(got.Text, mark)) ||
		got.MessageSequence != sent.MessageSequence {
		t.Fatalf("received %q... (%d bytes) as message %d, sent %d bytes as %d", got.Text[:min(40, len(got.Text))], len(got.Text), got.MessageSequence, len(big), sent.MessageSequence)
	}
	// Too large: refused, nothing numbered.
	_, err = send("huge:" + strings.Repeat("x", reliable.MaxMessageSize))
	if !errors.Is(err, reliable.ErrTooLarge) || !strings.Contains(err.Error(), "note") {
		t.Fatalf("a note of 1 MiB: %v", err)
	}
	after, err := send("after")
	if err != nil || after.MessageSequence != sent.MessageSequence+1 {
		t.Fatalf("the next note: %v, %v", after, err)
	}
	if got := waitNote(t, n2, "n1", "after"); got.MessageSequence != after.MessageSequence {
		t.Fatalf("received as %d, sent as %d", got.MessageSequence, after.MessageSequence)
	}
	s := waitStatus(t, n2, 5*time.Second, "n1's stream delivered", func(s *messages.ClusterStatus) bool {
		return s.Nodes[0].GetMessages().GetLast() == after.MessageSequence
	})
	if m := s.Nodes[0].GetMessages(); m.GetLost() != 0 || m.GetCount() != 2 {
		t.Fatalf("n1's stream on n2: %v", m)
	}
}

// fakeResources runs resources in memory, per node: what a start starts
// runs until a stop.
type fakeResources struct {
	mu      sync.Mutex
	running map[string]map[string]bool // resource -> nodes
}

type fakeResource struct {
	w        *fakeResources
	node, id string
}

func (r *fakeResource) Run(_ context.Context, action agents.Action, _ time.Duration) agents.Result {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	on := r.w.running[r.id]
	switch action {
	case agents.Start:
		on[r.node] = true
	case agents.Stop:
		delete(on, r.node)
	default:
		if !on[r.node] {
			return agents.Result{Action: action, Outcome: agents.Stopped}
		}
		return agents.Result{Action: action, Outcome: agents.Running}
	}
	return agents.Result{Action: action, Outcome: agents.Succeeded}
}

// where says, for each resource, the nodes it runs on.
func (w *fakeResources) where() map[string][]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string][]string{}
	for id, on := range w.running {
		for n := range on {
			out[id] = append(out[id], n)
		}
	}
	return out
}

// TestSerialOnlyClusterWith100Groups: two nodes joined only by a serial
// cable (real pseudo-terminals, 2 KiB frames) run 100 groups: each group
// runs once on its preferred node, and a standby moves every one of them;
// a note larger than a frame crosses in fragments, and nothing is lost.
func TestSerialOnlyClusterWith100Groups(t *testing.T) {
	const groups = 100
	cable := testhosts.NewCable(t)
	c := &messages.Cluster{
		Name:   "test",
		Timing: &messages.Timing{Keepalive: "100ms", Deadtime: "3s", Initdead: "10s"},
		Auth: &messages.Auth{ActiveKey: proto.Uint32(1), Keys: []*messages.AuthKey{
			{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_SHA256, Secret: "test-secret"},
		}},
		Nodes: []*messages.Node{{Name: "n1"}, {Name: "n2"}},
	}
	w := &fakeResources{running: map[string]map[string]bool{}}
	want := map[string]string{}
	for i := range groups {
		// 70 bytes of state or more each: a full state lists the groups a
		// node runs, 50 here, in more than one frame.
		name := fmt.Sprintf("service-group-number-%03d-of-the-serial-only-cluster-test", i)
		want[name] = []string{"n1", "n2"}[i%2]
		w.running[name+"-r"] = map[string]bool{}
		c.Groups = append(c.Groups, &messages.ResourceGroup{Name: name, PreferredNode: want[name], Resources: []*messages.Resource{{
			Id: name + "-r", MonitorInterval: "10s", Agent: &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: "fake"}},
		}}})
	}
	start := func(i int, device string) *Node {
		cc := proto.Clone(c).(*messages.Cluster)
		cc.Links = []*messages.Link{{Name: "cable", Medium: &messages.Link_Serial{Serial: &messages.Serial{Device: device, Baud: proto.Uint32(115200)}}}}
		l := config.NewLoaded(config.FormatNative, "test")
		l.Cluster = cc
		name := fmt.Sprintf("n%d", i)
		eff, err := config.Resolve(l, name)
		if err != nil {
			t.Fatal(err)
		}
		return startNode(t, eff, Options{Agents: func(_ string, r config.ResourceSpec) (actors.AgentRunner, error) {
			return &fakeResource{w: w, node: name, id: r.ID}, nil
		}})
	}
	n1, n2 := start(1, cable.A), start(2, cable.B)
	// Stop (before the cleanups of startNode) so that nothing is left
	// queued in the cable towards a node that no longer reads it:
	// testhosts.Cable.Close would wait for that write for ever.
	t.Cleanup(func() {
		n2.Stop(context.Background())
		cable.Cut()
		n1.Stop(context.Background())
	})
	placed := func(what string, where func(group string) string) {
		t.Helper()
		testhosts.WaitFor(t, 30*time.Second, 50*time.Millisecond, what, func() (bool, string) {
			on := w.where()
			for g := range want {
				if got := on[g+"-r"]; len(got) > 1 {
					t.Fatalf("%s runs on %v at once", g, got)
				} else if len(got) != 1 || got[0] != where(g) {
					return false, fmt.Sprintf("%s runs on %v, want %s", g, got, where(g))
				}
			}
			for i, n := range []*Node{n1, n2} {
				s, err := n.Status(context.Background())
				if err != nil {
					return false, err.Error()
				}
				for _, g := range s.Groups {
					if len(g.RunningOn) != 1 || g.RunningOn[0] != where(g.Name) {
						return false, fmt.Sprintf("n%d says %s runs on %v", i+1, g.Name, g.RunningOn)
					}
				}
			}
			return true, ""
		})
	}
	placed("every group on its preferred node", func(g string) string { return want[g] })
	if _, err := n1.Placement(context.Background(), false, placement.All); err != nil {
		t.Fatal(err)
	}
	placed("every group on n2 after standby on n1", func(string) string { return "n2" })
	// A note larger than a frame crosses the cable in fragments, whole.
	text := "serial-note " + strings.Repeat("x", 4000) // two frames, within a note's 4 KiB
	if _, err := n1.request(context.Background(), &actors.SendNote{Text: text}); err != nil {
		t.Fatal(err)
	}
	if got := waitNote(t, n2, "n1", "serial-note "); got.Text != text {
		t.Fatalf("the note arrived as %d bytes, want %d", len(got.Text), len(text))
	}
	fragmented := false
	for i, n := range []*Node{n1, n2} {
		s, err := n.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// Fragments took more sequence numbers than there were messages.
		own, peer := s.Nodes[i].GetMessages(), s.Nodes[1-i].GetMessages()
		fragmented = fragmented || own.GetLast() > own.GetCount()
		if peer.GetLost() != 0 {
			t.Fatalf("n%d lost messages of its peer: its own stream %v, its peer's %v", i+1, own, peer)
		}
	}
	if !fragmented {
		t.Fatal("no message was sent in fragments: the test no longer tests them")
	}
}
