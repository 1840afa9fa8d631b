package transports

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Several media on one interface: one link.
//
// Heartbeat opens every medium line as a medium of its own (an hb_media:
// its own sockets, its own read and write processes), but names each one
// by its interface, and a node's link is looked up by that name
// (heartbeat.c lookup_iface(), called by read_child_dispatch() with the
// medium's name): the frames of `bcast eth0`, `ucast eth0 10.0.0.2` and
// `mcast eth0 ...` all refresh one link, eth0, and `cl_status
// hblinkstatus node eth0` is up while any of them brings frames. hanode
// does the same on purpose: a link is an interface (or a serial line),
// and the media a configuration names on that interface are the ways
// frames travel over it.
//
// Sockets. Every medium of Heartbeat binds its own receiving socket with
// SO_REUSEADDR (ucast also SO_REUSEPORT): bcast and ucast both on
// 0.0.0.0:694. For unicast datagrams Linux then picks ONE of the sockets
// bound to the same address and port (the best match, or a hash over
// SO_REUSEPORT sockets); only broadcast and multicast datagrams reach
// them all. Heartbeat gets away with it because every medium of eth0
// feeds the same link; hanode does not rely on it at all: a link opens one
// receiving socket per local address and port its media need, shared by
// the media that need it, so no datagram can land on a socket that does
// not expect it and none is received twice:
//
//   - bcast, ucast and mcast on a port share the socket bound to
//     0.0.0.0:port on the interface (ucast with a bind address, native
//     configuration only, binds that address); it receives the broadcasts
//     and the unicast datagrams for that port, and the datagrams of the
//     groups an mcast medium joined on it (see openMcast: Go cannot bind a
//     socket to a group address as Heartbeat does);
//   - IP_MULTICAST_ALL is off on every socket: a socket receives only the
//     groups it joined itself, not those other sockets of the host joined;
//   - IPv6 media (ucast to IPv6 peers, Heartbeat's ucast6; mcast to an
//     IPv6 group, mcast6) do the same with IPv6 sockets: [::]:port on the
//     interface, IPv6 only, beside the IPv4 socket of the same port. A
//     link may mix both families (bcast and ucast6 on eth0 are one link,
//     eth0, as in Heartbeat); a ucast medium with peers of both families
//     opens one socket of each.
//
// Sending is what Heartbeat's media do, each of them: a frame goes to the
// broadcast address (bcast), to every peer (ucast) and to the group (mcast,
// from a socket of its own that carries the medium's TTL and loop
// settings). A configuration with bcast and ucast on eth0 sends every frame
// both as a broadcast and to each peer, as Heartbeat does.
//
// Copies. A frame sent by three media arrives three times, every copy
// byte for byte the same (a frame is sealed once and handed to every
// medium). Heartbeat counts the later copies as duplicates by sequence
// number. hanode's membership keeps a replay window per link: a second
// copy of a frame on one link is a replay to it, counted and logged as an
// attack. So a link with several media drops here a copy that arrives by
// another medium (another local destination: the broadcast address, this
// host's unicast address, the group, on another port) than the copies
// before it; a copy by the SAME medium (a duplicate made by the network,
// or a replay) goes on to membership, which judges it as before. A link
// with one medium drops nothing here. (A frame captured and sent again by
// another medium of the link within the window is dropped here uncounted:
// nothing tells it from that medium's own copy, and it is dropped either
// way.) The destination address of each datagram (IP_PKTINFO) says which
// medium brought it; copyFilter remembers the paths of recent frames.

// MediaConfig describes the network media of one link: the media a
// configuration names on one interface.
type MediaConfig struct {
	// Dev is the interface; every socket is bound to it
	// (SO_BINDTODEVICE). Empty only for unicast not tied to a device.
	Dev string
	// Bcast are the UDP ports frames are broadcast to and received on
	// (Heartbeat `bcast dev`, one per udpport in effect).
	Bcast []uint16
	// Ucast are the unicast media; their Dev must be Dev or empty.
	Ucast []UcastConfig
	// Mcast are the multicast media; their Dev must be Dev or empty.
	Mcast []McastConfig
}

