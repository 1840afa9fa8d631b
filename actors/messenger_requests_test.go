package actors

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/reliable"
)

// sameValue is a random source that always draws the same number: every
// first retransmission request falls due at the same time.
type sameValue struct{}

func (sameValue) Uint64() uint64 { return 1 << 62 }

// requestingMessenger is n1's messenger among peers, all active, with
// first requests that all fall due at once; its frames go to the returned
// recorder (as the heartbeat actor).
func requestingMessenger(t *testing.T, peers []string, maxRexmitDelay time.Duration) (*actor.ActorSystem, *actor.PID, *recorder) {
	t.Helper()
	sys := newTestSystem(t)
	st := NewMessengerState(MessengerConfig{Local: "n1", Generation: 1, Peers: peers,
		Reliable: reliable.Config{MaxRexmitDelay: maxRexmitDelay, Rand: rand.New(sameValue{})}})
	pid := sys.Root.Spawn(actor.PropsFromProducer(NewMessenger(st, slog.New(slog.DiscardHandler))))
	hb := newRecorder(t, sys)
	sys.Root.Send(pid, &WatchHeartbeat{PID: hb.pid})
	for _, p := range peers {
		sys.Root.Send(pid, &messages.MembershipEvent{Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS,
			Node: p, Status: messages.NodeStatus_NODE_STATUS_ACTIVE})
	}
	return sys, pid, hb
}

// announceTwo has peer's heartbeat open its stream for this life of n1 and
// say it sent two messages since: both missing at n1.
func announceTwo(sys *actor.ActorSystem, pid *actor.PID, peer string) {
	sys.Root.Send(pid, &StreamFrame{At: time.Now(), Envelope: &messages.Envelope{Sender: peer, Generation: 5,
		Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{LastMessageSequence: 2,
			Sessions: []*messages.PeerSession{{Node: "n1", Generation: 1, StreamStart: 0}}}}}})
}

// TestRequestsForManyPeersShareAFrame: a node that misses messages of
// three peers at once (it was too busy to take them) asks for them in one
// frame, not one per peer; the requests of a burst of losses cost the
// cluster a frame per node, whatever the cluster's size.
func TestRequestsForManyPeersShareAFrame(t *testing.T) {
	peers := []string{"n2", "n3", "n4"}
	sys, pid, hb := requestingMessenger(t, peers, 100*time.Millisecond)
	for _, p := range peers {
		announceTwo(sys, pid, p)
	}
	b, _ := expectMessage[*Broadcast](t, hb, nil)
	reqs := b.Envelope.GetRetransmitRequests().GetRequests()
	if len(reqs) != 3 {
		t.Fatalf("first request frame: %v, want the three peers' requests together", b.Envelope)
	}
	for i, r := range reqs {
		if r.Destination != peers[i] || r.Generation != 5 || r.First != 1 || r.Last != 2 {
			t.Fatalf("request %d: %v, want %s generation 5 for 1..2", i, r, peers[i])
		}
	}
}

// TestARequestOverheardDefersOursForThatPeer: n3 asks n2 for the messages
// n1 misses too; n1 then asks n2 for nothing until the resend had time to
// come, and still asks n4 for its own.
func TestARequestOverheardDefersOursForThatPeer(t *testing.T) {
	sys, pid, hb := requestingMessenger(t, []string{"n2", "n3", "n4"}, 400*time.Millisecond)
	announceTwo(sys, pid, "n2")
	announceTwo(sys, pid, "n4")
	sys.Root.Send(pid, &StreamFrame{At: time.Now(), Envelope: &messages.Envelope{Sender: "n3", Generation: 8,
		Body: &messages.Envelope_RetransmitRequest{RetransmitRequest: &messages.RetransmitRequest{Destination: "n2", Generation: 5, First: 1, Last: 2}}}})
	b, _ := expectMessage[*Broadcast](t, hb, nil)
	if r := b.Envelope.GetRetransmitRequest(); r == nil || r.Destination != "n4" {
		t.Fatalf("first request: %v, want only n4's (n2's was overheard)", b.Envelope)
	}
}

