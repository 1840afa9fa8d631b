package actors

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/membership"
	"github.com/hanode/hanode/node/machine/reliable"
)

// TestHeartbeatsThatSayNothingNewSkipTheMessenger: the messenger is handed
// a peer's heartbeat only when it says something new of the peer's stream
// (its generation, its last message, where its stream for this node's
// life starts); other frames always. A heartbeat not handed over (its
// stream gate full) is handed over the next time.
func TestHeartbeatsThatSayNothingNewSkipTheMessenger(t *testing.T) {
	const gen = 7
	st := NewMembershipState(MembershipConfig{Info: MembershipInfo{Local: "n1"}, Peers: []string{"n2"},
		Machine: membership.New(membership.Config{Cluster: "c", Local: "n1", Nodes: []string{"n1", "n2"}, Links: []string{"eth0"},
			Warntime: time.Second, Deadtime: 2 * time.Second, Initdead: 4 * time.Second}, time.Now(), gen)})
	hb := func(peerGen, last uint64, sessions ...*messages.PeerSession) *messages.Envelope {
		return &messages.Envelope{Sender: "n2", Generation: peerGen, Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{
			LastMessageSequence: last, Sessions: sessions}}}
	}
	ours := &messages.PeerSession{Node: "n1", Generation: gen, StreamStart: 3}
	stale := &messages.PeerSession{Node: "n1", Generation: gen - 1, StreamStart: 9}
	other := &messages.PeerSession{Node: "n3", Generation: 1, StreamStart: 1}
	steps := []struct {
		what     string
		env      *messages.Envelope
		handed   bool // whether it was taken in hand (the gate let it through)
		wantHand bool
	}{
		{"first heartbeat", hb(5, 0), true, true},
		{"the same again", hb(5, 0), true, false},
		{"a session of another life of ours", hb(5, 0, stale), true, false},
		{"a session of another node", hb(5, 0, other), true, false},
		{"our session", hb(5, 0, ours), true, true},
		{"the same again", hb(5, 0, ours), true, false},
		{"our session left out, its turn to come", hb(5, 0), true, false},
		{"our session again", hb(5, 0, ours), true, false},
		{"a new last message, not handed over", hb(5, 4, ours), false, true},
		{"that again", hb(5, 4, ours), true, true},
		{"that again, handed over", hb(5, 4, ours), true, false},
		{"a cluster message", &messages.Envelope{Sender: "n2", Generation: 5, Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: 5}}}, true, true},
		{"a heartbeat of a new life", hb(6, 0), true, true},
		{"the old life again", hb(5, 4, ours), true, true},
	}
	for _, s := range steps {
		news, hand := st.forMessenger(s.env)
		if hand != s.wantHand {
			t.Fatalf("%s: handed to the messenger %v, want %v", s.what, hand, s.wantHand)
		}
		if hand && s.handed && news != nil {
			st.streamNews["n2"] = *news
		}
	}
}

// TestSkippedHeartbeatsChangeNothingForTheMessenger checks the assumption
// the skipping rests on, over random histories of a peer's frames (lives,
// sessions for this node or others, last messages announced, cluster
// messages): an inbox given only the heartbeats that say something new
// ends every step in the state of one given every heartbeat, and
// delivers the same messages.
func TestSkippedHeartbeatsChangeNothingForTheMessenger(t *testing.T) {
	const localGen = 7
	for history := range 2000 {
		rng := rand.New(rand.NewPCG(uint64(history), 1))
		st := NewMembershipState(MembershipConfig{Info: MembershipInfo{Local: "n1"}, Peers: []string{"n2"},
			Machine: membership.New(membership.Config{Cluster: "c", Local: "n1", Nodes: []string{"n1", "n2"}, Links: []string{"eth0"},
				Warntime: time.Second, Deadtime: 2 * time.Second, Initdead: 4 * time.Second}, time.Now(), localGen)})
		every := reliable.NewInbox(reliable.Config{MaxMissing: 8, Rand: rand.New(rand.NewPCG(uint64(history), 2))})
		news := reliable.NewInbox(reliable.Config{MaxMissing: 8, Rand: rand.New(rand.NewPCG(uint64(history), 2))})
		now := time.Unix(1_700_000_000, 0)
		gen, last := uint64(1), uint64(0)
		for step := range 40 {
			now = now.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
			if rng.IntN(10) == 0 {
				gen++ // a new life of the peer
				last = 0
			}
			if rng.IntN(3) == 0 {
				m := &messages.ClusterMessage{MessageSequence: uint64(1 + rng.IntN(int(last)+3))}
				a, b := every.Receive(now, gen, m), news.Receive(now, gen, m)
				if len(a) != len(b) {
					t.Fatalf("history %d step %d: a message delivered %d and %d", history, step, len(a), len(b))
				}
				continue
			}
			if rng.IntN(2) == 0 {
				last += uint64(rng.IntN(3))
			}
			hb := &messages.Heartbeat{LastMessageSequence: last}
			switch rng.IntN(4) {
			case 0:
				hb.Sessions = append(hb.Sessions, &messages.PeerSession{Node: "n1", Generation: localGen, StreamStart: uint64(rng.IntN(3))})
			case 1:
				hb.Sessions = append(hb.Sessions, &messages.PeerSession{Node: "n1", Generation: localGen - 1, StreamStart: 5})
			case 2:
				hb.Sessions = append(hb.Sessions, &messages.PeerSession{Node: "n3", Generation: localGen, StreamStart: 2})
			}
			env := &messages.Envelope{Sender: "n2", Generation: gen, Body: &messages.Envelope_Heartbeat{Heartbeat: hb}}
			a := heartbeatToInbox(every, "n1", localGen, now, gen, hb)
			var b []*messages.ClusterMessage
			if n, hand := st.forMessenger(env); hand {
				b = heartbeatToInbox(news, "n1", localGen, now, gen, hb)
				st.streamNews["n2"] = *n
			}
			if len(a) != len(b) {
				t.Fatalf("history %d step %d: a heartbeat delivered %d and %d", history, step, len(a), len(b))
			}
			if !reflect.DeepEqual(every, news) {
				t.Fatalf("history %d step %d: the inboxes differ:\n%+v\n%+v", history, step, every, news)
			}
		}
	}
}
