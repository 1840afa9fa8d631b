package actors

import (
	"fmt"
	"testing"
)

// TestGatesIsolateAFloodingSender: a sender that fills its gate has its
// further frames dropped and counted, while another sender's frames and
// unauthenticated ones still pass; places given back are usable again.
func TestGatesIsolateAFloodingSender(t *testing.T) {
	g := NewGates([]string{"n2", "n3"})
	for i := 0; i < FrameBacklog; i++ {
		if !g.For("n3").Enter() {
			t.Fatalf("frame %d of n3 refused below the backlog", i)
		}
	}
	for i := 0; i < 100; i++ {
		if g.For("n3").Enter() {
			t.Fatal("n3 passes a full gate")
		}
	}
	if !g.For("n2").Enter() || !g.For("").Enter() || !g.For("stranger").Enter() {
		t.Fatal("n2, or an unauthenticated frame, blocked by n3's flood")
	}
	if g.Dropped() != 100 {
		t.Fatalf("dropped %d, want 100", g.Dropped())
	}
	g.For("n3").Leave()
	if !g.For("n3").Enter() {
		t.Fatal("a place given back is not usable")
	}
	var none *Gates
	if !none.For("n2").Enter() || none.Dropped() != 0 {
		t.Fatal("nil gates must let everything through")
	}
}

// TestGatesOfALargeClusterShareABudget: beyond small clusters, what all
// the gates hold together is bounded by FrameBudget (a node behind in a
// 255-node cluster holds at most that many frames, not FrameBacklog of
// each peer), and no peer's gate is smaller than minFrameBacklog.
func TestGatesOfALargeClusterShareABudget(t *testing.T) {
	for _, n := range []int{2, 16, 64, 128, 255} {
		peers := make([]string, n-1)
		for i := range peers {
			peers[i] = fmt.Sprintf("n%d", i+2)
		}
		g := NewGates(peers)
		held := 0
		for _, p := range append(peers, "") {
			for g.For(p).Enter() {
				held++
			}
		}
		perPeer := held / n
		switch {
		case n <= 16 && perPeer != FrameBacklog:
			t.Errorf("%d nodes: %d places per peer, want FrameBacklog (%d)", n, perPeer, FrameBacklog)
		case perPeer < minFrameBacklog:
			t.Errorf("%d nodes: %d places per peer, under %d", n, perPeer, minFrameBacklog)
		case n > 16 && held > max(FrameBudget, n*minFrameBacklog):
			t.Errorf("%d nodes: the gates hold %d frames together, over the budget of %d", n, held, FrameBudget)
		}
	}
}

// TestGatesBoundTheBytesWaiting: large frames (full states) of many
// senders, each well within its own gate, are refused once together they
// hold FrameBytes; a frame given back makes room again.
func TestGatesBoundTheBytesWaiting(t *testing.T) {
	g := NewGates([]string{"n2", "n3", "n4"})
	const size = 60_000
	entered := 0
	for i := 0; i < 1000; i++ {
		if !g.For(fmt.Sprintf("n%d", 2+i%3)).EnterBytes(size) {
			break
		}
		entered++
	}
	if want := FrameBytes / size; entered != want {
		t.Fatalf("%d frames of %d bytes entered, want %d (FrameBytes)", entered, size, want)
	}
	if g.For("n2").EnterBytes(size) || g.Dropped() == 0 {
		t.Fatal("a frame over the byte budget entered, or was not counted")
	}
	g.For("n3").LeaveBytes(size)
	if !g.For("n2").EnterBytes(size) {
		t.Fatal("the bytes given back are not usable")
	}
	// A sender's own gate still bounds its count: it gives back its place
	// when the bytes do not fit.
	small := NewGates([]string{"n2"})
	for i := 0; i < FrameBacklog; i++ {
		if !small.For("n2").EnterBytes(1) {
			t.Fatalf("small frame %d refused", i)
		}
	}
	if small.For("n2").EnterBytes(1) {
		t.Fatal("a sender's gate passed more than FrameBacklog frames")
	}
}
