package membership

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

// ack delivers a heartbeat of n2 (generation 3) at ms that acknowledges
// n1's frame sent at sent, with excused of the peer's own stalls since.
func (s *scenario) ack(ms int, sent time.Time, excused time.Duration) string {
	s.t.Helper()
	s.at(ms)
	s.seq["n2"]++
	_, evs := s.m.Receive(s.now, Frame{Link: "eth0", Cluster: "c1", Sender: "n2", Generation: 3, Sequence: s.seq["n2"], SendTime: s.now,
		Heartbeat: &messages.Heartbeat{Status: active, Sessions: []*messages.PeerSession{{Node: "n1", Generation: 7,
			HeardSendTimeUnixNano: sent.UnixNano(), ExcusedMs: uint32(excused.Milliseconds())}}}})
	return reach(evs)
}

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

// TestAnOverloadedPeerThatSaysSoStillHearsUs: n2 reads its frames 800ms
// late (deadtime 500ms) and says so: its acknowledgements are older than
// deadtime, yet its own failure detector does not count those 800ms in
// n1's silence, so n1 keeps counting it as hearing n1. The same
// acknowledgements without the excuse stop it hearing n1; and an excuse
// never counts for more than MaxStallCredit deadtimes.
func TestAnOverloadedPeerThatSaysSoStillHearsUs(t *testing.T) {
	s := newScenario(t)
	expect(t, "join", s.ack(0, ms(0), 0), "n2 hears=true")
	for at := 100; at <= 3000; at += 100 {
		// It acknowledges what n1 sent 900ms ago: 800ms of it excused.
		expect(t, fmt.Sprintf("late acknowledgement at %dms", at), s.ack(at, ms(at-900), 800*time.Millisecond), "")
		expect(t, fmt.Sprintf("tick at %dms", at), reach(s.m.Tick(s.now)), "")
	}
	if !s.m.HearsUs("n2") {
		t.Fatal("n2 stopped hearing n1 though it said its acknowledgements were late by its own stalls")
	}

	// Without the excuse the same acknowledgement is deadtime old.
	s = newScenario(t)
	expect(t, "join", s.ack(0, ms(0), 0), "n2 hears=true")
	got := ""
	for at := 100; at <= 1000 && got == ""; at += 100 {
		s.ack(at, ms(at-900), 0)
		got = reach(s.m.Tick(s.now))
	}
	expect(t, "unexcused late acknowledgements", got, "n2 hears=false")

	// An excuse of an hour counts for MaxStallCredit deadtimes (2s): n2
	// keeps acknowledging only what n1 sent at 0.
	s = newScenario(t)
	expect(t, "join", s.ack(0, ms(0), 0), "n2 hears=true")
	var evs []*messages.MembershipEvent
	at := 100
	for ; at <= 4000 && reach(evs) == ""; at += 100 {
		s.ack(at, ms(0), time.Hour)
		evs = s.m.Tick(s.now)
	}
	expect(t, "an hour's excuse", reach(evs), "n2 hears=false")
	if at-100 != 2500 {
		t.Fatalf("n2 stopped hearing n1 at %dms, want 2500ms (2s of excuse and 500ms of deadtime)", at-100)
	}
	if r := reasons(evs); !strings.Contains(r, "for 2.5s (of which 2s the peer itself could not run, not counted)") {
		t.Fatalf("reason %q does not say what the peer's stalls excused", r)
	}
}

// TestHearingComesBackOnlyWellWithinDeadtime: once n2 stopped hearing n1,
// an acknowledgement just within deadtime does not make it hear n1 again
// (it would be lost again a moment later, and quorum with it); one within
// RegainAck does.
func TestHearingComesBackOnlyWellWithinDeadtime(t *testing.T) {
	s := newScenario(t)
	expect(t, "join", s.ack(0, ms(0), 0), "n2 hears=true")
	s.ack(400, ms(0), 0)
	expect(t, "deadtime after the last acknowledgement", reach(s.at(500).m.Tick(s.now)), "n2 hears=false")
	// Acknowledgements 450ms old: within deadtime, not within RegainAck
	// (375ms).
	for at := 600; at <= 1500; at += 100 {
		expect(t, fmt.Sprintf("450ms old at %dms", at), s.ack(at, ms(at-450), 0), "")
		expect(t, fmt.Sprintf("tick at %dms", at), reach(s.m.Tick(s.now)), "")
	}
	expect(t, "370ms old", s.ack(1600, ms(1230), 0), "n2 hears=true")
}

// TestExcused: what n1's heartbeats tell a peer its stalls excuse is the
// part of the peer's silence n1's failure detector does not count.
func TestExcused(t *testing.T) {
	s := newScenario(t)
	if got := s.m.Excused("n2", t0); got != 0 {
		t.Fatalf("never heard: excused %v", got)
	}
	s.at(100).hb("n2", "eth0", 3, active)
	s.at(900)
	s.m.Late(s.now, 600*time.Millisecond) // stalled from 300ms to 900ms
	if got, want := s.m.Excused("n2", s.now), 600*time.Millisecond; got != want {
		t.Fatalf("excused %v, want %v", got, want)
	}
	if got := s.m.Excused("n9", s.now); got != 0 {
		t.Fatalf("a stranger: excused %v", got)
	}
}

func reasons(evs []*messages.MembershipEvent) string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Reason)
	}
	return strings.Join(out, "; ")
}
