package transports

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// EchoReply is called for each ICMP echo reply a Pinger receives from one
// of its targets, with the time it was read.
type EchoReply func(from netip.Addr, at time.Time)

// Pinger sends ICMP echo requests to a set of addresses, IPv4 (Heartbeat's
// ping) and IPv6 (ping6, ICMPv6), and reports their replies: the probe of
// ping nodes. As root it uses a raw socket per family (and tells its
// replies from other programs' by the echo identifier, and from forged or
// stale ones by the sequence numbers it sent lately); otherwise an
// unprivileged ICMP datagram socket, where the kernel allows it
// (net.ipv4.ping_group_range, which rules ICMPv6 datagram sockets too).
type Pinger struct {
	// socks are the sockets of the families the targets use.
	socks   []*echoSocket
	id      int
	targets map[netip.Addr]bool
	mu      sync.Mutex
	seq     int
	// sent are the sequence numbers of the last len(sent) rounds: a reply
	// must answer one of them.
	sent    [recentEchoes]int
	closed  chan struct{}
	readers sync.WaitGroup
}

// echoSocket is the socket of one family.
type echoSocket struct {
	conn *icmp.PacketConn
	// raw is a raw socket (the kernel leaves the identifier alone, and
	// every echo reply of the host arrives), as opposed to an ICMP
	// datagram socket.
	raw bool
	v6  bool
}

// recentEchoes is how many rounds of echo requests a reply may answer: at
// a ping every second or so, replies later than that are no sign of a
// working path now.
const recentEchoes = 8

// ICMP protocol numbers, for icmp.ParseMessage.
const (
	protoICMP   = 1
	protoICMPv6 = 58
)

// OpenPinger opens a pinger for targets; reply is called from the pinger's
// own goroutines (one per family), never concurrently. A link-local IPv6
// target carries its interface as its zone (fe80::1%eth0).
func OpenPinger(targets []netip.Addr, reply EchoReply) (*Pinger, error) {
	if len(targets) == 0 {
		return nil, errors.New("ping: no address")
	}
	p := &Pinger{targets: map[netip.Addr]bool{}, closed: make(chan struct{})}
	for i := range p.sent {
		p.sent[i] = -1
	}
	var v4, v6 bool
	for _, t := range targets {
		switch {
		case t.Is4():
			v4 = true
		case t.Is4In6():
			return nil, fmt.Errorf("ping: %s is an IPv4-mapped address: ping %s", t, t.Unmap())
		case t.IsLinkLocalUnicast() && t.Zone() == "":
			return nil, fmt.Errorf("ping: link-local %s needs the interface as its scope (%s%%eth0)", t, t)
		default:
			v6 = true
		}
		p.targets[t] = true
	}
	var b [2]byte
	rand.Read(b[:])
	p.id = int(binary.BigEndian.Uint16(b[:]))
	for _, fam := range []struct {
		use           bool
		v6            bool
		raw, datagram string
		addr, sysctl  string
	}{
		{v4, false, "ip4:icmp", "udp4", "0.0.0.0", "net.ipv4.ping_group_range"},
		{v6, true, "ip6:ipv6-icmp", "udp6", "::", "net.ipv4.ping_group_range"},
	} {
		if !fam.use {
			continue
		}
		s := &echoSocket{v6: fam.v6}
		conn, err := icmp.ListenPacket(fam.raw, fam.addr)
		if err == nil {
			s.conn, s.raw = conn, true
		} else {
			dg, derr := icmp.ListenPacket(fam.datagram, fam.addr)
			if derr != nil {
				p.closeSockets()
				return nil, fmt.Errorf("ping: no raw %s socket (%v) and no ICMP datagram socket (%v): run as root or allow it in %s", fam.raw, err, derr, fam.sysctl)
			}
			s.conn = dg
		}
		if s.v6 && s.raw {
			// A raw ICMPv6 socket gets every ICMPv6 message of the host
			// (neighbour discovery, router advertisements): only echo
			// replies are worth waking up for.
			var f ipv6.ICMPFilter
			f.SetAll(true)
			f.Accept(ipv6.ICMPTypeEchoReply)
			if pc := s.conn.IPv6PacketConn(); pc != nil {
				pc.SetICMPFilter(&f)
			}
		}
		p.socks = append(p.socks, s)
	}
	var mu sync.Mutex
	serial := func(from netip.Addr, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		reply(from, at)
	}
	for _, s := range p.socks {
		p.readers.Add(1)
		go p.read(s, serial)
	}
	return p, nil
}

