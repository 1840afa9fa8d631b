package node

import (
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/transports"
	"github.com/hanode/hanode/transports/medium"
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
		for _, md := range spec.Media {
			if loopsBack(md.Medium) {
				out[spec.Name] = true
			}
		}
	}
	return out
}

// loopsBack says whether this node hears its own frames on a medium.
func loopsBack(md medium.Medium) bool {
	switch m := md.(type) {
	case *medium.Bcast:
		return true
	case *medium.Mcast:
		return m.Loop
	case *medium.Ucast:
		self, _ := transports.SelfPeers(*m)
		for _, p := range m.Peers {
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