// TestEveryGapOfOnePeerIsAskedFor: one peer's stream with more gaps than
// a frame of requests names: every gap is asked for, in as many frames as
// it takes.
func TestEveryGapOfOnePeerIsAskedFor(t *testing.T) {
	sys := newTestSystem(t)
	st := NewMessengerState(MessengerConfig{Local: "n1", Generation: 1, Peers: []string{"n2"},
		Reliable: reliable.Config{MaxRexmitDelay: 100 * time.Millisecond, Rand: rand.New(sameValue{}), MaxMessage: 100}})
	pid := sys.Root.Spawn(actor.PropsFromProducer(NewMessenger(st, slog.New(slog.DiscardHandler))))
	hb := newRecorder(t, sys)
	sys.Root.Send(pid, &WatchHeartbeat{PID: hb.pid})
	sys.Root.Send(pid, &messages.MembershipEvent{Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS,
		Node: "n2", Status: messages.NodeStatus_NODE_STATUS_ACTIVE})
	announceTwo(sys, pid, "n2") // opens the stream at 0
	// Messages 2, 4, ..., 40 arrive: 1, 3, ..., 39 are 20 gaps.
	for seq := uint64(2); seq <= 40; seq += 2 {
		sys.Root.Send(pid, &StreamFrame{At: time.Now(), Envelope: &messages.Envelope{Sender: "n2", Generation: 5,
			Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: seq,
				Payload: &messages.ClusterMessage_Note{Note: &messages.Note{Text: "x"}}}}}})
	}
	asked := map[uint64]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for rounds := 0; len(asked) < 20; rounds++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %d frames of requests only %d of the 20 gaps were asked for", rounds, len(asked))
		}
		b, _ := expectMessage[*Broadcast](t, hb, nil)
		reqs := b.Envelope.GetRetransmitRequests().GetRequests()
		if r := b.Envelope.GetRetransmitRequest(); r != nil {
			reqs = append(reqs, r)
		}
		for _, r := range reqs {
			for s := r.First; s <= r.Last; s++ {
				asked[s] = true
			}
		}
	}
}

// announceTwoAt is announceTwo for a heartbeat that arrived at at.
func announceTwoAt(sys *actor.ActorSystem, pid *actor.PID, peer string, at time.Time) {
	sys.Root.Send(pid, &StreamFrame{At: at, Envelope: &messages.Envelope{Sender: peer, Generation: 5,
		Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{LastMessageSequence: 2,
			Sessions: []*messages.PeerSession{{Node: "n1", Generation: 1, StreamStart: 0}}}}}})
}

// messageAt is peer's cluster message seq of generation 5, arrived at at.
func messageAt(peer string, seq uint64, at time.Time) *StreamFrame {
	return &StreamFrame{At: at, Envelope: &messages.Envelope{Sender: peer, Generation: 5,
		Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: seq,
			Payload: &messages.ClusterMessage_Note{Note: &messages.Note{Text: "x"}}}}}}
}

// TestABusyNodeAsksOnlyForWhatItDidNotReceive: a node two seconds behind
// its socket handles a heartbeat announcing two messages of n2 that
// arrived right after it (they wait in its own queue). By the wall clock
// the request for them is long due; by the arrival clock it is not, and
// the messages are handled before it falls due: nothing is asked of n2.
// The first request the node sends is for n3's messages, announced later
// and never sent.
func TestABusyNodeAsksOnlyForWhatItDidNotReceive(t *testing.T) {
	sys, pid, hb := requestingMessenger(t, []string{"n2", "n3"}, 100*time.Millisecond)
	arrived := time.Now().Add(-2 * time.Second)
	announceTwoAt(sys, pid, "n2", arrived)
	sys.Root.Send(pid, messageAt("n2", 1, arrived.Add(10*time.Millisecond)))
	sys.Root.Send(pid, messageAt("n2", 2, arrived.Add(20*time.Millisecond)))
	announceTwoAt(sys, pid, "n3", time.Now())
	b, _ := expectMessage[*Broadcast](t, hb, nil)
	if r := b.Envelope.GetRetransmitRequest(); r == nil || r.Destination != "n3" {
		t.Fatalf("first request: %v, want only n3's (n2's messages were in the queue)", b.Envelope)
	}
}

