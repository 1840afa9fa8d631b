package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/internal/lab/demo"
	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/transports/frame"
)

// hostileCluster is a running 2-node loopback cluster under attack from
// this test process.
type hostileCluster struct {
	t      *testing.T
	c      *demo.Cluster
	n1, n2 *demo.Node
	// n1Gen and n2Gen are the generations before the attack, as node1
	// sees them.
	n1Gen, n2Gen uint64
}

func startHostileCluster(t *testing.T, auth string) *hostileCluster {
	t.Helper()
	c, err := demo.New(demo.Options{Exe: hanodeBin, Nodes: 2, Keepalive: 100 * time.Millisecond, Deadtime: 500 * time.Millisecond,
		Dir: t.TempDir(), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.Nodes() {
				t.Logf("%s log:\n%s", n.Name, n.Log())
			}
		}
		c.Close()
	})
	if err := c.StartAll(); err != nil {
		t.Fatal(err)
	}
	h := &hostileCluster{t: t, c: c, n1: c.Nodes()[0], n2: c.Nodes()[1]}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := h.n1.WaitStatus(ctx, func(s *messages.ClusterStatus) bool {
		st := demo.State(s, "node2")
		return st != nil && st.Status == messages.NodeStatus_NODE_STATUS_ACTIVE
	})
	if err != nil {
		t.Fatalf("node2 never active at node1: %v", err)
	}
	h.n1Gen, h.n2Gen = s.Generation, demo.State(s, "node2").Generation
	return h
}

// send sends frames to node1's heartbeat socket.
func (h *hostileCluster) send(frames ...[]byte) {
	h.t.Helper()
	conn, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: h.c.Port()})
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	for _, b := range frames {
		if _, err := conn.Write(b); err != nil {
			h.t.Fatal(err)
		}
	}
}

