// Package memnet is an in-memory network for whole-cluster simulations: it
// carries heartbeat frames between simulated nodes through
// [transports.Link]s, with latency, jitter and injected faults (cuts,
// partitions, loss, duplication, links down), so that real node actors can
// run against it inside a testing/synctest bubble.
//
// It uses no sockets and waits only on channels and time.Timers, so under
// synctest the fake clock drives every delivery and an idle network is
// durably blocked. Each open link has one delivery goroutine, which ends
// when the link is closed.
//
// Every random decision comes from math/rand/v2 PCG streams seeded from
// [Config.Seed], one stream per segment, sending node and receiving node, and
// each frame offered to a receiver draws the same amount from its stream
// whatever the faults in force. So, for a given seed, the fate of the k-th
// frame a node sends on a segment to another node (dropped, duplicated, its
// delay) depends only on k and the faults in force when it is sent, not on
// how the sends of different nodes interleave; and frames due at the same
// instant are delivered in an order fixed by sender name. A simulation that
// makes the same calls at the same (fake) times sees the same traffic.
package memnet

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hanode/hanode/transports"
)

// ErrClosed is returned (wrapped) by Send on a closed link and by Open on a
// closed Network.
var ErrClosed = errors.New("closed")

// Port is the UDP port of every fake address, Heartbeat's udpport.
const Port = 694

// Config sets the timing of a Network and the seed of its faults.
type Config struct {
	// Seed seeds the random streams that decide every loss, duplicate and
	// jitter.
	Seed uint64
	// Latency is the one-way delay of every frame; zero means 1ms.
	Latency time.Duration
	// Jitter adds a random delay in [0, Jitter) to every frame; zero means
	// none. With jitter, frames from one node to another may be reordered,
	// as UDP may do.
	Jitter time.Duration
}

// Stats counts frames. Sent counts Send calls that were accepted; the other
// counters count copies, one per receiving link. When nothing is in flight,
// Delivered + Dropped equals the copies offered plus Duplicated.
type Stats struct {
	// Sent is the number of frames sent.
	Sent uint64
	// Delivered is the number of copies handed to a Deliver.
	Delivered uint64
	// Dropped is the number of copies lost to a fault, or discarded because
	// their receiving link closed before they were due.
	Dropped uint64
	// Duplicated is the number of extra copies made by SetDuplicate.
	Duplicated uint64
}

// Network is a set of named segments (broadcast domains) and the faults in
// force between nodes. Its methods may be called from any goroutine.
type Network struct {
	seed    uint64
	latency time.Duration
	jitter  time.Duration

	sent, delivered, dropped, duplicated atomic.Uint64

	mu       sync.Mutex
	closed   bool
	names    []string         // node names by id
	ids      map[string]int32 // node ids, in order of first mention
	addrs    map[string]netip.AddrPort
	segs     map[string]*segment
	streams  map[streamKey]*rand.Rand
	cuts     map[[2]int32]struct{} // {from, to}
	loss     map[[2]int32]float64  // {from, to}
	segCuts  map[[2]int32]struct{} // {segment, node}
	dup      float64
	seq      uint64 // of the last copy sent
	nextSeg  int32
	nextAddr int
}

// segment is a broadcast domain: every frame sent on it goes to every other
// link on it.
type segment struct {
	name  string
	id    int32
	links []*link // open links, sorted by node name so that sends are deterministic
}

// streamKey names the random stream of one sending link towards one node.
type streamKey struct{ seg, from, to int32 }

// New returns an empty network. It panics if a duration in cfg is negative.
func New(cfg Config) *Network {
	if cfg.Latency < 0 || cfg.Jitter < 0 {
		panic(fmt.Sprintf("memnet: negative latency %v or jitter %v", cfg.Latency, cfg.Jitter))
	}
	if cfg.Latency == 0 {
		cfg.Latency = time.Millisecond
	}
	return &Network{
		seed:    cfg.Seed,
		latency: cfg.Latency,
		jitter:  cfg.Jitter,
		ids:     map[string]int32{},
		addrs:   map[string]netip.AddrPort{},
		segs:    map[string]*segment{},
		streams: map[streamKey]*rand.Rand{},
		cuts:    map[[2]int32]struct{}{},
		loss:    map[[2]int32]float64{},
		segCuts: map[[2]int32]struct{}{},
	}
}

