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
// A sender's last heartbeat (status dead), cluster messages, fresh
// heartbeats and (without RepairShedAfter) retransmission requests are
// always handed on; a forged heartbeat (refused by its MAC) does not count
// as heard.
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

func TestRepairShedAfterIsDeepLagOrTheAskersLongestPause(t *testing.T) {
	for _, c := range []struct{ deadtime, maxRexmitDelay, want time.Duration }{
		{10 * time.Second, 0, 5 * time.Second},                                 // half of deadtime
		{100 * time.Millisecond, 0, 2 * time.Second},                           // askers pause up to 8 x 250ms
		{10 * time.Second, time.Second, 8 * time.Second},                       // max_rexmit_delay 1s
		{100 * time.Millisecond, 10 * time.Millisecond, 80 * time.Millisecond}, // a fast cluster
		{30 * time.Second, 500 * time.Millisecond, 15 * time.Second},
	} {
		if got := RepairShedAfter(c.deadtime, c.maxRexmitDelay); got != c.want {
			t.Errorf("RepairShedAfter(%v, %v) = %v, want %v", c.deadtime, c.maxRexmitDelay, got, c.want)
		}
	}
}

// TestALinkFarBehindKeepsOneHeartbeatPerDeepLag: a reader whose frames
// waited past DeepLag keeps one heartbeat of a sender per DeepLag of
// arrivals, not per ShedAfter; one that waited less than DeepLag, per
// ShedAfter as before.
func TestALinkFarBehindKeepsOneHeartbeatPerDeepLag(t *testing.T) {
	sys := newTestSystem(t)
	membership := newRecorder(t, sys)
	kr := testKeyring(t)
	opened := make(chan transports.Deliver, 1)
	sys.Root.Spawn(actor.PropsFromProducer(NewLink(LinkConfig{Name: "eth0", Membership: membership.pid,
		Keyring: kr, Local: "node2", Log: slog.New(slog.DiscardHandler), ShedAfter: 2 * time.Second, DeepLag: 5 * time.Second,
		Open: func(deliver transports.Deliver, _ transports.ReadError) (transports.Link, error) {
			opened <- deliver
			return &flappingMedium{}, nil
		}})))
	deliver := <-opened
	now := time.Now()
	// One heartbeat a second: 30 to 21 s ago (far behind), then 4.5 to
	// 0.5 s ago (behind by less than DeepLag).
	var ats []time.Time
	for i := range 10 {
		ats = append(ats, now.Add(-30*time.Second+time.Duration(i)*time.Second))
	}
	for i := range 5 {
		ats = append(ats, now.Add(-4500*time.Millisecond+time.Duration(i)*time.Second))
	}
	for i, at := range ats {
		env := &messages.Envelope{Cluster: "c", Sender: "node1", Generation: 1, Sequence: uint64(i + 1),
			Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{Status: messages.NodeStatus_NODE_STATUS_ACTIVE}}}
		data, err := kr.Seal(env)
		if err != nil {
			t.Fatal(err)
		}
		deliver(transports.Packet{Data: data, At: at})
	}
	// Kept: 1 (30 s ago), 6 (25 s ago), 11 (4.5 s ago: 21.5 s after 6),
	// 13 (2 s after 11), 14 and 15 (waited less than ShedAfter).
	var got []uint64
	for range 6 {
		m, _ := expectMessage[*FrameReceived](t, membership, nil)
		got = append(got, m.Envelope.GetSequence())
	}
	if want := []uint64{1, 6, 11, 13, 14, 15}; !slices.Equal(got, want) {
		t.Fatalf("membership got heartbeats %v, want %v", got, want)
	}
	expectSilence[*FrameReceived](t, membership, 50*time.Millisecond)
}

// TestALinkBehindLeavesOutStaleRetransmissionRequests: a reader that takes
// in frames which waited in the socket past RepairShedAfter leaves out the
// retransmission requests and NAKs among them (their askers have asked
// again since), and hands on fresher ones, and every cluster message
// however old (a resend is what a peer waits for).
func TestALinkBehindLeavesOutStaleRetransmissionRequests(t *testing.T) {
	sys := newTestSystem(t)
	membership := newRecorder(t, sys)
	kr, err := frame.NewKeyring(&messages.Auth{ActiveKey: proto.Uint32(1),
		Keys: []*messages.AuthKey{{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_SHA256, Secret: "s"}}})
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	opened := make(chan transports.Deliver, 1)
	sys.Root.Spawn(actor.PropsFromProducer(NewLink(LinkConfig{Name: "eth0", Membership: membership.pid,
		Keyring: kr, Local: "node2", Log: slog.New(slog.NewTextHandler(&logged, nil)), ShedAfter: 2 * time.Second, RepairShedAfter: 3 * time.Second,
		Open: func(deliver transports.Deliver, _ transports.ReadError) (transports.Link, error) {
			opened <- deliver
			return &flappingMedium{}, nil
		}})))
	deliver := <-opened
	now := time.Now()
	request := &messages.Envelope_RetransmitRequest{RetransmitRequest: &messages.RetransmitRequest{Destination: "node3", First: 1, Last: 2}}
	requests := &messages.Envelope_RetransmitRequests{RetransmitRequests: &messages.RetransmitRequests{}}
	nak := &messages.Envelope_RetransmitNak{RetransmitNak: &messages.RetransmitNak{Destination: "node3", First: 1, Last: 2}}
	message := &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: 1}}
	frames := []struct {
		body   any
		waited time.Duration
	}{
		{request, 10 * time.Second},        // 1: left out
		{requests, 4 * time.Second},        // 2: left out
		{nak, 30 * time.Second},            // 3: left out
		{message, 30 * time.Second},        // 4: a cluster message, kept
		{request, 2500 * time.Millisecond}, // 5: behind, not past RepairShedAfter
		{nak, 100 * time.Millisecond},      // 6: fresh
		{requests, 100 * time.Millisecond}, // 7: fresh
	}
	for i, f := range frames {
		env := &messages.Envelope{Cluster: "c", Sender: "node1", Generation: 1, Sequence: uint64(i + 1)}
		switch b := f.body.(type) {
		case *messages.Envelope_RetransmitRequest:
			env.Body = b
		case *messages.Envelope_RetransmitRequests:
			env.Body = b
		case *messages.Envelope_RetransmitNak:
			env.Body = b
		case *messages.Envelope_Message:
			env.Body = b
		}
		data, err := kr.Seal(env)
		if err != nil {
			t.Fatal(err)
		}
		deliver(transports.Packet{Data: data, At: now.Add(-f.waited)})
	}
	var got []uint64
	for range 4 {
		m, _ := expectMessage[*FrameReceived](t, membership, nil)
		got = append(got, m.Envelope.GetSequence())
	}
	if want := []uint64{4, 5, 6, 7}; !slices.Equal(got, want) {
		t.Fatalf("membership got frames %v, want %v (1 to 3 stale repairs)", got, want)
	}
	expectSilence[*FrameReceived](t, membership, 50*time.Millisecond)
	if !bytes.Contains(logged.Bytes(), []byte("requests_left_out=1")) {
		t.Errorf("no line counts the requests left out; log:\n%s", logged.String())
	}
}
