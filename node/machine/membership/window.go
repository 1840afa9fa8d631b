package membership

// windowSize is how far below the highest sequence number a frame may still
// arrive (reordered by the network or carried by a slower link) and be
// accepted once.
const windowSize = 64

// window tracks which sequence numbers of one sender generation have been
// seen: the highest one and a bitmap of the windowSize below it, as IPsec's
// anti-replay window does. It tells new frames from duplicates (the same
// frame on another link) and from replays (too old to tell).
type window struct {
	hi   uint64 // highest sequence seen; 0 when none
	seen uint64 // bit i set: sequence hi-i was seen (bit 0 is hi itself)
}

// seqVerdict classifies a sequence number.
type seqVerdict int

const (
	seqNew       seqVerdict = iota // first time seen
	seqDuplicate                   // already seen in this window
	seqTooOld                      // below the window: cannot be told from a replay
)

// accept records seq and says whether it is new. Sequence 0 is never valid.
func (w *window) accept(seq uint64) seqVerdict {
	switch {
	case seq == 0:
		return seqTooOld
	case seq > w.hi:
		shift := seq - w.hi
		if shift >= windowSize {
			w.seen = 0
		} else {
			w.seen <<= shift
		}
		w.seen |= 1
		w.hi = seq
		return seqNew
	case w.hi-seq >= windowSize:
		return seqTooOld
	}
	bit := uint64(1) << (w.hi - seq)
	if w.seen&bit != 0 {
		return seqDuplicate
	}
	w.seen |= bit
	return seqNew
}

// reset forgets everything, for a new generation.
func (w *window) reset() { *w = window{} }

// floor marks every sequence up to seq as seen: frames at or below it are
// refused from now on (they may be replays from before a handshake).
func (w *window) floor(seq uint64) {
	w.hi, w.seen = seq, ^uint64(0)
}