// Open attaches node to segment and starts the link's delivery goroutine.
// Frames sent by other links of the segment are handed to deliver, one at a
// time, after their delay. readErr is accepted for the shape of
// [transports.Link] constructors and never called: memory does not fail.
//
// A node has at most one open link per segment; a restarted node must Close
// its old link first. A node keeps its address, 10.201.x.y:694 numbered in
// order of first Open, across restarts and segments.
func (n *Network) Open(segment, node string, deliver transports.Deliver, readErr transports.ReadError) (transports.Link, error) {
	if segment == "" || node == "" {
		return nil, fmt.Errorf("memnet: open %q on segment %q: empty name", node, segment)
	}
	if deliver == nil {
		return nil, fmt.Errorf("memnet: open %s on %s: nil deliver", node, segment)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("memnet: open %s on %s: network %w", node, segment, ErrClosed)
	}
	seg := n.segment(segment)
	i, found := slices.BinarySearchFunc(seg.links, node, func(l *link, node string) int { return strings.Compare(l.node, node) })
	if found {
		return nil, fmt.Errorf("memnet: open %s on %s: already open", node, segment)
	}
	addr, ok := n.addrs[node]
	if !ok {
		n.nextAddr++
		// 10.201.0.1 up: room for 65535 nodes, far more than a cluster has.
		addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 201, byte(n.nextAddr >> 8), byte(n.nextAddr)}), Port)
		n.addrs[node] = addr
	}
	l := &link{
		net:     n,
		seg:     seg,
		node:    node,
		id:      n.intern(node),
		addr:    addr,
		deliver: deliver,
		wake:    make(chan struct{}, 1),
		exited:  make(chan struct{}),
	}
	seg.links = slices.Insert(seg.links, i, l)
	go l.run()
	return l, nil
}

// Addr returns the fake address of node, which frames it sends come from,
// and whether node was ever opened.
func (n *Network) Addr(node string) (netip.AddrPort, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a, ok := n.addrs[node]
	return a, ok
}

// Cut drops every frame from one node to another on every segment, in that
// direction only, until Restore or HealAll. As on a real wire, frames
// already in flight when the cut is made are still delivered; this holds for
// every fault: a frame's fate is decided when it is sent.
func (n *Network) Cut(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cuts[[2]int32{n.intern(from), n.intern(to)}] = struct{}{}
}

// Restore undoes a Cut, or the cut a Partition made, from one node to
// another.
func (n *Network) Restore(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cuts, [2]int32{n.intern(from), n.intern(to)})
}

// Partition cuts both directions between every two nodes on different sides,
// and between every node named on no side and everyone else. It adds cuts to
// those in force (HealAll first to replace a partition) and applies to the
// nodes known now: every node opened, or named to this or another fault
// method, so far. It panics if a node is on two sides.
func (n *Network) Partition(sides ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	side := map[int32]int{}
	for i, s := range sides {
		for _, node := range s {
			id := n.intern(node)
			if j, ok := side[id]; ok && j != i {
				panic(fmt.Sprintf("memnet: partition: node %s on sides %d and %d", node, j, i))
			}
			side[id] = i
		}
	}
	for a := range int32(len(n.names)) {
		for b := range int32(len(n.names)) {
			sa, oka := side[a]
			sb, okb := side[b]
			if a != b && (!oka || !okb || sa != sb) {
				n.cuts[[2]int32{a, b}] = struct{}{}
			}
		}
	}
}

// CutSegment takes node off segment (cut true) or puts it back (cut false):
// it neither hears nor is heard on that segment, as when its interface is
// down. Other segments are unaffected.
func (n *Network) CutSegment(segment, node string, cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := [2]int32{n.segment(segment).id, n.intern(node)}
	if cut {
		n.segCuts[k] = struct{}{}
	} else {
		delete(n.segCuts, k)
	}
}

// SetLoss drops each frame from one node to another, on every segment, with
// probability p; 0 stops the loss. It panics unless 0 <= p <= 1.
func (n *Network) SetLoss(from, to string, p float64) {
	checkProbability("loss", p)
	n.mu.Lock()
	defer n.mu.Unlock()
	k := [2]int32{n.intern(from), n.intern(to)}
	if p == 0 {
		delete(n.loss, k)
	} else {
		n.loss[k] = p
	}
}

// SetDuplicate delivers a second copy of each frame, to each receiver, with
// probability p; the copy has a delay of its own. It panics unless
// 0 <= p <= 1. HealAll leaves it as it is.
func (n *Network) SetDuplicate(p float64) {
	checkProbability("duplicate", p)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dup = p
}

// HealAll removes every cut (Cut, Partition, CutSegment) and every loss.
func (n *Network) HealAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cuts)
	clear(n.loss)
	clear(n.segCuts)
}

