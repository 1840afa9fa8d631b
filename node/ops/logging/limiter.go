package logging

import (
	"sync"
	"time"
)

// Limiter lets one log line through per period and counts the others, so
// that a condition an attacker or a flapping device can repeat at will
// (a refused frame, a link that fails every other send) costs one line per
// period, not one per event. The zero value with Every set is ready.
type Limiter struct {
	Every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// NewLimiter returns a limiter of one line per every.
func NewLimiter(every time.Duration) *Limiter { return &Limiter{Every: every} }

// Allow says whether to log now, and how many were suppressed since the
// last line let through.
func (r *Limiter) Allow(now time.Time) (suppressed int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() && now.Sub(r.last) < r.Every {
		r.suppressed++
		return 0, false
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	return n, true
}
