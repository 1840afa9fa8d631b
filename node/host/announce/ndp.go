package announce

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// Advertise announces addr, an IPv6 address of the interface ifname (""
// for the first interface that holds it), with unsolicited neighbour
// advertisements (RFC 4861, 7.2.6): count rounds interval apart, each one
// advertisement to all nodes (ff02::1) from addr itself, with the
// Override flag and the interface's MAC as target link-layer address,
// what IPaddr2's send_ua sends. A Linux neighbour that has an entry for
// addr takes the new MAC at once (the entry becomes STALE, then is
// confirmed); one that has none creates none (it asks when it needs to).
//
// addr must be usable: an address still under duplicate address
// detection (tentative) cannot be the source of a packet, and is not
// announced (an error). Otherwise Advertise behaves as Gratuitous: the
// same checks before it sends anything and before each later round, and
// ErrNotHeld once the interface no longer holds addr.
func Advertise(ctx context.Context, ifname string, addr netip.Addr, count int, interval time.Duration) error {
	switch {
	case !addr.IsValid():
		return errors.New("neighbour advertisement: invalid address")
	case !addr.Is6() || addr.Is4In6():
		return fmt.Errorf("neighbour advertisement for %s: not an IPv6 address", addr)
	case addr.IsUnspecified() || addr.IsLoopback() || addr.IsMulticast():
		return fmt.Errorf("neighbour advertisement for %s: not a unicast address", addr)
	case count < 1:
		return fmt.Errorf("neighbour advertisement for %s: count %d: at least 1", addr, count)
	case interval < 0:
		return fmt.Errorf("neighbour advertisement for %s: negative interval %v", addr, interval)
	}
	if addr.Zone() != "" {
		if ifname == "" {
			ifname = addr.Zone()
		}
		addr = addr.WithZone("")
	}
	ifi, err := announcer(ifname, addr)
	if err != nil {
		return fmt.Errorf("neighbour advertisement: %w", err)
	}
	if ifi == nil {
		if ifname != "" {
			return fmt.Errorf("neighbour advertisement for %s: %w on %s", addr, ErrNotHeld, ifname)
		}
		return fmt.Errorf("neighbour advertisement for %s: %w", addr, ErrNotHeld)
	}
	if err := checkInterface(ifi, addr); err != nil {
		return fmt.Errorf("neighbour advertisement for %w", err)
	}
	where := fmt.Sprintf("neighbour advertisement for %s on %s", addr, ifi.Name)

	// Bound to addr, so that it is the source (RFC 4861: an address of
	// the interface); the kernel refuses a tentative one.
	c, _, err := ndp.Listen(ifi, ndp.Addr(addr.String()))
	if err != nil {
		return fmt.Errorf("%s: open ICMPv6 socket: %w", where, err)
	}
	defer c.Close()
	// The socket only sends: let no ICMPv6 queue up on it.
	var none ipv6.ICMPFilter
	none.SetAll(true)
	if err := c.SetICMPFilter(&none); err != nil {
		return fmt.Errorf("%s: ICMPv6 filter: %w", where, err)
	}
	na := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: addr,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: ifi.HardwareAddr}},
	}
	return rounds(ctx, where, ifi, addr, count, interval, func() error {
		if err := c.SetWriteDeadline(time.Now().Add(sendTimeout)); err != nil {
			return err
		}
		if err := c.WriteTo(na, nil, netip.IPv6LinkLocalAllNodes()); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		return nil
	})
}
