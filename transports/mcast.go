package transports

import "github.com/hanode/hanode/transports/medium"

// McastConfig describes a multicast link: an IPv4 group (Heartbeat
// `mcast dev group port ttl loop`) or an IPv6 one (`mcast6 dev group port
// hops loop`, TTL holding the hop limit).
type McastConfig = medium.Mcast

// Mcast is an open multicast link: a socket bound to the port that has
// joined the group on the interface, and a socket that sends to the group
// through the interface (see Media.openMcast).
type Mcast struct{ *Media }

// OpenMcast joins the group on dev and starts the reader.
func OpenMcast(cfg McastConfig, deliver Deliver, readErr ReadError) (*Mcast, error) {
	m, err := OpenMedia(MediaConfig{Dev: cfg.Dev, Mcast: []McastConfig{cfg}}, deliver, readErr)
	if err != nil {
		return nil, err
	}
	return &Mcast{m}, nil
}
