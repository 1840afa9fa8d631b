package hacf

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
)

// Heartbeat's IPv6 media: ucast6, mcast6 and ping6 (lib/plugins/HBcomm
// ucast6.c, mcast6.c, ping6.c), read with their syntax and checks and
// written as the native ucast and mcast media and ping nodes, which take
// IPv6 addresses (node/config/ipv6.go has the rules both formats share).
//
//   - ucast6 dev peer[%scope]: a numeric IPv6 address (getaddrinfo with
//     AI_NUMERICHOST: no host name), not multicast, unspecified or
//     loopback. A link-local peer takes dev as its scope; a scope written
//     must be dev. The udpport in effect applies, as for ucast, and the
//     ucast and ucast6 lines of one interface and port are one medium;
//   - mcast6 dev group port hops loop: hops 0..4 (mcast6.c), 0 refused
//     here since it keeps every frame on this host;
//   - ping6 addr ...: one ping node per address, named as written.
//     Heartbeat's ping6 takes no scope (inet_pton), so a link-local
//     target cannot work there; hanode takes addr%dev and records it as a
//     difference. IPv6 members of a ping_group are hanode's too (Heartbeat's
//     ping_group is IPv4 only).

func (p *cfParser) ucast6(_ string, args []string) {
	if len(args) != 2 {
		p.errf("ucast6: expects an interface and a peer IPv6 address (ucast6 eth0 fe80::2), not %d values", len(args))
		return
	}
	dev := args[0]
	if !validDev(dev) {
		p.errf("ucast6: %q is not an interface name", dev)
		return
	}
	a, ok := p.ipv6Literal("ucast6", args[1], "ucast")
	if !ok {
		return
	}
	if a.IsLoopback() {
		p.errf("ucast6: %q is the loopback address (Heartbeat's ucast6 refuses it too)", args[1])
		return
	}
	a, problem := config.Peer6Problem(a, dev)
	if problem != "" {
		p.errf("ucast6: %q %s", args[1], problem)
		return
	}
	p.addUcastPeer("ucast6", dev, a.String())
}

func (p *cfParser) mcast6(_ string, args []string) {
	if len(args) != 5 {
		p.errf("mcast6: expects 5 values (dev group port hops loop, e.g. mcast6 eth0 ff12::1:2:3:4 694 1 0), not %d", len(args))
		return
	}
	dev, group := args[0], args[1]
	if !validDev(dev) {
		p.errf("mcast6: %q is not an interface name", dev)
		return
	}
	a, ok := p.ipv6Literal("mcast6", group, "mcast")
	if !ok {
		return
	}
	if problem := config.Group6Problem(a); problem != "" {
		p.errf("mcast6: group %q %s", group, problem)
		return
	}
	port, err := parseUint(args[2], 1, 65535)
	if err != nil {
		p.errf("mcast6: port %v", err)
		return
	}
	hops, err := parseUint(args[3], 0, 4)
	if err != nil {
		p.errf("mcast6: hops %v (Heartbeat's mcast6 takes 0..4; 1 for a link-local group)", err)
		return
	}
	if hops == 0 {
		p.errf("mcast6: hops 0 keeps every frame on this host: use 1 for a link-local group (ff12::), more to cross routers")
		return
	}
	loop, err := parseUint(args[4], 0, 1)
	if err != nil {
		p.errf("mcast6: loop %v", err)
		return
	}
	p.addLink(&messages.Link{Medium: &messages.Link_Mcast{Mcast: &messages.Mcast{
		Dev: dev, Group: a.String(), Port: uint32(port), Ttl: uint32(hops), Loop: loop == 1,
	}}})
}

func (p *cfParser) ping6(_ string, args []string) {
	if len(args) == 0 {
		p.errf("ping6: missing address")
		return
	}
	for _, s := range args {
		a, ok := p.pingTarget6("ping6", s)
		if !ok {
			continue
		}
		p.at(fmt.Sprintf("ping_nodes[%d]", len(p.c.PingNodes)))
		p.c.PingNodes = append(p.c.PingNodes, &messages.PingNode{Name: strings.ToLower(s), Addresses: []string{a}})
	}
}

// pingTarget6 reads an IPv6 target of ping6 or ping_group.
func (p *cfParser) pingTarget6(what, s string) (string, bool) {
	a, ok := p.ipv6Literal(what, s, "ping")
	if !ok {
		return "", false
	}
	a, problem := config.Peer6Problem(a, "")
	if problem != "" {
		p.errf("%s: %q %s", what, s, problem)
		return "", false
	}
	if a.Zone() != "" {
		p.l.Differ(p.pos(), config.DiffAccepted, strings.Fields(what)[0], "%s %s: a link-local target with its interface, which Heartbeat's ping6 refuses (it reads no scope)", what, s)
	}
	return a.String(), true
}

// ipv6Literal reads the address of an IPv6 line: IPv6 and numeric, as
// Heartbeat's plugins read it. v4 names the directive an IPv4 address
// belongs on.
func (p *cfParser) ipv6Literal(directive, s, v4 string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	switch {
	case err == nil && a.Is4():
		p.errf("%s: %q is an IPv4 address: write it on a %s line", directive, s, v4)
		return a, false
	case err == nil:
		return a, true
	case hostName(s):
		p.errf("%s: %q is not an IPv6 address (Heartbeat's %s takes a numeric address, not a host name)", directive, s, directive)
	default:
		p.errf("%s: %q is not an IPv6 address", directive, s)
	}
	return a, false
}
