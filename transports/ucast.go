package transports

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/hanode/hanode/transports/medium"
)

// UcastConfig describes a UDP unicast link (Heartbeat `ucast dev peer`).
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