func (c MediaConfig) count() int { return len(c.Bcast) + len(c.Ucast) + len(c.Mcast) }

// Media is an open link made of one or more UDP media on one interface.
type Media struct {
	dev string
	// recv are the receiving sockets, one per local address and port,
	// and readers their readers; outside the runtime's poller (see
	// pacedsocket.go).
	recv    []*udpSocket
	readers []*pacedReader
	// sends are where each frame goes, grouped by the socket it leaves
	// from.
	sends []sendPath
	// owned are every socket to close (receiving and sending).
	owned []*udpSocket
	// joined are the groups (and ports) joined on the receiving sockets.
	joined []netip.AddrPort
	// opening is what open builds, sockets still in the runtime's hands
	// (their options and groups are set through net and x/net); OpenMedia
	// then detaches them.
	opening *openingMedia

	// mu serialises deliveries from the readers (Deliver is never called
	// concurrently with itself) and guards copies.
	mu      sync.Mutex
	copies  *copyFilter // nil with one medium
	dropped atomic.Uint64

	reading sync.WaitGroup
	closing sync.Once
}

// sendPath is a socket and the destinations frames go to from it (addrs:
// the same, as the kernel takes them).
type sendPath struct {
	sock  *udpSocket
	dests []netip.AddrPort
	addrs []unix.Sockaddr
}

// openingMedia are the sockets of a Media being opened.
type openingMedia struct {
	recv  []*net.UDPConn
	owned []*net.UDPConn
	sends []openingPath
}

type openingPath struct {
	conn  *net.UDPConn
	dests []netip.AddrPort
}

// PartialSendError is returned by Send when a frame went out by some
// destinations of a link and not by others: the link works (it carries
// frames), but a medium or a peer address fails.
type PartialSendError struct {
	// Sent and Failed count the destinations.
	Sent, Failed int
	// Err is the first failure.
	Err error
}

func (e *PartialSendError) Error() string {
	return fmt.Sprintf("sent to %d of %d destinations: %v", e.Sent, e.Sent+e.Failed, e.Err)
}

func (e *PartialSendError) Unwrap() error { return e.Err }

// OpenMedia opens every medium of cfg and starts the readers. An error of
// any medium closes what was opened and is returned: a link opens whole
// (the link actor retries).
func OpenMedia(cfg MediaConfig, deliver Deliver, readErr ReadError) (*Media, error) {
	if cfg.count() == 0 {
		return nil, errors.New("no medium to open")
	}
	m := &Media{dev: cfg.Dev, opening: &openingMedia{}}
	err := m.open(cfg)
	if err == nil {
		err = m.detach()
	}
	if err != nil {
		for _, c := range m.opening.owned {
			c.Close()
		}
		m.release()
		return nil, err
	}
	m.opening = nil
	if cfg.count() > 1 {
		m.copies = newCopyFilter(copyWindow, copyEntries)
	}
	for i, s := range m.recv {
		m.reading.Add(1)
		go m.read(s, m.readers[i], deliver, readErr)
	}
	return m, nil
}

// detach takes the sockets open built out of the runtime's poller, and
// makes the readers of the receiving ones. On an error, what is left in
// opening and what is already in m are for the caller to close.
func (m *Media) detach() error {
	op := m.opening
	socks := map[*net.UDPConn]*udpSocket{}
	for len(op.owned) > 0 {
		c := op.owned[0]
		op.owned = op.owned[1:]
		s, err := detach(c)
		if err != nil {
			return err
		}
		socks[c] = s
		m.owned = append(m.owned, s)
	}
	for _, c := range op.recv {
		s := socks[c]
		r, err := newPacedReader(s)
		if err != nil {
			return fmt.Errorf("socket %s: %w", s.local, err)
		}
		m.recv = append(m.recv, s)
		m.readers = append(m.readers, r)
	}
	for _, p := range op.sends {
		s := socks[p.conn]
		path := sendPath{sock: s, dests: p.dests}
		for _, d := range p.dests {
			sa, err := s.sockaddr(d)
			if err != nil {
				return fmt.Errorf("send to %s: %w", d, err)
			}
			path.addrs = append(path.addrs, sa)
		}
		m.sends = append(m.sends, path)
	}
	return nil
}

