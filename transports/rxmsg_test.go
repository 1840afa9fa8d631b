package transports

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
	"golang.org/x/sys/unix"
)

// A datagram that waits in the socket (the reader is busy: here its
// deliver blocks, as the link actor's coalescing pause does) arrives at
// the time it was sent, not the time it was read, for every kind of
// receiving socket. The bounds cannot flake: the kernel stamps a loopback
// or veth datagram while it is sent (at the latest in the softirq that
// follows), and the read comes 300 ms later.
const (
	socketWait = 300 * time.Millisecond
	// stampSlack is how much earlier than the send the receive time may
	// read: the wall and monotonic clocks are read together but not
	// atomically, and NTP may slew the wall clock by 0.05% meanwhile.
	stampSlack = 2 * time.Millisecond
	// stampLate bounds how long after the send returned the kernel may
	// have received the datagram: microseconds unless the machine is
	// very busy, far under socketWait in any case.
	stampLate = 50 * time.Millisecond
)

// kernelStampsOn waits until the kernel stamps datagrams as they arrive,
// and keeps it so for the rest of the test. Linux turns receive
// timestamps on for the whole host when a first socket asks for them
// (net_enable_timestamp: a static key switched by deferred work, which on
// a busy machine may run late), and off when the last one closes; until
// the work has run, a datagram is stamped only when read (the kernel
// fills in the time of the read for a socket that asked), as it would be
// without timestamps. A probe that waits in a socket of its own tells when
// they are on, and that socket, kept open, keeps them on.
func kernelStampsOn(t *testing.T) {
	t.Helper()
	c, err := listenUDP(netip.MustParseAddrPort("127.0.0.1:0"), socketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := detachForTest(t, c)
	r := newRxReader(s)
	if !r.stamp {
		t.Fatal("the kernel refuses receive timestamps")
	}
	send := dialSender(t, s.local)
	buf := make([]byte, 16)
	const wait = 20 * time.Millisecond
	for start, probes := time.Now(), 1; ; probes++ {
		if err := send([]byte("probe")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(wait) // the probe waits in the socket
		_, _, _, at, err := readWithin(r, buf, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(at) >= wait/2 {
			if probes > 1 {
				t.Logf("the kernel's receive timestamps came on after %d probes, %v", probes, time.Since(start).Round(time.Millisecond))
			}
			return
		}
		if time.Since(start) > 30*time.Second {
			t.Fatal("the kernel's receive timestamps did not come on within 30s")
		}
	}
}

// waitInSocket opens a medium with open, sends it a first frame that the
// reader holds (its deliver blocks) and a second one that therefore waits
// in the socket for socketWait, and checks the second one's At.
func waitInSocket(t *testing.T, open func(Deliver) (*Media, error), send func([]byte) error) {
	t.Helper()
	got := make(chan Packet, 4)
	release := make(chan struct{})
	held := false
	m, err := open(func(p Packet) time.Duration {
		got <- p
		if !held {
			held = true
			<-release
		}
		return 0
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	next := func(want string) Packet {
		t.Helper()
		select {
		case p := <-got:
			if string(p.Data) != want {
				t.Fatalf("received %q, want %q", p.Data, want)
			}
			return p
		case <-time.After(5 * time.Second):
			t.Fatalf("%q not received within 5s", want)
		}
		return Packet{}
	}
	if err := send([]byte("first")); err != nil {
		t.Fatal(err)
	}
	next("first") // the reader now waits in deliver
	sent := time.Now()
	if err := send([]byte("waits")); err != nil {
		t.Fatal(err)
	}
	sentEnd := time.Now()
	time.Sleep(socketWait)
	released := time.Now()
	close(release)
	p := next("waits")
	read := time.Now()
	t.Logf("at %v after the send, %v before the reader was released, delivered %v after it",
		p.At.Sub(sent), released.Sub(p.At), read.Sub(released))
	if !strings.Contains(p.At.String(), " m=") {
		t.Errorf("At %v has no monotonic clock reading", p.At)
	}
	if d := p.At.Sub(sent); d < -stampSlack {
		t.Errorf("At is %v before the send", -d)
	}
	if d := p.At.Sub(sentEnd); d > stampLate {
		t.Errorf("At is %v after the send returned, want the kernel's receive time (the reader was held %v)", d, socketWait)
	}
	if d := released.Sub(p.At); d < socketWait-stampLate {
		t.Errorf("At is only %v before the reader could read it: the time of the read, not of the arrival", d)
	}
}

// dialSender sends datagrams to addr from a plain socket.
func dialSender(t *testing.T, addr netip.AddrPort) func([]byte) error {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return func(b []byte) error { _, err := c.Write(b); return err }
}

// TestReceiveTimeOfADatagramThatWaitedLoopback: unicast on IPv4 and IPv6
// loopback addresses (the two socket families; bcast and mcast read
// through the same sockets, see TestReceiveTimeOfADatagramThatWaitedByEveryMedium).
func TestReceiveTimeOfADatagramThatWaitedLoopback(t *testing.T) {
	kernelStampsOn(t)
	t.Run("ucast", func(t *testing.T) {
		port := freePort(t)
		a2 := netip.MustParseAddr("127.0.0.2")
		waitInSocket(t, func(d Deliver) (*Media, error) {
			return OpenMedia(MediaConfig{Ucast: []UcastConfig{{Bind: a2, Port: port}}}, d, nil)
		}, dialSender(t, netip.AddrPortFrom(a2, port)))
	})
	t.Run("ucast6", func(t *testing.T) {
		port := freePort6(t)
		lo6 := netip.MustParseAddr("::1")
		waitInSocket(t, func(d Deliver) (*Media, error) {
			return OpenMedia(MediaConfig{Ucast: []UcastConfig{{Bind: lo6, Port: port}}}, d, nil)
		}, dialSender(t, netip.AddrPortFrom(lo6, port)))
	})
}

// TestReceiveTimeOfADatagramThatWaitedByEveryMedium: every medium kind on
// a real interface between two test hosts (bcast, mcast and mcast6 need
// one that broadcasts and does multicast: loopback does neither), h1
// sending with a medium of the same kind.
func TestReceiveTimeOfADatagramThatWaitedByEveryMedium(t *testing.T) {
	testhosts.Require(t)
	kernelStampsOn(t)
	lab := testhosts.New(t, testhosts.Options{Hosts: 2, IPv6: true})
	h1, h2 := lab.Host(1), lab.Host(2)
	const port = 694
	v4 := []netip.Addr{netip.MustParseAddr(h1.Addr()), netip.MustParseAddr(h2.Addr())}
	v6 := []netip.Addr{netip.MustParseAddr(h1.Addr6()), netip.MustParseAddr(h2.Addr6())}
	media := []struct {
		name string
		cfg  MediaConfig
	}{
		{"bcast", MediaConfig{Dev: "eth0", Bcast: []uint16{port}}},
		{"mcast", MediaConfig{Dev: "eth0", Mcast: []McastConfig{{Dev: "eth0", Group: netip.MustParseAddr("225.0.0.7"), Port: port, TTL: 1}}}},
		{"mcast6", MediaConfig{Dev: "eth0", Mcast: []McastConfig{{Dev: "eth0", Group: netip.MustParseAddr("ff12::7"), Port: port, TTL: 1}}}},
		{"ucast", MediaConfig{Dev: "eth0", Ucast: []UcastConfig{{Dev: "eth0", Port: port, Peers: v4}}}},
		{"ucast6", MediaConfig{Dev: "eth0", Ucast: []UcastConfig{{Dev: "eth0", Port: port, Peers: v6}}}},
	}
	// inNetns runs fn in h's namespace and waits for it.
	inNetns := func(h *testhosts.Host, fn func() error) error {
		var err error
		done := make(chan struct{})
		if nerr := h.InNetns(func() { defer close(done); err = fn() }); nerr != nil {
			return nerr
		}
		<-done
		return err
	}
	for _, md := range media {
		t.Run(md.name, func(t *testing.T) {
			var sender *Media
			if err := inNetns(h1, func() (err error) {
				sender, err = OpenMedia(md.cfg, func(Packet) time.Duration { return 0 }, nil)
				return err
			}); err != nil {
				t.Fatalf("h1: %v", err)
			}
			defer sender.Close()
			waitInSocket(t, func(d Deliver) (m *Media, err error) {
				err = inNetns(h2, func() (err error) {
					m, err = OpenMedia(md.cfg, d, nil)
					return err
				})
				return m, err
			}, sender.Send)
		})
	}
}

// cmsg is one control message as the kernel writes it, padded to its
// space.
func cmsg(level, typ int, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	if unix.SizeofCmsghdr == 16 {
		binary.NativeEndian.PutUint64(b[0:], uint64(unix.CmsgLen(len(data))))
		binary.NativeEndian.PutUint32(b[8:], uint32(level))
		binary.NativeEndian.PutUint32(b[12:], uint32(typ))
	} else {
		binary.NativeEndian.PutUint32(b[0:], uint32(unix.CmsgLen(len(data))))
		binary.NativeEndian.PutUint32(b[4:], uint32(level))
		binary.NativeEndian.PutUint32(b[8:], uint32(typ))
	}
	copy(b[unix.CmsgLen(0):], data)
	return b
}

// ts64 is a timespec or timeval of 64-bit fields.
func ts64(sec, frac int64) []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint64(b[0:], uint64(sec))
	binary.NativeEndian.PutUint64(b[8:], uint64(frac))
	return b
}

func ts32(sec, frac int32) []byte {
	b := make([]byte, 8)
	binary.NativeEndian.PutUint32(b[0:], uint32(sec))
	binary.NativeEndian.PutUint32(b[4:], uint32(frac))
	return b
}

func pktinfo4(dst string) []byte {
	b := make([]byte, unix.SizeofInet4Pktinfo)
	a := netip.MustParseAddr(dst).As4()
	binary.NativeEndian.PutUint32(b[0:], 2)
	copy(b[4:], []byte{10, 201, 0, 2})
	copy(b[8:], a[:])
	return b
}

func pktinfo6(dst string) []byte {
	b := make([]byte, unix.SizeofInet6Pktinfo)
	a := netip.MustParseAddr(dst).As16()
	copy(b, a[:])
	binary.NativeEndian.PutUint32(b[16:], 2)
	return b
}

func join(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

const stampNs = 1_700_000_000_123_456_789

// rxSeeds are control messages, well formed and not.
var rxSeeds = []struct {
	name  string
	oob   []byte
	dst   string // "" for none
	stamp int64
}{
	{"nothing", nil, "", 0},
	{"ipv4 pktinfo and timestampns", join(cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, pktinfo4("10.201.0.255")), cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts64(1_700_000_000, 123_456_789))), "10.201.0.255", stampNs},
	{"timestamp first", join(cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts64(1_700_000_000, 123_456_789)), cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, pktinfo6("ff12::7"))), "ff12::7", stampNs},
	{"old timestampns of this architecture", cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, ts64(1_700_000_000, 123_456_789)), "", stampNs},
	{"32-bit timespec", cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, ts32(1_700_000_000, 123_456_789)), "", stampNs},
	{"timeval", cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMP, ts64(1_700_000_000, 123_456)), "", 1_700_000_000_123_456_000},
	{"timeval new", cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMP_NEW, ts32(1_700_000_000, 123_456)), "", 1_700_000_000_123_456_000},
	{"v4-mapped ipv6 destination", cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, pktinfo6("::ffff:10.201.0.2")), "10.201.0.2", 0},
	{"nanoseconds out of range", cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts64(1_700_000_000, 1_000_000_000)), "", 0},
	{"negative nanoseconds", cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts64(1_700_000_000, -1)), "", 0},
	{"microseconds out of range", cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMP, ts64(1_700_000_000, 1_000_000)), "", 0},
	{"huge microseconds", cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMP, ts64(1_700_000_000, 1<<61)), "", 0},
	{"zero time", cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts64(0, 0)), "", 0},
	{"negative seconds", cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts64(-5, 0)), "", 0},
	{"seconds beyond 2262", cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts64(1<<62, 0)), "", 0},
	{"timestamp of 12 bytes", cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, make([]byte, 12)), "", 0},
	{"short pktinfo", cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, make([]byte, 8)), "", 0},
	{"short pktinfo6", cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, make([]byte, 16)), "", 0},
	{"another level", cmsg(unix.IPPROTO_TCP, unix.SO_TIMESTAMPNS_NEW, ts64(1_700_000_000, 0)), "", 0},
	{"truncated header", cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts64(1_700_000_000, 0))[:unix.SizeofCmsghdr-1], "", 0},
	{"truncated data", cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts64(1_700_000_000, 0))[:unix.CmsgLen(12)], "", 0},
	{"truncated second message", join(cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, pktinfo4("127.0.0.2")), cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts64(1_700_000_000, 0))[:20]), "127.0.0.2", 0},
	{"length zero", make([]byte, 64), "", 0},
	{"length below the header", func() []byte {
		b := cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts64(1_700_000_000, 0))
		b[0] = 3
		return b
	}(), "", 0},
	{"length beyond the buffer", func() []byte {
		b := cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts64(1_700_000_000, 0))
		b[0] = 200
		return b
	}(), "", 0},
	{"length of all ones", func() []byte {
		b := cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts64(1_700_000_000, 0))
		for i := range unix.SizeofCmsghdr / 2 {
			b[i] = 0xff
		}
		return b
	}(), "", 0},
	{"garbage", []byte("\x13\x00\x00\x00\x00\x00\x00\x00garbage and more garbage, not a control message"), "", 0},
	{"message then garbage", join(cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts64(1_700_000_000, 123_456_789)), []byte("\xff\xfe\xfd")), "", stampNs},
}

