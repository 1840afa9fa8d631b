package node

import (
	"testing"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
)

func TestLoopingLinks(t *testing.T) {
	link := func(name string, l *messages.Link) config.LinkSpec { return config.LinkSpec{Name: name, Link: l} }
	cfg := &config.Effective{Links: []config.LinkSpec{
		link("bcast", &messages.Link{Medium: &messages.Link_Bcast{Bcast: &messages.Bcast{Dev: "eth0"}}}),
		link("mcast-loop", &messages.Link{Medium: &messages.Link_Mcast{Mcast: &messages.Mcast{Dev: "eth0", Group: "239.0.0.1", Loop: true}}}),
		link("mcast", &messages.Link{Medium: &messages.Link_Mcast{Mcast: &messages.Mcast{Dev: "eth0", Group: "239.0.0.1"}}}),
		// 127.0.0.1 is an address of every host.
		link("ucast-self", &messages.Link{Medium: &messages.Link_Ucast{Ucast: &messages.Ucast{Peers: []string{"192.0.2.1", "127.0.0.1"}}}}),
		link("ucast", &messages.Link{Medium: &messages.Link_Ucast{Ucast: &messages.Ucast{Peers: []string{"192.0.2.1"}}}}),
		link("ucast-bound", &messages.Link{Medium: &messages.Link_Ucast{Ucast: &messages.Ucast{Peers: []string{"127.0.0.1"}, Bind: "127.0.0.2"}}}),
		link("serial", &messages.Link{Medium: &messages.Link_Serial{Serial: &messages.Serial{Device: "/dev/ttyS0"}}}),
	}}
	// One interface, two media: ucast to the peer only, and bcast.
	ucast := &messages.Link{Medium: &messages.Link_Ucast{Ucast: &messages.Ucast{Dev: "eth1", Peers: []string{"192.0.2.1"}}}}
	bcast := &messages.Link{Medium: &messages.Link_Bcast{Bcast: &messages.Bcast{Dev: "eth1"}}}
	cfg.Links = append(cfg.Links, config.LinkSpec{Name: "eth1", Link: ucast, Media: []config.MediumSpec{{Link: ucast}, {Link: bcast}}})
	got := LoopingLinks(cfg)
	want := map[string]bool{"bcast": true, "mcast-loop": true, "ucast-self": true, "eth1": true}
	for _, l := range cfg.Links {
		if got[l.Name] != want[l.Name] {
			t.Errorf("%s: loops back %v, want %v", l.Name, got[l.Name], want[l.Name])
		}
	}
	s := &messages.ClusterStatus{Nodes: []*messages.NodeState{
		{Name: "a", Local: true, Links: []*messages.LinkState{{Name: "bcast"}, {Name: "ucast"}}},
		{Name: "b", Links: []*messages.LinkState{{Name: "bcast"}}},
	}}
	markLoopingLinks(s, got)
	if !s.Nodes[0].Links[0].LoopsBack || s.Nodes[0].Links[1].LoopsBack || s.Nodes[1].Links[0].LoopsBack {
		t.Errorf("marked: %v", s.Nodes)
	}
}
