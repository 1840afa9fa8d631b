package transports

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// BenchmarkMediaReadRoundTrip: one datagram sent on loopback to a link's
// socket and delivered by its reader: the cost of a read (the syscall,
// the destination address and the receive time from the control
// messages, the copy of the data) and the wake-ups on both sides.
func BenchmarkMediaReadRoundTrip(b *testing.B) {
	lo := netip.MustParseAddr("127.0.0.1")
	got := make(chan Packet, 1)
	m, err := OpenMedia(MediaConfig{Ucast: []UcastConfig{{Bind: lo, Port: 0}}}, func(p Packet) time.Duration { got <- p; return 0 }, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	out, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(m.LocalAddr()))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	frame := make([]byte, 300)
	stuck := time.NewTimer(time.Hour)
	defer stuck.Stop()
	b.ReportAllocs()
	for b.Loop() {
		stuck.Reset(5 * time.Second)
		if _, err := out.Write(frame); err != nil {
			b.Fatal(err)
		}
		select {
		case <-got:
		case <-stuck.C:
			b.Fatal("nothing delivered within 5s")
		}
	}
}

// BenchmarkSocketRead: one datagram written to a receiving socket and read
// back on the same goroutine, by the read this package does (recvmsg with
// the destination address and the kernel's receive time, parsed here) and
// by the one it did before (golang.org/x/net/ipv4's PacketConn with the
// destination address only, the receive time taken after the read).
func BenchmarkSocketRead(b *testing.B) {
	// pair is a receiving socket of each sub-benchmark's own (the options
	// one sets are not the other's) and a socket sending to it.
	pair := func(b *testing.B) (*net.UDPConn, *net.UDPConn) {
		c, err := listenUDP(netip.MustParseAddrPort("127.0.0.1:0"), socketOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		out, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(localAddr(c)))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { out.Close() })
		return c, out
	}
	frame := make([]byte, 300)
	buf := make([]byte, maxDatagram)
	b.Run("rxReader", func(b *testing.B) {
		c, out := pair(b)
		r := newRxReader(detachForTest(b, c))
		b.ReportAllocs()
		for b.Loop() {
			out.Write(frame)
			if _, _, dst, at, err := r.read(buf); err != nil || !dst.IsValid() || at.IsZero() {
				b.Fatal(dst, err)
			}
		}
	})
	b.Run("x/net-ipv4-before", func(b *testing.B) {
		c, out := pair(b)
		p := ipv4.NewPacketConn(c)
		if err := p.SetControlMessage(ipv4.FlagDst, true); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			out.Write(frame)
			_, cm, _, err := p.ReadFrom(buf)
			if err != nil || cm == nil || cm.Dst == nil {
				b.Fatal(cm, err)
			}
			_ = time.Now()
		}
	})
}
