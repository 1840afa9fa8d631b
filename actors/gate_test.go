package actors

import "testing"

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