// TestABusyNodeWaitsForItsQueueWithinTheLagCredit: 250ms behind (within
// a 300ms credit), a node asks for messages missing at a frame's arrival
// only once the arrival clock reaches the request's time (100ms after the
// arrival, less the requests' slack of 25ms): 100ms from now by the wall,
// where without the credit it would ask at once. A minute behind, beyond
// the credit, it asks at once: its requests wait for its queue, not for
// ever.
func TestABusyNodeWaitsForItsQueueWithinTheLagCredit(t *testing.T) {
	for _, tc := range []struct {
		behind   time.Duration
		min, max time.Duration
	}{
		{behind: 250 * time.Millisecond, min: 60 * time.Millisecond, max: 2 * time.Second},
		{behind: time.Minute, min: 0, max: 50 * time.Millisecond},
	} {
		sys := newTestSystem(t)
		st := NewMessengerState(MessengerConfig{Local: "n1", Generation: 1, Peers: []string{"n2"}, MaxLag: 300 * time.Millisecond,
			Reliable: reliable.Config{MaxRexmitDelay: 100 * time.Millisecond, Rand: rand.New(sameValue{})}})
		pid := sys.Root.Spawn(actor.PropsFromProducer(NewMessenger(st, slog.New(slog.DiscardHandler))))
		hb := newRecorder(t, sys)
		sys.Root.Send(pid, &WatchHeartbeat{PID: hb.pid})
		sys.Root.Send(pid, &messages.MembershipEvent{Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS,
			Node: "n2", Status: messages.NodeStatus_NODE_STATUS_ACTIVE})
		start := time.Now()
		announceTwoAt(sys, pid, "n2", start.Add(-tc.behind))
		b, _ := expectMessage[*Broadcast](t, hb, nil)
		waited := time.Since(start)
		if r := b.Envelope.GetRetransmitRequest(); r == nil || r.Destination != "n2" || r.First != 1 || r.Last != 2 {
			t.Fatalf("%v behind: request %v, want n2's 1..2", tc.behind, b.Envelope)
		}
		if waited < tc.min || waited > tc.max {
			t.Errorf("%v behind: asked after %v, want %v..%v", tc.behind, waited, tc.min, tc.max)
		}
	}
}

// TestALossIsToldToSubscribers: of a peer's messages 1 to 3, the peer no
// longer has 2 (NAK): the subscribers get 1, then 3 (which the NAK
// unblocked), then news that a message of that life was lost, once. What
// the lost one said (a group's release, a probe's result) is unknown:
// placement asks for the peer's full state, which replaces whatever it
// knew, so the news need not come between the two.
func TestALossIsToldToSubscribers(t *testing.T) {
	sys, pid, _ := requestingMessenger(t, []string{"n2"}, time.Hour)
	sub := newRecorder(t, sys)
	sys.Root.Send(pid, &Subscribe{PID: sub.pid})
	announceTwo(sys, pid, "n2")
	message := func(seq uint64) {
		sys.Root.Send(pid, &StreamFrame{At: time.Now(), Envelope: &messages.Envelope{Sender: "n2", Generation: 5,
			Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: seq,
				Payload: &messages.ClusterMessage_Note{Note: &messages.Note{Text: fmt.Sprint(seq)}}}}}})
	}
	message(1)
	message(3)
	sys.Root.Send(pid, &StreamFrame{At: time.Now(), Envelope: &messages.Envelope{Sender: "n2", Generation: 5,
		Body: &messages.Envelope_RetransmitNak{RetransmitNak: &messages.RetransmitNak{Destination: "n1", First: 2, Last: 2}}}})
	var got []string
	for len(got) < 3 {
		select {
		case rec := <-sub.got:
			switch m := rec.msg.(type) {
			case *ClusterDelivered:
				got = append(got, m.Message.GetNote().GetText())
			case *ClusterLost:
				if m.From != "n2" || m.Generation != 5 {
					t.Fatalf("loss news %+v, want of n2's life 5", m)
				}
				got = append(got, "lost")
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("subscriber got only %v within 5s", got)
		}
	}
	if want := []string{"1", "3", "lost"}; !slices.Equal(got, want) {
		t.Fatalf("subscriber got %v, want %v", got, want)
	}
	expectSilence[*ClusterLost](t, sub, 100*time.Millisecond)
}

// TestMessagesBeforeTheHeartbeatThatOpensTheStreamAreNotAskedFor: n2's
// first two messages after it heard n1 (a join's full state) come before
// the heartbeat that says where its stream for n1 starts. They are
// delivered once it comes, and nothing is asked for: while 64 nodes
// formed, such messages were dropped, asked for by every node and resent
// to everybody.
func TestMessagesBeforeTheHeartbeatThatOpensTheStreamAreNotAskedFor(t *testing.T) {
	sys, pid, hb := requestingMessenger(t, []string{"n2"}, 20*time.Millisecond)
	sub := newRecorder(t, sys)
	sys.Root.Send(pid, &Subscribe{PID: sub.pid})
	for _, seq := range []uint64{2, 1} {
		sys.Root.Send(pid, &StreamFrame{At: time.Now(), Envelope: &messages.Envelope{Sender: "n2", Generation: 5,
			Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: seq,
				Payload: &messages.ClusterMessage_Note{Note: &messages.Note{Text: fmt.Sprint(seq)}}}}}})
	}
	announceTwo(sys, pid, "n2")
	for _, want := range []string{"1", "2"} {
		m, _ := expectMessage[*ClusterDelivered](t, sub, nil)
		if got := m.Message.GetNote().GetText(); got != want {
			t.Fatalf("delivered %q, want %q", got, want)
		}
	}
	expectSilence[*Broadcast](t, hb, 300*time.Millisecond)
}
