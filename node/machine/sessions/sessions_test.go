package sessions

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func peers(n int, gen uint64) []*messages.PeerSession {
	var out []*messages.PeerSession
	for i := range n {
		out = append(out, &messages.PeerSession{Node: fmt.Sprintf("n%d", i+2), Generation: gen, StreamStart: 1})
	}
	return out
}

func names(ss []*messages.PeerSession) map[string]bool {
	out := map[string]bool{}
	for _, s := range ss {
		out[s.Node] = true
	}
	return out
}

// TestAllThatFitGoOut: with room for every session, a heartbeat carries
// them all, as they are.
func TestAllThatFitGoOut(t *testing.T) {
	for _, max := range []int{0, 5, 9} {
		r := New(max, 3*time.Second)
		all := peers(5, 1)
		if got := r.Pick(t0, all); len(got) != 5 || &got[0] != &all[0] {
			t.Fatalf("max %d: picked %d sessions (or a copy) of 5", max, len(got))
		}
	}
}

// TestEverySessionTakesItsTurn: 63 peers, 32 a heartbeat: once the
// handshakes are over, every session goes out every second heartbeat,
// and each heartbeat carries 32 of them.
func TestEverySessionTakesItsTurn(t *testing.T) {
	const keepalive = time.Second
	r := New(32, 3*keepalive)
	all := peers(63, 1)
	last := map[string]int{}
	for beat := 0; beat < 40; beat++ {
		got := r.Pick(t0.Add(time.Duration(beat)*keepalive), all)
		if len(got) != 32 || len(names(got)) != 32 {
			t.Fatalf("heartbeat %d: %d sessions (%d distinct), want 32", beat, len(got), len(names(got)))
		}
		for n := range names(got) {
			if prev, ok := last[n]; ok && beat >= 4 && beat-prev > 2 {
				t.Fatalf("heartbeat %d: %s's session went out %d heartbeats after the one before", beat, n, beat-prev)
			}
			last[n] = beat
		}
		if beat >= 4 && len(last) != 63 {
			t.Fatalf("after %d heartbeats only %d of 63 sessions went out", beat+1, len(last))
		}
	}
}

// TestAChangedSessionGoesOutInEveryHeartbeatForHold: a peer that
// restarted (its new generation: a handshake under way) is answered in
// every heartbeat for hold, turn or not; then it takes turns again.
func TestAChangedSessionGoesOutInEveryHeartbeatForHold(t *testing.T) {
	const keepalive = time.Second
	r := New(10, 3*keepalive)
	all := peers(40, 1)
	for beat := 0; beat < 12; beat++ {
		r.Pick(t0.Add(time.Duration(beat)*keepalive), all)
	}
	restarted := peers(40, 1)
	restarted[17].Generation = 2
	for beat := 12; beat < 15; beat++ {
		if got := names(r.Pick(t0.Add(time.Duration(beat)*keepalive), restarted)); !got["n19"] {
			t.Fatalf("heartbeat %d, %v after n19 restarted: its session left out", beat, time.Duration(beat-12)*keepalive)
		}
	}
	if got := names(r.Pick(t0.Add(15*keepalive), restarted)); got["n19"] {
		t.Fatal("n19's session still goes out in every heartbeat after hold")
	}
	// A new stream start is a change too.
	restarted[3].StreamStart = 9
	if got := names(r.Pick(t0.Add(16*keepalive), restarted)); !got["n5"] {
		t.Fatal("n5's new stream start left out")
	}
}

