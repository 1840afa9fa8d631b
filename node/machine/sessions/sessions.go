// Package sessions picks which of its peer sessions a heartbeat carries: a
// pure state machine of (sessions, time), kept by the heartbeat actor.
//
// A heartbeat names one session per peer (its generation, where the
// sender's stream for it starts, the acknowledgement of its newest frame),
// so in a cluster of N nodes each heartbeat grows with N and each node
// receives N of them a keepalive: at 64 nodes a heartbeat no longer fit
// one Ethernet frame, and the cluster's work grew as N squared times N.
// Yet a receiver reads only its own session, and needs it only so often:
// the handshake of a new generation needs it at once; an acknowledgement
// needs to be renewed well within deadtime. So a heartbeat carries at most
// Max sessions: first those that changed within the last Hold (a new
// generation or stream start: a handshake under way), then those sent
// longest ago. Max is chosen (node.HeartbeatSessions) so that every
// session goes out at least every quarter deadtime.
package sessions

import (
	"slices"
	"time"

	"github.com/hanode/hanode/messages"
)

// Rotation is the state of the choice: when each peer's session last went
// out and when it last changed.
type Rotation struct {
	max   int
	hold  time.Duration
	peers map[string]*peer
}

type peer struct {
	generation, streamStart uint64
	changed, sent           time.Time
	// unsent is when the session went out before sent: what sent goes
	// back to if the heartbeat of sent never left (Unsent).
	unsent time.Time
	seen   bool
}

// New returns a rotation carrying at most max sessions per heartbeat (all
// of them when max <= 0), with every session that changed within hold in
// each heartbeat.
func New(max int, hold time.Duration) *Rotation {
	return &Rotation{max: max, hold: hold, peers: map[string]*peer{}}
}

// Max is the most sessions a heartbeat carries, 0 for all.
func (r *Rotation) Max() int { return r.max }

// Pick returns the sessions of all (one per peer) that the heartbeat sent
// at now carries, and records them as sent. all is not modified; when all
// fit, it is returned as it is.
func (r *Rotation) Pick(now time.Time, all []*messages.PeerSession) []*messages.PeerSession {
	for _, s := range all {
		p := r.peers[s.Node]
		if p == nil {
			if len(r.peers) >= 4*max(len(all), 64) {
				// Names come from the configuration, but bound the map
				// whatever happens: forget them all, start over.
				clear(r.peers)
			}
			p = &peer{}
			r.peers[s.Node] = p
		}
		if !p.seen || p.generation != s.Generation || p.streamStart != s.StreamStart {
			p.generation, p.streamStart, p.changed, p.seen = s.Generation, s.StreamStart, now, true
		}
	}
	out := all
	if r.max > 0 && len(all) > r.max {
		out = slices.Clone(all)
		// Changed lately first, then the longest unsent; the order of
		// all (the configuration's) among equals, so that the choice is
		// the same for the same history.
		slices.SortStableFunc(out, func(a, b *messages.PeerSession) int {
			pa, pb := r.peers[a.Node], r.peers[b.Node]
			if ua, ub := r.urgent(now, pa), r.urgent(now, pb); ua != ub {
				if ua {
					return -1
				}
				return 1
			}
			return pa.sent.Compare(pb.sent)
		})
		out = out[:r.max]
	}
	for _, s := range out {
		p := r.peers[s.Node]
		p.unsent, p.sent = p.sent, now
	}
	return out
}

// Unsent records that the heartbeat picked at with picked never left (a
// link behind sent a newer one instead, or had no room for it): its
// sessions are as unsent as before, unless a later heartbeat carried them.
// Without it, a link that sends one heartbeat in three, where a session
// goes out in one heartbeat in three, sent the same third of the sessions
// every time: at 128 nodes on an overloaded machine, peers went without
// an acknowledgement for a minute, took this node for one that no longer
// hears them, and quorum was lost and regained hundreds of times.
func (r *Rotation) Unsent(at time.Time, picked []*messages.PeerSession) {
	for _, s := range picked {
		if p := r.peers[s.Node]; p != nil && p.sent.Equal(at) {
			p.sent = p.unsent
		}
	}
}

// urgent says whether p's session changed within hold of now.
func (r *Rotation) urgent(now time.Time, p *peer) bool {
	return now.Sub(p.changed) < r.hold
}
