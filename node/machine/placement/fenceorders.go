package placement

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hanode/hanode/messages"
)

// FenceDevice is a fencing device as placement chooses among them.
type FenceDevice struct {
	Name string
	// RunOn are the nodes that may use it; none: every node.
	RunOn []string
	// Targets are the nodes it is configured to fence; none: any node.
	// A device that lists the nodes it controls at run time checks, when
	// ordered, that the target is among them: a list may be old (a
	// machine added since), so it does not decide here which devices to
	// try.
	Targets []string
}

func (d FenceDevice) usableFrom(n string) bool {
	return len(d.RunOn) == 0 || slices.Contains(d.RunOn, n)
}

func (d FenceDevice) controls(t string) bool {
	return len(d.Targets) == 0 || slices.Contains(d.Targets, t)
}

// FenceOrder is one fencing attempt for the actor to make: power-cycle
// Target with Device. Its outcome goes back through FenceResult.
type FenceOrder struct {
	Target string
	Device string
}

// fenceJob is the fencing of one node under way from here: the devices
// to try, in configuration order, the one ordered now (next), and the
// failures so far.
type fenceJob struct {
	// gen is the life of the target it is for.
	gen     uint64
	devices []string
	next    int
	errs    []error
}

// startFence orders the first attempt at fencing target for wait p, with
// the devices this node may use that are configured to fence it. With
// none, fencing fails at once: a failure retried and reported like any,
// the groups staying where they are until the target is fenced or an
// operator confirms it is off (moving them unfenced would run them twice
// if it still does).
func (m *Machine) startFence(now time.Time, e *Effects, target string, p *pendingTakeover) {
	if job := m.fencing[target]; job != nil {
		// Still fencing it for an earlier wait (it came back and died
		// again meanwhile): that outcome serves this one.
		job.gen = p.gen
		return
	}
	job := &fenceJob{gen: p.gen}
	for _, d := range m.cfg.Devices {
		if d.usableFrom(m.cfg.Local) && d.controls(target) {
			job.devices = append(job.devices, d.Name)
		}
	}
	if len(job.devices) == 0 {
		m.fenceFailed(now, e, target, p, fmt.Errorf("no fencing device that %s may use is configured to fence %s", m.cfg.Local, target))
		return
	}
	m.fencing[target] = job
	e.Fence = append(e.Fence, FenceOrder{Target: target, Device: job.devices[0]})
}

// FenceResult takes the outcome of a FenceOrder: on a failure the next
// device is ordered; once every device has failed, the attempt has.
// Outcomes of orders given up (an operator confirmed the target is off)
// are ignored.
func (m *Machine) FenceResult(now time.Time, target, device string, err error) Effects {
	var e Effects
	job := m.fencing[target]
	if job == nil || job.devices[job.next] != device {
		return e
	}
	if err != nil {
		job.errs = append(job.errs, fmt.Errorf("%s: %w", device, err))
		if job.next+1 < len(job.devices) {
			job.next++
			e.Log = append(e.Log, fmt.Sprintf("fencing %s with %s failed (%v): trying %s", target, device, err, job.devices[job.next]))
			e.Fence = append(e.Fence, FenceOrder{Target: target, Device: job.devices[job.next]})
			return e
		}
		err = errors.Join(job.errs...)
	}
	delete(m.fencing, target)
	gen := job.gen
	p := m.pending[target]
	if err == nil && (p == nil || !p.fence) {
		// No longer waited for (it came back, or restarted), but fenced
		// all the same: a fact every node must know.
		rec := &messages.NodeFenced{Node: target, Device: device, Generation: gen, FencedBy: m.cfg.Local, TimeUnixNano: now.UnixNano()}
		e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s fenced by %s (device %s), though no longer waited for", target, m.cfg.Local, device)
		e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_NodeFenced{NodeFenced: rec}})
		m.fencedNow(&e, rec)
		m.evaluate(now, &e)
		return e
	}
	if p == nil || !p.fence {
		return e
	}
	if err == nil {
		p.requested = false
		rec := &messages.NodeFenced{Node: target, Device: device, Generation: p.gen, FencedBy: m.cfg.Local, TimeUnixNano: now.UnixNano()}
		e.note(messages.EventKind_EVENT_KIND_FENCING, "", "%s fenced by %s (device %s)", target, m.cfg.Local, device)
		e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_NodeFenced{NodeFenced: rec}})
		m.fencedNow(&e, rec)
		m.evaluate(now, &e)
		return e
	}
	m.fenceFailed(now, &e, target, p, err)
	m.evaluate(now, &e)
	return e
}

// fenceFailed takes a failed attempt at fencing target for wait p: it is
// retried after a pause, and reported once the retries are spent.
func (m *Machine) fenceFailed(now time.Time, e *Effects, target string, p *pendingTakeover, err error) {
	p.requested = false
	p.attempts++
	p.failure = err.Error()
	if p.attempts < m.cfg.FenceRetries {
		p.retryAt = now.Add(m.cfg.FenceRetryDelay)
		e.note(messages.EventKind_EVENT_KIND_FENCING, "", "fencing %s failed (attempt %d of %d): %v; retrying in %v", target, p.attempts, m.cfg.FenceRetries, err, m.cfg.FenceRetryDelay)
	} else {
		p.retryAt = now.Add(6 * m.cfg.FenceRetryDelay)
		e.note(messages.EventKind_EVENT_KIND_FENCING, "", "CANNOT FENCE %s after %d attempts (last: %v): the groups it held stay stopped; still trying every %v",
			target, p.attempts, err, 6*m.cfg.FenceRetryDelay)
	}
}

// ConfirmFenced takes an operator's word that node n, waiting to be
// fenced, is off; it reports whether n was waiting.
func (m *Machine) ConfirmFenced(now time.Time, n string) (Effects, bool) {
	var e Effects
	p := m.pending[n]
	if p == nil || !p.fence {
		return e, false
	}
	// An attempt under way is no longer waited for: its outcome is
	// ignored.
	delete(m.fencing, n)
	rec := &messages.NodeFenced{Node: n, Device: "operator (" + m.cfg.Local + ")", Generation: p.gen, FencedBy: m.cfg.Local, TimeUnixNano: now.UnixNano()}
	e.note(messages.EventKind_EVENT_KIND_FENCING, "", "operator confirmed %s is off: its groups may move", n)
	e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_NodeFenced{NodeFenced: rec}})
	m.fencedNow(&e, rec)
	m.evaluate(now, &e)
	return e, true
}
