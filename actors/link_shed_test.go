package actors

import (
	"bytes"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/transports"
	"github.com/hanode/hanode/transports/frame"
)

func TestShedAfterIsTwoKeepalivesAtMostHalfDeadtime(t *testing.T) {
	for _, c := range []struct{ keepalive, deadtime, want time.Duration }{
		{time.Second, 10 * time.Second, 2 * time.Second},
		{20 * time.Millisecond, 100 * time.Millisecond, 40 * time.Millisecond},
		{2 * time.Second, 3 * time.Second, 1500 * time.Millisecond},
	} {
		if got := ShedAfter(c.keepalive, c.deadtime); got != c.want {
			t.Errorf("ShedAfter(%v, %v) = %v, want %v", c.keepalive, c.deadtime, got, c.want)
		}
	}
}

// TestALinkBehindLeavesOutSupersededHeartbeats: a reader that takes in
// frames which waited in the socket past ShedAfter leaves out the
// heartbeats among them, but not a sender's last heartbeat (status dead),
// nor cluster messages or retransmission requests, which nothing
// supersedes; a heartbeat that did not wait that long is handled.
func TestALinkBehindLeavesOutSupersededHeartbeats(t *testing.T) {
	sys := newTestSystem(t)
	membership := newRecorder(t, sys)
	kr, err := frame.NewKeyring(&messages.Auth{ActiveKey: proto.Uint32(1),
		Keys: []*messages.AuthKey{{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_SHA256, Secret: "s"}}})
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	opened := make(chan transports.Deliver, 1)
	const shedAfter = 2 * time.Second
	sys.Root.Spawn(actor.PropsFromProducer(NewLink(LinkConfig{Name: "eth0", Membership: membership.pid,
		Keyring: kr, Local: "node2", Log: slog.New(slog.NewTextHandler(&logged, nil)), ShedAfter: shedAfter,
		Open: func(deliver transports.Deliver, _ transports.ReadError) (transports.Link, error) {
			opened <- deliver
			return &flappingMedium{}, nil
		}})))
	deliver := <-opened
	heartbeat := func(st messages.NodeStatus) *messages.Envelope {
		return &messages.Envelope{Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{Status: st}}}
	}
	stale, fresh := -3*shedAfter/2, -shedAfter/2
	frames := []struct {
		env    *messages.Envelope
		waited time.Duration
	}{
		{heartbeat(messages.NodeStatus_NODE_STATUS_ACTIVE), stale}, // 1: left out
		{&messages.Envelope{Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: 1}}}, stale},
		{heartbeat(messages.NodeStatus_NODE_STATUS_DEAD), stale},
		{heartbeat(messages.NodeStatus_NODE_STATUS_UP), stale}, // 4: left out
		{heartbeat(messages.NodeStatus_NODE_STATUS_ACTIVE), fresh},
		{&messages.Envelope{Body: &messages.Envelope_RetransmitRequest{RetransmitRequest: &messages.RetransmitRequest{}}}, stale},
	}
	for i, f := range frames {
		f.env.Cluster, f.env.Sender, f.env.Generation, f.env.Sequence = "c", "node1", 1, uint64(i+1)
		data, err := kr.Seal(f.env)
		if err != nil {
			t.Fatal(err)
		}
		deliver(transports.Packet{Data: data, At: time.Now().Add(f.waited)})
	}
	var got []uint64
	for range 4 {
		m, _ := expectMessage[*FrameReceived](t, membership, nil)
		got = append(got, m.Envelope.GetSequence())
	}
	if want := []uint64{2, 3, 5, 6}; !slices.Equal(got, want) {
		t.Fatalf("membership got frames %v, want %v (heartbeats 1 and 4 superseded)", got, want)
	}
	expectSilence[*FrameReceived](t, membership, 50*time.Millisecond)
	if !bytes.Contains(logged.Bytes(), []byte("reading behind")) {
		t.Errorf("no line says the link reads behind; log:\n%s", logged.String())
	}
}