// Stats returns the counters. They are read one by one, so while frames
// move they may not add up.
func (n *Network) Stats() Stats {
	return Stats{
		Sent:       n.sent.Load(),
		Delivered:  n.delivered.Load(),
		Dropped:    n.dropped.Load(),
		Duplicated: n.duplicated.Load(),
	}
}

// Close closes every link, dropping the frames in flight, and waits for
// their delivery goroutines to end. Open fails afterwards. Like Link.Close,
// it must not be called from a Deliver, which it would wait for.
func (n *Network) Close() error {
	n.mu.Lock()
	n.closed = true
	var links []*link
	for _, s := range n.segs {
		links = append(links, s.links...)
	}
	n.mu.Unlock()
	for _, l := range links {
		l.Close()
	}
	return nil
}

func checkProbability(what string, p float64) {
	if !(p >= 0 && p <= 1) { // also catches NaN
		panic(fmt.Sprintf("memnet: %s probability %v not in [0, 1]", what, p))
	}
}

// intern returns the id of a node name. Called with n.mu held.
func (n *Network) intern(node string) int32 {
	id, ok := n.ids[node]
	if !ok {
		id = int32(len(n.names))
		n.ids[node] = id
		n.names = append(n.names, node)
	}
	return id
}

// segment returns the segment of that name, created empty if needed. Called
// with n.mu held.
func (n *Network) segment(name string) *segment {
	s, ok := n.segs[name]
	if !ok {
		s = &segment{name: name, id: n.nextSeg}
		n.nextSeg++
		n.segs[name] = s
	}
	return s
}

// stream returns the random stream that decides the fate of frames from l
// to to's node. Streams are kept by the network, not the links, so that a
// restarted node does not replay the faults of its first life. Called with
// n.mu held.
func (n *Network) stream(l, to *link) *rand.Rand {
	if int(to.id) < len(l.streams) && l.streams[to.id] != nil {
		return l.streams[to.id]
	}
	k := streamKey{l.seg.id, l.id, to.id}
	r, ok := n.streams[k]
	if !ok {
		// Seeded from names, not ids, so that the order in which nodes
		// are first mentioned does not matter.
		h := fnv.New64a()
		fmt.Fprintf(h, "%s\x00%s\x00%s", l.seg.name, l.node, to.node)
		r = rand.New(rand.NewPCG(n.seed, h.Sum64()))
		n.streams[k] = r
	}
	for int(to.id) >= len(l.streams) {
		l.streams = append(l.streams, nil)
	}
	l.streams[to.id] = r
	return r
}

// faulty reports whether a fault drops a frame from l to r, given the
// frame's draw u for loss. Called with n.mu held.
func (n *Network) faulty(l, r *link, u float64) bool {
	if len(n.cuts) > 0 {
		if _, ok := n.cuts[[2]int32{l.id, r.id}]; ok {
			return true
		}
	}
	if len(n.segCuts) > 0 {
		_, from := n.segCuts[[2]int32{l.seg.id, l.id}]
		_, to := n.segCuts[[2]int32{l.seg.id, r.id}]
		if from || to {
			return true
		}
	}
	return len(n.loss) > 0 && u < n.loss[[2]int32{l.id, r.id}]
}

// delay draws the delay of one copy. Called with n.mu held.
func (n *Network) delay(r *rand.Rand) time.Duration {
	if n.jitter == 0 {
		return n.latency
	}
	return n.latency + time.Duration(r.Int64N(int64(n.jitter)))
}

// link is one node's attachment to one segment.
type link struct {
	net     *Network
	seg     *segment
	node    string
	id      int32
	addr    netip.AddrPort
	deliver transports.Deliver

	// Guarded by net.mu: the sending side.
	detached bool
	streams  []*rand.Rand // by receiving node id, cached from net.streams
	offers   []offer      // reused by Send

	// Guarded by mu: the receiving side.
	mu     sync.Mutex
	closed bool
	queue  frameHeap

	wake      chan struct{} // cap 1: the head of the queue changed, or closed
	exited    chan struct{} // closed when run returns
	closeOnce sync.Once
}

// offer is a copy Send has decided to deliver.
type offer struct {
	to *link
	at time.Time
}