// TestParseRxControl: what well-formed control messages say is read;
// malformed ones end the parse with what came before, never a panic.
func TestParseRxControl(t *testing.T) {
	for _, s := range rxSeeds {
		got := parseRxControl(s.oob)
		var want netip.Addr
		if s.dst != "" {
			want = netip.MustParseAddr(s.dst)
		}
		if got.dst != want || got.stamp != s.stamp {
			t.Errorf("%s: got %v at %d, want %v at %d", s.name, got.dst, got.stamp, want, s.stamp)
		}
		// Every truncation of it is safe too.
		for i := range s.oob {
			parseRxControl(s.oob[:i])
		}
	}
}

// FuzzParseRxControl: whatever the control bytes, parsing neither panics
// nor reads a time before the epoch or an address of a third size.
func FuzzParseRxControl(f *testing.F) {
	for _, s := range rxSeeds {
		f.Add(s.oob)
	}
	f.Fuzz(func(t *testing.T, oob []byte) {
		info := parseRxControl(oob)
		if info.stamp < 0 {
			t.Fatalf("stamp %d", info.stamp)
		}
		if info.dst.IsValid() && !info.dst.Is4() && !info.dst.Is6() {
			t.Fatalf("destination %v", info.dst)
		}
		if info.dst.Is4In6() {
			t.Fatalf("mapped destination %v", info.dst)
		}
		now := time.Now()
		at := receivedAt(now, info.stamp)
		if at.After(now) || now.Sub(at) > MaxSocketWait || !strings.Contains(at.String(), " m=") {
			t.Fatalf("received at %v, read at %v", at, now)
		}
	})
}

