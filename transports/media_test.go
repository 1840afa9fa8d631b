package transports

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCopyFilter(t *testing.T) {
	f := newCopyFilter(time.Second, 4)
	t0 := time.Unix(1000, 0)
	bcast := netip.MustParseAddrPort("10.201.0.255:694")
	ucast := netip.MustParseAddrPort("10.201.0.2:694")
	group := netip.MustParseAddrPort("225.0.0.1:694")
	frame := []byte("frame 1")
	steps := []struct {
		what string
		data []byte
		path netip.AddrPort
		at   time.Duration
		drop bool
	}{
		{"first copy, by broadcast", frame, bcast, 0, false},
		{"copy by unicast", frame, ucast, time.Millisecond, true},
		{"copy by multicast", frame, group, 2 * time.Millisecond, true},
		{"by broadcast again: a network duplicate or a replay, for membership to judge", frame, bcast, 3 * time.Millisecond, false},
		{"another frame", []byte("frame 2"), ucast, 4 * time.Millisecond, false},
		{"same bytes after the window: handed on", frame, ucast, 2 * time.Second, false},
		{"and its copy within the new window", frame, bcast, 2*time.Second + time.Millisecond, true},
	}
	for _, s := range steps {
		if got := f.another(s.data, s.path, t0.Add(s.at)); got != s.drop {
			t.Fatalf("%s: dropped %v, want %v", s.what, got, s.drop)
		}
	}
	// A full ring forgets the oldest frame: its late copy is handed on.
	for i := range 4 {
		f.another([]byte{byte(i)}, bcast, t0.Add(2*time.Second))
	}
	if f.another(frame, group, t0.Add(2*time.Second)) {
		t.Fatal("a frame evicted from the ring was still remembered")
	}
	if len(f.entries) > 4 {
		t.Fatalf("%d entries for a ring of 4", len(f.entries))
	}
}

// twoPorts finds two UDP ports free on 127.0.0.1 and 127.0.0.2.
func twoPorts(t *testing.T) (uint16, uint16) {
	for range 10 {
		p1, p2 := freePort(t), freePort(t)
		if p1 != p2 {
			return p1, p2
		}
	}
	t.Fatal("no two free ports")
	return 0, 0
}

// collector gathers delivered packets.
type collector struct {
	mu  sync.Mutex
	got []string
	in  chan struct{}
}

func newCollector() *collector { return &collector{in: make(chan struct{}, 100)} }

func (c *collector) deliver(p Packet) time.Duration {
	c.mu.Lock()
	c.got = append(c.got, string(p.Data))
	c.mu.Unlock()
	c.in <- struct{}{}
	return 0
}

func (c *collector) wait(t *testing.T, n int) []string {
	t.Helper()
	for range n {
		select {
		case <-c.in:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %v delivered within 5s, want %d packets", c.list(), n)
		}
	}
	// Anything more would come within a few milliseconds on loopback.
	select {
	case <-c.in:
		t.Fatalf("delivered more than %d: %v", n, c.list())
	case <-time.After(100 * time.Millisecond):
	}
	return c.list()
}

func (c *collector) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

// TestMediaDeliverAFrameOnce: a link with two media (here unicast on two
// ports) receives each frame twice and delivers it once; a second copy by
// the same medium (a network duplicate, a replay) is delivered, for
// membership to judge.
func TestMediaDeliverAFrameOnce(t *testing.T) {
	p1, p2 := twoPorts(t)
	a1, a2 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	cfg := func(bind netip.Addr) MediaConfig {
		peers := []netip.Addr{a1, a2}
		return MediaConfig{Ucast: []UcastConfig{{Bind: bind, Port: p1, Peers: peers}, {Bind: bind, Port: p2, Peers: peers}}}
	}
	sender, err := OpenMedia(cfg(a1), func(Packet) time.Duration { return 0 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	c := newCollector()
	receiver, err := OpenMedia(cfg(a2), c.deliver, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer receiver.Close()
	if ds := sender.Destinations(); len(ds) != 2 || ds[0] != netip.AddrPortFrom(a2, p1) || ds[1] != netip.AddrPortFrom(a2, p2) {
		t.Fatalf("destinations %v", ds)
	}

	if err := sender.Send([]byte("frame 1")); err != nil {
		t.Fatal(err)
	}
	if got := c.wait(t, 1); got[0] != "frame 1" {
		t.Fatalf("delivered %v", got)
	}
	if n := receiver.CopiesDropped(); n != 1 {
		t.Fatalf("%d copies dropped, want 1", n)
	}

	// The same bytes again by the first port: not another medium.
	raw, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a2, p1)))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Write([]byte("frame 1")); err != nil {
		t.Fatal(err)
	}
	if got := c.wait(t, 1); len(got) != 2 || got[1] != "frame 1" {
		t.Fatalf("a second copy by the same medium was not delivered: %v", got)
	}

	if err := sender.Send([]byte("frame 2")); err != nil {
		t.Fatal(err)
	}
	if got := c.wait(t, 1); len(got) != 3 || got[2] != "frame 2" || receiver.CopiesDropped() != 2 {
		t.Fatalf("delivered %v, %d copies dropped", got, receiver.CopiesDropped())
	}
}