// waitRejected waits until node1 counts n frames refused for reason.
func (h *hostileCluster) waitRejected(reason string, n uint64) {
	h.t.Helper()
	testhosts.WaitFor(h.t, 10*time.Second, 20*time.Millisecond, fmt.Sprintf("node1 refuses %d frames for %q", n, reason), func() (bool, string) {
		s, err := h.n1.Status(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return s.RejectedFrames[reason] >= n, fmt.Sprint(s.RejectedFrames)
	})
}

// stillIntact shows that the attack had no effect: a note node2 sends now
// reaches node1 (node2's stream is not wedged), no forged note was
// delivered, and node1 sees node2 active in the generation it had.
func (h *hostileCluster) stillIntact() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := h.n2.Client()
	if _, err := client.SendNote(ctx, "after the attack"); err != nil {
		h.t.Fatal(err)
	}
	testhosts.WaitFor(h.t, 10*time.Second, 20*time.Millisecond, "node1 receives node2's note", func() (bool, string) {
		notes, err := h.n1.Client().Notes(ctx)
		if err != nil {
			return false, err.Error()
		}
		var texts []string
		found := false
		for _, n := range notes {
			if strings.Contains(n.Text, "forged") {
				h.t.Fatalf("forged note delivered: %v", n)
			}
			texts = append(texts, n.Sender+": "+n.Text)
			found = found || (n.Sender == "node2" && n.Text == "after the attack")
		}
		return found, strings.Join(texts, "; ")
	})
	s, err := h.n1.Status(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	st := demo.State(s, "node2")
	if st.Status != messages.NodeStatus_NODE_STATUS_ACTIVE || st.Generation != h.n2Gen {
		h.t.Fatalf("node1 sees node2 %v generation %d, want active generation %d", st.Status, st.Generation, h.n2Gen)
	}
}

func forgeryKeyring(t *testing.T, k *messages.AuthKey) *frame.Keyring {
	t.Helper()
	kr, err := frame.NewKeyring(&messages.Auth{ActiveKey: proto.Uint32(k.Id), Keys: []*messages.AuthKey{k}})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// forgeries are frames in node2's name: a heartbeat with generation gen
// saying DEAD, echoing node1 and announcing message 3,000,000, and that
// message, a note.
func (h *hostileCluster) forgeries(k *frame.Keyring, gen uint64) [][]byte {
	h.t.Helper()
	now := time.Now().UnixNano()
	envs := []*messages.Envelope{
		{Cluster: "demo", Sender: "node2", Generation: gen, Sequence: 1, SendTimeUnixNano: now,
			Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{Status: messages.NodeStatus_NODE_STATUS_DEAD, LastMessageSequence: 3_000_000,
				Sessions: []*messages.PeerSession{{Node: "node1", Generation: h.n1Gen, HeardSendTimeUnixNano: now}}}}},
		{Cluster: "demo", Sender: "node2", Generation: gen, Sequence: 2, SendTimeUnixNano: now,
			Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: 3_000_000,
				Payload: &messages.ClusterMessage_Note{Note: &messages.Note{Text: "forged"}}}}},
	}
	var out [][]byte
	for _, env := range envs {
		b, err := k.Seal(env)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

var crcKey = &messages.AuthKey{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_CRC}

// TestForgedCRCFramesCannotTakeANodeOver is issue 10's first attack: an
// authkeys listing `1 crc` next to the active `2 sha256 SECRET` (what key
// rotation advice produces). Anyone can "sign" with crc; frames in node2's
// name with generation 2^40, status DEAD and a note announcing message
// 3,000,000 are refused and counted; node2 stays alive in its generation,
// its messages flow, no forged note is delivered.
func TestForgedCRCFramesCannotTakeANodeOver(t *testing.T) {
	h := startHostileCluster(t, `auth { active_key: 2 keys { id: 1 method: AUTH_METHOD_CRC } keys { id: 2 method: AUTH_METHOD_SHA256 secret: "rotated" } }`)
	crc := forgeryKeyring(t, crcKey)
	// The far-ahead generation, and one a real restart of node2 could
	// have: the key, not the plausibility, refuses both.
	h.send(h.forgeries(crc, 1<<40)...)
	h.send(h.forgeries(crc, h.n2Gen+1)...)
	h.waitRejected("crc key refused", 4)
	h.stillIntact()
}

// TestCRCOnlyClusterRefusesAFarAheadGeneration: a cluster that chose crc
// alone (integrity only, which check warns about) cannot keep forgers out,
// but one frame can no longer end a peer's life for good: a generation
// further ahead of the clock than any node makes is refused before it is
// heard, so node2's real frames keep counting.
func TestCRCOnlyClusterRefusesAFarAheadGeneration(t *testing.T) {
	h := startHostileCluster(t, `auth { active_key: 1 keys { id: 1 method: AUTH_METHOD_CRC } }`)
	h.send(h.forgeries(forgeryKeyring(t, crcKey), 1<<40)...)
	h.waitRejected("generation ahead", 2)
	h.stillIntact()
}

// TestCheckSecuritySection: check prints the keys accepted and refused
// (a crc key next to sha1 is refused, and said so), every file with its
// mode and owner (a group-writable ha.cf is a warning), the state
// directory (one others may write is a warning), and which device can
// fence which node.
func TestCheckSecuritySection(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"ha.cf":       "keepalive 1\ndeadtime 10\nudpport 694\nucast lo 127.0.0.1\nauto_failback off\nnode node1 node2\n",
		"haresources": "",
		"authkeys":    "auth 2\n1 crc\n2 sha1 secret\n",
	}
	for name, text := range files {
		os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600)
	}
	os.Chmod(filepath.Join(dir, "ha.cf"), 0o664)
	state := filepath.Join(t.TempDir(), "state")
	os.Mkdir(state, 0o700)
	os.Chmod(state, 0o777)
	code, out, errOut := runCLI("check", "--hacf", dir, "--name", "node1", "--state-dir", state)
	for _, want := range []string{
		"security:\n",
		"  keys: key 2 (sha1) signs; accepted: 2 (sha1); refused: 1 (crc), since anyone can compute a crc\n",
		"  file " + filepath.Join(dir, "authkeys") + ": mode 0600, owner uid ",
		"  file " + filepath.Join(dir, "ha.cf") + ": mode 0664, owner uid ",
		"writable by group or others (mode 0664)",
		"  state directory " + state + ": mode 0777, owner uid ",
		"warning: " + filepath.Join(dir, "authkeys") + ":2: key 1 (crc) is refused on receive",
		"  fencing: no device: a dead node's groups move without fencing",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("check: exit %d, want %q in:\n%s%s", code, want, out, errOut)
		}
	}
	native := writeNative(t, goodNative+`fence_devices { name: "ipmi2" fence_agent { agent: "/bin/true" targets: "n2" } }`+"\n")
	code, out, errOut = runCLI("check", "--config", native, "--name", "n1", "--state-dir", filepath.Join(t.TempDir(), "new"))
	for _, want := range []string{
		"  keys: key 1 (sha256) signs; accepted: 1 (sha256)\n",
		"  file " + native + ": mode 0600, owner uid ",
		"not created yet",
		"  fencing n1: no device controls it",
		"  fencing n2: ipmi2\n",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("check: exit %d, want %q in:\n%s%s", code, want, out, errOut)
		}
	}
}
