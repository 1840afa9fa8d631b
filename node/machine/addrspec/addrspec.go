// Package addrspec says what the parameters of hanode's built-in address
// resource mean (messages.AddressAgent, carried out by node/host/vip). It
// checks them and turns them into a Spec, and it reads the ways Heartbeat
// users already write an address: the positional argument of the IPaddr
// and IPaddr2 resource scripts (ip/cidr/nic:label/broadcast) and the
// parameters of the OCF agents IPaddr and IPaddr2. A parameter the
// built-in resource does not understand is refused by name, never dropped:
// running an address natively must not silently lose a setting.
//
// The meanings are IPaddr2's (resource-agents 4.12), read from its
// documentation and behaviour; the package is pure (no I/O), so that the
// configuration can check a resource before anything runs.
package addrspec

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hanode/hanode/messages"
)

// HaresourcesName is the resource name of the built-in address in
// haresources: `hanode-address::10.0.0.10/24/eth0`.
const HaresourcesName = "hanode-address"

// Defaults, IPaddr2's.
const (
	DefaultArpCount    = 5
	DefaultArpInterval = 200 * time.Millisecond
)

// IPaddr's own announcement defaults (its ARP_REPEAT and ARP_INTERVAL_MS),
// used when an IPaddr resource runs natively.
const (
	ipaddrArpCount    = 10
	ipaddrArpInterval = 500 * time.Millisecond
)

// Bounds that keep a typo from announcing for hours.
const (
	maxArpCount    = 1000
	maxArpInterval = time.Minute
)

// Forever is Spec.PreferredLft's "forever".
const Forever = -1

// maxLabel is the longest IPv4 address label the kernel takes (IFNAMSIZ
// less its NUL): NIC:LABEL in all.
const maxLabel = 15

// BroadcastMode says where an IPv4 address's broadcast comes from.
type BroadcastMode int

const (
	// BroadcastFromRoute is IPaddr2's default: the broadcast of the
	// interface address that is the preferred source of the route the
	// address falls in; none when that address has none.
	BroadcastFromRoute BroadcastMode = iota
	// BroadcastAddr is Spec.Broadcast, as given.
	BroadcastAddr
	// BroadcastOnes is "+": the prefix with every host bit set.
	BroadcastOnes
	// BroadcastZeros is "-": the prefix with every host bit clear.
	BroadcastZeros
)

// Spec is a checked address resource.
type Spec struct {
	IP netip.Addr
	// Prefix is the prefix length, -1 to take it from the routing table.
	Prefix int
	// Nic is the interface, "" to take it from the routing table.
	Nic string
	// BroadcastMode and Broadcast apply to IPv4 only.
	BroadcastMode BroadcastMode
	Broadcast     netip.Addr
	// Label is the IPv4 label's suffix: the address is labelled Nic:Label.
	Label string
	// AliasLabel labels the address Nic:N, the lowest N free (IPaddr).
	AliasLabel bool
	// ArpCount announcements ArpInterval apart at start.
	ArpCount    int
	ArpInterval time.Duration
	// ArpCountRefresh gratuitous ARPs at each monitor that finds the
	// address (IPv4).
	ArpCountRefresh int
	// NoDAD (IPv6) and NoPrefixRoute are the address flags.
	NoDAD, NoPrefixRoute bool
	// PreferredLft is the IPv6 preferred lifetime in seconds, or Forever.
	PreferredLft int
}

// Is6 says whether the address is IPv6.
func (s Spec) Is6() bool { return s.IP.Is6() }

// FullLabel is the label for the interface nic ("" for none): nic:Label.
func (s Spec) FullLabel(nic string) string {
	if s.Label == "" || s.IP.Is6() {
		return ""
	}
	return nic + ":" + s.Label
}

// CheckLabel says what is wrong with label, a whole IPv4 address label
// (nic:suffix), or nil.
func CheckLabel(label string) error {
	if len(label) > maxLabel {
		return fmt.Errorf("label %q is longer than %d characters (the kernel's limit)", label, maxLabel)
	}
	return nil
}

