package actors

import "sync"

// Delivered tells a link's reader which cluster messages this node already
// has: how far the messenger has delivered (or given up) each peer's
// stream. A resend reaches every node, whoever asked for it, and in a
// large cluster most of those who receive it had it already; the reader
// leaves such a frame out after a look at its bytes (frame.Peek) instead
// of verifying and decoding it, and passing it through membership and
// the messenger only to be counted a duplicate there. Written by the
// messenger, read by the readers; a nil Delivered knows nothing.
type Delivered struct {
	mu    sync.RWMutex
	marks map[string]streamMark
}

type streamMark struct{ generation, delivered uint64 }

// NewDelivered returns marks that know of no message.
func NewDelivered() *Delivered { return &Delivered{marks: map[string]streamMark{}} }

// set records that peer's stream of generation gen is delivered up to
// delivered.
func (d *Delivered) set(peer string, gen, delivered uint64) {
	if d == nil {
		return
	}
	mark := streamMark{gen, delivered}
	d.mu.RLock()
	same := d.marks[peer] == mark
	d.mu.RUnlock()
	if same {
		return
	}
	d.mu.Lock()
	d.marks[peer] = mark
	d.mu.Unlock()
}

// Has reports whether message seq of peer's generation gen is one this
// node has delivered or given up already: a copy of it is a duplicate.
func (d *Delivered) Has(peer []byte, gen, seq uint64) bool {
	if d == nil || seq == 0 {
		return false
	}
	d.mu.RLock()
	m, ok := d.marks[string(peer)]
	d.mu.RUnlock()
	return ok && m.generation == gen && seq <= m.delivered
}