// TestALinkLeavesOutCopiesOfDeliveredMessages: a cluster message this
// node has delivered already (a resend another node asked for) is left
// out by the reader; one it has not, or of another generation of its
// sender, or of another sender, goes on to membership.
func TestALinkLeavesOutCopiesOfDeliveredMessages(t *testing.T) {
	sys := newTestSystem(t)
	membership := newRecorder(t, sys)
	kr, err := frame.NewKeyring(&messages.Auth{ActiveKey: proto.Uint32(1),
		Keys: []*messages.AuthKey{{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_SHA256, Secret: "s"}}})
	if err != nil {
		t.Fatal(err)
	}
	delivered := NewDelivered()
	delivered.set("node1", 7, 5)
	opened := make(chan transports.Deliver, 1)
	sys.Root.Spawn(actor.PropsFromProducer(NewLink(LinkConfig{Name: "eth0", Membership: membership.pid,
		Keyring: kr, Local: "node2", Log: slog.New(slog.DiscardHandler), Delivered: delivered,
		Open: func(deliver transports.Deliver, _ transports.ReadError) (transports.Link, error) {
			opened <- deliver
			return &flappingMedium{}, nil
		}})))
	deliver := <-opened
	for i, m := range []struct {
		sender   string
		gen, seq uint64
	}{
		{"node1", 7, 3}, // 1: a copy
		{"node1", 7, 5}, // 2: a copy
		{"node1", 7, 6}, // 3: new
		{"node1", 8, 2}, // 4: another life of node1
		{"node3", 7, 2}, // 5: another sender
	} {
		data, err := kr.Seal(&messages.Envelope{Cluster: "c", Sender: m.sender, Generation: m.gen, Sequence: uint64(i + 1),
			Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: m.seq}}})
		if err != nil {
			t.Fatal(err)
		}
		deliver(transports.Packet{Data: data, At: time.Now()})
	}
	var got []uint64
	for range 3 {
		m, _ := expectMessage[*FrameReceived](t, membership, nil)
		got = append(got, m.Envelope.GetSequence())
	}
	if want := []uint64{3, 4, 5}; !slices.Equal(got, want) {
		t.Fatalf("membership got frames %v, want %v (1 and 2 are copies)", got, want)
	}
	expectSilence[*FrameReceived](t, membership, 50*time.Millisecond)
}

// TestDeliveredMarks: marks know the messages of a peer's generation up
// to the one delivered, and nothing else.
func TestDeliveredMarks(t *testing.T) {
	var none *Delivered
	if none.Has([]byte("node1"), 1, 1) {
		t.Fatal("nil marks know a message")
	}
	d := NewDelivered()
	d.set("node1", 3, 10)
	for _, c := range []struct {
		peer     string
		gen, seq uint64
		want     bool
	}{
		{"node1", 3, 1, true}, {"node1", 3, 10, true}, {"node1", 3, 11, false}, {"node1", 3, 0, false},
		{"node1", 2, 1, false}, {"node1", 4, 1, false}, {"node2", 3, 1, false},
	} {
		if got := d.Has([]byte(c.peer), c.gen, c.seq); got != c.want {
			t.Errorf("Has(%s, gen %d, seq %d) = %v, want %v", c.peer, c.gen, c.seq, got, c.want)
		}
	}
}

// TestTheMessengerTellsTheLinksWhatItDelivered: once the messenger has
// delivered a peer's messages, Delivered knows them, and not the next.
func TestTheMessengerTellsTheLinksWhatItDelivered(t *testing.T) {
	sys := newTestSystem(t)
	delivered := NewDelivered()
	st := NewMessengerState(MessengerConfig{Local: "n1", Generation: 1, Peers: []string{"n2"}, Delivered: delivered})
	pid := sys.Root.Spawn(actor.PropsFromProducer(NewMessenger(st, slog.New(slog.DiscardHandler))))
	sys.Root.Send(pid, &messages.MembershipEvent{Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS,
		Node: "n2", Status: messages.NodeStatus_NODE_STATUS_ACTIVE})
	announceTwo(sys, pid, "n2")
	for seq := uint64(1); seq <= 2; seq++ {
		sys.Root.Send(pid, &StreamFrame{At: time.Now(), Envelope: &messages.Envelope{Sender: "n2", Generation: 5,
			Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: seq,
				Payload: &messages.ClusterMessage_Note{Note: &messages.Note{Text: "hi"}}}}}})
	}
	deadline := time.Now().Add(5 * time.Second)
	for !delivered.Has([]byte("n2"), 5, 2) {
		if time.Now().After(deadline) {
			t.Fatal("after the messenger delivered n2's messages 1 and 2, the links do not know them")
		}
		time.Sleep(time.Millisecond)
	}
	if delivered.Has([]byte("n2"), 5, 3) {
		t.Fatal("the links take message 3 of n2, not sent yet, for one delivered")
	}
}