// release closes the readers' and the sockets' descriptors (a reader
// closed already is not closed again); the readers must have stopped (or
// never started).
func (m *Media) release() error {
	var err error
	for _, r := range m.readers {
		err = errors.Join(err, r.close(), r.release())
	}
	for _, s := range m.owned {
		err = errors.Join(err, s.close())
	}
	return err
}

func (m *Media) open(cfg MediaConfig) error {
	byAddr := map[netip.AddrPort]*net.UDPConn{}
	// socket returns the receiving socket bound to addr, opening it on
	// first use: media that need the same address and port share it.
	socket := func(addr netip.AddrPort) (*net.UDPConn, error) {
		if c, ok := byAddr[addr]; ok {
			return c, nil
		}
		c, err := listenUDP(addr, socketOptions{dev: cfg.Dev})
		if err != nil {
			return nil, err
		}
		byAddr[addr] = c
		m.opening.recv = append(m.opening.recv, c)
		m.opening.owned = append(m.opening.owned, c)
		return c, nil
	}
	sameDev := func(kind, dev string) error {
		if dev != "" && dev != cfg.Dev {
			return fmt.Errorf("%s %s: on a link of %s", kind, dev, devName(cfg.Dev))
		}
		return nil
	}
	for _, port := range cfg.Bcast {
		baddr, err := BroadcastAddr(cfg.Dev)
		if err != nil {
			return fmt.Errorf("bcast %s: %w", cfg.Dev, err)
		}
		c, err := socket(netip.AddrPortFrom(netip.IPv4Unspecified(), port))
		if err != nil {
			return fmt.Errorf("bcast %s: listen on port %d: %w", cfg.Dev, port, err)
		}
		// Go sets SO_BROADCAST on every UDP socket on Linux.
		m.addDest(c, netip.AddrPortFrom(baddr, port))
	}
	for _, u := range cfg.Ucast {
		if err := sameDev("ucast", u.Dev); err != nil {
			return err
		}
		self, err := SelfPeers(u)
		if err != nil {
			return err
		}
		// One receiving socket per family the medium's peers use (an IPv6
		// peer is sent to, and heard from, by an IPv6 socket), or the bind
		// address's alone.
		var binds []netip.Addr
		if u.Bind.IsValid() {
			binds = []netip.Addr{u.Bind}
		} else {
			for _, p := range u.Peers {
				if w := unspecified(p); !slices.Contains(binds, w) {
					binds = append(binds, w)
				}
			}
			if len(binds) == 0 {
				binds = []netip.Addr{netip.IPv4Unspecified()}
			}
		}
		for _, bind := range binds {
			addr := netip.AddrPortFrom(bind, u.Port)
			c, err := socket(addr)
			if err != nil {
				return fmt.Errorf("ucast %s: listen %s: %w", devName(cfg.Dev), addr, err)
			}
			for _, p := range u.Peers {
				if !self[p] && sameFamily(p, bind) {
					m.addDest(c, netip.AddrPortFrom(p, u.Port))
				}
			}
		}
	}
	for _, mc := range cfg.Mcast {
		if err := sameDev("mcast", mc.Dev); err != nil {
			return err
		}
		if err := m.openMcast(cfg.Dev, mc, socket); err != nil {
			return err
		}
	}
	return nil
}

