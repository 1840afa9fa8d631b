package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/actors"
	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/ops/control"
	"github.com/hanode/hanode/transports/frame"
)

const testKey = "integration-test-key"

// startCluster writes each host's /etc/ha.d (media lines from mediaFor,
// the rest shared) and starts one node per host: node1 on h1, ...
func startCluster(t *testing.T, hosts []*testhosts.Host, timing string, mediaFor func(i int) string) []*haNode {
	t.Helper()
	var names []string
	for i := range hosts {
		names = append(names, fmt.Sprintf("node%d", i+1))
	}
	var nodes []*haNode
	for i, h := range hosts {
		n := &haNode{name: names[i], host: h, dir: h.TempDir()}
		n.socket = filepath.Join(n.dir, "hanode.sock")
		ha := filepath.Join(n.dir, "ha.d")
		os.MkdirAll(ha, 0o755)
		cf := fmt.Sprintf("logfacility none\n%s\n%s\nauto_failback on\nnode %s\n", timing, mediaFor(i), strings.Join(names, " "))
		os.WriteFile(filepath.Join(ha, "ha.cf"), []byte(cf), 0o644)
		os.WriteFile(filepath.Join(ha, "haresources"), nil, 0o644)
		os.WriteFile(filepath.Join(ha, "authkeys"), []byte("auth 1\n1 sha1 "+testKey+"\n"), 0o600)
		n.start()
		nodes = append(nodes, n)
	}
	return nodes
}

// waitLinks waits until n sees peer active with every named link up.
func waitLinks(t *testing.T, n *haNode, peer string, links ...string) {
	t.Helper()
	testhosts.WaitFor(t, 15*time.Second, 20*time.Millisecond, fmt.Sprintf("%s sees %s active on %v", n.name, peer, links), func() (bool, string) {
		code, out := n.clStatus("nodestatus", peer)
		if code != 0 || out != "active\n" {
			return false, "nodestatus " + out
		}
		for _, l := range links {
			if code, out := n.clStatus("hblinkstatus", peer, l); code != 0 {
				return false, fmt.Sprintf("link %s: %q", l, out)
			}
		}
		return true, ""
	})
}

func waitLinkStatus(t *testing.T, n *haNode, peer, link, want string) {
	t.Helper()
	testhosts.WaitFor(t, 10*time.Second, 20*time.Millisecond, fmt.Sprintf("%s sees %s link %s %s", n.name, peer, link, want), func() (bool, string) {
		_, out := n.clStatus("hblinkstatus", peer, link)
		return out == want+"\n", out
	})
}

const fastTiming = "keepalive 100ms\ndeadtime 1\nwarntime 500ms\ninitdead 10\nudpport 694"

