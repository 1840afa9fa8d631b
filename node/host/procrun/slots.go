package procrun

import "sync"

// Slots bounds how many runs of one kind are under way at once on this
// node: the probes of the resources at start, which every group asks for
// at the same moment. A run takes a slot (Acquire) and gives it back when
// it has ended; those that find every slot taken wait in the order they
// asked, and none is ever dropped. A nil *Slots bounds nothing.
//
// Slots belong to no actor: the node makes them once and hands them to
// every group, so they outlive a restarted group actor; the slot is held
// by the goroutine that runs the program, not by the actor, and given
// back however the run ends (an exit, a failure to start, a timeout).
type Slots struct {
	mu   sync.Mutex
	size int
	busy int
	// waiting are the callers of Acquire without a slot yet, first
	// first: closing one's channel hands it a slot.
	waiting []chan struct{}
	// peak is the most slots ever taken at once.
	peak int
}

// NewSlots returns n slots (at least one).
func NewSlots(n int) *Slots { return &Slots{size: max(1, n)} }

// Size is how many runs may be under way at once (0: unbounded, nil).
func (s *Slots) Size() int {
	if s == nil {
		return 0
	}
	return s.size
}

// Acquire waits for a slot, after every caller that asked before, and
// returns the function that gives it back. Calling that function again
// does nothing, so a deferred call may back a direct one.
func (s *Slots) Acquire() (release func()) {
	if s == nil {
		return func() {}
	}
	s.mu.Lock()
	if s.busy < s.size && len(s.waiting) == 0 {
		s.take()
		s.mu.Unlock()
	} else {
		ready := make(chan struct{})
		s.waiting = append(s.waiting, ready)
		s.mu.Unlock()
		<-ready // handed over by release, counted as taken
	}
	var once sync.Once
	return func() { once.Do(s.release) }
}

// take counts a slot taken; s.mu is held.
func (s *Slots) take() {
	s.busy++
	s.peak = max(s.peak, s.busy)
}

// release gives a slot back: to the first waiting caller, if any.
func (s *Slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy--
	if len(s.waiting) > 0 {
		next := s.waiting[0]
		s.waiting[0] = nil
		s.waiting = s.waiting[1:]
		s.take()
		close(next)
	}
}

// Load is how many slots are taken and how many callers wait for one.
func (s *Slots) Load() (busy, waiting int) {
	if s == nil {
		return 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy, len(s.waiting)
}

// Peak is the most slots ever taken at once.
func (s *Slots) Peak() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}
