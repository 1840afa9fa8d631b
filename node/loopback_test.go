package node

import (
	"net/netip"
	"testing"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/transports/medium"
)

func TestLoopingLinks(t *testing.T) {
	link := func(name string, md ...medium.Medium) config.LinkSpec {
		ls := config.LinkSpec{Name: name}
		for _, m := range md {
			ls.Media = append(ls.Media, config.MediumSpec{Medium: m})
		}
		return ls
	}
	addrs := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	group := netip.MustParseAddr("239.0.0.1")
	cfg := &config.Effective{Links: []config.LinkSpec{
		link("bcast", &medium.Bcast{Dev: "eth0"}),
		link("mcast-loop", &medium.Mcast{Dev: "eth0", Group: group, Loop: true}),
		link("mcast", &medium.Mcast{Dev: "eth0", Group: group}),
		// 127.0.0.1 is an address of every host.
		link("ucast-self", &medium.Ucast{Peers: addrs("192.0.2.1", "127.0.0.1")}),
		link("ucast", &medium.Ucast{Peers: addrs("192.0.2.1")}),
		link("ucast-bound", &medium.Ucast{Peers: addrs("127.0.0.1"), Bind: netip.MustParseAddr("127.0.0.2")}),
		link("serial", &medium.Serial{Device: "/dev/ttyS0"}),
		// One interface, two media: ucast to the peer only, and bcast.
		link("eth1", &medium.Ucast{Dev: "eth1", Peers: addrs("192.0.2.1")}, &medium.Bcast{Dev: "eth1"}),
	}}
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