// openMcast joins the group on dev with the link's receiving socket of the
// group's port (bound to 0.0.0.0:port, shared with bcast and ucast media of
// that port), and opens the socket that sends to the group with the
// medium's TTL and loop.
//
// Heartbeat binds its mcast socket to the group address. Go cannot: asked
// to bind a UDP socket to a multicast address, it binds the wildcard
// address instead (net: listenDatagram, "a socket that listens to a
// wildcard address with reusable UDP port"), so a socket of its own would
// be a second 0.0.0.0:port socket on the interface, and Linux would hand
// the unicast datagrams of that port to one of the two only. Joined on the
// shared socket, the group's datagrams arrive where the others do; with
// IP_MULTICAST_ALL off, only the groups the socket joined itself.
func (m *Media) openMcast(dev string, cfg McastConfig, socket func(netip.AddrPort) (*net.UDPConn, error)) error {
	kind := "mcast"
	if cfg.Group.Is6() {
		kind = "mcast6"
	}
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return fmt.Errorf("%s %s: %w", kind, dev, err)
	}
	if ifi.Flags&net.FlagMulticast == 0 {
		return fmt.Errorf("%s %s: the interface does not do multicast", kind, dev)
	}
	addr := netip.AddrPortFrom(unspecified(cfg.Group), cfg.Port)
	recv, err := socket(addr)
	if err != nil {
		return fmt.Errorf("%s %s: listen %s: %w", kind, dev, addr, err)
	}
	dest := netip.AddrPortFrom(cfg.Group, cfg.Port)
	group := &net.UDPAddr{IP: cfg.Group.AsSlice()}
	if !slices.Contains(m.joined, dest) {
		if cfg.Group.Is6() {
			err = ipv6.NewPacketConn(recv).JoinGroup(ifi, group)
		} else {
			err = ipv4.NewPacketConn(recv).JoinGroup(ifi, group)
		}
		if err != nil {
			return fmt.Errorf("%s %s: join %s: %w", kind, dev, cfg.Group, err)
		}
		m.joined = append(m.joined, dest)
	}
	send, err := listenUDP(netip.AddrPortFrom(unspecified(cfg.Group), 0), socketOptions{dev: dev})
	if err != nil {
		return fmt.Errorf("%s %s: sending socket: %w", kind, dev, err)
	}
	m.opening.owned = append(m.opening.owned, send)
	var settings []func() error
	if cfg.Group.Is6() {
		// Heartbeat's mcast6: IPV6_MULTICAST_IF, _HOPS and _LOOP.
		p := ipv6.NewPacketConn(send)
		settings = []func() error{
			func() error { return p.SetMulticastInterface(ifi) },
			func() error { return p.SetMulticastHopLimit(cfg.TTL) },
			func() error { return p.SetMulticastLoopback(cfg.Loop) },
		}
	} else {
		p := ipv4.NewPacketConn(send)
		settings = []func() error{
			func() error { return p.SetMulticastInterface(ifi) },
			func() error { return p.SetMulticastTTL(cfg.TTL) },
			func() error { return p.SetMulticastLoopback(cfg.Loop) },
		}
	}
	for _, set := range settings {
		if err := set(); err != nil {
			return fmt.Errorf("%s %s: %w", kind, dev, err)
		}
	}
	m.addDest(send, dest)
	return nil
}

// sameFamily says whether a and b are both IPv4 or both IPv6.
func sameFamily(a, b netip.Addr) bool { return a.Unmap().Is4() == b.Unmap().Is4() }

func (m *Media) addPath(c *net.UDPConn) *openingPath {
	op := m.opening
	for i := range op.sends {
		if op.sends[i].conn == c {
			return &op.sends[i]
		}
	}
	op.sends = append(op.sends, openingPath{conn: c})
	return &op.sends[len(op.sends)-1]
}

func (m *Media) addDest(c *net.UDPConn, d netip.AddrPort) {
	p := m.addPath(c)
	if !slices.Contains(p.dests, d) {
		p.dests = append(p.dests, d)
	}
}

