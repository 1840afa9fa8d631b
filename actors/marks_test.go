package actors

import (
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/reliable"
	"github.com/hanode/hanode/transports"
	"github.com/hanode/hanode/transports/frame"
)

func sealed(t *testing.T, kr *frame.Keyring, sender string, gen, seq uint64, body *messages.Envelope) []byte {
	t.Helper()
	body.Cluster, body.Sender, body.Generation, body.Sequence = "c", sender, gen, seq
	data, err := kr.Seal(body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func message(seq uint64) *messages.Envelope {
	return &messages.Envelope{Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: seq}}}
}

// TestDeliveredMarks: a cluster message of a peer's stream at or below
// what was delivered of that generation is left out; a later one, one of
// another generation or another sender, and anything that is not a
// cluster message is not.
func TestDeliveredMarks(t *testing.T) {
	kr := testKeyring(t)
	m := NewDeliveredMarks([]string{"n2", "n3"})
	if m.Delivered(sealed(t, kr, "n2", 5, 1, message(1))) {
		t.Fatal("nothing delivered yet, yet a message is left out")
	}
	m.Set("n2", 5, 10)
	m.Set("n9", 5, 10) // not a member: ignored
	for _, c := range []struct {
		what   string
		data   []byte
		leaves bool
	}{
		{"a message delivered", sealed(t, kr, "n2", 5, 4, message(4)), true},
		{"the last delivered", sealed(t, kr, "n2", 5, 5, message(10)), true},
		{"the next", sealed(t, kr, "n2", 5, 6, message(11)), false},
		{"another generation", sealed(t, kr, "n2", 6, 7, message(3)), false},
		{"another sender", sealed(t, kr, "n3", 5, 8, message(3)), false},
		{"a stranger", sealed(t, kr, "n9", 5, 8, message(3)), false},
		{"a heartbeat", sealed(t, kr, "n2", 5, 9, &messages.Envelope{Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{}}}), false},
		{"a request", sealed(t, kr, "n2", 5, 10, &messages.Envelope{Body: &messages.Envelope_RetransmitRequest{RetransmitRequest: &messages.RetransmitRequest{First: 1, Last: 2}}}), false},
		{"garbage", []byte("garbage"), false},
	} {
		if got := m.Delivered(c.data); got != c.leaves {
			t.Errorf("%s: left out %v, want %v", c.what, got, c.leaves)
		}
	}
	var none *DeliveredMarks
	none.Set("n2", 1, 1)
	if none.Delivered(sealed(t, kr, "n2", 5, 4, message(4))) {
		t.Fatal("nil marks leave a frame out")
	}
}

// TestResendsOfDeliveredMessagesNeverReachMembership: once the messenger
// delivered n1's messages 1 and 2, the link hands membership neither of
// them again (resends another node asked for), but message 3 and
// heartbeats as ever.
func TestResendsOfDeliveredMessagesNeverReachMembership(t *testing.T) {
	sys := newTestSystem(t)
	membership := newRecorder(t, sys)
	kr := testKeyring(t)
	marks := NewDeliveredMarks([]string{"n1"})
	st := NewMessengerState(MessengerConfig{Local: "n2", Generation: 9, Peers: []string{"n1"}, Reliable: reliable.Config{}, Delivered: marks})
	messenger := sys.Root.Spawn(actor.PropsFromProducer(NewMessenger(st, slog.New(slog.DiscardHandler))))
	opened := make(chan transports.Deliver, 1)
	sys.Root.Spawn(actor.PropsFromProducer(NewLink(LinkConfig{Name: "eth0", Membership: membership.pid, Keyring: kr, Local: "n2",
		Log: slog.New(slog.DiscardHandler), Delivered: marks,
		Open: func(deliver transports.Deliver, _ transports.ReadError) (transports.Link, error) {
			opened <- deliver
			return &flappingMedium{}, nil
		}})))
	deliver := <-opened
	now := time.Now()
	// n1's stream for this life of n2 starts after 0; messages 1 and 2
	// reach the messenger.
	hb := &messages.Envelope{Cluster: "c", Sender: "n1", Generation: 3, Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{
		LastMessageSequence: 2, Sessions: []*messages.PeerSession{{Node: "n2", Generation: 9}}}}}
	sys.Root.Send(messenger, &StreamFrame{Envelope: hb, At: now})
	for seq := uint64(1); seq <= 2; seq++ {
		env := message(seq)
		env.Cluster, env.Sender, env.Generation = "c", "n1", 3
		sys.Root.Send(messenger, &StreamFrame{Envelope: env, At: now})
	}
	deadline := time.Now().Add(5 * time.Second)
	for !marks.Delivered(sealed(t, kr, "n1", 3, 100, message(2))) {
		if time.Now().After(deadline) {
			t.Fatal("the messenger did not mark n1's messages 1 and 2 delivered within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i, env := range []*messages.Envelope{message(1), message(2), message(3),
		{Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{}}}} {
		deliver(transports.Packet{Data: sealed(t, kr, "n1", 3, uint64(200+i), env), At: time.Now()})
	}
	var got []uint64
	for range 2 {
		m, _ := expectMessage[*FrameReceived](t, membership, nil)
		got = append(got, m.Envelope.GetSequence())
	}
	if got[0] != 202 || got[1] != 203 {
		t.Fatalf("membership got frames %v, want 202 (message 3) and 203 (a heartbeat)", got)
	}
	expectSilence[*FrameReceived](t, membership, 50*time.Millisecond)
}