// Send offers a copy of b to every other link of the segment; faults decide
// now which copies are dropped or duplicated, and when each is due.
func (l *link) Send(b []byte) error {
	n := l.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if l.detached {
		return fmt.Errorf("memnet: send on %s from %s: %w", l.seg.name, l.node, ErrClosed)
	}
	n.sent.Add(1)
	now := time.Now()
	offers := l.offers[:0]
	for _, r := range l.seg.links {
		if r == l {
			continue // a node does not hear itself
		}
		// Draw the same every time, whatever the faults, so that a
		// fault set or healed does not shift the fate of later frames.
		rng := n.stream(l, r)
		lossU, dupU := rng.Float64(), rng.Float64()
		d1, d2 := n.delay(rng), n.delay(rng)
		if n.faulty(l, r, lossU) {
			n.dropped.Add(1)
			continue
		}
		offers = append(offers, offer{r, now.Add(d1)})
		if dupU < n.dup {
			offers = append(offers, offer{r, now.Add(d2)})
			n.duplicated.Add(1)
		}
	}
	// One allocation for every copy; each receiver owns its own slice
	// (capped, so that appending to it cannot reach the next one).
	size := len(b)
	buf := make([]byte, len(offers)*size)
	for i, o := range offers {
		data := buf[i*size : (i+1)*size : (i+1)*size]
		copy(data, b)
		n.seq++
		o.to.push(frame{at: o.at, src: l, seq: n.seq, data: data})
	}
	clear(offers) // do not keep closed links alive
	l.offers = offers[:0]
	return nil
}

// push queues f for delivery and wakes the delivery goroutine if f is due
// before everything it was waiting for.
func (l *link) push(f frame) {
	l.mu.Lock()
	if l.closed {
		// Unreachable while Send holds net.mu, as links are detached
		// before they close; kept so that a frame is never lost uncounted.
		l.mu.Unlock()
		l.net.dropped.Add(1)
		return
	}
	head := len(l.queue) == 0 || f.before(&l.queue[0])
	l.queue.push(f)
	l.mu.Unlock()
	if head {
		l.signal()
	}
}

func (l *link) signal() {
	select {
	case l.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Close detaches the link, drops the frames queued for it and waits for its
// delivery goroutine to end: once Close returns, deliver is not called
// again. It must therefore not be called from deliver itself.
func (l *link) Close() error {
	l.closeOnce.Do(func() {
		n := l.net
		n.mu.Lock()
		l.detached = true
		l.seg.links = slices.DeleteFunc(l.seg.links, func(x *link) bool { return x == l })
		n.mu.Unlock()

		l.mu.Lock()
		l.closed = true
		n.dropped.Add(uint64(len(l.queue)))
		l.queue = nil
		l.mu.Unlock()
		l.signal()
		<-l.exited
	})
	return nil
}

// run delivers queued frames when they are due, one at a time, until the
// link closes. It waits only on its own channels and timer, so that inside
// a synctest bubble an idle link is durably blocked and the fake clock
// advances to its next frame.
func (l *link) run() {
	defer close(l.exited)
	// Stopped until a frame is waited for.
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return
		}
		now := time.Now()
		if len(l.queue) > 0 && !now.Before(l.queue[0].at) {
			f := l.queue.pop()
			l.mu.Unlock()
			l.net.delivered.Add(1)
			if d := l.deliver(transports.Packet{Data: f.data, From: f.src.addr, At: now}); d > 0 {
				// Frames due meanwhile wait in the queue, as in a socket.
				time.Sleep(d)
			}
			continue
		}
		if len(l.queue) > 0 {
			timer.Reset(l.queue[0].at.Sub(now))
		} else {
			timer.Stop()
		}
		l.mu.Unlock()
		select {
		case <-timer.C:
		case <-l.wake:
		}
	}
}

// frame is a copy waiting for its time.
type frame struct {
	at   time.Time
	src  *link
	seq  uint64 // orders the copies of one sender due at the same instant
	data []byte
}

// before orders frames by due time, then by sender name (so that frames
// due together are delivered in an order that does not depend on which
// goroutine sent first), then in send order.
func (f *frame) before(g *frame) bool {
	if c := f.at.Compare(g.at); c != 0 {
		return c < 0
	}
	if f.src.node != g.src.node {
		return f.src.node < g.src.node
	}
	return f.seq < g.seq
}

// frameHeap is a min-heap of frames by before. Written out rather than with
// container/heap, which would box every frame in an interface.
type frameHeap []frame

func (h *frameHeap) push(f frame) {
	*h = append(*h, f)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q[i].before(&q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *frameHeap) pop() frame {
	q := *h
	f := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = frame{} // let the data go
	q = q[:last]
	for i := 0; ; {
		c := 2*i + 1
		if c >= len(q) {
			break
		}
		if c+1 < len(q) && q[c+1].before(&q[c]) {
			c++
		}
		if !q[c].before(&q[i]) {
			break
		}
		q[i], q[c] = q[c], q[i]
		i = c
	}
	*h = q
	return f
}
