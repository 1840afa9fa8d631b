package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// IPv6 addresses of media and ping nodes.
//
// Heartbeat 3.0.6 reads IPv6 with media of their own (ucast6, mcast6,
// ping6); hanode's native configuration takes IPv6 addresses in the ucast
// and mcast media and in ping nodes, and the ha.cf reader writes Heartbeat's
// lines so. The rules, shared by both formats:
//
//   - an IPv4-mapped address (::ffff:10.0.0.1) is refused: it is an IPv4
//     peer, written as one (an IPv6 socket of hanode's is IPv6 only);
//   - a link-local address (fe80::/10) exists on every link at once, so it
//     needs its interface, its scope: written after % (fe80::2%eth0) or,
//     for Heartbeat's ucast6, the medium's device. A scope that names
//     another device than the medium's is refused (Heartbeat: "index does
//     not match scope id"); so is a scope on any other address, and a
//     numeric scope (an interface index changes when the interface is
//     made again: name it);
//   - an IPv6 multicast group must pass Heartbeat's plausibility check
//     (mcast6.c is_valid_mcast6_addr), see Group6Problem.

// Peer6Problem checks an IPv6 unicast address of a ucast medium or a ping
// node and gives it its scope: dev ("" for none) is the medium's device.
// It returns the address to use, or a problem saying why it cannot be.
func Peer6Problem(a netip.Addr, dev string) (netip.Addr, string) {
	switch {
	case a.Is4In6():
		return a, fmt.Sprintf("is an IPv4-mapped address: write the IPv4 address %s", a.Unmap().WithZone(""))
	case a.IsMulticast():
		return a, "is a multicast address, not a peer (a group is for mcast6)"
	case a.IsUnspecified():
		return a, "is the unspecified address"
	}
	zone := a.Zone()
	if zone != "" && strings.Trim(zone, "0123456789") == "" {
		return a, fmt.Sprintf("has a numeric scope %%%s: name the interface (%%eth0)", zone)
	}
	if zone != "" && !validIfName(zone) {
		return a, fmt.Sprintf("has scope %%%s, which is not an interface name", zone)
	}
	if !a.IsLinkLocalUnicast() {
		if zone != "" {
			return a, "has a scope, which only a link-local address (fe80::/10) takes"
		}
		return a, ""
	}
	switch {
	case zone == "" && dev == "":
		return a, fmt.Sprintf("is link-local: it needs its interface as scope (%s%%eth0)", a)
	case zone == "":
		return a.WithZone(dev), ""
	case dev != "" && zone != dev:
		return a, fmt.Sprintf("has scope %%%s, not the medium's interface %s", zone, dev)
	}
	return a, ""
}

// Group6Problem says why an IPv6 address cannot be the group of an mcast6
// medium, "" when it can. The rules are Heartbeat's (mcast6.c,
// is_valid_mcast6_addr): a multicast address (ff00::/8) with no flag but
// the transient one (ff1x), of link-local (x2), admin-local (x4),
// site-local (x5) or organisation-local (x8) scope, not all zero after the
// scope. Interface-local scope (ff01::) never leaves the host and global
// scope (ff0e::) is no place for heartbeats.
func Group6Problem(a netip.Addr) string {
	if !a.Is6() || a.Is4In6() {
		return "is not an IPv6 address"
	}
	if a.Zone() != "" {
		return "has a scope: the group's interface is the medium's device"
	}
	b := a.As16()
	if b[0] != 0xff {
		return "is not a multicast address (ff00::/8)"
	}
	if b[1]&0xe0 != 0 {
		return fmt.Sprintf("has flags %x: only the transient flag (ff1x::) is allowed", b[1]>>4)
	}
	switch b[1] & 0x0f {
	case 0x2, 0x4, 0x5, 0x8:
	case 0x1:
		return "has interface-local scope (ffx1::): it never leaves this host"
	case 0xe:
		return "has global scope (ffxe::): heartbeats stay within a site (use ff12:: link-local or ff15:: site-local)"
	default:
		return fmt.Sprintf("has a reserved or unassigned scope %x (use 2 link-local, 4 admin-local, 5 site-local or 8 organisation-local)", b[1]&0x0f)
	}
	for _, x := range b[2:] {
		if x != 0 {
			return ""
		}
	}
	return "is a reserved group (all zero after the scope)"
}
