package actors

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/transports"
	"github.com/hanode/hanode/transports/frame"
)

func TestReadCoalesceOnlyWhereFramesCrowd(t *testing.T) {
	for _, c := range []struct {
		fps       float64
		keepalive time.Duration
		want      time.Duration
	}{
		{1, 20 * time.Millisecond, 0},             // two nodes, fast timing
		{31, time.Second, 0},                      // 32 nodes at 1s
		{63, time.Second, 100 * time.Millisecond}, // 64 nodes at 1s
		{75, 200 * time.Millisecond, 20 * time.Millisecond},
		{255, 5 * time.Second, 100 * time.Millisecond},
	} {
		if got := ReadCoalesce(c.fps, c.keepalive); got != c.want {
			t.Errorf("ReadCoalesce(%v frames/s, keepalive %v) = %v, want %v", c.fps, c.keepalive, got, c.want)
		}
	}
}

// TestReaderPausesOncePerWindow: with Coalesce, the reader hands a frame
// over at once and then pauses (the frames behind it wait in the socket);
// the frames it reads within the window after the pause go on at once.
func TestReaderPausesOncePerWindow(t *testing.T) {
	sys := newTestSystem(t)
	membership := newRecorder(t, sys)
	opened := make(chan transports.Deliver, 1)
	const window = 100 * time.Millisecond
	sys.Root.Spawn(actor.PropsFromProducer(NewLink(LinkConfig{Name: "eth0", Membership: membership.pid,
		Log: slog.New(slog.DiscardHandler), Coalesce: window,
		Open: func(deliver transports.Deliver, _ transports.ReadError) (transports.Link, error) {
			opened <- deliver
			return &flappingMedium{}, nil
		}})))
	deliver := <-opened
	took := func() time.Duration {
		start := time.Now()
		deliver(transports.Packet{Data: []byte("x"), At: time.Now()})
		return time.Since(start)
	}
	if d := took(); d < window {
		t.Fatalf("the first frame's delivery returned after %v: no pause of %v", d, window)
	}
	// The frames read right after the pause: no pause, the window runs.
	for i := range 3 {
		if d := took(); d >= window/2 {
			t.Fatalf("frame %d after the pause took %v: the reader paused again within the window", i+2, d)
		}
	}
	// The frame handed to membership was not held back by the pause.
	expectMessage[*FrameRejected](t, membership, nil)
}

// TestLinkDecodesOnlyItsNodesSession: a link given its node's name hands
// membership a heartbeat that carries the one session naming the node, of
// the 64 the sender put in it: the others are never decoded.
func TestLinkDecodesOnlyItsNodesSession(t *testing.T) {
	sys := newTestSystem(t)
	membership := newRecorder(t, sys)
	kr, err := frame.NewKeyring(&messages.Auth{ActiveKey: proto.Uint32(1),
		Keys: []*messages.AuthKey{{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_SHA1, Secret: "s"}}})
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan transports.Deliver, 1)
	sys.Root.Spawn(actor.PropsFromProducer(NewLink(LinkConfig{Name: "eth0", Membership: membership.pid,
		Keyring: kr, Local: "node7", Log: slog.New(slog.DiscardHandler),
		Open: func(deliver transports.Deliver, _ transports.ReadError) (transports.Link, error) {
			opened <- deliver
			return &flappingMedium{}, nil
		}})))
	hb := &messages.Heartbeat{Status: messages.NodeStatus_NODE_STATUS_ACTIVE}
	for i := range 64 {
		hb.Sessions = append(hb.Sessions, &messages.PeerSession{Node: fmt.Sprintf("node%d", i+1), Generation: uint64(100 + i)})
	}
	data, err := kr.Seal(&messages.Envelope{Cluster: "c", Sender: "node1", Generation: 1, Sequence: 1,
		Body: &messages.Envelope_Heartbeat{Heartbeat: hb}})
	if err != nil {
		t.Fatal(err)
	}
	(<-opened)(transports.Packet{Data: data, At: time.Now()})
	got, _ := expectMessage[*FrameReceived](t, membership, nil)
	sessions := got.Envelope.GetHeartbeat().GetSessions()
	if len(sessions) != 1 || sessions[0].Node != "node7" || sessions[0].Generation != 106 {
		t.Fatalf("membership got sessions %v, want node7's alone", sessions)
	}
}