// TestReceivedAt: the receive time is the read's less the wait by the
// wall clock, within [0, MaxSocketWait], with the read's monotonic
// reading; no stamp, the read's time.
func TestReceivedAt(t *testing.T) {
	now := time.Now()
	wall := now.UnixNano()
	for _, c := range []struct {
		name  string
		stamp int64
		want  time.Duration // before now
	}{
		{"no stamp", 0, 0},
		{"waited 300ms", wall - int64(300*time.Millisecond), 300 * time.Millisecond},
		{"just now", wall, 0},
		{"after the read (the wall clock stepped back)", wall + int64(time.Hour), 0},
		{"an hour ago (the wall clock stepped forward)", wall - int64(time.Hour), MaxSocketWait},
	} {
		at := receivedAt(now, c.stamp)
		if got := now.Sub(at); got != c.want {
			t.Errorf("%s: %v before the read, want %v", c.name, got, c.want)
		}
		if !strings.Contains(at.String(), " m=") {
			t.Errorf("%s: %v has no monotonic reading", c.name, at)
		}
		// The monotonic reading and the wall clock agree.
		if d, wd := now.Sub(at), now.Round(0).Sub(at.Round(0)); d != wd {
			t.Errorf("%s: %v by the monotonic clock, %v by the wall clock", c.name, d, wd)
		}
	}
}

