package actors

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/transports/frame"
)

func testKeyring(t *testing.T) *frame.Keyring {
	t.Helper()
	kr, err := frame.NewKeyring(&messages.Auth{ActiveKey: proto.Uint32(1),
		Keys: []*messages.AuthKey{{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_SHA1, Secret: "s"}}})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// sendingLink is a link actor stand-in that records when each frame came
// and answers FrameSent, as a link does; hold, when set, keeps it from
// taking anything in hand until closed.
func sendingLink(sys *actor.ActorSystem, frames chan<- time.Time, hold <-chan struct{}) *actor.PID {
	return sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*SendFrame); ok {
			if hold != nil {
				<-hold
			}
			m.Backlog.LeaveN(len(m.Data))
			frames <- time.Now()
			ctx.Respond(&FrameSent{})
		}
	}))
}

// TestHeartbeatsAskedAtOnceAreSpaced: a burst of HeartbeatNow (a node
// hearing the new sessions of a whole cluster at once) sends one
// heartbeat at once and one more at the end of the spacing, not one each.
func TestHeartbeatsAskedAtOnceAreSpaced(t *testing.T) {
	sys := newTestSystem(t)
	frames := make(chan time.Time, 100)
	link := sendingLink(sys, frames, nil)
	membership := newRecorder(t, sys)
	const keepalive = 2 * time.Second // spacing 500 ms
	hb := sys.Root.Spawn(actor.PropsFromProducer(NewHeartbeat(HeartbeatConfig{Cluster: "c", Local: "n1", Generation: 1,
		Keepalive: keepalive, Deadtime: 5 * keepalive, Keyring: testKeyring(t), Links: []*actor.PID{link},
		Membership: membership.pid, Log: slog.New(slog.DiscardHandler)})))
	start := <-frames // the hello at start
	for range 30 {
		sys.Root.Send(hb, &HeartbeatNow{})
	}
	immediate := <-frames
	if d := immediate.Sub(start); d > keepalive/4 {
		t.Fatalf("the first heartbeat asked for at once left after %v", d)
	}
	deferred := <-frames
	if d := deferred.Sub(immediate); d < DefaultNowSpacing(keepalive)*4/5 {
		t.Fatalf("the next one left %v after the first, within the spacing of %v", d, DefaultNowSpacing(keepalive))
	}
	// Nothing else before the next keepalive tick.
	select {
	case at := <-frames:
		if at.Sub(start) < keepalive*9/10 {
			t.Fatalf("a fourth frame %v after start: 30 asked at once sent more than two", at.Sub(start))
		}
	case <-time.After(start.Add(keepalive * 9 / 10).Sub(time.Now())):
	}
}

// TestALargeClusterSendsNoHeartbeatAtOnce: with a negative spacing (a
// cluster of 64 or more: node.HeartbeatNowSpacing) new sessions wait for
// the regular heartbeats, which carry them anyway.
func TestALargeClusterSendsNoHeartbeatAtOnce(t *testing.T) {
	sys := newTestSystem(t)
	frames := make(chan time.Time, 100)
	link := sendingLink(sys, frames, nil)
	membership := newRecorder(t, sys)
	const keepalive = time.Second
	hb := sys.Root.Spawn(actor.PropsFromProducer(NewHeartbeat(HeartbeatConfig{Cluster: "c", Local: "n1", Generation: 1,
		Keepalive: keepalive, Deadtime: 10 * keepalive, Keyring: testKeyring(t), Links: []*actor.PID{link},
		Membership: membership.pid, Log: slog.New(slog.DiscardHandler), NowSpacing: -1})))
	start := <-frames // the hello at start
	for range 30 {
		sys.Root.Send(hb, &HeartbeatNow{})
	}
	select {
	case at := <-frames:
		if at.Sub(start) < keepalive*9/10 {
			t.Fatalf("a heartbeat %v after the first, before the next keepalive: sent at once", at.Sub(start))
		}
	case <-time.After(start.Add(keepalive * 9 / 10).Sub(time.Now())):
	}
}

