package actors

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/transports"
)

type recordingMedium struct {
	mu   sync.Mutex
	sent []string
}

func (m *recordingMedium) Send(b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, string(b))
	return nil
}
func (m *recordingMedium) Close() error { return nil }
func (m *recordingMedium) Sent() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.sent)
}

// TestALinkSendsOnlyTheNewestOfTheHeartbeatsWaiting: heartbeats 1 and 2
// still wait for the link when heartbeat 3 is handed to it: they are
// answered superseded and never sent; 3 and a cluster message (not a
// heartbeat) are sent.
func TestALinkSendsOnlyTheNewestOfTheHeartbeatsWaiting(t *testing.T) {
	sys := newTestSystem(t)
	membership := newRecorder(t, sys)
	medium := &recordingMedium{}
	link := sys.Root.Spawn(actor.PropsFromProducer(NewLink(LinkConfig{Name: "eth0", Membership: membership.pid, Local: "n1",
		Log:  slog.New(slog.DiscardHandler),
		Open: func(transports.Deliver, transports.ReadError) (transports.Link, error) { return medium, nil }})))
	newest := &atomic.Uint64{}
	newest.Store(3)
	var futures []*actor.Future
	for _, f := range []*SendFrame{
		{Data: []byte("hb1"), Newest: newest, Sequence: 1},
		{Data: []byte("hb2"), Newest: newest, Sequence: 2},
		{Data: []byte("msg"), Sequence: 2},
		{Data: []byte("hb3"), Newest: newest, Sequence: 3},
	} {
		futures = append(futures, sys.Root.RequestFuture(link, f, 5*time.Second))
	}
	var superseded []bool
	for _, f := range futures {
		res, err := f.Result()
		if err != nil {
			t.Fatal(err)
		}
		superseded = append(superseded, res.(*FrameSent).Superseded)
	}
	if want := []bool{true, true, false, false}; !slices.Equal(superseded, want) {
		t.Fatalf("superseded %v, want %v", superseded, want)
	}
	if got, want := medium.Sent(), []string{"msg", "hb3"}; !slices.Equal(got, want) {
		t.Fatalf("sent %q, want %q", got, want)
	}
}
