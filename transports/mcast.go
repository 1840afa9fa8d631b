package transports

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// McastConfig describes an IPv4 multicast link (Heartbeat
// `mcast dev group port ttl loop`).
type McastConfig struct {
	Dev   string
	Group netip.Addr
	Port  uint16
	TTL   int
	// Loop makes this host receive its own frames (Heartbeat advises 0).
	Loop bool
}

// Mcast is an open multicast link: a socket bound to the group that has
// joined it on the interface, and a socket that sends to the group through
// the interface.
type Mcast struct{ *udpLink }

// OpenMcast joins the group on dev and starts the reader.
func OpenMcast(cfg McastConfig, deliver Deliver, readErr ReadError) (*Mcast, error) {
	ifi, err := net.InterfaceByName(cfg.Dev)
	if err != nil {
		return nil, fmt.Errorf("mcast %s: %w", cfg.Dev, err)
	}
	if ifi.Flags&net.FlagMulticast == 0 {
		return nil, fmt.Errorf("mcast %s: the interface does not do multicast", cfg.Dev)
	}
	dest := netip.AddrPortFrom(cfg.Group, cfg.Port)
	// Bound to the group, the receiver gets only this group's traffic;
	// with IP_MULTICAST_ALL off, not that of groups other sockets joined.
	recv, err := listenUDP(dest, socketOptions{dev: cfg.Dev})
	if err != nil {
		return nil, fmt.Errorf("mcast %s: listen %s: %w", cfg.Dev, dest, err)
	}
	if err := ipv4.NewPacketConn(recv).JoinGroup(ifi, &net.UDPAddr{IP: cfg.Group.AsSlice()}); err != nil {
		recv.Close()
		return nil, fmt.Errorf("mcast %s: join %s: %w", cfg.Dev, cfg.Group, err)
	}
	send, err := listenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 0), socketOptions{dev: cfg.Dev})
	if err != nil {
		recv.Close()
		return nil, fmt.Errorf("mcast %s: sending socket: %w", cfg.Dev, err)
	}
	p := ipv4.NewPacketConn(send)
	for _, set := range []func() error{
		func() error { return p.SetMulticastInterface(ifi) },
		func() error { return p.SetMulticastTTL(cfg.TTL) },
		func() error { return p.SetMulticastLoopback(cfg.Loop) },
	} {
		if err := set(); err != nil {
			recv.Close()
			send.Close()
			return nil, fmt.Errorf("mcast %s: %w", cfg.Dev, err)
		}
	}
	return &Mcast{newUDPLink(recv, send, []netip.AddrPort{dest}, deliver, readErr)}, nil
}
