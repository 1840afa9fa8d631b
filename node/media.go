package node

import (
	"errors"
	"fmt"
	"os"

	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/transports"
)

// OpenMedium opens the media of a configured link. Options.OpenMedium
// replaces OpenRealMedium: the whole-cluster simulation (node/sim) opens
// every link on an in-memory network (transports/memnet), which needs
// neither root nor sockets; tests wrap the real media.
type OpenMedium func(spec config.LinkSpec, deliver transports.Deliver, readErr transports.ReadError) (transports.Link, error)

// OpenRealMedium opens a link on this host: its serial line, or every
// network medium it has on its interface, together (transports.Open).
func OpenRealMedium(spec config.LinkSpec, deliver transports.Deliver, readErr transports.ReadError) (transports.Link, error) {
	if len(spec.Media) == 0 {
		return nil, fmt.Errorf("link %s has no medium", spec.Name)
	}
	return transports.Open(spec.Mediums(), deliver, readErr)
}

// CheckMedia verifies, before the node starts, that every medium's
// interface or device exists and can carry it (transports.Check), and
// that the watchdog device exists, as Heartbeat refuses to start on a
// medium it cannot open. A link that fails later is retried instead.
func CheckMedia(cfg *config.Effective) error {
	var errs []error
	for _, spec := range cfg.Links {
		for _, md := range spec.Media {
			if err := transports.Check(md.Medium); err != nil {
				errs = append(errs, fmt.Errorf("link %s (%s): %w", spec.Name, md.Medium.Kind(), err))
			}
		}
	}
	if d := cfg.Cluster.GetWatchdog().GetDevice(); d != "" {
		if _, err := os.Stat(d); err != nil {
			errs = append(errs, fmt.Errorf("watchdog: %w", err))
		}
	}
	return errors.Join(errs...)
}
