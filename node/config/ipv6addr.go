package config

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/hanode/hanode/messages"
)

// IPv6addr, Heartbeat's IPv6 address resource, as the built-in address
// resource (native_addresses), and its haresources pitfall when it runs as
// the script.
//
// Heartbeat's resource.d/IPv6addr takes one argument, addr[/prefix[/nic]],
// and hands it to the OCF agent IPv6addr (resource-agents) as its three
// parameters ipv6addr, cidr_netmask and nic, its only ones. The built-in
// address resource means the same by ip, cidr_netmask and nic; it adds the
// address with netlink and announces it with unsolicited neighbour
// advertisements, as the agent does.
//
// haresources splits every entry at "::" (Heartbeat's ResourceManager as
// hanode's reader), so IPv6addr::fd00::10/64/eth0 reaches the script as
// two arguments, fd00 and 10/64/eth0, and the script stops at its usage
// line (it wants exactly one). Natively the pieces are joined again: an
// IPv6addr entry has one argument, so pieces can only be a split address.
// As the script, the entry is refused when the file is read, naming the
// ways out (see ipv6addrSplit).

// ipv6addr is the name of the script and of the OCF agent.
const ipv6addr = "IPv6addr"

// ipv6addrFromScript reads `IPv6addr::addr[/prefix[/nic]]`, args as
// haresources split them.
func ipv6addrFromScript(args []string) (*messages.AddressAgent, error) {
	if len(args) == 0 {
		return nil, errors.New("IPv6addr needs its argument addr[/prefix[/nic]]")
	}
	parts := strings.Split(strings.Join(args, "::"), "/")
	if len(parts) > 3 {
		return nil, fmt.Errorf("IPv6addr takes addr[/prefix[/nic]], not %d pieces (%s)", len(parts), strings.Join(parts, "/"))
	}
	a := &messages.AddressAgent{Ip: parts[0]}
	if len(parts) > 1 {
		a.CidrNetmask = parts[1]
	}
	if len(parts) > 2 {
		a.Nic = parts[2]
	}
	return a, ipv6addrCheck(a)
}

// ipv6addrFromOCF reads the parameters of the OCF agent IPv6addr.
func ipv6addrFromOCF(params map[string]string) (*messages.AddressAgent, error) {
	a := &messages.AddressAgent{}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	var errs []error
	for _, k := range names {
		switch k {
		case "ipv6addr":
			a.Ip = params[k]
		case "cidr_netmask":
			a.CidrNetmask = params[k]
		case "nic":
			a.Nic = params[k]
		default:
			errs = append(errs, fmt.Errorf("parameter %s: not understood by the built-in address resource (IPv6addr takes ipv6addr, cidr_netmask and nic)", k))
		}
	}
	if a.Ip == "" {
		errs = append(errs, errors.New("parameter ipv6addr is missing"))
	} else if err := ipv6addrCheck(a); err != nil {
		errs = append(errs, err)
	}
	return a, errors.Join(errs...)
}

// ipv6addrCheck refuses what IPv6addr refuses: an address that is not
// IPv6 (the built-in resource would take an IPv4 one, the agent does
// not).
func ipv6addrCheck(a *messages.AddressAgent) error {
	ip, err := netip.ParseAddr(a.Ip)
	if err != nil || !ip.Is6() || ip.Is4In6() || ip.Zone() != "" {
		return fmt.Errorf("%q is not an IPv6 address (IPv6addr takes one; IPaddr2 takes IPv4)", a.Ip)
	}
	return nil
}

// ipv6addrSplit says why a haresources IPv6addr entry cannot run as the
// script, "" when it can: haresources split its address at "::".
func ipv6addrSplit(args []string) string {
	if len(args) < 2 {
		return ""
	}
	return fmt.Sprintf("haresources splits %s at \"::\" into %d arguments, and resource.d/IPv6addr takes one: write the address without \"::\" (fd00:0:0:0:0:0:0:10), or set hanode_native_addresses on (the built-in address resource joins the pieces)", strings.Join(args, "::"), len(args))
}
