package vip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/hanode/hanode/node/machine/addrspec"
)

// target is where and how the address goes: the interface, the prefix
// length, and the IPv4 broadcast (the zero Addr: none).
type target struct {
	link      netlink.Link
	prefix    int
	broadcast netip.Addr
}

// resolve completes the spec as IPaddr2's findif does, at every action
// (an interface renamed or readdressed counts from then on):
//
//   - the route: among the unicast routes of the main table (IPv4: of
//     link scope) whose prefix holds the address, and no longer than
//     cidr_netmask when it is given (on nic when it is given), the most
//     specific, the last listed of equals; default and host routes do not
//     count;
//   - the interface and prefix length not given are the route's;
//   - the IPv4 broadcast not given is the broadcast of the address that is
//     the route's preferred source, none when it has none (IPaddr2 copies
//     it, whatever the prefix length it adds the address with).
func resolve(s addrspec.Spec) (target, error) {
	t := target{prefix: s.Prefix}
	if s.Nic != "" {
		l, err := netlink.LinkByName(s.Nic)
		if err != nil {
			return t, fmt.Errorf("interface %s: %w", s.Nic, err)
		}
		t.link = l
	}
	var best *netlink.Route
	if s.Nic == "" || s.Prefix < 0 || (!s.Is6() && s.BroadcastMode == addrspec.BroadcastFromRoute) {
		r, err := bestRoute(s, t.link)
		if err != nil {
			return t, err
		}
		best = r
	}
	if best == nil && (s.Nic == "" || s.Prefix < 0) {
		on := ""
		if s.Nic != "" {
			on = " on " + s.Nic
		}
		return t, fmt.Errorf("no route of the main table%s holds %s: cannot tell its interface or prefix length (give nic and cidr_netmask)", on, s.IP)
	}
	if t.link == nil {
		l, err := netlink.LinkByIndex(best.LinkIndex)
		if err != nil {
			return t, fmt.Errorf("interface of the route %s: %w", best.Dst, err)
		}
		t.link = l
	}
	if t.prefix < 0 {
		t.prefix, _ = best.Dst.Mask.Size()
	}
	if s.Is6() {
		return t, nil
	}
	switch s.BroadcastMode {
	case addrspec.BroadcastAddr:
		t.broadcast = s.Broadcast
	case addrspec.BroadcastOnes, addrspec.BroadcastZeros:
		p := netip.PrefixFrom(s.IP, t.prefix).Masked()
		t.broadcast = p.Addr()
		if s.BroadcastMode == addrspec.BroadcastOnes {
			b := p.Addr().As4()
			for i := range b {
				b[i] |= ^net.CIDRMask(t.prefix, 32)[i]
			}
			t.broadcast = netip.AddrFrom4(b)
		}
	default:
		if best != nil && best.Src != nil {
			b, err := broadcastOf(best.Src)
			if err != nil {
				return t, err
			}
			t.broadcast = b
		}
	}
	return t, nil
}

// bestRoute is the route the address falls in (see resolve), nil when
// none.
func bestRoute(s addrspec.Spec, link netlink.Link) (*netlink.Route, error) {
	family, bits := netlink.FAMILY_V4, 32
	filter := &netlink.Route{Table: unix.RT_TABLE_MAIN}
	mask := uint64(netlink.RT_FILTER_TABLE)
	if s.Is6() {
		family, bits = netlink.FAMILY_V6, 128
	} else {
		filter.Scope = netlink.SCOPE_LINK
		mask |= netlink.RT_FILTER_SCOPE
	}
	if link != nil {
		filter.LinkIndex = link.Attrs().Index
		mask |= netlink.RT_FILTER_OIF
	}
	var routes []netlink.Route
	var err error
	for range 3 {
		routes, err = netlink.RouteListFiltered(family, filter, mask)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("routes holding %s: %w", s.IP, err)
	}
	longest := bits
	if s.Prefix >= 0 {
		longest = s.Prefix
	}
	ip := net.IP(s.IP.AsSlice())
	var best *netlink.Route
	bestOnes := 0
	for i := range routes {
		r := &routes[i]
		if r.Type != unix.RTN_UNICAST || r.Dst == nil || r.LinkIndex == 0 {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		if ones == 0 || ones == bits || ones > longest || !r.Dst.Contains(ip) {
			continue
		}
		if best == nil || ones >= bestOnes {
			best, bestOnes = r, ones
		}
	}
	return best, nil
}

// broadcastOf is the broadcast of the IPv4 address src of this host, the
// zero Addr when it has none or is not found.
func broadcastOf(src net.IP) (netip.Addr, error) {
	addrs, err := addrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if a.IP.Equal(src) {
			if b, ok := netip.AddrFromSlice(a.Broadcast.To4()); ok && !b.IsUnspecified() {
				return b, nil
			}
			return netip.Addr{}, nil
		}
	}
	return netip.Addr{}, nil
}

// locate finds the address where this host holds it, for when resolve
// cannot place it: an interface taken down loses its routes, not its
// addresses, and an address there must still be seen (monitor: failed)
// and removed (stop). It looks on nic and with the prefix length when
// they are given; ok is false when no interface holds the address.
func locate(s addrspec.Spec) (t target, ok bool, err error) {
	family := netlink.FAMILY_V4
	if s.Is6() {
		family = netlink.FAMILY_V6
	}
	addrs, err := addrList(nil, family)
	if err != nil {
		return t, false, err
	}
	for _, a := range addrs {
		ip, valid := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		if !valid || ip.Unmap() != s.IP || (s.Prefix >= 0 && ones != s.Prefix) {
			continue
		}
		l, err := netlink.LinkByIndex(a.LinkIndex)
		if err != nil {
			return t, false, fmt.Errorf("interface %d of %s: %w", a.LinkIndex, s.IP, err)
		}
		if s.Nic != "" && l.Attrs().Name != s.Nic {
			continue
		}
		return target{link: l, prefix: ones}, true, nil
	}
	return t, false, nil
}

// place is resolve, or else where locate finds the address.
func place(s addrspec.Spec) (target, error) {
	t, err := resolve(s)
	if err == nil {
		return t, nil
	}
	if lt, ok, lerr := locate(s); lerr == nil && ok {
		return lt, nil
	}
	return t, err
}