// TestEachMediumAlone: two hosts see each other over each medium alone.
func TestEachMediumAlone(t *testing.T) {
	cases := []struct {
		medium string
		conf   func(lab *testhosts.Lab, cable *testhosts.Cable, i int) string
		link   string
	}{
		{"bcast", func(*testhosts.Lab, *testhosts.Cable, int) string { return "bcast eth0" }, "eth0"},
		{"mcast", func(*testhosts.Lab, *testhosts.Cable, int) string { return "mcast eth0 225.0.0.1 694 1 0" }, "eth0"},
		{"ucast", func(lab *testhosts.Lab, _ *testhosts.Cable, _ int) string {
			return "ucast eth0 " + lab.Host(1).Addr() + "\nucast eth0 " + lab.Host(2).Addr()
		}, "eth0"},
		{"serial", func(_ *testhosts.Lab, c *testhosts.Cable, i int) string {
			return "baud 38400\nserial " + []string{c.A, c.B}[i]
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.medium, func(t *testing.T) {
			lab := testhosts.New(t, testhosts.Options{Hosts: 2})
			cable := testhosts.NewCable(t)
			nodes := startCluster(t, lab.Hosts(), fastTiming, func(i int) string { return c.conf(lab, cable, i) })
			for i, n := range nodes {
				link := c.link
				if link == "" {
					link = []string{cable.A, cable.B}[i]
				}
				waitLinks(t, n, nodes[1-i].name, link)
			}
		})
	}
}

// TestAllFourMediaTogether runs bcast, mcast, ucast (on a second network)
// and a serial cable at once: every link comes up (bcast and mcast on eth0
// are one link, eth0, as in Heartbeat); cutting one is shown, is no
// failover, and heals; a frame that arrives on every link and medium is
// processed once.
func TestAllFourMediaTogether(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 2, SecondNetwork: true})
	cable := testhosts.NewCable(t)
	h1, h2 := lab.Host(1), lab.Host(2)
	nodes := startCluster(t, lab.Hosts(), fastTiming, func(i int) string {
		return fmt.Sprintf("bcast eth0\nmcast eth0 225.0.0.7 694 1 0\nucast eth1 %s\nucast eth1 %s\nserial %s",
			h1.Addr2(), h2.Addr2(), []string{cable.A, cable.B}[i])
	})
	n1, n2 := nodes[0], nodes[1]
	waitLinks(t, n1, "node2", "eth0", "eth1", cable.A)
	waitLinks(t, n2, "node1", "eth0", "eth1", cable.B)
	// Backwards, as Heartbeat's cl_status lists them.
	if code, out := n1.clStatus("listhblinks", "node2"); code != 0 || out != "\t"+cable.A+"\n\teth1\n\teth0\n" {
		t.Fatalf("listhblinks: %q", out)
	}

	// Every frame arrives four times (bcast and mcast on eth0, ucast on
	// eth1, serial); notes are delivered once.
	for i := 0; i < 10; i++ {
		if code, _, errOut := runCLI("note", "--socket", n1.socket, fmt.Sprintf("note %d", i)); code != 0 {
			t.Fatal(errOut)
		}
	}
	waitNotes(t, n2, map[string]int{"node1": 10})

	// Cut the serial cable: the link dies, the node stays active.
	cable.Cut()
	waitLinkStatus(t, n1, "node2", cable.A, "dead")
	if code, out := n1.clStatus("nodestatus", "node2"); code != 0 || out != "active\n" {
		t.Fatalf("node2 after the serial cut: %q", out)
	}
	cable.Restore()
	waitLinkStatus(t, n1, "node2", cable.A, "up")

	// Take the second network down on h2: eth1 dies, eth0 carries on.
	if err := h2.LinkDown("eth1"); err != nil {
		t.Fatal(err)
	}
	waitLinkStatus(t, n1, "node2", "eth1", "dead")
	for _, l := range []string{"eth0", cable.A} {
		if code, out := n1.clStatus("hblinkstatus", "node2", l); code != 0 {
			t.Fatalf("link %s went %q with eth1", l, out)
		}
	}
	if code, out := n1.clStatus("nodestatus", "node2"); code != 0 || out != "active\n" {
		t.Fatalf("node2 after losing eth1: %q", out)
	}
	if err := h2.LinkUp("eth1"); err != nil {
		t.Fatal(err)
	}
	waitLinkStatus(t, n1, "node2", "eth1", "up")
	s, _ := n1.status(t)
	for _, ev := range s.RecentEvents {
		if ev.Node == "node2" && ev.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS && ev.Status == messages.NodeStatus_NODE_STATUS_DEAD {
			t.Fatalf("losing a link declared node2 dead: %s", ev.Reason)
		}
	}
}

