// Package respawn decides when a program that hanode keeps running
// (Heartbeat's respawn directive) is started again after it exits: at
// once, unless it exited with code 100 (it asks not to be), and never more
// than MaxStarts times within Window: a program that keeps dying is
// restarted at that rate, not in a tight loop. A pure function of the
// exits and the time. Lines reads the program's output for the log,
// whatever the length of its lines.
package respawn

import (
	"fmt"
	"time"
)

// Heartbeat's limits: more than 10 starts within 30 s is too fast.
const (
	DefaultMaxStarts = 10
	DefaultWindow    = 30 * time.Second
	// NoRespawnCode is the exit code with which a program asks not to be
	// restarted.
	NoRespawnCode = 100
)

// Policy is the restart state of one program.
type Policy struct {
	MaxStarts int
	Window    time.Duration
	starts    []time.Time
}

// New returns a policy with Heartbeat's limits.
func New() *Policy { return &Policy{MaxStarts: DefaultMaxStarts, Window: DefaultWindow} }

// Started records a start at now.
func (p *Policy) Started(now time.Time) {
	p.starts = append(p.starts, now)
	if len(p.starts) > p.MaxStarts {
		p.starts = p.starts[len(p.starts)-p.MaxStarts:]
	}
}

// Decision says what to do after an exit.
type Decision struct {
	// Restart is false when the program asked not to be restarted.
	Restart bool
	// At is when to start it again.
	At time.Time
	// Reason explains the decision, for the log.
	Reason string
}

// Exited decides what follows an exit at now with code (-1 for a signal).
func (p *Policy) Exited(now time.Time, code int) Decision {
	if code == NoRespawnCode {
		return Decision{Reason: fmt.Sprintf("exited with %d: not restarted", NoRespawnCode)}
	}
	if len(p.starts) >= p.MaxStarts {
		// The start MaxStarts ago must leave the window first.
		oldest := p.starts[len(p.starts)-p.MaxStarts]
		if at := oldest.Add(p.Window); now.Before(at) {
			return Decision{Restart: true, At: at, Reason: fmt.Sprintf("respawning too fast (%d starts within %v): restarting in %v",
				p.MaxStarts, p.Window, at.Sub(now).Round(time.Millisecond))}
		}
	}
	return Decision{Restart: true, At: now, Reason: "restarting"}
}
