package transports

import (
	"hash/maphash"
	"net/netip"
	"slices"
	"time"
)

// How long, and for how many frames, a link with several media remembers
// by which paths a frame arrived. Copies sent by the media of one sender
// leave together and arrive within milliseconds of each other; a copy
// later than the window is handed on (membership then counts it as a
// replay, which is harmless). The bound keeps a flood of datagrams from
// growing memory: a flood only makes entries fall out sooner.
const (
	copyWindow  = 2 * time.Second
	copyEntries = 4096
)

// copyFilter tells a copy of a frame that arrives by another medium of the
// link from the first copy. A path is where a datagram arrived: its
// destination address (broadcast address, this host's address, group) and
// the port of the socket that read it.
//
// Frames are compared by a hash of their bytes with a seed chosen at
// random per link (hash/maphash), so that nobody can make a different
// datagram collide with a real frame on purpose; the length is compared
// too. Not safe for concurrent use (Media serialises it).
type copyFilter struct {
	seed    maphash.Seed
	window  time.Duration
	entries map[uint64]*copyEntry
	// ring holds the entries in arrival order; next is the slot the next
	// entry takes (evicting the oldest once the ring is full).
	ring []*copyEntry
	next int
}

type copyEntry struct {
	key   uint64
	size  int
	first time.Time
	paths []netip.AddrPort
}

func newCopyFilter(window time.Duration, entries int) *copyFilter {
	return &copyFilter{
		seed: maphash.MakeSeed(), window: window,
		entries: make(map[uint64]*copyEntry, entries), ring: make([]*copyEntry, entries),
	}
}

// another records that data arrived by path at now, and says whether it is
// a copy of a frame that arrived by another path within the window (drop
// it). The first copy, and a copy by a path that already brought it (a
// duplicate made by the network, or a replay: membership judges those),
// are not.
func (f *copyFilter) another(data []byte, path netip.AddrPort, now time.Time) bool {
	key := maphash.Bytes(f.seed, data)
	if e, ok := f.entries[key]; ok && e.size == len(data) && now.Sub(e.first) <= f.window {
		if slices.Contains(e.paths, path) {
			return false
		}
		e.paths = append(e.paths, path)
		return true
	}
	e := &copyEntry{key: key, size: len(data), first: now, paths: []netip.AddrPort{path}}
	if old := f.ring[f.next]; old != nil && f.entries[old.key] == old {
		delete(f.entries, old.key)
	}
	f.ring[f.next] = e
	f.next = (f.next + 1) % len(f.ring)
	f.entries[key] = e
	return false
}
