package transports

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// TestPingerLoopback pings 127.0.0.1 (raw socket as root, else an ICMP
// datagram socket) and waits for the reply.
func TestPingerLoopback(t *testing.T) {
	got := make(chan netip.Addr, 16)
	lo := netip.MustParseAddr("127.0.0.1")
	p, err := OpenPinger([]netip.Addr{lo}, func(from netip.Addr, _ time.Time) { got <- from })
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no ICMP socket: %v", err)
		}
		t.Skipf("no ICMP socket here (needs root or net.ipv4.ping_group_range): %v", err)
	}
	defer p.Close()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := p.Echo(); err != nil {
			t.Fatal(err)
		}
		select {
		case from := <-got:
			if from != lo {
				t.Fatalf("reply from %v", from)
			}
			return
		case <-tick.C:
		case <-deadline:
			t.Fatal("no echo reply from 127.0.0.1 within 5s")
		}
	}
}

func TestPingerRefusesIPv6(t *testing.T) {
	if _, err := OpenPinger([]netip.Addr{netip.MustParseAddr("::1")}, func(netip.Addr, time.Time) {}); err == nil {
		t.Fatal("IPv6 target accepted")
	}
}

// FuzzEchoReply feeds arbitrary datagrams to the reply filter of a raw
// pinger: it never panics, and accepts only well-formed echo replies with
// its identifier from its targets.
func FuzzEchoReply(f *testing.F) {
	target := netip.MustParseAddr("10.201.0.254")
	p := &Pinger{raw: true, id: 0x1234, targets: map[netip.Addr]bool{target: true}}
	good, _ := (&icmp.Message{Type: ipv4.ICMPTypeEchoReply, Body: &icmp.Echo{ID: 0x1234, Seq: 1, Data: []byte("hanode")}}).Marshal(nil)
	other, _ := (&icmp.Message{Type: ipv4.ICMPTypeEchoReply, Body: &icmp.Echo{ID: 0x4321, Seq: 1}}).Marshal(nil)
	request, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: 0x1234, Seq: 1}}).Marshal(nil)
	for _, seed := range [][]byte{good, other, request, {}, {0}, {0, 0, 0, 0}, good[:5]} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, b []byte, fromTarget bool) {
		from := &net.IPAddr{IP: net.ParseIP("10.201.0.9")}
		if fromTarget {
			from = &net.IPAddr{IP: target.AsSlice()}
		}
		addr, ok := p.accept(b, from)
		if !ok {
			return
		}
		if addr != target {
			t.Fatalf("accepted a reply from %v", addr)
		}
		msg, err := icmp.ParseMessage(1, b)
		if err != nil || msg.Type != ipv4.ICMPTypeEchoReply || msg.Body.(*icmp.Echo).ID != 0x1234 {
			t.Fatalf("accepted %x", b)
		}
	})
}
