package actors

import (
	"sync"
	"time"
)

// Dispatcher runs actors' mailboxes on a pool of goroutines that are kept
// between bursts, instead of protoactor's default of a new goroutine per
// burst. A new goroutine starts with a small stack and grows it (copying)
// on every burst that decodes a frame; a kept one has grown already. The
// pool is elastic: a burst never waits for a worker (an actor that blocks
// cannot starve the others), and a worker idle for IdleTimeout exits.
type Dispatcher struct {
	throughput  int
	idleTimeout time.Duration
	mu          sync.Mutex
	// idle are the inboxes of the workers waiting for work, the most
	// recently idle last (its stack is the warmest).
	idle []chan func()
}

// DefaultIdleTimeout is how long an idle worker waits for work before it
// exits.
const DefaultIdleTimeout = 30 * time.Second

// NewDispatcher returns a pool dispatcher processing at most throughput
// messages per burst (protoactor's default is 300).
func NewDispatcher(throughput int, idleTimeout time.Duration) *Dispatcher {
	if idleTimeout <= 0 {
		idleTimeout = DefaultIdleTimeout
	}
	return &Dispatcher{throughput: throughput, idleTimeout: idleTimeout}
}

// Throughput is the most messages a mailbox processes per burst.
func (d *Dispatcher) Throughput() int { return d.throughput }

// Schedule runs fn on an idle worker, or on a new one.
func (d *Dispatcher) Schedule(fn func()) {
	d.mu.Lock()
	if n := len(d.idle); n > 0 {
		w := d.idle[n-1]
		d.idle = d.idle[:n-1]
		d.mu.Unlock()
		w <- fn // buffered: never blocks
		return
	}
	d.mu.Unlock()
	w := make(chan func(), 1)
	w <- fn
	go d.work(w)
}

// work runs what arrives on w until it has been idle for the timeout.
func (d *Dispatcher) work(w chan func()) {
	timer := time.NewTimer(d.idleTimeout)
	defer timer.Stop()
	fn := <-w
	for {
		fn()
		d.mu.Lock()
		d.idle = append(d.idle, w)
		d.mu.Unlock()
		timer.Reset(d.idleTimeout)
		select {
		case fn = <-w:
			continue
		case <-timer.C:
		}
		if d.retire(w) {
			return
		}
		// Handed work at the very moment it timed out: do it.
		fn = <-w
	}
}

// retire takes an idle worker out of the pool; false if a Schedule took it
// first (its work is on the way).
func (d *Dispatcher) retire(w chan func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, c := range d.idle {
		if c == w {
			d.idle = append(d.idle[:i], d.idle[i+1:]...)
			return true
		}
	}
	return false
}
