package membership

import (
	"strings"
	"testing"
	"time"
)

// TestOwnStallIsNotThePeersSilence: a node whose deadline fired 300ms late
// (deadtime 500ms) does not count the time it could not run in its peers'
// silences: a peer it could not have heard while it stalled is not dead
// at 600ms, the heartbeats read after the stall keep it active, and a
// peer that is really silent is declared dead once this node has listened
// for deadtime, with the excused stall in the reason.
func TestOwnStallIsNotThePeersSilence(t *testing.T) {
	s := newScenario(t)
	s.at(0).hb("n2", "eth0", 3, active)
	s.at(0).hb("n3", "eth0", 4, active)
	s.at(300).tick() // both late
	s.at(600)
	s.m.Late(s.now, 300*time.Millisecond)
	if got := s.m.Stalled(s.now); got != 300*time.Millisecond {
		t.Fatalf("stalled %v, want 300ms", got)
	}
	expect(t, "at 600ms, after a 300ms stall", s.tick(), "")
	// What n2 sent during the stall is read now.
	s.at(610).hb("n2", "eth0", 3, active)
	if got, want := s.m.NextDeadline(), t0.Add(800*time.Millisecond); got.Before(want) {
		t.Fatalf("next deadline %v, before n3's silence can count %v", got.Sub(t0), want.Sub(t0))
	}
	expect(t, "n3 just before it was listened to for deadtime", s.at(800).tick(), "")
	evs := s.at(801).m.Tick(s.now)
	expect(t, "n3 after", render(evs), "n3/eth0 dead; n3 active->dead")
	if r := evs[len(evs)-1].Reason; !strings.Contains(r, "for 801ms (of which 300ms this node itself could not run, not counted)") {
		t.Fatalf("reason %q does not say what was not counted", r)
	}
	expect(t, "n2 active", statusWord(s.status("n2")), "active")
}

// TestALongStallExcusesItsWholeLength: frozen for three deadtimes, a node
// declares nobody dead when it runs again and reads its peers at once.
func TestALongStallExcusesItsWholeLength(t *testing.T) {
	s := newScenario(t)
	s.at(0).hb("n2", "eth0", 3, active)
	s.at(1600)
	s.m.Late(s.now, 1100*time.Millisecond) // the 501ms deadline, handled at 1600
	// Listened from 0 to 500ms: late, not dead.
	expect(t, "on resuming", s.tick(), "n2 late")
	s.at(1605).hb("n2", "eth0", 3, active)
	expect(t, "after reading", s.at(1700).tick(), "")
	expect(t, "n2 active", statusWord(s.status("n2")), "active")
}

// TestStallsOutsideTheSilenceExcuseNothing: a stall before a peer was last
// heard does not delay its death.
func TestStallsOutsideTheSilenceExcuseNothing(t *testing.T) {
	s := newScenario(t)
	s.at(100)
	s.m.Late(s.now, 100*time.Millisecond)
	s.at(200).hb("n2", "eth0", 3, active)
	s.at(500).tick() // late
	expect(t, "dead on the plain deadtime", s.at(701).tick(), "n2/eth0 dead; n2 active->dead")
}

// TestABacklogCountsOnce: frames handled late one after the other, each
// waiting behind the last, are one stall, not one per frame; small
// lateness (scheduling) counts for nothing; what a stall excuses is
// bounded (MaxStallCredit deadtimes), and so is what is remembered.
func TestABacklogCountsOnce(t *testing.T) {
	s := newScenario(t)
	for i := 0; i < 100; i++ {
		s.at(1000 + i)
		s.m.Late(s.now, 100*time.Millisecond+time.Duration(i)*time.Millisecond)
	}
	// One stall, from 900ms to 1099ms.
	if got := s.m.Stalled(s.now); got != 199*time.Millisecond {
		t.Fatalf("stalled %v, want 199ms", got)
	}
	s.at(1200)
	s.m.Late(s.now, s.m.LateTolerance()-time.Millisecond)
	if got := s.m.Stalled(s.now); got != 199*time.Millisecond {
		t.Fatalf("lateness under tolerance counted: %v", got)
	}
	s.at(10000)
	s.m.Late(s.now, time.Hour)
	if got := s.m.stalledWithin(t0, s.now); got != MaxStallCredit*500*time.Millisecond {
		t.Fatalf("an hour's stall excuses %v, want %d deadtimes", got, MaxStallCredit)
	}
	for i := 0; i < 3*maxStalls; i++ {
		s.at(20000 + 30*i)
		s.m.Late(s.now, 25*time.Millisecond)
	}
	if len(s.m.stalls) > maxStalls {
		t.Fatalf("%d stalls kept", len(s.m.stalls))
	}
}
