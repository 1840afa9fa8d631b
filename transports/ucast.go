package transports

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// UcastConfig describes a UDP unicast link (Heartbeat `ucast dev peer`).
type UcastConfig struct {
	// Dev is the interface the socket is bound to with SO_BINDTODEVICE, as
	// Heartbeat does; empty for no device binding (needs no privilege).
	Dev string
	// Bind is the local address; the zero Addr binds every address.
	Bind netip.Addr
	// Port is the UDP port to listen on and send to.
	Port uint16
	// Peers are the addresses heartbeats are sent to.
	Peers []netip.Addr
}

// Ucast is an open UDP unicast link.
type Ucast struct {
	conn    *net.UDPConn
	peers   []netip.AddrPort
	done    chan struct{}
	closing sync.Once
}

// OpenUcast binds the socket and starts its reader. Peers that are addresses
// of this host (or equal to cfg.Bind when it is set) are skipped, so every
// node can share one configuration; SelfPeers tells which.
func OpenUcast(cfg UcastConfig, deliver Deliver, readErr ReadError) (*Ucast, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				serr = fmt.Errorf("SO_REUSEADDR: %w", serr)
				return
			}
			if cfg.Dev != "" {
				if serr = unix.BindToDevice(int(fd), cfg.Dev); serr != nil {
					serr = fmt.Errorf("bind to device %s: %w", cfg.Dev, serr)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	bind := netip.IPv4Unspecified()
	if cfg.Bind.IsValid() {
		bind = cfg.Bind
	}
	addr := netip.AddrPortFrom(bind, cfg.Port)
	pc, err := lc.ListenPacket(context.Background(), "udp4", addr.String())
	if err != nil {
		return nil, fmt.Errorf("ucast %s: listen %s: %w", devName(cfg.Dev), addr, err)
	}
	u := &Ucast{conn: pc.(*net.UDPConn), done: make(chan struct{})}
	self, err := SelfPeers(cfg)
	if err != nil {
		pc.Close()
		return nil, err
	}
	for _, p := range cfg.Peers {
		if !self[p] {
			u.peers = append(u.peers, netip.AddrPortFrom(p, cfg.Port))
		}
	}
	go u.read(deliver, readErr)
	return u, nil
}

// SelfPeers says which peers of cfg are this host: equal to Bind when it is
// set, else any address of a local interface.
func SelfPeers(cfg UcastConfig) (map[netip.Addr]bool, error) {
	self := map[netip.Addr]bool{}
	if cfg.Bind.IsValid() && !cfg.Bind.IsUnspecified() {
		self[cfg.Bind] = true
		return self, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("ucast: list local addresses: %w", err)
	}
	local := map[netip.Addr]bool{}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			local[p.Addr().Unmap()] = true
		}
	}
	for _, p := range cfg.Peers {
		if local[p] {
			self[p] = true
		}
	}
	return self, nil
}

func devName(dev string) string {
	if dev == "" {
		return "(any device)"
	}
	return dev
}

// Peers returns the addresses this link sends to.
func (u *Ucast) Peers() []netip.AddrPort { return append([]netip.AddrPort(nil), u.peers...) }

// LocalAddr is the bound address (with the port chosen, if 0 was asked).
func (u *Ucast) LocalAddr() netip.AddrPort { return u.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Send sends b to every peer.
func (u *Ucast) Send(b []byte) error {
	var first error
	for _, p := range u.peers {
		if _, err := u.conn.WriteToUDPAddrPort(b, p); err != nil && first == nil {
			first = fmt.Errorf("send to %s: %w", p, err)
		}
	}
	return first
}

// Close stops the reader and closes the socket.
func (u *Ucast) Close() error {
	var err error
	u.closing.Do(func() {
		err = u.conn.Close()
		<-u.done
	})
	return err
}

// read delivers datagrams until the socket is closed. A persistent read
// error is reported and retried with a growing pause, so that a broken
// socket cannot spin a core.
func (u *Ucast) read(deliver Deliver, readErr ReadError) {
	defer close(u.done)
	buf := make([]byte, maxDatagram)
	pause := time.Millisecond
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf)
		at := time.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if readErr != nil {
				readErr(err)
			}
			time.Sleep(pause)
			pause = min(2*pause, time.Second)
			continue
		}
		pause = time.Millisecond
		deliver(Packet{Data: append([]byte(nil), buf[:n]...), From: from, At: at})
	}
}
