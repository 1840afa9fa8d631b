package actors

import "sync/atomic"

// Gate bounds the messages in flight from fast producers (link readers,
// the membership actor) to an actor that may fall behind: the sender
// takes a place before it sends, the receiver gives it back when it has
// handled the message, and what finds the gate full is dropped and
// counted, as the network would drop it. Without it, a flood of frames
// (forged ones refused, or a key holder's accepted ones) queues without
// bound in the receiver's mailbox: memory grows until the node dies.
// Only frames pass gates; timers, queries and events never wait or drop.
type Gate struct {
	limit   int64
	held    atomic.Int64
	dropped atomic.Uint64
	// bytes, when set, is a budget of bytes shared with other gates
	// (Gates' FrameBytes): EnterBytes takes a place here and the frame's
	// bytes there.
	bytes *Gate
}

// NewGate returns a gate of limit places.
func NewGate(limit int) *Gate { return &Gate{limit: int64(limit)} }

// Enter takes a place; false (and counted) when the gate is full. A nil
// gate lets everything through.
func (g *Gate) Enter() bool { return g.EnterN(1) }

// EnterN takes n places at once (a gate counting bytes); false (and
// counted as one message dropped) when they do not fit.
func (g *Gate) EnterN(n int) bool {
	if g == nil {
		return true
	}
	if g.held.Add(int64(n)) > g.limit {
		g.held.Add(-int64(n))
		g.dropped.Add(1)
		return false
	}
	return true
}

// Leave gives a place back.
func (g *Gate) Leave() { g.LeaveN(1) }

// EnterBytes takes a place for a frame of n bytes, and its bytes in the
// budget the gate shares with others, if any; false (and counted) when
// either is full.
func (g *Gate) EnterBytes(n int) bool {
	if !g.Enter() {
		return false
	}
	if g != nil && !g.bytes.EnterN(n) {
		g.held.Add(-1)
		return false
	}
	return true
}

// LeaveBytes gives back what EnterBytes(n) took.
func (g *Gate) LeaveBytes(n int) {
	g.Leave()
	if g != nil {
		g.bytes.LeaveN(n)
	}
}

// LeaveN gives n places back.
func (g *Gate) LeaveN(n int) {
	if g != nil {
		g.held.Add(-int64(n))
	}
}

// Dropped is how many messages found the gate full.
func (g *Gate) Dropped() uint64 {
	if g == nil {
		return 0
	}
	return g.dropped.Load()
}

// FrameBacklog bounds the frames of one sender waiting for the membership
// actor, and its stream frames waiting for the messenger: one honest peer
// sends a heartbeat a keepalive on each of its links, so this is seconds
// of its traffic.
const FrameBacklog = 512

// Gates are one gate per sender: a peer that floods (a key holder gone
// wrong) fills its own gate, and the frames of the others still pass, so
// it cannot make them look dead. Frames that fail authentication, whose
// sender cannot be believed, and frames of unknown senders share one gate.
// Read-only after NewGates: safe for concurrent use.
type Gates struct {
	bySender map[string]*Gate
	other    *Gate
	bytes    *Gate
}

// FrameBytes bounds the bytes of the frames waiting in all the gates of
// one Gates together, whatever their number: frames differ in size (a
// full state of a large cluster is a thousand times a heartbeat), and a
// decoded frame that waits holds two or three times its bytes. As much as
// a socket's receive buffer (transports.ReceiveBuffer); a frame that does
// not fit is dropped as a full socket would drop it.
const FrameBytes = 4 << 20

// FrameBudget bounds the frames waiting in all the gates of one Gates
// together, beyond small clusters: a node of a large cluster that falls
// behind (overloaded) would otherwise hold FrameBacklog frames of every
// peer, 65,000 at 128 nodes. A frame that waited that long is stale
// anyway; dropped, it is as lost on the network, and the reliable layer
// asks for what it carried again.
const FrameBudget = 8192

// minFrameBacklog is the least a peer's gate holds however large the
// cluster: a burst of its frames (a batch of cluster messages,
// retransmissions, which are paced) still passes whole.
const minFrameBacklog = 64

// NewGates returns a gate for each peer and one for everything else, of
// FrameBacklog places each, or of a share of FrameBudget (at least
// minFrameBacklog) where there are many peers.
func NewGates(peers []string) *Gates {
	places := FrameBacklog
	if len(peers) > 0 {
		places = min(FrameBacklog, max(minFrameBacklog, FrameBudget/(len(peers)+1)))
	}
	bytes := NewGate(FrameBytes)
	gate := func() *Gate { g := NewGate(places); g.bytes = bytes; return g }
	g := &Gates{bySender: map[string]*Gate{}, other: gate(), bytes: bytes}
	for _, p := range peers {
		g.bySender[p] = gate()
	}
	return g
}

// For is the gate of frames from sender ("" for unauthenticated ones). A
// nil Gates gives a nil (open) gate.
func (g *Gates) For(sender string) *Gate {
	if g == nil {
		return nil
	}
	if gate := g.bySender[sender]; gate != nil {
		return gate
	}
	return g.other
}

// Dropped is how many frames found their gate full.
func (g *Gates) Dropped() uint64 {
	if g == nil {
		return 0
	}
	n := g.other.Dropped() + g.bytes.Dropped()
	for _, gate := range g.bySender {
		n += gate.Dropped()
	}
	return n
}
