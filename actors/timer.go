package actors

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Ticker sends a message to an actor at a fixed period. Unlike a timer
// re-armed after each send, it does not drift. Stop it when the actor stops
// or restarts: it does not die with the actor.
type Ticker struct {
	stop chan struct{}
	once sync.Once
}

// Every starts a Ticker that sends msg to pid every period, the first time
// after one period.
func Every(sys *actor.ActorSystem, period time.Duration, pid *actor.PID, msg any) *Ticker {
	t := &Ticker{stop: make(chan struct{})}
	tk := time.NewTicker(period)
	go func() {
		defer tk.Stop()
		for {
			select {
			case <-tk.C:
				sys.Root.Send(pid, msg)
			case <-t.stop:
				return
			}
		}
	}()
	return t
}

// Stop ends the ticker. It is safe to call more than once, and on nil.
func (t *Ticker) Stop() {
	if t == nil {
		return
	}
	t.once.Do(func() { close(t.stop) })
}

// Deadline wakes an actor at one instant, re-armable. Each firing carries a
// token so the actor can ignore a firing that a later Arm superseded.
type Deadline struct {
	sys   *actor.ActorSystem
	pid   *actor.PID
	timer *time.Timer
	at    time.Time
	token uint64
}

// DeadlineReached is what a Deadline sends.
type DeadlineReached struct {
	Token uint64
	// Due is when it was armed to fire: the receiver's clock minus Due
	// is how late it is handled.
	Due time.Time
}

// NewDeadline returns an unarmed Deadline that wakes pid.
func NewDeadline(sys *actor.ActorSystem, pid *actor.PID) *Deadline {
	return &Deadline{sys: sys, pid: pid}
}

// Arm makes the deadline fire at at (now if at is past), replacing any
// earlier arming. The zero time disarms it.
func (d *Deadline) Arm(now, at time.Time) {
	if at.Equal(d.at) && d.timer != nil {
		return
	}
	d.Stop()
	d.at = at
	if at.IsZero() {
		return
	}
	d.token++
	msg := &DeadlineReached{Token: d.token, Due: at}
	d.timer = time.AfterFunc(at.Sub(now), func() { d.sys.Root.Send(d.pid, msg) })
}

// ArmBy makes sure the deadline fires no later than at: a deadline already
// armed at or before at is kept. A deadline that moves later as frames
// arrive (the common case) thus costs no timer operation per frame; the
// early firing finds nothing to do and re-arms.
func (d *Deadline) ArmBy(now, at time.Time) {
	if d.timer != nil && !at.IsZero() && !d.at.After(at) {
		return
	}
	d.Arm(now, at)
}

// Fired says whether a DeadlineReached is the current one, and disarms it.
func (d *Deadline) Fired(m *DeadlineReached) bool {
	if m.Token != d.token || d.timer == nil {
		return false
	}
	d.timer, d.at = nil, time.Time{}
	return true
}

// Armed says whether the deadline is set to fire.
func (d *Deadline) Armed() bool { return d.timer != nil }

// Stop disarms the deadline.
func (d *Deadline) Stop() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.at = time.Time{}
}
