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

// socketOptions are set on a UDP socket before it binds.
type socketOptions struct {
	// dev binds the socket to an interface (SO_BINDTODEVICE, needs
	// CAP_NET_RAW), as Heartbeat does; "" for none.
	dev string
}

// listenUDP binds a UDP socket with SO_REUSEADDR, IP_MULTICAST_ALL off and
// the given options.
func listenUDP(addr netip.AddrPort, opts socketOptions) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				serr = fmt.Errorf("SO_REUSEADDR: %w", serr)
				return
			}
			if opts.dev != "" {
				if serr = unix.BindToDevice(int(fd), opts.dev); serr != nil {
					serr = fmt.Errorf("bind to device %s: %w", opts.dev, serr)
					return
				}
			}
			// Only the groups this socket joined itself: by default Linux
			// hands a socket bound to the port the groups joined by every
			// socket of the host, and a bcast link would receive the mcast
			// link's frames.
			if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); serr != nil {
				serr = fmt.Errorf("IP_MULTICAST_ALL: %w", serr)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", addr.String())
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// udpLink is what the UDP media share: one socket to receive (and usually
// send) on, a reader goroutine, and the destinations of every frame.
type udpLink struct {
	recv    *net.UDPConn
	send    *net.UDPConn // the same as recv unless the medium needs two
	dests   []netip.AddrPort
	done    chan struct{}
	closing sync.Once
}

func newUDPLink(recv, send *net.UDPConn, dests []netip.AddrPort, deliver Deliver, readErr ReadError) *udpLink {
	u := &udpLink{recv: recv, send: send, dests: dests, done: make(chan struct{})}
	go u.read(deliver, readErr)
	return u
}

// Send sends b to every destination and returns the first error after
// trying them all.
func (u *udpLink) Send(b []byte) error {
	var first error
	for _, d := range u.dests {
		if _, err := u.send.WriteToUDPAddrPort(b, d); err != nil && first == nil {
			first = fmt.Errorf("send to %s: %w", d, err)
		}
	}
	return first
}

// Close stops the reader and closes the sockets.
func (u *udpLink) Close() error {
	var err error
	u.closing.Do(func() {
		err = u.recv.Close()
		if u.send != u.recv {
			err = errors.Join(err, u.send.Close())
		}
		<-u.done
	})
	return err
}

// Destinations are the addresses every frame goes to.
func (u *udpLink) Destinations() []netip.AddrPort { return append([]netip.AddrPort(nil), u.dests...) }

// LocalAddr is the receiving socket's address.
func (u *udpLink) LocalAddr() netip.AddrPort { return u.recv.LocalAddr().(*net.UDPAddr).AddrPort() }

// read delivers datagrams until the socket is closed. A persistent read
// error is reported and retried with a growing pause, so that a broken
// socket cannot spin a core.
func (u *udpLink) read(deliver Deliver, readErr ReadError) {
	defer close(u.done)
	buf := make([]byte, maxDatagram)
	pause := time.Millisecond
	for {
		n, from, err := u.recv.ReadFromUDPAddrPort(buf)
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
