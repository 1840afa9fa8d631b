// Package events keeps a node's event timeline: membership changes, link
// changes, placement decisions, group moves with their gaps, fencing and
// quorum, each with the reason for it. `hanode events` shows it; the
// troubleshooting guide starts there.
package events

import (
	"sync"

	"github.com/hanode/hanode/messages"
)

// DefaultSize is how many events a node keeps.
const DefaultSize = 2000

// Log is a bounded, concurrency-safe timeline. Adding never blocks.
type Log struct {
	mu   sync.Mutex
	ring []*messages.ClusterEvent
	next int
	full bool
	subs []func(*messages.ClusterEvent)
}

// New returns a log keeping the latest size events.
func New(size int) *Log {
	if size <= 0 {
		size = DefaultSize
	}
	return &Log{ring: make([]*messages.ClusterEvent, size)}
}

// Add records an event.
func (l *Log) Add(ev *messages.ClusterEvent) {
	l.mu.Lock()
	l.ring[l.next] = ev
	l.next = (l.next + 1) % len(l.ring)
	if l.next == 0 {
		l.full = true
	}
	subs := l.subs
	l.mu.Unlock()
	for _, f := range subs {
		f(ev)
	}
}

// Subscribe calls f (from the adding goroutine: it must not block) for
// every event added from now on.
func (l *Log) Subscribe(f func(*messages.ClusterEvent)) {
	l.mu.Lock()
	l.subs = append(l.subs, f)
	l.mu.Unlock()
}

// List returns the latest limit events (all when limit is 0), oldest first.
func (l *Log) List(limit int) []*messages.ClusterEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*messages.ClusterEvent
	if l.full {
		out = append(out, l.ring[l.next:]...)
	}
	out = append(out, l.ring[:l.next]...)
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

// FromMembership turns a membership event into a timeline event.
func FromMembership(ev *messages.MembershipEvent) *messages.ClusterEvent {
	kind := messages.EventKind_EVENT_KIND_MEMBERSHIP
	switch ev.Kind {
	case messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_LINK_STATUS:
		kind = messages.EventKind_EVENT_KIND_LINK
	case messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_CONNECTIVITY:
		kind = messages.EventKind_EVENT_KIND_CONNECTIVITY
	case messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS:
		if ev.Status == messages.NodeStatus_NODE_STATUS_PING || ev.PreviousStatus == messages.NodeStatus_NODE_STATUS_PING {
			kind = messages.EventKind_EVENT_KIND_CONNECTIVITY
		}
	}
	return &messages.ClusterEvent{Time: ev.Time, Kind: kind, Node: ev.Node, Summary: ev.Reason}
}
