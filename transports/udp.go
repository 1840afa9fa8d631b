package transports

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"

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
