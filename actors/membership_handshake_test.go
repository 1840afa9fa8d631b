package actors

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/membership"
	"github.com/hanode/hanode/node/machine/reliable"
)

// TestMessagesSentDuringTheHandshakeAreNotAskedFor: n2, a life n1 has not
// confirmed yet (n2's heartbeats do not echo n1), sends cluster messages
// that n1 receives before n2's heartbeat completes the handshake and
// opens n2's stream for n1. n1 delivers them once the stream opens, in
// order, and asks n2 for nothing: they came, and were kept for it.
// Dropping them made n1 ask for them, and the request and the resends
// went to every node, in a forming 64-node cluster for nearly every
// handshake.
//
// A cluster message of an older life than the one confirmed is still
// refused.
func TestMessagesSentDuringTheHandshakeAreNotAskedFor(t *testing.T) {
	const gen, peerGen = 7, 5
	sys := newTestSystem(t)
	t0 := time.Now()
	mst := NewMessengerState(MessengerConfig{Local: "n1", Generation: gen, Peers: []string{"n2"},
		Reliable: reliable.Config{MaxRexmitDelay: 20 * time.Millisecond, Rand: rand.New(sameValue{})}})
	messenger := sys.Root.Spawn(actor.PropsFromProducer(NewMessenger(mst, slog.New(slog.DiscardHandler))))
	out := newRecorder(t, sys) // what n1 broadcasts: its retransmission requests
	sys.Root.Send(messenger, &WatchHeartbeat{PID: out.pid})
	sub := newRecorder(t, sys)
	sys.Root.Send(messenger, &Subscribe{PID: sub.pid})
	sys.Root.Send(messenger, &messages.MembershipEvent{Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS,
		Node: "n2", Status: messages.NodeStatus_NODE_STATUS_ACTIVE})

	m := membership.New(membership.Config{Cluster: "c", Local: "n1", Nodes: []string{"n1", "n2"}, Links: []string{"eth0"},
		Warntime: time.Second, Deadtime: 2 * time.Second, Initdead: 4 * time.Second}, t0, gen)
	st := NewMembershipState(MembershipConfig{Info: MembershipInfo{Local: "n1", Deadtime: 2 * time.Second}, Peers: []string{"n2"}, Machine: m})
	mem := sys.Root.Spawn(actor.PropsFromProducer(NewMembership(st, messenger, slog.New(slog.DiscardHandler))))

	seq := uint64(0)
	frame := func(peerGen uint64, body *messages.Envelope) {
		seq++
		body.Cluster, body.Sender, body.Generation, body.Sequence = "c", "n2", peerGen, seq
		body.SendTimeUnixNano = time.Now().UnixNano()
		sys.Root.Send(mem, &FrameReceived{Link: "eth0", Envelope: body, At: time.Now()})
	}
	note := func(n uint64) *messages.Envelope {
		return &messages.Envelope{Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: n,
			Payload: &messages.ClusterMessage_Note{Note: &messages.Note{Text: fmt.Sprint(n)}}}}}
	}
	heartbeat := func(last uint64, echo bool) *messages.Envelope {
		hb := &messages.Heartbeat{Status: messages.NodeStatus_NODE_STATUS_ACTIVE, LastMessageSequence: last}
		if echo {
			hb.Sessions = []*messages.PeerSession{{Node: "n1", Generation: gen, StreamStart: 1}}
		}
		return &messages.Envelope{Body: &messages.Envelope_Heartbeat{Heartbeat: hb}}
	}
	// n2's first heartbeat: no echo of n1 yet. Then its messages 1 (history
	// for n1: numbered before n2 heard n1), 2 and 3.
	frame(peerGen, heartbeat(1, false))
	for n := uint64(1); n <= 3; n++ {
		frame(peerGen, note(n))
	}
	// The heartbeat that echoes n1: the handshake is done, the stream
	// opens after message 1.
	frame(peerGen, heartbeat(3, true))
	for _, want := range []string{"2", "3"} {
		d, _ := expectMessage[*ClusterDelivered](t, sub, nil)
		if got := d.Message.GetNote().GetText(); got != want {
			t.Fatalf("delivered %q, want %q", got, want)
		}
	}
	expectSilence[*Broadcast](t, out, 300*time.Millisecond)

	// A message of an older life than the one confirmed: refused.
	frame(peerGen-1, note(4))
	expectSilence[*ClusterDelivered](t, sub, 200*time.Millisecond)
}
