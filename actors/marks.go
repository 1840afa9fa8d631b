package actors

import (
	"sync"

	"github.com/hanode/hanode/transports/frame"
)

// DeliveredMarks is, per peer, the generation of its message stream this
// node receives and the last message of it delivered (or given up): moved
// by the messenger, read by the links' readers, which leave out the
// cluster messages at or below it after a look at the frame's bytes
// (frame.Peek), without a MAC or a decode.
//
// A resend goes to every node, whoever asked for it: in a cluster of N,
// N-2 of the nodes that receive it have the message already. At 64 nodes
// on one machine a node received 450 resent messages of each peer in 3
// minutes, more duplicates than messages, each verified, decoded (a full
// state names every group) and passed through two actors before the
// messenger found it old: decoding was a sixth of the cluster's CPU while
// it could not catch up. Leaving a frame out on an unauthenticated look is
// safe: a forger gains nothing from it, and the mark only ever moves on
// authenticated messages.
type DeliveredMarks struct {
	mu    sync.RWMutex
	marks map[string]deliveredMark
}

type deliveredMark struct {
	generation, delivered uint64
}

// NewDeliveredMarks returns marks for peers, none delivered yet.
func NewDeliveredMarks(peers []string) *DeliveredMarks {
	m := &DeliveredMarks{marks: make(map[string]deliveredMark, len(peers))}
	for _, p := range peers {
		m.marks[p] = deliveredMark{}
	}
	return m
}

// Set records that every message of peer's stream of generation up to
// delivered is delivered or given up. Peers not given to NewDeliveredMarks
// are ignored. A nil DeliveredMarks records nothing.
func (m *DeliveredMarks) Set(peer string, generation, delivered uint64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	if _, ok := m.marks[peer]; ok {
		m.marks[peer] = deliveredMark{generation: generation, delivered: delivered}
	}
	m.mu.Unlock()
}

// Delivered says whether data, a frame as received, is a cluster message
// that this node delivered already (or gave up), by its unauthenticated
// sender, generation and number; false for anything else or anything in
// doubt. A nil DeliveredMarks says false.
func (m *DeliveredMarks) Delivered(data []byte) bool {
	if m == nil {
		return false
	}
	g, ok := frame.Peek(data)
	if !ok || !g.Message || g.MessageSequence == 0 {
		return false
	}
	m.mu.RLock()
	mark, known := m.marks[string(g.Sender)]
	m.mu.RUnlock()
	return known && mark.generation != 0 && g.Generation == mark.generation && g.MessageSequence <= mark.delivered
}
