package transports

import (
	"net/netip"
	"os"
	"testing"
	"time"
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