func localAddr(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Send sends b to every destination of every medium. It returns nil when
// every send worked, a *PartialSendError when some did, and the first
// error when none did.
func (m *Media) Send(b []byte) error {
	var first error
	sent, failed := 0, 0
	for _, p := range m.sends {
		for i, d := range p.dests {
			if err := p.sock.sendTo(b, p.addrs[i], d); err != nil {
				failed++
				if first == nil {
					first = fmt.Errorf("send to %s: %w", d, err)
				}
				continue
			}
			sent++
		}
	}
	switch {
	case failed == 0:
		return nil
	case sent == 0:
		return first
	}
	return &PartialSendError{Sent: sent, Failed: failed, Err: first}
}

// Close stops the readers and closes the sockets. After it returns,
// Deliver is not called again. A second Close does nothing.
func (m *Media) Close() error {
	var err error
	m.closing.Do(func() {
		for _, r := range m.readers {
			// Wakes its reader, which ends.
			err = errors.Join(err, r.close())
		}
		m.reading.Wait()
		err = errors.Join(err, m.release())
	})
	return err
}

// Destinations are the addresses every frame goes to.
func (m *Media) Destinations() []netip.AddrPort {
	var ds []netip.AddrPort
	for _, p := range m.sends {
		ds = append(ds, p.dests...)
	}
	return ds
}

// LocalAddr is the first receiving socket's address.
func (m *Media) LocalAddr() netip.AddrPort { return m.recv[0].local }

// LocalAddrs are the addresses of every receiving socket.
func (m *Media) LocalAddrs() []netip.AddrPort {
	as := make([]netip.AddrPort, len(m.recv))
	for i, s := range m.recv {
		as[i] = s.local
	}
	return as
}

// CopiesDropped counts the frames dropped because they had already
// arrived by another medium of this link.
func (m *Media) CopiesDropped() uint64 { return m.dropped.Load() }

// read delivers the datagrams of one socket until the link closes: it
// waits for one, reads every datagram waiting, and asks for the next, or
// pauses when Deliver asks it to (the datagrams behind the one that asked
// wait in the socket for the pause's end, unheard). A persistent error is
// reported and retried with a growing pause, so that a broken socket
// cannot spin a core.
func (m *Media) read(s *udpSocket, pr *pacedReader, deliver Deliver, readErr ReadError) {
	defer m.reading.Done()
	port := s.local.Port()
	// The destination of each datagram tells which medium brought it (the
	// broadcast address, this host's address, the group); the kernel's
	// receive time, when it arrived (see rxmsg.go).
	r := newRxReader(s)
	buf := make([]byte, maxDatagram)
	backoff := time.Millisecond
	failed := func(err error) {
		if readErr != nil {
			readErr(err)
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, time.Second)
	}
	for {
		if err := pr.wait(); err != nil {
			if errors.Is(err, errReaderClosed) {
				return
			}
			failed(err)
			continue
		}
		var pause time.Duration
		var err error
		for pause == 0 {
			var n int
			var from netip.AddrPort
			var dst netip.Addr
			var at time.Time
			n, from, dst, at, err = r.read(buf)
			if err != nil {
				break
			}
			backoff = time.Millisecond
			from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
			var path netip.AddrPort
			if dst.IsValid() {
				path = netip.AddrPortFrom(dst.Unmap(), port)
			}
			pause = m.deliver(deliver, Packet{Data: append([]byte(nil), buf[:n]...), From: from, At: at}, path)
		}
		if err != nil && !errors.Is(err, errNoDatagram) {
			failed(err)
		}
		if pause > 0 {
			err = pr.pause(pause)
		} else {
			err = pr.arm()
		}
		if errors.Is(err, errReaderClosed) {
			return
		}
		if err != nil {
			// Unarmed, the reader would wait forever: wait a little and
			// read again.
			failed(err)
			if err := pr.pause(backoff); err != nil && readErr != nil {
				readErr(err)
			}
		}
	}
}

func (m *Media) deliver(deliver Deliver, p Packet, path netip.AddrPort) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.copies != nil && m.copies.another(p.Data, path, p.At) {
		m.dropped.Add(1)
		return 0
	}
	return deliver(p)
}
