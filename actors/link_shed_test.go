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