// Parse checks a and returns its Spec. Its errors name the field.
func Parse(a *messages.AddressAgent) (Spec, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	s := Spec{Prefix: -1, ArpCount: DefaultArpCount, ArpInterval: DefaultArpInterval, PreferredLft: Forever}

	ip, err := parseIP(a.GetIp())
	if err != nil {
		bad("ip", "%v", err)
	}
	s.IP = ip
	is6 := ip.Is6()

	nic, label, hasLabel := strings.Cut(a.GetNic(), ":")
	if a.GetNic() != "" {
		if err := checkIfName(nic); err != nil {
			bad("nic", "%v", err)
		}
		s.Nic = nic
	}
	if !hasLabel {
		label = a.GetIflabel()
	} // a label in nic wins over iflabel, as in IPaddr2
	if hasLabel || label != "" {
		switch {
		case is6:
			bad("iflabel", "%q: labels are for IPv4 addresses only", label)
		case a.GetAliasLabel():
			bad("iflabel", "%q: set iflabel or alias_label, not both", label)
		default:
			if err := checkLabelSuffix(label); err != nil {
				bad("iflabel", "%v", err)
			} else if s.Nic != "" {
				if err := CheckLabel(s.Nic + ":" + label); err != nil {
					bad("iflabel", "%v", err)
				}
			}
			s.Label = label
		}
	}
	if a.GetAliasLabel() && is6 {
		bad("alias_label", "labels are for IPv4 addresses only")
	}
	s.AliasLabel = a.GetAliasLabel() && !is6

	if m := a.GetCidrNetmask(); m != "" && ip.IsValid() {
		p, err := parsePrefix(m, is6)
		if err != nil {
			bad("cidr_netmask", "%v", err)
		}
		s.Prefix = p
	}
	if ip.IsValid() && is6 && s.Nic == "" && ip.IsLinkLocalUnicast() {
		bad("nic", "a link-local address needs its interface")
	}

	if b := a.GetBroadcast(); b != "" && ip.IsValid() {
		switch {
		case is6:
			bad("broadcast", "%q: IPv6 has no broadcast address", b)
		case b == "+":
			s.BroadcastMode = BroadcastOnes
		case b == "-":
			s.BroadcastMode = BroadcastZeros
		default:
			ba, err := netip.ParseAddr(b)
			if err != nil || !ba.Is4() {
				bad("broadcast", "%q is not an IPv4 address, \"+\" or \"-\"", b)
			}
			s.BroadcastMode, s.Broadcast = BroadcastAddr, ba
		}
	}

	if a.ArpCount != nil {
		n := a.GetArpCount()
		if n < 1 || n > maxArpCount {
			bad("arp_count", "%d: between 1 and %d", n, maxArpCount)
		}
		s.ArpCount = int(n)
	}
	if v := a.GetArpInterval(); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			bad("arp_interval", "%q is not a duration (\"200ms\")", v)
		case d <= 0 || d > maxArpInterval:
			bad("arp_interval", "%v: more than 0 and at most %v", d, maxArpInterval)
		}
		s.ArpInterval = d
	}
	if n := a.GetArpCountRefresh(); n > 0 {
		switch {
		case is6:
			bad("arp_count_refresh", "IPv4 only (gratuitous ARP at each monitor)")
		case n > maxArpCount:
			bad("arp_count_refresh", "%d: at most %d", n, maxArpCount)
		}
		s.ArpCountRefresh = int(n)
	}
	// nodad and preferred_lft mean nothing to IPv4 addresses: IPaddr2
	// ignores them there, and so does this.
	s.NoDAD = a.GetNodad() && is6
	s.NoPrefixRoute = a.GetNoprefixroute()
	if v := a.GetPreferredLft(); v != "" && v != "forever" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0xffffffff {
			bad("preferred_lft", "%q: \"forever\" or a number of seconds", v)
		}
		if is6 {
			s.PreferredLft = int(n)
		}
	}
	return s, errors.Join(errs...)
}

// parseIP reads the ip parameter.
func parseIP(v string) (netip.Addr, error) {
	if v == "" {
		return netip.Addr{}, errors.New("missing: the address to manage")
	}
	ip, err := netip.ParseAddr(v)
	switch {
	case err != nil:
		return ip, fmt.Errorf("%q is not an IPv4 or IPv6 address", v)
	case ip.Zone() != "":
		return ip, fmt.Errorf("%q: give the interface in nic, not as a zone", v)
	case ip.Is4In6():
		return ip, fmt.Errorf("%q: an IPv4-mapped IPv6 address: write it as IPv4", v)
	case ip.IsUnspecified() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return ip, fmt.Errorf("%q is not a unicast address", v)
	}
	return ip, nil
}

// parsePrefix reads cidr_netmask: a prefix length from 1 (IPaddr2 refuses
// 0), or for IPv4 a dotted-quad mask of contiguous ones.
func parsePrefix(v string, is6 bool) (int, error) {
	bits := 32
	if is6 {
		bits = 128
	}
	if n, err := strconv.Atoi(v); err == nil && len(v) <= 3 {
		if n < 1 || n > bits {
			return 0, fmt.Errorf("%q: a prefix length from 1 to %d", v, bits)
		}
		return n, nil
	}
	if !is6 {
		if m, err := netip.ParseAddr(v); err == nil && m.Is4() {
			b := m.As4()
			x := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			ones := 0
			for ones < 32 && x&(1<<(31-ones)) != 0 {
				ones++
			}
			if ones >= 1 && x == ^uint32(0)<<(32-ones) {
				return ones, nil
			}
		}
	}
	return 0, fmt.Errorf("%q is not a prefix length from 1 to %d", v, bits)
}

// checkIfName says what is wrong with an interface name.
func checkIfName(s string) error {
	if s == "" || len(s) > maxLabel || s == "." || s == ".." {
		return fmt.Errorf("%q is not an interface name (1 to %d characters)", s, maxLabel)
	}
	for _, r := range s {
		if r <= ' ' || r == '/' || r == ':' || r >= 0x7f {
			return fmt.Errorf("%q is not an interface name", s)
		}
	}
	return nil
}

// checkLabelSuffix says what is wrong with the part of a label after
// "nic:".
func checkLabelSuffix(s string) error {
	if s == "" {
		return errors.New("empty label")
	}
	for _, r := range s {
		if r <= ' ' || r == '/' || r >= 0x7f {
			return fmt.Errorf("%q: a label has no spaces, '/' or control characters", s)
		}
	}
	return nil
}

// Positional is a's haresources argument (IPaddr2's form, without the
// resource name): ip[/cidr_netmask[/nic[:iflabel]][/broadcast]].
func Positional(a *messages.AddressAgent) string {
	out := a.GetIp()
	nic := a.GetNic()
	if a.GetIflabel() != "" && !strings.Contains(nic, ":") && nic != "" {
		nic += ":" + a.GetIflabel()
	}
	if a.GetCidrNetmask() == "" && nic == "" && a.GetBroadcast() == "" {
		return out
	}
	out += "/" + a.GetCidrNetmask()
	if nic != "" {
		out += "/" + nic
	}
	if a.GetBroadcast() != "" {
		out += "/" + a.GetBroadcast()
	}
	return out
}
