package addrspec

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hanode/hanode/messages"
)

// Script names whose address resources can run natively.
const (
	IPaddr  = "IPaddr"
	IPaddr2 = "IPaddr2"
)

// Convertible says whether a resource script or OCF agent of this name is
// one FromScript and FromOCF read: IPaddr or IPaddr2.
func Convertible(name string) bool { return name == IPaddr || name == IPaddr2 }

// FromScript reads a haresources entry `name::args...`: name is
// HaresourcesName, IPaddr2 or IPaddr, each taking one argument in
// IPaddr2's positional form ip[/cidr_netmask[/nic[:label]][/broadcast]].
// As haresources splits at every "::", HaresourcesName joins its pieces
// again (an IPv6 address); the scripts cannot take such an address.
//
// IPaddr runs as IPaddr does on Linux: the label is an alias NIC:N (a
// label given with the interface is ignored, as IPaddr ignores it), the
// broadcast when not given is the prefix's, and it announces 10 times
// 500ms apart.
func FromScript(name string, args []string) (*messages.AddressAgent, error) {
	arg := ""
	switch {
	case name == HaresourcesName:
		arg = strings.Join(args, "::")
	case !Convertible(name):
		return nil, fmt.Errorf("%s is not an address resource", name)
	case len(args) == 1:
		arg = args[0]
	case len(args) == 0:
		return nil, fmt.Errorf("%s needs its argument ip[/cidr_netmask[/nic][/broadcast]]", name)
	default:
		return nil, fmt.Errorf("%s takes one argument, not %d (%s): an IPv6 address with \"::\" is split by haresources, write it as %s::ADDRESS",
			name, len(args), strings.Join(args, "::"), HaresourcesName)
	}
	a, err := positional(arg)
	if err != nil {
		return nil, err
	}
	if name == IPaddr {
		ipaddrFlavour(a)
	}
	return a, nil
}

// positional splits IPaddr2's positional argument as its resource script
// does: the third piece is the broadcast when it starts with a digit,
// else the interface, followed by the broadcast. Pieces the script would
// ignore are refused.
func positional(arg string) (*messages.AddressAgent, error) {
	parts := strings.Split(arg, "/")
	a := &messages.AddressAgent{Ip: parts[0]}
	if a.Ip == "" {
		return nil, errors.New("no address before the first '/'")
	}
	rest := parts[1:]
	take := func() string {
		if len(rest) == 0 {
			return ""
		}
		v := rest[0]
		rest = rest[1:]
		return v
	}
	a.CidrNetmask = take()
	if third := take(); third != "" && third[0] >= '0' && third[0] <= '9' {
		a.Broadcast = third
	} else {
		a.Nic = third
		a.Broadcast = take()
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("unexpected %q after the broadcast address", "/"+strings.Join(rest, "/"))
	}
	return a, nil
}

// ipaddrFlavour makes a run as Heartbeat's IPaddr does.
func ipaddrFlavour(a *messages.AddressAgent) {
	a.Nic, _, _ = strings.Cut(a.Nic, ":")
	a.Iflabel = ""
	if a.Broadcast == "" {
		a.Broadcast = "+"
	}
	a.AliasLabel = true
	n := uint32(ipaddrArpCount)
	a.ArpCount = &n
	a.ArpInterval = ipaddrArpInterval.String()
}

// param reads one OCF parameter into a.
type param func(a *messages.AddressAgent, v string) error

// copyTo sets a string field.
func copyTo(set func(a *messages.AddressAgent, v string)) param {
	return func(a *messages.AddressAgent, v string) error { set(a, v); return nil }
}

// onlyIf accepts a parameter whose value means what the built-in resource
// does anyway (a feature left off), and refuses any other value.
func onlyIf(ok func(string) bool, what string) param {
	return func(_ *messages.AddressAgent, v string) error {
		if ok(v) {
			return nil
		}
		return fmt.Errorf("the built-in address resource only runs it %s", what)
	}
}

func isFalse(v string) bool { return !ocfTrue(v) }
func isEmpty(v string) bool { return v == "" }

// ocfTrue is ocf_is_true of ocf-shellfuncs.
func ocfTrue(v string) bool {
	switch v {
	case "yes", "true", "1", "YES", "TRUE", "ja", "on", "ON":
		return true
	}
	return false
}

// count reads a positive decimal number into a count field.
func count(set func(a *messages.AddressAgent, n uint32), min uint64) param {
	return func(a *messages.AddressAgent, v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n < min || n > maxArpCount {
			return fmt.Errorf("a number from %d to %d", min, maxArpCount)
		}
		set(a, uint32(n))
		return nil
	}
}

// millis reads a decimal number of milliseconds into arp_interval.
func millis(a *messages.AddressAgent, v string) error {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return errors.New("a positive number of milliseconds")
	}
	a.ArpInterval = strconv.FormatUint(n, 10) + "ms"
	return nil
}

func setArpCount(a *messages.AddressAgent, n uint32) { a.ArpCount = &n }

