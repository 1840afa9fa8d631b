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
		fps                 float64
		keepalive, deadtime time.Duration
		want                time.Duration
	}{
		{1, 20 * time.Millisecond, 100 * time.Millisecond, 0},       // two nodes, fast timing
		{31, time.Second, 10 * time.Second, 0},                      // 32 nodes at 1s
		{63, time.Second, 10 * time.Second, 250 * time.Millisecond}, // 64 nodes at 1s
		{63, time.Second, 30 * time.Second, 250 * time.Millisecond},
		{75, 200 * time.Millisecond, 2 * time.Second, 50 * time.Millisecond},
		{75, 200 * time.Millisecond, 4 * time.Second, 50 * time.Millisecond},
		{255, 5 * time.Second, 30 * time.Second, 250 * time.Millisecond},
		// The tightest deadtime allowed: half of LateTolerance.
		{63, time.Second, 2100 * time.Millisecond, 52500 * time.Microsecond},
	} {
		if got := ReadCoalesce(c.fps, c.keepalive, c.deadtime); got != c.want {
			t.Errorf("ReadCoalesce(%v frames/s, keepalive %v, deadtime %v) = %v, want %v", c.fps, c.keepalive, c.deadtime, got, c.want)
		}
	}
}

// TestReaderPausesOncePerWindow: with Coalesce, the reader hands a frame
// over at once and then pauses (the link asks it to; the frames behind it
// wait in the socket); the frames that waited during the pause go on at
// once, and the next frame that comes after it starts the next pause: the
// reader wakes at most once a pause, however the frames are spread.
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
	pauseAfter := func(at time.Time) time.Duration {
		return deliver(transports.Packet{Data: []byte("x"), At: at})
	}
	first := time.Now()
	if d := pauseAfter(first); d != window {
		t.Fatalf("after the first frame the reader pauses %v, want %v", d, window)
	}
	// The frame handed to membership was not held back by the pause.
	expectMessage[*FrameRejected](t, membership, nil)
	// The frames that arrived during the pause go on at once.
	for i := range 3 {
		at := first.Add(time.Duration(i+1) * window / 5)
		if d := pauseAfter(at); d != 0 {
			t.Fatalf("frame %d, which waited during the pause, made the reader pause again (%v)", i+2, d)
		}
	}
	// A frame that came after the pause ended woke the reader: it starts
	// the next pause, however soon after the last one it came (letting
	// it through alone would wake the process once per frame).
	time.Sleep(window) // the reader's pause
	if d := pauseAfter(time.Now()); d != window {
		t.Fatalf("a frame that came right after the pause: the reader pauses %v, want %v", d, window)
	}
	// A reader that is behind (its frame waited in the socket longer than
	// a pause) does not pause: it would only fall further behind.
	time.Sleep(5 * window / 2)
	start := time.Now()
	if d := pauseAfter(start.Add(-6 * window / 5)); d != 0 {
		t.Fatalf("a frame that had waited %v paused the reader %v", 6*window/5, d)
	}
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
