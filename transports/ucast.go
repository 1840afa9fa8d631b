package transports

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/hanode/hanode/transports/medium"
)

// UcastConfig describes a UDP unicast link (Heartbeat `ucast dev peer`,
// and `ucast6 dev peer[%scope]` for IPv6 peers).
type UcastConfig = medium.Ucast

// Ucast is an open UDP unicast link.
type Ucast struct{ *Media }

// OpenUcast binds the socket and starts its reader. Peers that are addresses
// of this host (or equal to cfg.Bind when it is set) are skipped, so every
// node can share one configuration; SelfPeers tells which.
func OpenUcast(cfg UcastConfig, deliver Deliver, readErr ReadError) (*Ucast, error) {
	m, err := OpenMedia(MediaConfig{Dev: cfg.Dev, Ucast: []UcastConfig{cfg}}, deliver, readErr)
	if err != nil {
		return nil, err
	}
	return &Ucast{m}, nil
}

// Peers returns the addresses this link sends to.
func (u *Ucast) Peers() []netip.AddrPort { return u.Destinations() }

// SelfPeers says which peers of cfg are this host: equal to Bind when it is
// set, else any address of a local interface. A link-local IPv6 peer
// (fe80::/10) names its interface by its scope (fe80::2%eth0): it is this
// host when that interface has the address, since every host has its own
// fe80:: addresses on each link and the same one may exist elsewhere.
func SelfPeers(cfg UcastConfig) (map[netip.Addr]bool, error) {
	self := map[netip.Addr]bool{}
	if cfg.Bind.IsValid() && !cfg.Bind.IsUnspecified() {
		self[cfg.Bind] = true
		return self, nil
	}
	ifis, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("ucast: list local interfaces: %w", err)
	}
	local := map[netip.Addr]bool{}
	for _, ifi := range ifis {
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("ucast: list the addresses of %s: %w", ifi.Name, err)
		}
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			addr := p.Addr().Unmap()
			if addr.Is6() && addr.IsLinkLocalUnicast() {
				addr = addr.WithZone(ifi.Name)
			}
			local[addr] = true
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