// ipaddr2Params are the OCF IPaddr2 parameters the built-in resource
// understands. Those only used by cloned IPaddr2 resources (clusterip_hash,
// mac, unique_clone_address: hanode has no clones) or when another
// parameter turns them on (lvs_ipv6_addrlabel_value) do nothing here, as
// they do nothing in IPaddr2 without clones.
var ipaddr2Params = map[string]param{
	"ip":                       copyTo(func(a *messages.AddressAgent, v string) { a.Ip = v }),
	"nic":                      copyTo(func(a *messages.AddressAgent, v string) { a.Nic = v }),
	"cidr_netmask":             copyTo(func(a *messages.AddressAgent, v string) { a.CidrNetmask = v }),
	"netmask":                  netmaskAlias,
	"broadcast":                copyTo(func(a *messages.AddressAgent, v string) { a.Broadcast = v }),
	"iflabel":                  copyTo(func(a *messages.AddressAgent, v string) { a.Iflabel = v }),
	"arp_count":                count(setArpCount, 1),
	"arp_interval":             millis,
	"arp_count_refresh":        count(func(a *messages.AddressAgent, n uint32) { a.ArpCountRefresh = n }, 0),
	"nodad":                    copyTo(func(a *messages.AddressAgent, v string) { a.Nodad = ocfTrue(v) }),
	"noprefixroute":            copyTo(func(a *messages.AddressAgent, v string) { a.Noprefixroute = ocfTrue(v) }),
	"preferred_lft":            copyTo(func(a *messages.AddressAgent, v string) { a.PreferredLft = v }),
	"arp_bg":                   onlyIf(func(v string) bool { return v == "" || ocfTrue(v) }, "in the background (arp_bg true): the first announcement is sent before start returns, the others after"),
	"arp_sender":               onlyIf(func(v string) bool { return v == "" || v == "send_arp" }, "with its own sender (send_arp's packets)"),
	"send_arp_opts":            onlyIf(isEmpty, "without options"),
	"lvs_support":              onlyIf(isFalse, "without LVS support (false)"),
	"lvs_ipv6_addrlabel":       onlyIf(isFalse, "without an IPv6 address label (false)"),
	"lvs_ipv6_addrlabel_value": onlyIf(func(string) bool { return true }, ""),
	"flush_routes":             onlyIf(isFalse, "without flushing routes (false)"),
	"run_arping":               onlyIf(isFalse, "without an arping collision check (false)"),
	"network_namespace":        onlyIf(isEmpty, "in hanode's own network namespace (empty)"),
	"clusterip_hash":           onlyIf(func(string) bool { return true }, ""),
	"mac":                      onlyIf(func(string) bool { return true }, ""),
	"unique_clone_address":     onlyIf(isFalse, "without clones (false)"),
}

// netmaskAlias is IPaddr2's old name of cidr_netmask, used when
// cidr_netmask is not set.
func netmaskAlias(a *messages.AddressAgent, v string) error {
	if a.CidrNetmask == "" {
		a.CidrNetmask = v
	}
	return nil
}

// ipaddrParams are the OCF IPaddr parameters the built-in resource
// understands; iflabel is accepted and ignored, as IPaddr ignores it.
var ipaddrParams = map[string]param{
	"ip":                 ipaddr2Params["ip"],
	"nic":                ipaddr2Params["nic"],
	"cidr_netmask":       ipaddr2Params["cidr_netmask"],
	"netmask":            netmaskAlias,
	"broadcast":          ipaddr2Params["broadcast"],
	"iflabel":            onlyIf(func(string) bool { return true }, ""),
	"lvs_support":        ipaddr2Params["lvs_support"],
	"local_start_script": onlyIf(isEmpty, "without a local start script"),
	"local_stop_script":  onlyIf(isEmpty, "without a local stop script"),
	"ARP_INTERVAL_MS":    millis,
	"ARP_REPEAT":         count(setArpCount, 1),
	"ARP_BACKGROUND":     onlyIf(func(v string) bool { return v == "yes" }, "in the background (yes)"),
	"ARP_NETMASK":        onlyIf(func(v string) bool { return strings.EqualFold(v, "ffffffffffff") }, "with the default ARP_NETMASK (ffffffffffff)"),
}

// FromOCF reads the parameters of the OCF agent typ (IPaddr or IPaddr2 of
// provider heartbeat). A parameter the built-in resource does not
// understand, or understands only at another value, is an error naming it.
func FromOCF(typ string, params map[string]string) (*messages.AddressAgent, error) {
	table := ipaddr2Params
	a := &messages.AddressAgent{}
	switch typ {
	case IPaddr2:
	case IPaddr:
		table = ipaddrParams
		ipaddrFlavour(a)
	default:
		return nil, fmt.Errorf("%s is not an address agent", typ)
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	// cidr_netmask before netmask, whatever the map's order.
	sort.Strings(names)
	var errs []error
	for _, k := range names {
		p, ok := table[k]
		if !ok {
			errs = append(errs, fmt.Errorf("parameter %s: not understood by the built-in address resource", k))
			continue
		}
		if err := p(a, params[k]); err != nil {
			errs = append(errs, fmt.Errorf("parameter %s=%q: %w", k, params[k], err))
		}
	}
	if typ == IPaddr {
		// Set again: the parameters may have set them.
		a.Nic, _, _ = strings.Cut(a.Nic, ":")
		if a.Broadcast == "" {
			a.Broadcast = "+"
		}
	}
	return a, errors.Join(errs...)
}