func (p *Pinger) closeSockets() error {
	var errs []error
	for _, s := range p.socks {
		errs = append(errs, s.conn.Close())
	}
	return errors.Join(errs...)
}

// Echo sends one echo request to every target.
func (p *Pinger) Echo() error {
	p.mu.Lock()
	p.seq = (p.seq + 1) & 0xffff
	seq := p.seq
	p.sent[seq%recentEchoes] = seq
	p.mu.Unlock()
	echo := &icmp.Echo{ID: p.id, Seq: seq, Data: []byte("hanode ping node")}
	var errs []error
	for _, s := range p.socks {
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: echo}
		if s.v6 {
			// The kernel computes the ICMPv6 checksum (it covers the
			// IPv6 pseudo-header, which only it knows).
			msg.Type = ipv6.ICMPTypeEchoRequest
		}
		b, err := msg.Marshal(nil)
		if err != nil {
			return err
		}
		for t := range p.targets {
			if t.Is4() == s.v6 {
				continue
			}
			var dst net.Addr = &net.IPAddr{IP: t.AsSlice(), Zone: t.Zone()}
			if !s.raw {
				dst = &net.UDPAddr{IP: t.AsSlice(), Zone: t.Zone()}
			}
			if _, err := s.conn.WriteTo(b, dst); err != nil {
				errs = append(errs, fmt.Errorf("ping %s: %w", t, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (p *Pinger) read(s *echoSocket, reply EchoReply) {
	defer p.readers.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			select {
			case <-p.closed:
				return
			default:
			}
			// A transient error (an ICMP error for an earlier send): go on,
			// but not in a tight loop.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		at := time.Now()
		if addr, ok := p.accept(s, buf[:n], from); ok {
			reply(addr, at)
		}
	}
}

// accept says whether a datagram read from s is an echo reply to this
// pinger from one of its targets, and from which. Anything may arrive on
// a raw socket: it must never panic.
func (p *Pinger) accept(s *echoSocket, b []byte, from net.Addr) (netip.Addr, bool) {
	proto, want := protoICMP, icmp.Type(ipv4.ICMPTypeEchoReply)
	if s.v6 {
		proto, want = protoICMPv6, ipv6.ICMPTypeEchoReply
	}
	msg, err := icmp.ParseMessage(proto, b)
	if err != nil || msg.Type != want {
		return netip.Addr{}, false
	}
	echo, ok := msg.Body.(*icmp.Echo)
	// On a datagram socket the kernel sets and checks the identifier.
	if !ok || (s.raw && echo.ID != p.id) || !p.answers(echo.Seq) {
		return netip.Addr{}, false
	}
	var addr netip.Addr
	switch a := from.(type) {
	case *net.IPAddr:
		addr, _ = netip.AddrFromSlice(a.IP)
		addr = addr.Unmap().WithZone(a.Zone)
	case *net.UDPAddr:
		addr, _ = netip.AddrFromSlice(a.IP)
		addr = addr.Unmap().WithZone(a.Zone)
	}
	// A reply of the other family (an IPv4 reply on an IPv6 socket) is
	// nobody's answer.
	if !addr.IsValid() || addr.Is4() == s.v6 {
		return netip.Addr{}, false
	}
	return addr, p.targets[addr]
}

// answers says whether seq is the sequence number of one of the last
// rounds of requests: the identifier alone is 16 bits anyone can try, and
// a reply to a request not sent (or sent long ago) proves nothing.
func (p *Pinger) answers(seq int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return seq >= 0 && p.sent[seq%recentEchoes] == seq
}

// Close stops the pinger and waits for its readers.
func (p *Pinger) Close() error {
	close(p.closed)
	err := p.closeSockets()
	p.readers.Wait()
	return err
}
