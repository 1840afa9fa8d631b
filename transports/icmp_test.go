package transports

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// TestPingerLoopback pings 127.0.0.1 and ::1 at once (raw sockets as
// root, else ICMP datagram sockets) and waits for both replies.
func TestPingerLoopback(t *testing.T) {
	got := make(chan netip.Addr, 16)
	lo4, lo6 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")
	p, err := OpenPinger([]netip.Addr{lo4, lo6}, func(from netip.Addr, _ time.Time) { got <- from })
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
	seen := map[netip.Addr]bool{}
	for len(seen) < 2 {
		if err := p.Echo(); err != nil {
			t.Fatal(err)
		}
		select {
		case from := <-got:
			if from != lo4 && from != lo6 {
				t.Fatalf("reply from %v", from)
			}
			seen[from] = true
		case <-tick.C:
		case <-deadline:
			t.Fatalf("echo replies within 5s from %v only", seen)
		}
	}
}

// TestPingerRefuses: an IPv4-mapped target (ping the IPv4 address) and a
// link-local one without its interface (it could be on any link).
func TestPingerRefuses(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"::ffff:10.0.0.1", "ping: ::ffff:10.0.0.1 is an IPv4-mapped address: ping 10.0.0.1"},
		{"fe80::1", "ping: link-local fe80::1 needs the interface as its scope (fe80::1%eth0)"},
	} {
		_, err := OpenPinger([]netip.Addr{netip.MustParseAddr(c.addr)}, func(netip.Addr, time.Time) {})
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %q", c.addr, err, c.want)
		}
	}
}

// FuzzEchoReply feeds arbitrary datagrams to the reply filter of a raw
// pinger, as read from its IPv4 or its IPv6 socket: it never panics, and
// accepts only well-formed echo replies of that family, with its
// identifier and a sequence number it sent, from its targets.
func FuzzEchoReply(f *testing.F) {
	target4 := netip.MustParseAddr("10.201.0.254")
	target6 := netip.MustParseAddr("fd00:10:201::fe")
	targetLL := netip.MustParseAddr("fe80::fe").WithZone("eth0")
	p := testPinger(target4, target6, targetLL)
	p.seq, p.sent[1] = 1, 1
	marshal := func(typ icmp.Type, id int) []byte {
		b, _ := (&icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("hanode")}}).Marshal(nil)
		return b
	}
	good := marshal(ipv4.ICMPTypeEchoReply, 0x1234)
	good6 := marshal(ipv6.ICMPTypeEchoReply, 0x1234)
	seeds := [][]byte{good, good6, marshal(ipv4.ICMPTypeEchoReply, 0x4321), marshal(ipv6.ICMPTypeEchoReply, 0x4321),
		marshal(ipv4.ICMPTypeEcho, 0x1234), marshal(ipv6.ICMPTypeEchoRequest, 0x1234),
		{}, {0}, {0, 0, 0, 0}, good[:5], good6[:5], {129, 0, 0, 0, 0x12, 0x34, 0, 1}}
	for _, seed := range seeds {
		for from := uint8(0); from < 4; from++ {
			f.Add(seed, from, false)
			f.Add(seed, from, true)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, from uint8, v6 bool) {
		// from: 0 a stranger, 1 the IPv4 target, 2 the IPv6 target, 3 the
		// link-local target.
		addrs := []net.Addr{&net.IPAddr{IP: net.ParseIP("10.201.0.9")}, &net.IPAddr{IP: target4.AsSlice()},
			&net.IPAddr{IP: target6.AsSlice()}, &net.IPAddr{IP: targetLL.AsSlice(), Zone: "eth0"}}
		s := &echoSocket{raw: true, v6: v6}
		addr, ok := p.accept(s, b, addrs[int(from)%len(addrs)])
		if !ok {
			return
		}
		if !p.targets[addr] || addr.Is4() == v6 {
			t.Fatalf("accepted a reply from %v on the %v socket", addr, map[bool]string{false: "IPv4", true: "IPv6"}[v6])
		}
		proto, want := 1, icmp.Type(ipv4.ICMPTypeEchoReply)
		if v6 {
			proto, want = 58, ipv6.ICMPTypeEchoReply
		}
		msg, err := icmp.ParseMessage(proto, b)
		if err != nil || msg.Type != want || msg.Body.(*icmp.Echo).ID != 0x1234 || msg.Body.(*icmp.Echo).Seq != 1 {
			t.Fatalf("accepted %x", b)
		}
	})
}

func testPinger(targets ...netip.Addr) *Pinger {
	p := &Pinger{id: 0x1234, targets: map[netip.Addr]bool{}}
	for _, t := range targets {
		p.targets[t] = true
	}
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
	target6 := netip.MustParseAddr("fd00:10:201::fe")
	p := testPinger(target, target6)
	reply := func(seq int) bool {
		b, _ := (&icmp.Message{Type: ipv4.ICMPTypeEchoReply, Body: &icmp.Echo{ID: 0x1234, Seq: seq}}).Marshal(nil)
		_, ok := p.accept(&echoSocket{raw: true}, b, &net.IPAddr{IP: target.AsSlice()})
		b6, _ := (&icmp.Message{Type: ipv6.ICMPTypeEchoReply, Body: &icmp.Echo{ID: 0x1234, Seq: seq}}).Marshal(nil)
		_, ok6 := p.accept(&echoSocket{raw: true, v6: true}, b6, &net.IPAddr{IP: target6.AsSlice()})
		if ok != ok6 {
			t.Fatalf("sequence %d: IPv4 reply accepted %v, IPv6 reply %v", seq, ok, ok6)
		}
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
