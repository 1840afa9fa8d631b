package transports

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
)

// freePort6 finds a UDP port free on 0.0.0.0 and [::] (a medium with
// peers of both families binds both).
func freePort6(t *testing.T) uint16 {
	t.Helper()
	for range 50 {
		l6, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified})
		if err != nil {
			t.Skipf("no IPv6 here: %v", err)
		}
		port := l6.LocalAddr().(*net.UDPAddr).Port
		l4, err := net.ListenUDP("udp4", &net.UDPAddr{Port: port})
		l6.Close()
		if err == nil {
			l4.Close()
			return uint16(port)
		}
	}
	t.Fatal("no UDP port free on both families")
	return 0
}

// TestUcast6Loopback: a ucast medium with an IPv6 peer receives on an
// IPv6 socket (::1 is this host: skipped as a destination, as Heartbeat's
// ucast6 ignores lines that go to the local machine).
func TestUcast6Loopback(t *testing.T) {
	port := freePort6(t)
	lo6 := netip.MustParseAddr("::1")
	got := make(chan Packet, 4)
	u, err := OpenUcast(UcastConfig{Bind: lo6, Port: port, Peers: []netip.Addr{lo6}}, func(p Packet) time.Duration { got <- p; return 0 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if ps := u.Peers(); len(ps) != 0 {
		t.Fatalf("own address not skipped: %v", ps)
	}
	if la := u.LocalAddr(); la != netip.AddrPortFrom(lo6, port) {
		t.Fatalf("bound to %v", la)
	}
	c, err := net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo6, port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("over ipv6")); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if string(p.Data) != "over ipv6" || p.From.Addr() != lo6 {
			t.Fatalf("received %q from %v", p.Data, p.From)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received within 5s")
	}
}

// TestUcastBothFamiliesOnOnePort: a ucast medium with an IPv4 and an IPv6
// peer opens a socket of each family on its port, side by side (the IPv6
// one is IPv6 only), and receives on both.
func TestUcastBothFamiliesOnOnePort(t *testing.T) {
	port := freePort6(t)
	lo4, lo6 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")
	c := newCollector()
	m, err := OpenMedia(MediaConfig{Ucast: []UcastConfig{{Port: port, Peers: []netip.Addr{lo4, lo6}}}}, c.deliver, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), port), netip.AddrPortFrom(netip.IPv6Unspecified(), port)}
	if ls := m.LocalAddrs(); len(ls) != 2 || ls[0] != want[0] || ls[1] != want[1] {
		t.Fatalf("receiving sockets %v, want %v", ls, want)
	}
	for _, to := range []netip.Addr{lo4, lo6} {
		s, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(to, port)))
		if err != nil {
			t.Fatal(err)
		}
		s.Write([]byte("to " + to.String()))
		s.Close()
	}
	got := c.wait(t, 2)
	if len(got) != 2 {
		t.Fatalf("delivered %v", got)
	}
}

// TestIPv6MediaBetweenHosts: two test hosts, one link eth0 made of IPv4
// bcast, ucast to the peers' link-local addresses (with their interface as
// scope) and global IPv6 addresses, and IPv6 multicast (Heartbeat's bcast,
// ucast6 and mcast6 on one interface): every frame arrives by each of the
// four media and is delivered once, from the sender's addresses.
func TestIPv6MediaBetweenHosts(t *testing.T) {
	testhosts.Require(t)
	lab := testhosts.New(t, testhosts.Options{Hosts: 2, IPv6: true})
	const port = 694
	group := netip.MustParseAddr("ff12::1:2:3:4")
	links := make([]*Media, 2)
	cs := []*collector{newCollector(), newCollector()}
	for i, h := range lab.Hosts() {
		var err error
		done := make(chan struct{})
		// InNetns returns once fn runs in the namespace, not when it ends.
		if ierr := h.InNetns(func() {
			defer close(done)
			// Zones by index: the Go runtime's cache of interface names is
			// one per process, and this test's process lives in several
			// namespaces (hanode runs in one).
			ifi, ierr := net.InterfaceByName("eth0")
			if ierr != nil {
				err = ierr
				return
			}
			zone := fmt.Sprint(ifi.Index)
			var peers []netip.Addr
			for _, o := range lab.Hosts() {
				if o == h {
					continue
				}
				peers = append(peers, netip.MustParseAddr(o.Addr6()), netip.MustParseAddr(o.LinkLocal(0)).WithZone(zone))
			}
			links[i], err = OpenMedia(MediaConfig{
				Dev:   "eth0",
				Bcast: []uint16{port},
				Ucast: []UcastConfig{{Dev: "eth0", Port: port, Peers: peers}},
				Mcast: []McastConfig{{Dev: "eth0", Group: group, Port: port, TTL: 1}},
			}, cs[i].deliver, nil)
		}); ierr != nil {
			t.Fatal(ierr)
		}
		<-done
		if err != nil {
			t.Fatalf("%s: %v", h.Name(), err)
		}
		defer links[i].Close()
	}
	if ls := links[1].LocalAddrs(); len(ls) != 2 || !ls[0].Addr().Is4() || !ls[1].Addr().Is6() {
		t.Fatalf("h2 receives on %v, want one IPv4 and one IPv6 socket on port %d", ls, port)
	}
	for round := 1; round <= 3; round++ {
		frame := fmt.Sprintf("frame %d", round)
		if err := links[0].Send([]byte(frame)); err != nil {
			t.Fatal(err)
		}
		// The sender's own broadcasts loop back to it: delivered to h1 too.
		if got := cs[1].wait(t, 1); got[round-1] != frame {
			t.Fatalf("h2 got %v", got)
		}
	}
	if n := links[1].CopiesDropped(); n != 9 {
		t.Fatalf("h2 dropped %d copies of 3 frames sent by 4 media, want 9", n)
	}
}
