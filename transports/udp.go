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

// listenUDP binds a UDP socket with SO_REUSEADDR, multicast-all off and
// the given options. The address's family chooses the socket's: an IPv6
// socket is IPv6 only (Go sets IPV6_V6ONLY on "udp6"), so that an IPv4
// and an IPv6 medium of one link can bind the same port side by side, and
// an IPv4 datagram never arrives on the IPv6 socket as a mapped address.
func listenUDP(addr netip.AddrPort, opts socketOptions) (*net.UDPConn, error) {
	v6 := addr.Addr().Is6() && !addr.Addr().Is4In6()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				serr = fmt.Errorf("SO_REUSEADDR: %w", serr)
				return
			}
			setReceiveBuffer(int(fd))
			if opts.dev != "" {
				if serr = unix.BindToDevice(int(fd), opts.dev); serr != nil {
					serr = fmt.Errorf("bind to device %s: %w", opts.dev, serr)
					return
				}
			}
			// Only the groups this socket joined itself: by default Linux
			// hands a socket bound to the port the groups joined by every
			// socket of the host, and a bcast link would receive the mcast
			// link's frames. IPv6 has the same switch (Linux 4.20).
			if v6 {
				if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0); serr != nil {
					serr = fmt.Errorf("IPV6_MULTICAST_ALL: %w", serr)
				}
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); serr != nil {
				serr = fmt.Errorf("IP_MULTICAST_ALL: %w", serr)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	network := "udp4"
	if v6 {
		network = "udp6"
	}
	pc, err := lc.ListenPacket(context.Background(), network, addr.String())
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// ReceiveBuffer is the receive buffer a heartbeat socket asks for. A
// burst (every peer's state at a join, a storm of retransmissions in a
// large cluster on a shared medium) must wait in the socket while the node
// takes it in rather than be dropped by the kernel: every frame dropped
// there is asked for again, by every node that missed it, and in a
// cluster of 64 the requests and resends of such losses kept the
// cluster from ever settling. The kernel's default (rmem_default, often
// 208 KiB) holds about a hundred frames.
const ReceiveBuffer = 4 << 20

// setReceiveBuffer sets the socket's receive buffer to ReceiveBuffer: as
// root beyond the system's rmem_max (SO_RCVBUFFORCE), else up to it. A
// smaller buffer still works, so failures are not errors.
func setReceiveBuffer(fd int) {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, ReceiveBuffer) == nil {
		return
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, ReceiveBuffer)
}

// unspecified is the wildcard address of a's family.
func unspecified(a netip.Addr) netip.Addr {
	if a.Is6() && !a.Is4In6() {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}