// TestRxReaderTellsDestinationAndTime: a real socket reports both, and
// the parse of what the kernel wrote finds them.
func TestRxReaderTellsDestinationAndTime(t *testing.T) {
	for _, addr := range []string{"127.0.0.2:0", "[::1]:0"} {
		c, err := listenUDP(netip.MustParseAddrPort(addr), socketOptions{})
		if err != nil {
			if strings.HasPrefix(addr, "[") {
				t.Logf("no IPv6 here: %v", err)
				continue
			}
			t.Fatal(err)
		}
		s := detachForTest(t, c)
		r := newRxReader(s)
		if !r.dst || !r.stamp {
			t.Fatalf("%s: destination reported %v, receive time %v", addr, r.dst, r.stamp)
		}
		send := dialSender(t, s.local)
		before := time.Now()
		if err := send([]byte("x")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		n, from, dst, at, err := readWithin(r, buf, 5*time.Second)
		after := time.Now()
		if err != nil || n != 1 {
			t.Fatalf("%s: read %d bytes: %v", addr, n, err)
		}
		if dst != s.local.Addr() || !from.IsValid() {
			t.Errorf("%s: datagram from %v to %v", addr, from, dst)
		}
		if at.Before(before.Add(-stampSlack)) || at.After(after) {
			t.Errorf("%s: received at %v, sent from %v, read by %v", addr, at, before, after)
		}
	}
}

// BenchmarkParseRxControl: the parse of a destination and a time, run on
// every datagram.
func BenchmarkParseRxControl(b *testing.B) {
	oob := rxSeeds[1].oob
	b.ReportAllocs()
	for b.Loop() {
		if parseRxControl(oob).stamp == 0 {
			b.Fatal("no stamp")
		}
	}
}
