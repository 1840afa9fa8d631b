package node

import (
	"net/netip"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/transports"
)

// LoopingLinks names the links on which this node's own heartbeats come
// back to it, as Heartbeat would hear them: bcast (the kernel loops
// broadcasts back), mcast with loop on, and ucast when a peer address is
// one of this node's own (hanode skips it; Heartbeat sends to it and
// hears itself). Heartbeat shows a node's own link up only on those
// (cl_status hblinkstatus); the status says so (LinkState.loops_back).
// A link of several media (bcast eth0 and ucast eth0: one link, eth0)
// loops back if any of them does.
func LoopingLinks(cfg *config.Effective) map[string]bool {
	out := map[string]bool{}
	for _, spec := range cfg.Links {
		media := []*messages.Link{spec.Link}
		if len(spec.Media) > 0 {
			media = media[:0]
			for _, md := range spec.Media {
				media = append(media, md.Link)
			}
		}
		for _, l := range media {
			if loopsBack(l) {
				out[spec.Name] = true
			}
		}
	}
	return out
}

// loopsBack says whether this node hears its own frames on a medium.
func loopsBack(l *messages.Link) bool {
	switch m := l.GetMedium().(type) {
	case *messages.Link_Bcast:
		return true
	case *messages.Link_Mcast:
		return m.Mcast.Loop
	case *messages.Link_Ucast:
		u := transports.UcastConfig{Dev: m.Ucast.Dev}
		if a, err := netip.ParseAddr(m.Ucast.Bind); err == nil {
			u.Bind = a
		}
		for _, p := range m.Ucast.Peers {
			if a, err := netip.ParseAddr(p); err == nil {
				u.Peers = append(u.Peers, a)
			}
		}
		self, _ := transports.SelfPeers(u)
		for _, p := range u.Peers {
			if self[p] {
				return true
			}
		}
	}
	return false
}

// markLoopingLinks sets loops_back on the local node's links.
func markLoopingLinks(s *messages.ClusterStatus, looping map[string]bool) {
	for _, n := range s.Nodes {
		if !n.Local {
			continue
		}
		for _, l := range n.Links {
			l.LoopsBack = looping[l.Name]
		}
	}
}
