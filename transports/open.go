package transports

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/hanode/hanode/transports/medium"
)

// Opening a link from its typed media (package medium).
//
// Contract:
//
//   - Open opens one link: a serial line alone, or every network medium
//     the link has on its interface together (OpenMedia: shared sockets,
//     one delivery per frame). The media are what the configuration
//     resolved; Open neither parses nor validates them again;
//   - Check says, before a node starts, whether a medium can work on this
//     host now: its interface exists (and broadcasts, for bcast, or does
//     multicast, for mcast), or its serial device exists. It opens
//     nothing. A link that fails later is retried by its actor instead;
//   - neither keeps the media: the caller may reuse them.

// Open opens a link made of media: one serial line, or network media on
// one interface.
func Open(media []medium.Medium, deliver Deliver, readErr ReadError) (Link, error) {
	if len(media) == 0 {
		return nil, errors.New("no medium to open")
	}
	if s, ok := media[0].(*medium.Serial); ok {
		if len(media) > 1 {
			return nil, fmt.Errorf("serial %s: a serial line carries one medium, not %d", s.Device, len(media))
		}
		return OpenSerial(*s, deliver, readErr)
	}
	var cfg MediaConfig
	for _, md := range media {
		cfg.Dev = md.Iface()
		switch m := md.(type) {
		case *medium.Ucast:
			cfg.Ucast = append(cfg.Ucast, *m)
		case *medium.Bcast:
			cfg.Bcast = append(cfg.Bcast, m.Port)
		case *medium.Mcast:
			cfg.Mcast = append(cfg.Mcast, *m)
		default:
			return nil, fmt.Errorf("%s cannot share an interface", md.Kind())
		}
	}
	return OpenMedia(cfg, deliver, readErr)
}

// Check says whether md can work on this host: its interface or device
// exists and can carry it (an interface without a broadcast address cannot
// carry bcast), as Heartbeat refuses to start on a medium it cannot open.
func Check(md medium.Medium) error {
	switch m := md.(type) {
	case *medium.Bcast:
		_, err := BroadcastAddr(m.Dev)
		return err
	case *medium.Mcast:
		ifi, err := net.InterfaceByName(m.Dev)
		if err == nil && ifi.Flags&net.FlagMulticast == 0 {
			err = fmt.Errorf("%s does not do multicast", m.Dev)
		}
		return err
	case *medium.Ucast:
		if m.Dev != "" {
			if _, err := net.InterfaceByName(m.Dev); err != nil {
				return err
			}
		}
		// A link-local peer is reached through the interface of its scope.
		for _, p := range m.Peers {
			if z := p.Zone(); z != "" && z != m.Dev {
				if _, err := net.InterfaceByName(z); err != nil {
					return fmt.Errorf("peer %s: %w", p, err)
				}
			}
		}
		return nil
	case *medium.Serial:
		_, err := os.Stat(m.Device)
		return err
	}
	return fmt.Errorf("unknown medium %T", md)
}