// waitNotes waits until n has delivered exactly want[sender] notes from
// each sender (by its message streams), then checks the notes it kept (the
// last actors.MaxNotes): once each and in order.
func waitNotes(t *testing.T, n *haNode, want map[string]int) {
	t.Helper()
	testhosts.WaitFor(t, 60*time.Second, 50*time.Millisecond, fmt.Sprintf("%s delivers %v notes", n.name, want), func() (bool, string) {
		s, err := n.status(t)
		if err != nil {
			return false, err.Error()
		}
		var got []string
		done := true
		for _, ns := range s.Nodes {
			c, ok := want[ns.Name]
			if !ok || ns.Local {
				continue
			}
			m := ns.GetMessages()
			got = append(got, fmt.Sprintf("%s: %d delivered, %d missing, %d lost", ns.Name, m.GetCount(), m.GetMissing(), m.GetLost()))
			if m.GetLost() > 0 {
				t.Fatalf("%s lost messages of %s: %v", n.name, ns.Name, m)
			}
			done = done && m.GetCount() == uint64(c) && m.GetLast() == uint64(c)
		}
		return done, strings.Join(got, "; ")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	notes, err := (&control.Client{Path: n.socket}).Notes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prev := map[string]uint64{}
	counted := map[string]int{}
	for _, note := range notes {
		if p, seen := prev[note.Sender]; seen && note.MessageSequence != p+1 {
			t.Fatalf("%s: note %d from %s follows %d: lost, duplicated or out of order", n.name, note.MessageSequence, note.Sender, p)
		}
		prev[note.Sender] = note.MessageSequence
		counted[note.Sender]++
	}
	for sender, c := range want {
		if c <= actors.MaxNotes/len(want) && counted[sender] != c {
			t.Fatalf("%s kept %d notes from %s, want %d", n.name, counted[sender], sender, c)
		}
		if prev[sender] != uint64(c) {
			t.Fatalf("%s: last note from %s is %d, want %d", n.name, sender, prev[sender], c)
		}
	}
}

// TestReliableMessagesUnderLoss: with 30% of every packet lost, cluster
// messages from two senders still reach all three nodes, once and in
// order, and nobody is declared dead.
func TestReliableMessagesUnderLoss(t *testing.T) {
	testhosts.RequireCommand(t, "nft", "nftables")
	lab := testhosts.New(t, testhosts.Options{Hosts: 3})
	var ucast []string
	for _, h := range lab.Hosts() {
		ucast = append(ucast, "ucast eth0 "+h.Addr())
	}
	nodes := startCluster(t, lab.Hosts(), "keepalive 100ms\ndeadtime 2\nwarntime 1\ninitdead 10", func(int) string { return strings.Join(ucast, "\n") })
	for _, n := range nodes {
		waitLinks(t, n, "node1", "eth0")
		waitLinks(t, n, "node3", "eth0")
	}
	for _, h := range lab.Hosts() {
		if err := h.Loss("eth0", 30); err != nil {
			t.Fatal(err)
		}
	}
	const each = 100
	for i := 0; i < each; i++ {
		for _, sender := range nodes[:2] {
			if code, _, errOut := runCLI("note", "--socket", sender.socket, fmt.Sprintf("message %d", i)); code != 0 {
				t.Fatal(errOut)
			}
		}
	}
	for _, n := range nodes {
		waitNotes(t, n, map[string]int{"node1": each, "node2": each})
	}
	for _, n := range nodes {
		s, err := n.status(t)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range s.RecentEvents {
			if ev.Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS && ev.Status == messages.NodeStatus_NODE_STATUS_DEAD {
				t.Errorf("%s: false death under loss: %s", n.name, ev.Reason)
			}
		}
		for _, ns := range s.Nodes {
			if m := ns.GetMessages(); !ns.Local && m.GetRetransmissions() == 0 && (ns.Name == "node1" || ns.Name == "node2") {
				t.Errorf("%s asked %s for no retransmission under 30%% loss: the test lost nothing?", n.name, ns.Name)
			}
		}
	}
}

// TestCorruptedAndDuplicatedPackets: corrupted packets are refused and
// counted, duplicated ones are processed once, and the cluster works on.
func TestCorruptedAndDuplicatedPackets(t *testing.T) {
	testhosts.RequireCommand(t, "nft", "nftables")
	lab := testhosts.New(t, testhosts.Options{Hosts: 2})
	h1, h2 := lab.Host(1), lab.Host(2)
	nodes := startCluster(t, lab.Hosts(), fastTiming, func(int) string {
		return "ucast eth0 " + h1.Addr() + "\nucast eth0 " + h2.Addr()
	})
	waitLinks(t, nodes[1], "node1", "eth0")
	if err := h1.Corrupt("eth0", 20); err != nil {
		t.Fatal(err)
	}
	if err := h1.Duplicate("eth0", 30, h2.Addr()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		runCLI("note", "--socket", nodes[0].socket, fmt.Sprintf("n%d", i))
	}
	waitNotes(t, nodes[1], map[string]int{"node1": 30})
	s, err := nodes[1].status(t)
	if err != nil {
		t.Fatal(err)
	}
	if s.RejectedFrames["bad mac"]+s.RejectedFrames["malformed"] == 0 {
		t.Errorf("no corrupted frame refused: %v", s.RejectedFrames)
	}
	if s.RejectedFrames["replayed sequence"] == 0 {
		t.Errorf("no duplicated frame refused: %v", s.RejectedFrames)
	}
	if code, out := nodes[1].clStatus("nodestatus", "node1"); code != 0 {
		t.Fatalf("node1 is %q", out)
	}
}

// TestForgedAndReplayedFramesAreRefused: a third host captures a real
// frame off the broadcast network and sends it again, and sends frames
// signed with a wrong key or an unknown key: the node refuses and counts
// each; after the sender restarts, its old frame is an old generation.
func TestForgedAndReplayedFramesAreRefused(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 3})
	nodes := startCluster(t, lab.Hosts()[:2], fastTiming, func(int) string { return "bcast eth0" })
	n1, n2 := nodes[0], nodes[1]
	waitLinks(t, n2, "node1", "eth0")
	attacker := lab.Host(3)
	captured := filepath.Join(attacker.TempDir(), "frame.hex")
	helper(t, attacker, "capture", captured, "node1")
	replay := func() { helper(t, attacker, "send", captured, lab.Host(2).Addr()) }

	replay()
	waitRejected(t, n2, "replayed sequence")
	helper(t, attacker, "forge-key", "", lab.Host(2).Addr())
	waitRejected(t, n2, "bad mac")
	helper(t, attacker, "forge-keyid", "", lab.Host(2).Addr())
	waitRejected(t, n2, "unknown key")

	// node1 restarts: a frame of its previous life is an old generation.
	n1.proc.Signal(syscall.SIGTERM)
	if _, err := n1.proc.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	n1.start()
	waitLinks(t, n2, "node1", "eth0")
	replay()
	waitRejected(t, n2, "old generation")
	if code, out := n2.clStatus("nodestatus", "node1"); code != 0 {
		t.Fatalf("node1 is %q after the attacks", out)
	}
}