// TestRandomRotations: whatever changes, a heartbeat carries min(max, N)
// distinct sessions of the current ones, every session changed within
// hold when they fit, and every session goes out within ceil(N/max)
// heartbeats once nothing changed for hold.
func TestRandomRotations(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 12))
	for run := 0; run < 200; run++ {
		n, max := 1+rng.IntN(70), 1+rng.IntN(40)
		hold := time.Duration(1+rng.IntN(4)) * time.Second
		r := New(max, hold)
		all := peers(n, 1)
		changed := map[string]time.Time{}
		lastBeat := map[string]int{}
		now := t0
		quiet := 0 // heartbeats in a row with no session changed within hold
		turn := (n + max - 1) / max
		for beat := 0; beat < 100; beat++ {
			now = now.Add(time.Duration(100+rng.IntN(1000)) * time.Millisecond)
			if beat == 0 {
				for _, a := range all {
					changed[a.Node] = now // new to the rotation
				}
			} else if rng.IntN(8) == 0 {
				i := rng.IntN(n)
				c := &messages.PeerSession{Node: all[i].Node, Generation: all[i].Generation + 1, StreamStart: all[i].StreamStart}
				all[i] = c
				changed[c.Node] = now
			}
			got := r.Pick(now, all)
			if want := min(max, n); len(got) != want || len(names(got)) != want {
				t.Fatalf("run %d beat %d: %d sessions (%d distinct), want %d", run, beat, len(got), len(names(got)), want)
			}
			in := names(got)
			var urgent int
			for _, c := range changed {
				if now.Sub(c) < hold {
					urgent++
				}
			}
			for node, c := range changed {
				if now.Sub(c) < hold && urgent <= max && !in[node] {
					t.Fatalf("run %d beat %d: %s changed %v ago (hold %v) and was left out", run, beat, node, now.Sub(c), hold)
				}
			}
			for _, s := range got {
				for _, a := range all {
					if a.Node == s.Node && a != s {
						t.Fatalf("run %d beat %d: %s's session is not the current one", run, beat, s.Node)
					}
				}
				lastBeat[s.Node] = beat
			}
			if urgent == 0 {
				quiet++
			} else {
				quiet = 0
			}
			if quiet >= turn {
				for _, a := range all {
					if b, ok := lastBeat[a.Node]; !ok || beat-b >= turn {
						t.Fatalf("run %d beat %d: %s's session last went out at heartbeat %d (%d sessions, %d a heartbeat)", run, beat, a.Node, b, n, max)
					}
				}
			}
		}
	}
}

// TestSessionsOfHeartbeatsThatNeverLeftGoOutNext: 127 peers, 43 a
// heartbeat (a 128-node cluster), and a link that sends only one
// heartbeat in k (the others superseded while it was behind). Each
// session goes out in one sent heartbeat in three, as if every heartbeat
// left; without Unsent, with k of 2, 3 or 4, some sessions never went out.
func TestSessionsOfHeartbeatsThatNeverLeftGoOutNext(t *testing.T) {
	const keepalive = time.Second
	for _, k := range []int{1, 2, 3, 4, 5} {
		r := New(43, 3*keepalive)
		all := peers(127, 1)
		last := map[string]int{} // the sent heartbeat that last carried it
		sent := 0
		for beat := 0; beat < 300; beat++ {
			at := t0.Add(time.Duration(beat) * keepalive)
			got := r.Pick(at, all)
			if beat%k != k-1 {
				r.Unsent(at, got)
				continue
			}
			sent++
			for n := range names(got) {
				last[n] = sent
			}
			if sent < 3 {
				continue // the first sessions still wait their first turn
			}
			for _, s := range all {
				if gap := sent - last[s.Node]; gap >= 3 {
					t.Fatalf("one heartbeat in %d sent: after %d sent, %s's session was last in the one %d before", k, sent, s.Node, gap)
				}
			}
		}
	}
}

// TestUnsentKeepsWhatALaterHeartbeatCarried: a heartbeat that never left
// does not undo the turn a later heartbeat gave a session.
func TestUnsentKeepsWhatALaterHeartbeatCarried(t *testing.T) {
	r := New(1, 0)
	all := peers(2, 1)
	first := r.Pick(t0, all)
	second := r.Pick(t0.Add(time.Second), all)
	r.Unsent(t0, first)
	third := r.Pick(t0.Add(2*time.Second), all)
	if first[0].Node == second[0].Node || third[0].Node != first[0].Node {
		t.Fatalf("picked %s, %s, then %s: want the two to alternate", first[0].Node, second[0].Node, third[0].Node)
	}
	r.Unsent(t0.Add(2*time.Second), third)
	if fourth := r.Pick(t0.Add(3*time.Second), all); fourth[0].Node != third[0].Node {
		t.Fatalf("the heartbeat carrying %s never left, yet the next carries %s", third[0].Node, fourth[0].Node)
	}
}
