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
// heartbeats among them whose sender had a verified heartbeat handed on
// that arrived less than ShedAfter before, so that each sender is still
// heard once per ShedAfter of arrivals however far behind the reader is.
// A sender's last heartbeat (status dead), cluster messages and
// retransmission requests, and fresh heartbeats are always handed on; a
// forged heartbeat (refused by its MAC) does not count as heard.
func TestALinkBehindLeavesOutSupersededHeartbeats(t *testing.T) {
	sys := newTestSystem(t)
	membership := newRecorder(t, sys)
	auth := func(secret string) *frame.Keyring {
		kr, err := frame.NewKeyring(&messages.Auth{ActiveKey: proto.Uint32(1),
			Keys: []*messages.AuthKey{{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_SHA256, Secret: secret}}})
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	kr, forger := auth("s"), auth("not the cluster's key")
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
	active := messages.NodeStatus_NODE_STATUS_ACTIVE
	now := time.Now()
	base := now.Add(-10 * time.Second)
	at := func(d time.Duration) time.Time { return base.Add(d) }
	frames := []struct {
		env *messages.Envelope
		at  time.Time
		kr  *frame.Keyring
	}{
		{heartbeat(active), at(0), kr}, // 1: the first heard of node1
		{&messages.Envelope{Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: 1}}}, at(0), kr},
		{heartbeat(active), at(500 * time.Millisecond), kr},                               // 3: left out
		{heartbeat(messages.NodeStatus_NODE_STATUS_DEAD), at(600 * time.Millisecond), kr}, // 4: its last
		{heartbeat(active), at(3 * time.Second), kr},                                      // 5: 2.4s after 4
		{heartbeat(messages.NodeStatus_NODE_STATUS_UP), at(4 * time.Second), kr},          // 6: left out
		{heartbeat(active), at(6 * time.Second), forger},                                  // 7: refused
		{heartbeat(active), at(6500 * time.Millisecond), kr},                              // 8: 3.5s after 5
		{heartbeat(active), now, kr},                                                      // 9: fresh
		{&messages.Envelope{Body: &messages.Envelope_RetransmitRequest{RetransmitRequest: &messages.RetransmitRequest{}}}, at(0), kr},
	}
	for i, f := range frames {
		f.env.Cluster, f.env.Sender, f.env.Generation, f.env.Sequence = "c", "node1", 1, uint64(i+1)
		data, err := f.kr.Seal(f.env)
		if err != nil {
			t.Fatal(err)
		}
		deliver(transports.Packet{Data: data, At: f.at})
	}
	var got []uint64
	for range 7 {
		m, _ := expectMessage[*FrameReceived](t, membership, nil)
		got = append(got, m.Envelope.GetSequence())
	}
	if want := []uint64{1, 2, 4, 5, 8, 9, 10}; !slices.Equal(got, want) {
		t.Fatalf("membership got frames %v, want %v (3 and 6 superseded, 7 forged)", got, want)
	}
	expectSilence[*FrameReceived](t, membership, 50*time.Millisecond)
	if !bytes.Contains(logged.Bytes(), []byte("reading behind")) {
		t.Errorf("no line says the link reads behind; log:\n%s", logged.String())
	}
}
