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
	p := testPinger(target)
	p.seq, p.sent[1] = 1, 1
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
		if err != nil || msg.Type != ipv4.ICMPTypeEchoReply || msg.Body.(*icmp.Echo).ID != 0x1234 || msg.Body.(*icmp.Echo).Seq != 1 {
			t.Fatalf("accepted %x", b)
		}
	})
}

func testPinger(target netip.Addr) *Pinger {
	p := &Pinger{raw: true, id: 0x1234, targets: map[netip.Addr]bool{target: true}}
	for i := range p.sent {
		p.sent[i] = -1
	}
	return p
}

// TestPingerMatchesSequence: a reply with this pinger's identifier but a
// sequence number it never sent (forged: the identifier is 16 bits anyone
// can try), or one sent more than recentEchoes rounds ago, is not a sign
// that the target answers.
func TestPingerMatchesSequence(t *testing.T) {
	target := netip.MustParseAddr("10.201.0.254")
	p := testPinger(target)
	from := &net.IPAddr{IP: target.AsSlice()}
	reply := func(seq int) bool {
		b, _ := (&icmp.Message{Type: ipv4.ICMPTypeEchoReply, Body: &icmp.Echo{ID: 0x1234, Seq: seq}}).Marshal(nil)
		_, ok := p.accept(b, from)
		return ok
	}
	for seq := 0; seq < 5; seq++ {
		if reply(seq) {
			t.Fatalf("reply to sequence %d, never sent, accepted", seq)
		}
	}
	// Sending needs a socket; record the rounds as Echo does.
	for round := 1; round <= 20; round++ {
		p.seq = round
		p.sent[round%recentEchoes] = round
	}
	for seq := 1; seq <= 21; seq++ {
		want := seq > 20-recentEchoes && seq <= 20
		if got := reply(seq); got != want {
			t.Errorf("reply to sequence %d after 20 rounds: accepted %v, want %v", seq, got, want)
		}
	}
}
