package placement

import (
	"time"

	"github.com/hanode/hanode/messages"
)

// Connectivity takes the number of ping nodes a node (this one included)
// reaches.
func (m *Machine) Connectivity(now time.Time, node string, up int) Effects {
	var e Effects
	m.pingsUp[node] = up
	m.reassess(now, &e)
	m.evaluate(now, &e)
	return e
}

// reassess updates which live nodes are poorly linked: those reaching
// fewer ping nodes than the best live node, for PingHoldoff; a node is
// trusted again after reaching as many as the best for PingHoldoff.
func (m *Machine) reassess(now time.Time, e *Effects) {
	if m.cfg.PingNodes == 0 {
		return
	}
	best := -1
	for _, n := range m.cfg.Nodes {
		if m.alive(n) && m.pingsUp[n] > best {
			best = m.pingsUp[n]
		}
	}
	for _, n := range m.cfg.Nodes {
		worse := m.alive(n) && m.pingsUp[n] < best
		if worse == m.poorlyLinked[n] || (!m.alive(n) && !m.poorlyLinked[n]) {
			delete(m.standingSince, n)
			continue
		}
		if !m.alive(n) {
			// Gone: forget the verdict; it is judged afresh when back.
			delete(m.poorlyLinked, n)
			delete(m.standingSince, n)
			continue
		}
		since, ok := m.standingSince[n]
		if !ok {
			m.standingSince[n] = now
			continue
		}
		if now.Sub(since) >= m.cfg.PingHoldoff {
			delete(m.standingSince, n)
			if worse {
				m.poorlyLinked[n] = true
				e.note(messages.EventKind_EVENT_KIND_CONNECTIVITY, "", "%s reaches %d ping nodes, fewer than %d for %v: its groups move to better linked nodes", n, m.pingsUp[n], best, m.cfg.PingHoldoff)
			} else {
				delete(m.poorlyLinked, n)
				e.note(messages.EventKind_EVENT_KIND_CONNECTIVITY, "", "%s reaches as many ping nodes as the best (%d) for %v: it may run groups again", n, best, m.cfg.PingHoldoff)
			}
		}
	}
}
