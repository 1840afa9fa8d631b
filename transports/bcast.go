package transports

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/hanode/hanode/transports/medium"
)

// BcastConfig describes a UDP broadcast link (Heartbeat `bcast dev`).
type BcastConfig = medium.Bcast

// Bcast is an open broadcast link. Frames it sends loop back to this host
// too; the membership layer recognises them as its own.
type Bcast struct{ *Media }

// ErrNoBroadcast means an interface has no IPv4 broadcast address to send
// heartbeats to.
var ErrNoBroadcast = errors.New("no IPv4 broadcast address")

// BroadcastAddr is the IPv4 broadcast address of an interface: its first
// IPv4 address with every host bit set.
func BroadcastAddr(dev string) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return netip.Addr{}, err
	}
	if ifi.Flags&net.FlagBroadcast == 0 {
		return netip.Addr{}, fmt.Errorf("%s does not broadcast (loopback or point-to-point): %w", dev, ErrNoBroadcast)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil {
			continue
		}
		ip, mask := ipn.IP.To4(), ipn.Mask
		if len(mask) == net.IPv6len {
			mask = mask[12:]
		}
		var b [4]byte
		for i := range b {
			b[i] = ip[i] | ^mask[i]
		}
		return netip.AddrFrom4(b), nil
	}
	return netip.Addr{}, fmt.Errorf("%s has no IPv4 address: %w", dev, ErrNoBroadcast)
}

// OpenBcast binds to dev and starts the reader. An interface without an
// IPv4 broadcast address is an error, not a silent link.
func OpenBcast(cfg BcastConfig, deliver Deliver, readErr ReadError) (*Bcast, error) {
	m, err := OpenMedia(MediaConfig{Dev: cfg.Dev, Bcast: []uint16{cfg.Port}}, deliver, readErr)
	if err != nil {
		return nil, err
	}
	return &Bcast{m}, nil
}
