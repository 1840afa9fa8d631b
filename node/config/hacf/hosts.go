package hacf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/hanode/hanode/node/config"
)

// resolveTimeout bounds the resolution of one host name of ha.cf.
const resolveTimeout = 10 * time.Second

// lookupIPv4 resolves a host name of a ucast, ping or ping_group line to
// its IPv4 addresses, in the resolver's order. Tests replace it.
var lookupIPv4 = resolveIPv4

// resolveIPv4 asks the system's resolver (/etc/hosts, then DNS, as
// nsswitch.conf says) for the IPv4 addresses of host.
func resolveIPv4(host string) ([]netip.Addr, error) {
	// RFC 6761 6.4: names under .invalid never resolve; answer at once
	// rather than wait for a DNS server that may be out of reach.
	if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "invalid" || strings.HasSuffix(h, ".invalid") {
		return nil, errors.New("no such host (.invalid names never resolve)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		var de *net.DNSError
		switch {
		case errors.As(err, &de) && de.IsNotFound:
			return nil, errors.New("no such host")
		case errors.As(err, &de) && de.IsTimeout:
			return nil, fmt.Errorf("no answer within %v", resolveTimeout)
		case errors.As(err, &de):
			return nil, errors.New(de.Err)
		}
		return nil, err
	}
	return addrs, nil
}

// hostName says whether s is written like a host name (RFC 1123 labels;
// '_' too, which resolvers accept), as opposed to a mistyped address.
func hostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	digitsAndDots := true
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, ch := range label {
			switch {
			case ch >= '0' && ch <= '9':
			case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch == '-', ch == '_':
				digitsAndDots = false
			default:
				return false
			}
		}
	}
	// 10.0.0.300 is a mistyped address, not a name to ask DNS about.
	return !digitsAndDots
}

// hostAddress reads the target of a ucast, ping or ping_group line: an
// IPv4 address, or a host name resolved now to its first IPv4 address, as
// Heartbeat's plugins do with gethostbyname() when they read the line
// (ucast.c new_ip_interface, ping.c new_ping_interface, ping_group.c
// new_ping_group_node). The resolution is recorded as a difference: the
// address is fixed until the next start. what names the directive in
// messages ("ucast eth0", "ping", "ping_group routers").
func (p *cfParser) hostAddress(directive, what, s string) (string, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		if !a.Is4() {
			p.errf("%s: %q is an IPv6 address: write it on a %s6 line (%s6 ... %s)", what, s, directive, directive, s)
			return "", false
		}
		return a.String(), true
	}
	if !hostName(s) {
		if strings.Trim(s, "0123456789.") == "" {
			p.errf("%s: %q is not an IPv4 address", what, s)
		} else {
			p.errf("%s: %q is neither an IPv4 address nor a host name", what, s)
		}
		return "", false
	}
	addrs, err := lookupIPv4(s)
	var addr string
	for _, a := range addrs {
		if a = a.Unmap(); a.Is4() {
			addr = a.String()
			break
		}
	}
	if err == nil && addr == "" {
		err = errors.New("no IPv4 address")
	}
	if err != nil {
		p.errf("%s: cannot resolve host name %q: %v (as in Heartbeat it must resolve at start: add it to /etc/hosts or write its address)", what, s, err)
		return "", false
	}
	p.l.Differ(p.pos(), config.DiffResolved, directive, "%s %s: resolved to %s when read, as Heartbeat does (a later change of the name's address needs a restart)", what, s, addr)
	return addr, true
}
