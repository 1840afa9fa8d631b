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
)

// EchoReply is called for each ICMP echo reply a Pinger receives from one
// of its targets, with the time it was read.
type EchoReply func(from netip.Addr, at time.Time)

// Pinger sends ICMP echo requests to a set of IPv4 addresses and reports
// their replies: the probe of ping nodes. As root it uses a raw ICMP socket
// (and tells its replies from other programs' by the echo identifier, and
// from forged or stale ones by the sequence numbers it sent lately);
// otherwise an unprivileged ICMP datagram socket, where the kernel allows
// it (net.ipv4.ping_group_range).
type Pinger struct {
	conn    *icmp.PacketConn
	raw     bool
	id      int
	targets map[netip.Addr]bool
	mu      sync.Mutex
	seq     int
	// sent are the sequence numbers of the last len(sent) rounds: a reply
	// must answer one of them.
	sent   [recentEchoes]int
	closed chan struct{}
	done   chan struct{}
}

// recentEchoes is how many rounds of echo requests a reply may answer: at
// a ping every second or so, replies later than that are no sign of a
// working path now.
const recentEchoes = 8

// OpenPinger opens a pinger for targets; reply is called from the pinger's
// own goroutine.
func OpenPinger(targets []netip.Addr, reply EchoReply) (*Pinger, error) {
	if len(targets) == 0 {
		return nil, errors.New("ping: no address")
	}
	p := &Pinger{targets: map[netip.Addr]bool{}, closed: make(chan struct{}), done: make(chan struct{})}
	for i := range p.sent {
		p.sent[i] = -1
	}
	for _, t := range targets {
		if !t.Is4() {
			return nil, fmt.Errorf("ping: %s is not an IPv4 address", t)
		}
		p.targets[t] = true
	}
	var b [2]byte
	rand.Read(b[:])
	p.id = int(binary.BigEndian.Uint16(b[:]))
	conn, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err == nil {
		p.conn, p.raw = conn, true
	} else {
		udp, uerr := icmp.ListenPacket("udp4", "0.0.0.0")
		if uerr != nil {
			return nil, fmt.Errorf("ping: no raw ICMP socket (%v) and no ICMP datagram socket (%v): run as root or allow it in net.ipv4.ping_group_range", err, uerr)
		}
		p.conn = udp
	}
	go p.read(reply)
	return p, nil
}

// Echo sends one echo request to every target.
func (p *Pinger) Echo() error {
	p.mu.Lock()
	p.seq = (p.seq + 1) & 0xffff
	seq := p.seq
	p.sent[seq%recentEchoes] = seq
	p.mu.Unlock()
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: p.id, Seq: seq, Data: []byte("hanode ping node")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	var errs []error
	for t := range p.targets {
		var dst net.Addr = &net.IPAddr{IP: t.AsSlice()}
		if !p.raw {
			dst = &net.UDPAddr{IP: t.AsSlice()}
		}
		if _, err := p.conn.WriteTo(b, dst); err != nil {
			errs = append(errs, fmt.Errorf("ping %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

func (p *Pinger) read(reply EchoReply) {
	defer close(p.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := p.conn.ReadFrom(buf)
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
		if addr, ok := p.accept(buf[:n], from); ok {
			reply(addr, at)
		}
	}
}

// accept says whether a datagram is an echo reply to this pinger from one
// of its targets, and from which. Anything may arrive on a raw socket:
// it must never panic.
func (p *Pinger) accept(b []byte, from net.Addr) (netip.Addr, bool) {
	msg, err := icmp.ParseMessage(1, b)
	if err != nil || msg.Type != ipv4.ICMPTypeEchoReply {
		return netip.Addr{}, false
	}
	echo, ok := msg.Body.(*icmp.Echo)
	// On a datagram socket the kernel sets and checks the identifier.
	if !ok || (p.raw && echo.ID != p.id) || !p.answers(echo.Seq) {
		return netip.Addr{}, false
	}
	var addr netip.Addr
	switch a := from.(type) {
	case *net.IPAddr:
		addr, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		addr, _ = netip.AddrFromSlice(a.IP)
	}
	addr = addr.Unmap()
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

// Close stops the pinger and waits for its reader.
func (p *Pinger) Close() error {
	close(p.closed)
	err := p.conn.Close()
	<-p.done
	return err
}