// TestMediaShareASocketPerAddressAndPort: media that need the same local
// address and port share one socket (two sockets would split the unicast
// datagrams between them); their destinations add up.
func TestMediaShareASocketPerAddressAndPort(t *testing.T) {
	p1, p2 := twoPorts(t)
	a1 := netip.MustParseAddr("127.0.0.1")
	peer := func(s string) []netip.Addr { return []netip.Addr{netip.MustParseAddr(s)} }
	m, err := OpenMedia(MediaConfig{Ucast: []UcastConfig{
		{Bind: a1, Port: p1, Peers: peer("127.0.0.2")},
		{Bind: a1, Port: p1, Peers: peer("127.0.0.3")},
		{Bind: a1, Port: p2, Peers: peer("127.0.0.2")},
		{Bind: a1, Port: p1, Peers: peer("127.0.0.1")}, // this host: skipped
	}}, func(Packet) time.Duration { return 0 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if ls := m.LocalAddrs(); len(ls) != 2 || ls[0] != netip.AddrPortFrom(a1, p1) || ls[1] != netip.AddrPortFrom(a1, p2) {
		t.Fatalf("receiving sockets %v, want one per port", ls)
	}
	want := []string{"127.0.0.2:" + strconv.Itoa(int(p1)), "127.0.0.3:" + strconv.Itoa(int(p1)), "127.0.0.2:" + strconv.Itoa(int(p2))}
	var got []string
	for _, d := range m.Destinations() {
		got = append(got, d.String())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("destinations %v, want %v", got, want)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

// TestMediaPartialSend: a frame that leaves by some destinations and not
// by others was sent (the link works); one that leaves by none is an
// error.
func TestMediaPartialSend(t *testing.T) {
	port := freePort(t)
	a1 := netip.MustParseAddr("127.0.0.1")
	// A socket bound to loopback cannot send to another network: sendto
	// fails at once (EINVAL).
	unreachable := netip.MustParseAddr("192.0.2.1")
	m, err := OpenMedia(MediaConfig{Ucast: []UcastConfig{{Bind: a1, Port: port, Peers: []netip.Addr{netip.MustParseAddr("127.0.0.2"), unreachable}}}}, func(Packet) time.Duration { return 0 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var partial *PartialSendError
	if err := m.Send([]byte("x")); !errors.As(err, &partial) || partial.Sent != 1 || partial.Failed != 1 || !strings.Contains(err.Error(), "192.0.2.1") {
		t.Fatalf("send: %v, want a partial send naming 192.0.2.1", err)
	}
	only, err := OpenUcast(UcastConfig{Bind: a1, Port: port, Peers: []netip.Addr{unreachable}}, func(Packet) time.Duration { return 0 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer only.Close()
	if err := only.Send([]byte("x")); err == nil || errors.As(err, &partial) {
		t.Fatalf("send by no destination: %v, want a plain error", err)
	}
}

func TestMediaOpenErrors(t *testing.T) {
	if _, err := OpenMedia(MediaConfig{}, func(Packet) time.Duration { return 0 }, nil); err == nil {
		t.Fatal("a link with no medium opened")
	}
	// A medium that cannot open closes the ones that did: the port is
	// free again.
	port := freePort(t)
	a1 := netip.MustParseAddr("127.0.0.1")
	_, err := OpenMedia(MediaConfig{Ucast: []UcastConfig{{Bind: a1, Port: port}}, Mcast: []McastConfig{{Group: netip.MustParseAddr("225.0.0.1"), Port: port, TTL: 1}}}, func(Packet) time.Duration { return 0 }, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "mcast ") {
		t.Fatalf("mcast without an interface: %v", err)
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a1, port)))
	if err != nil {
		t.Fatalf("port still taken after a failed open: %v", err)
	}
	c.Close()
	if _, err := OpenMedia(MediaConfig{Dev: "lo", Ucast: []UcastConfig{{Dev: "eth9", Port: port}}}, func(Packet) time.Duration { return 0 }, nil); err == nil || !strings.Contains(err.Error(), "ucast eth9: on a link of lo") {
		t.Fatalf("ucast of another device: %v", err)
	}
}
