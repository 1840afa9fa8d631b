package placement

import (
	"sort"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/messages"
)

// GroupView is one group as this node sees it, for status.
type GroupView struct {
	Name, Preferred, Desired string
	Local                    Phase
	// Holders are the nodes that run (or may run) it, this one included.
	Holders  map[string]Phase
	Banned   []string
	Claiming bool
	Failure  string
	// Override is the operator's request in force (standby or takeover):
	// the node it was made for ("" if none); Prefer says takeover.
	Override string
	Prefer   bool
}

// View describes every group, in configuration order.
func (m *Machine) View(now time.Time) []GroupView {
	var out []GroupView
	for _, name := range m.order {
		g := m.groups[name]
		v := GroupView{Name: name, Preferred: g.spec.Preferred, Desired: m.Desired(now, name), Local: g.local,
			Holders: map[string]Phase{}, Claiming: g.claim != nil, Failure: g.failed}
		for n, p := range g.holders {
			if holds(p) {
				v.Holders[n] = p
			}
		}
		if holds(g.local) {
			v.Holders[m.cfg.Local] = g.local
		}
		for n, until := range g.banned {
			if now.Before(until) {
				v.Banned = append(v.Banned, n)
			}
		}
		sort.Strings(v.Banned)
		if o := g.override; o != nil {
			v.Override, v.Prefer = o.node, o.prefer
		}
		out = append(out, v)
	}
	return out
}

// Unfenced describes the nodes waiting to be fenced, for status.
func (m *Machine) Unfenced() []*messages.FenceState {
	var out []*messages.FenceState
	here := m.fencer() == m.cfg.Local
	for _, n := range m.cfg.Nodes {
		if p := m.pending[n]; p != nil && p.fence {
			out = append(out, &messages.FenceState{Node: n, Reason: p.why, Since: timestamppb.New(p.since),
				Attempts: uint32(p.attempts), LastFailure: p.failure, FencingHere: here})
		}
	}
	return out
}

// Fenced lists the fencing this node knows of, for status.
func (m *Machine) Fenced() []*messages.FenceRecord {
	var out []*messages.FenceRecord
	for _, n := range m.cfg.Nodes {
		if f := m.fenced[n]; f != nil {
			out = append(out, &messages.FenceRecord{Node: n, Generation: f.Generation, FencedBy: f.FencedBy, Device: f.Device,
				Time: timestamppb.New(time.Unix(0, f.TimeUnixNano))})
		}
	}
	return out
}

// SelfStopWaits lists the dead nodes given time to stop their groups by
// themselves, for status.
func (m *Machine) SelfStopWaits() []*messages.SelfStopWait {
	var out []*messages.SelfStopWait
	for _, n := range m.cfg.Nodes {
		if p := m.pending[n]; p != nil && !p.fence {
			gs := append([]string(nil), p.groups...)
			sort.Strings(gs)
			out = append(out, &messages.SelfStopWait{Node: n, Groups: gs, Until: timestamppb.New(p.until)})
		}
	}
	return out
}