func waitRejected(t *testing.T, n *haNode, reason string) {
	t.Helper()
	testhosts.WaitFor(t, 5*time.Second, 20*time.Millisecond, n.name+" counts a frame refused for "+reason, func() (bool, string) {
		s, err := n.status(t)
		if err != nil {
			return false, err.Error()
		}
		return s.RejectedFrames[reason] > 0, fmt.Sprint(s.RejectedFrames)
	})
}

// helper runs this test binary on host as a small network tool (see
// TestNetworkHelper) and waits for it.
func helper(t *testing.T, host *testhosts.Host, verb, file, arg string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, errOut, code, err := host.Run(ctx, "env", "HANODE_NET_HELPER="+verb, "HANODE_NET_FILE="+file, "HANODE_NET_ARG="+arg,
		self, "-test.run=^TestNetworkHelper$", "-test.v")
	if err != nil || code != 0 {
		t.Fatalf("helper %s: exit %d %v\n%s%s", verb, code, err, out, errOut)
	}
}

// TestNetworkHelper is not a test: run by helper() inside a test host, it
// captures a frame from the network, replays it, or forges one.
func TestNetworkHelper(t *testing.T) {
	verb := os.Getenv("HANODE_NET_HELPER")
	if verb == "" {
		t.Skip("network helper of the multi-host tests; runs only inside a test host")
	}
	file, arg := os.Getenv("HANODE_NET_FILE"), os.Getenv("HANODE_NET_ARG")
	keys := func(active uint32, keys ...*messages.AuthKey) *frame.Keyring {
		k, err := frame.NewKeyring(&messages.Auth{ActiveKey: proto.Uint32(active), Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	good := keys(1, &messages.AuthKey{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_SHA1, Secret: testKey})
	send := func(b []byte) {
		c, err := net.Dial("udp4", net.JoinHostPort(arg, "694"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	forged := func(k *frame.Keyring) []byte {
		b, err := k.Seal(&messages.Envelope{Cluster: "linux-ha", Sender: "node1", Generation: 1 << 40, Sequence: 1,
			Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{Status: messages.NodeStatus_NODE_STATUS_ACTIVE}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	switch verb {
	case "capture":
		c, err := net.ListenPacket("udp4", ":694")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 65536)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			if env, _, err := good.Open(buf[:n]); err == nil && env.Sender == arg {
				os.WriteFile(file, []byte(hex.EncodeToString(buf[:n])), 0o600)
				return
			}
		}
	case "send":
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := hex.DecodeString(string(data))
		send(b)
	case "forge-key":
		send(forged(keys(1, &messages.AuthKey{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_SHA1, Secret: "guessed"})))
	case "forge-keyid":
		send(forged(keys(7, &messages.AuthKey{Id: 7, Method: messages.AuthMethod_AUTH_METHOD_SHA1, Secret: testKey})))
	default:
		t.Fatalf("unknown helper verb %q", verb)
	}
}