// TestALinkBehindDropsFramesInsteadOfQueueing: while a link takes nothing
// in hand, the frames for it wait up to LinkBacklog bytes; the rest are
// dropped, not queued without bound, and once the link is back frames go
// out again.
func TestALinkBehindDropsFramesInsteadOfQueueing(t *testing.T) {
	sys := newTestSystem(t)
	frames := make(chan time.Time, 1000)
	hold := make(chan struct{})
	link := sendingLink(sys, frames, hold)
	membership := newRecorder(t, sys)
	var logs lockedBuffer
	hb := sys.Root.Spawn(actor.PropsFromProducer(NewHeartbeat(HeartbeatConfig{Cluster: "c", Local: "n1", Generation: 1,
		Keepalive: time.Hour, Deadtime: 2 * time.Hour, Keyring: testKeyring(t), Links: []*actor.PID{link},
		Membership: membership.pid, Log: slog.New(slog.NewTextHandler(&logs, nil))})))
	big := strings.Repeat("x", 60_000)
	const sent = 200
	for i := range sent {
		sys.Root.Send(hb, &Broadcast{Envelope: &messages.Envelope{Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{
			MessageSequence: uint64(i + 1), Payload: &messages.ClusterMessage_Note{Note: &messages.Note{Text: big}}}}}})
	}
	f := sys.Root.RequestFuture(hb, &SendQuery{}, 5*time.Second) // handled after every Broadcast
	if _, err := f.Result(); err != nil {
		t.Fatal(err)
	}
	close(hold)
	// The hello and the frames that fit: 4 MiB of 60 kB frames.
	fit := LinkBacklog / 60_000
	got := 0
	for deadline := time.After(5 * time.Second); got < fit; got++ {
		select {
		case <-frames:
		case <-deadline:
			t.Fatalf("%d frames went out, want the %d that fit", got, fit)
		}
	}
	select {
	case <-frames:
		got++
		// The hello is small: one more may fit beside it.
		select {
		case <-frames:
			t.Fatalf("more than %d frames queued for a link that took nothing in hand", got+1)
		case <-time.After(200 * time.Millisecond):
		}
	case <-time.After(200 * time.Millisecond):
	}
	if !strings.Contains(logs.String(), "frame dropped: the link is behind") {
		t.Fatalf("no line about dropped frames:\n%s", logs.String())
	}
	// The link is back: a new frame goes out.
	sys.Root.Send(hb, &HeartbeatNow{})
	select {
	case <-frames:
	case <-time.After(5 * time.Second):
		t.Fatal("no frame after the link caught up: the backlog was not given back")
	}
}

// TestSessionsOfSupersededHeartbeatsGoOutNext: a link behind sends one
// heartbeat in three (it supersedes the others). With one session a
// heartbeat of three, the heartbeats it sends carry every session in turn:
// a heartbeat that never left gives its sessions back to the rotation.
// (Otherwise the link sent the same session every time.)
func TestSessionsOfSupersededHeartbeatsGoOutNext(t *testing.T) {
	sys := newTestSystem(t)
	kr := testKeyring(t)
	carried := make(chan []string, 100)
	answered := make(chan struct{}, 100)
	heartbeats := 0
	link := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		m, ok := ctx.Message().(*SendFrame)
		if !ok {
			return
		}
		m.Backlog.LeaveN(len(m.Data))
		env, _, err := kr.Open(m.Data)
		if err != nil {
			t.Error(err)
			return
		}
		if hb := env.GetHeartbeat(); hb != nil && len(hb.Sessions) > 0 {
			heartbeats++
			if heartbeats%3 != 0 {
				ctx.Respond(&FrameSent{Superseded: true, Sequence: m.Sequence})
				answered <- struct{}{}
				return
			}
			var names []string
			for _, s := range hb.Sessions {
				names = append(names, s.Node)
			}
			carried <- names
		}
		ctx.Respond(&FrameSent{Sequence: m.Sequence})
		answered <- struct{}{}
	}))
	membership := newRecorder(t, sys)
	hb := sys.Root.Spawn(actor.PropsFromProducer(NewHeartbeat(HeartbeatConfig{Cluster: "c", Local: "n1", Generation: 1,
		Keepalive: time.Hour, Deadtime: 2 * time.Hour, Keyring: kr, Links: []*actor.PID{link},
		Membership: membership.pid, Log: slog.New(slog.DiscardHandler), MaxSessions: 1, NowSpacing: -1})))
	<-answered // the hello at start, before any facts
	var sessions []*messages.PeerSession
	for _, n := range []string{"n2", "n3", "n4"} {
		sessions = append(sessions, &messages.PeerSession{Node: n, Generation: 1})
	}
	sys.Root.Send(hb, &HeartbeatFacts{Sessions: sessions})
	var sent []string
	for range 9 {
		sys.Root.Send(hb, &keepaliveTick{})
		select {
		case <-answered:
		case <-time.After(5 * time.Second):
			t.Fatal("the link was given no heartbeat")
		}
		// The answer is handled before the next tick.
		if _, err := sys.Root.RequestFuture(hb, &SendQuery{}, 5*time.Second).Result(); err != nil {
			t.Fatal(err)
		}
	}
	close(carried)
	for names := range carried {
		sent = append(sent, strings.Join(names, ","))
	}
	if len(sent) != 3 || sent[0] == sent[1] || sent[1] == sent[2] || sent[0] == sent[2] {
		t.Fatalf("the heartbeats that left carried %v: want each of the three sessions once", sent)
	}
}
