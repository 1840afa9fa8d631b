package placement

import (
	"time"

	"github.com/hanode/hanode/messages"
)

type override struct {
	node    string
	nodeGen uint64
	prefer  bool
	version uint64
	by      string
}

func (m *Machine) applyOverride(o *messages.PlacementOverride) {
	g := m.groups[o.Group]
	if g == nil || !m.alive(o.Node) || (o.NodeGeneration != 0 && o.NodeGeneration != m.generationOf(o.Node)) {
		// (Made for an earlier life of the node: void.)
		return
	}
	cur := g.override
	if cur != nil && (o.Version < cur.version || (o.Version == cur.version && o.Author <= cur.by)) {
		return
	}
	g.override = &override{node: o.Node, nodeGen: o.NodeGeneration, prefer: o.Prefer, version: o.Version, by: o.Author}
}

// Selection picks groups by their preferred node, as hb_standby does.
type Selection string

const (
	All     Selection = "all"
	Local   Selection = "local"   // groups preferring this node
	Foreign Selection = "foreign" // groups preferring another node
	// Failback is foreign, for hb_standby failback.
	Failback Selection = "failback"
)

func (m *Machine) selected(g *group, s Selection) bool {
	switch s {
	case Local:
		return g.spec.Preferred == m.cfg.Local
	case Foreign, Failback:
		return g.spec.Preferred != m.cfg.Local
	}
	return true
}

// Standby gives the selected groups away from this node (hanode standby):
// an override that avoids it, shared with every node.
func (m *Machine) Standby(now time.Time, s Selection) Effects {
	return m.override(now, s, false)
}

// Takeover brings the selected groups to this node (hanode takeover).
func (m *Machine) Takeover(now time.Time, s Selection) Effects {
	for _, name := range m.order {
		g := m.groups[name]
		if m.selected(g, s) {
			delete(g.banned, m.cfg.Local) // an operator's word lifts a ban
		}
	}
	return m.override(now, s, true)
}

func (m *Machine) override(now time.Time, s Selection, prefer bool) Effects {
	var e Effects
	for _, name := range m.order {
		g := m.groups[name]
		if !m.selected(g, s) {
			continue
		}
		v := uint64(1)
		if g.override != nil {
			v = g.override.version + 1
		}
		g.override = &override{node: m.cfg.Local, nodeGen: m.cfg.Generation, prefer: prefer, version: v, by: m.cfg.Local}
		e.send(&messages.ClusterMessage{Payload: &messages.ClusterMessage_PlacementOverride{PlacementOverride: &messages.PlacementOverride{
			Group: name, Node: m.cfg.Local, NodeGeneration: m.cfg.Generation, Prefer: prefer, Version: v, Author: m.cfg.Local}}})
	}
	m.evaluate(now, &e)
	return e
}
