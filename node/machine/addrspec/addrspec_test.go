package addrspec

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

func u32(n uint32) *uint32 { return &n }

// What Parse makes of good parameters.
func TestParse(t *testing.T) {
	v4 := netip.MustParseAddr("10.0.0.10")
	for _, tc := range []struct {
		in   *messages.AddressAgent
		want Spec
	}{
		{&messages.AddressAgent{Ip: "10.0.0.10"},
			Spec{IP: v4, Prefix: -1, ArpCount: 5, ArpInterval: 200 * time.Millisecond, PreferredLft: Forever}},
		{&messages.AddressAgent{Ip: "10.0.0.10", CidrNetmask: "24", Nic: "eth0:web", Broadcast: "10.0.0.255", ArpCount: u32(3), ArpInterval: "1s", ArpCountRefresh: 2},
			Spec{IP: v4, Prefix: 24, Nic: "eth0", Label: "web", BroadcastMode: BroadcastAddr, Broadcast: netip.MustParseAddr("10.0.0.255"),
				ArpCount: 3, ArpInterval: time.Second, ArpCountRefresh: 2, PreferredLft: Forever}},
		// A label in nic wins over iflabel; a dotted mask is a prefix.
		{&messages.AddressAgent{Ip: "10.0.0.10", CidrNetmask: "255.255.255.128", Nic: "eth0:a", Iflabel: "b", Broadcast: "+"},
			Spec{IP: v4, Prefix: 25, Nic: "eth0", Label: "a", BroadcastMode: BroadcastOnes, ArpCount: 5, ArpInterval: 200 * time.Millisecond, PreferredLft: Forever}},
		{&messages.AddressAgent{Ip: "10.0.0.10", Iflabel: "web", Broadcast: "-", AliasLabel: false},
			Spec{IP: v4, Prefix: -1, Label: "web", BroadcastMode: BroadcastZeros, ArpCount: 5, ArpInterval: 200 * time.Millisecond, PreferredLft: Forever}},
		// nodad and preferred_lft mean nothing to IPv4, as in IPaddr2.
		{&messages.AddressAgent{Ip: "10.0.0.10", Nodad: true, PreferredLft: "0", AliasLabel: true, Noprefixroute: true},
			Spec{IP: v4, Prefix: -1, AliasLabel: true, NoPrefixRoute: true, ArpCount: 5, ArpInterval: 200 * time.Millisecond, PreferredLft: Forever}},
		{&messages.AddressAgent{Ip: "2001:db8::10", CidrNetmask: "64", Nodad: true, PreferredLft: "0"},
			Spec{IP: netip.MustParseAddr("2001:db8::10"), Prefix: 64, NoDAD: true, ArpCount: 5, ArpInterval: 200 * time.Millisecond, PreferredLft: 0}},
		{&messages.AddressAgent{Ip: "fe80::10", Nic: "eth0", PreferredLft: "forever"},
			Spec{IP: netip.MustParseAddr("fe80::10"), Prefix: -1, Nic: "eth0", ArpCount: 5, ArpInterval: 200 * time.Millisecond, PreferredLft: Forever}},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%v): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Parse(%v)\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

// Every bad parameter is an error naming its field.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string // prototext
		want string
	}{
		{``, "ip: missing"},
		{`ip: "10.0.0"`, `ip: "10.0.0" is not an IPv4 or IPv6 address`},
		{`ip: "fe80::1%eth0"`, "ip: \"fe80::1%eth0\": give the interface in nic"},
		{`ip: "::ffff:10.0.0.1"`, "IPv4-mapped"},
		{`ip: "224.0.0.1"`, "not a unicast address"},
		{`ip: "0.0.0.0"`, "not a unicast address"},
		{`ip: "10.0.0.1" cidr_netmask: "0"`, "cidr_netmask: \"0\": a prefix length from 1 to 32"},
		{`ip: "10.0.0.1" cidr_netmask: "33"`, "cidr_netmask: \"33\""},
		{`ip: "10.0.0.1" cidr_netmask: "255.0.255.0"`, "cidr_netmask: \"255.0.255.0\" is not a prefix length"},
		{`ip: "2001:db8::1" cidr_netmask: "129"`, "from 1 to 128"},
		{`ip: "2001:db8::1" cidr_netmask: "255.255.255.0"`, "cidr_netmask"},
		{`ip: "10.0.0.1" nic: "eth 0"`, "nic: \"eth 0\" is not an interface name"},
		{`ip: "10.0.0.1" nic: "averyveryverylongname"`, "nic:"},
		{`ip: "10.0.0.1" nic: "eth0:"`, "iflabel: empty label"},
		{`ip: "10.0.0.1" nic: "eth0" iflabel: "0123456789a"`, "iflabel: label \"eth0:0123456789a\" is longer than 15"},
		{`ip: "10.0.0.1" iflabel: "a b"`, "iflabel: \"a b\""},
		{`ip: "10.0.0.1" iflabel: "a" alias_label: true`, "set iflabel or alias_label, not both"},
		{`ip: "2001:db8::1" iflabel: "web"`, "iflabel: \"web\": labels are for IPv4"},
		{`ip: "2001:db8::1" alias_label: true`, "alias_label: labels are for IPv4"},
		{`ip: "fe80::1"`, "nic: a link-local address needs its interface"},
		{`ip: "10.0.0.1" broadcast: "10.0.0"`, "broadcast: \"10.0.0\" is not an IPv4 address"},
		{`ip: "2001:db8::1" broadcast: "+"`, "broadcast: \"+\": IPv6 has no broadcast"},
		{`ip: "10.0.0.1" arp_count: 0`, "arp_count: 0: between 1 and 1000"},
		{`ip: "10.0.0.1" arp_count: 1001`, "arp_count: 1001"},
		{`ip: "10.0.0.1" arp_interval: "200"`, "arp_interval: \"200\" is not a duration"},
		{`ip: "10.0.0.1" arp_interval: "0s"`, "arp_interval: 0s: more than 0"},
		{`ip: "10.0.0.1" arp_interval: "2m"`, "at most 1m0s"},
		{`ip: "2001:db8::1" arp_count_refresh: 1`, "arp_count_refresh: IPv4 only"},
		{`ip: "10.0.0.1" arp_count_refresh: 5000`, "arp_count_refresh: 5000: at most 1000"},
		{`ip: "2001:db8::1" preferred_lft: "soon"`, "preferred_lft: \"soon\""},
	} {
		a := &messages.AddressAgent{}
		if err := prototext.Unmarshal([]byte(tc.in), a); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		_, err := Parse(a)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%s) = %v, want an error with %q", tc.in, err, tc.want)
		}
	}
}

// haresources arguments, split as the IPaddr2 and IPaddr resource scripts
// split them.
func TestFromScript(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // prototext of the AddressAgent
	}{
		{"IPaddr2", []string{"10.0.0.10"}, `ip: "10.0.0.10"`},
		{"IPaddr2", []string{"10.0.0.10/24"}, `ip: "10.0.0.10" cidr_netmask: "24"`},
		{"IPaddr2", []string{"10.0.0.10/24/eth0"}, `ip: "10.0.0.10" cidr_netmask: "24" nic: "eth0"`},
		{"IPaddr2", []string{"10.0.0.10/24/eth0:web/10.0.0.255"}, `ip: "10.0.0.10" cidr_netmask: "24" nic: "eth0:web" broadcast: "10.0.0.255"`},
		// A third piece that starts with a digit is the broadcast.
		{"IPaddr2", []string{"10.0.0.10/24/10.0.0.255"}, `ip: "10.0.0.10" cidr_netmask: "24" broadcast: "10.0.0.255"`},
		{"IPaddr2", []string{"10.0.0.10//eth0"}, `ip: "10.0.0.10" nic: "eth0"`},
		{"hanode-address", []string{"10.0.0.10/24/eth0"}, `ip: "10.0.0.10" cidr_netmask: "24" nic: "eth0"`},
		// haresources split the IPv6 address at "::": joined again.
		{"hanode-address", []string{"2001:db8", "10/64/eth0"}, `ip: "2001:db8::10" cidr_netmask: "64" nic: "eth0"`},
		{"hanode-address", []string{"fe80", "1/64/eth1"}, `ip: "fe80::1" cidr_netmask: "64" nic: "eth1"`},
		// IPaddr: alias label, the prefix's broadcast, 10 ARPs 500ms apart;
		// a label given with the interface is ignored, as IPaddr does.
		{"IPaddr", []string{"10.0.0.10/24/eth0:web"}, `ip: "10.0.0.10" cidr_netmask: "24" nic: "eth0" broadcast: "+" arp_count: 10 arp_interval: "500ms" alias_label: true`},
		{"IPaddr", []string{"10.0.0.10/24/10.0.0.255"}, `ip: "10.0.0.10" cidr_netmask: "24" broadcast: "10.0.0.255" arp_count: 10 arp_interval: "500ms" alias_label: true`},
	} {
		got, err := FromScript(tc.name, tc.args)
		if err != nil {
			t.Errorf("FromScript(%s, %q): %v", tc.name, tc.args, err)
			continue
		}
		want := &messages.AddressAgent{}
		if err := prototext.Unmarshal([]byte(tc.want), want); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Errorf("FromScript(%s, %q)\n got %v\nwant %v", tc.name, tc.args, got, want)
		}
		if _, err := Parse(got); err != nil {
			t.Errorf("FromScript(%s, %q) does not parse: %v", tc.name, tc.args, err)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"IPaddr2", nil, "IPaddr2 needs its argument"},
		{"IPaddr2", []string{"2001:db8", "10/64"}, `IPaddr2 takes one argument, not 2 (2001:db8::10/64): an IPv6 address with "::" is split by haresources, write it as hanode-address::ADDRESS`},
		{"IPaddr2", []string{"10.0.0.10/24/eth0/10.0.0.255/x"}, `unexpected "/x" after the broadcast address`},
		{"IPaddr2", []string{"10.0.0.10/24/10.0.0.255/eth0"}, `unexpected "/eth0"`},
		{"IPaddr2", []string{"/24"}, "no address before the first '/'"},
		{"Filesystem", []string{"/dev/sda1"}, "Filesystem is not an address resource"},
	} {
		_, err := FromScript(tc.name, tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("FromScript(%s, %q) = %v, want an error with %q", tc.name, tc.args, err, tc.want)
		}
	}
}

// OCF parameters: the understood ones mapped, any other refused by name.
func TestFromOCF(t *testing.T) {
	for _, tc := range []struct {
		typ    string
		params map[string]string
		want   string
	}{
		{"IPaddr2", map[string]string{"ip": "10.0.0.10", "cidr_netmask": "24", "nic": "eth0", "broadcast": "+", "iflabel": "web",
			"arp_count": "3", "arp_interval": "150", "arp_count_refresh": "1", "noprefixroute": "yes", "nodad": "false", "preferred_lft": "forever"},
			`ip: "10.0.0.10" cidr_netmask: "24" nic: "eth0" broadcast: "+" iflabel: "web" arp_count: 3 arp_interval: "150ms" arp_count_refresh: 1 noprefixroute: true preferred_lft: "forever"`},
		// netmask is IPaddr2's old name; cidr_netmask wins.
		{"IPaddr2", map[string]string{"ip": "10.0.0.10", "netmask": "16"}, `ip: "10.0.0.10" cidr_netmask: "16"`},
		{"IPaddr2", map[string]string{"ip": "10.0.0.10", "netmask": "16", "cidr_netmask": "24"}, `ip: "10.0.0.10" cidr_netmask: "24"`},
		// Features left off, and clone-only parameters, are accepted.
		{"IPaddr2", map[string]string{"ip": "2001:db8::10", "nodad": "true", "lvs_support": "false", "flush_routes": "no", "run_arping": "false",
			"arp_bg": "true", "arp_sender": "send_arp", "send_arp_opts": "", "network_namespace": "", "unique_clone_address": "false",
			"clusterip_hash": "sourceip", "mac": "01:00:5e:00:00:01", "lvs_ipv6_addrlabel": "false", "lvs_ipv6_addrlabel_value": "99"},
			`ip: "2001:db8::10" nodad: true`},
		{"IPaddr", map[string]string{"ip": "10.0.0.10", "nic": "eth1:x", "iflabel": "ignored", "ARP_REPEAT": "4", "ARP_INTERVAL_MS": "100", "ARP_BACKGROUND": "yes", "ARP_NETMASK": "ffffffffffff", "lvs_support": "0"},
			`ip: "10.0.0.10" nic: "eth1" broadcast: "+" arp_count: 4 arp_interval: "100ms" alias_label: true`},
	} {
		got, err := FromOCF(tc.typ, tc.params)
		if err != nil {
			t.Errorf("FromOCF(%s, %v): %v", tc.typ, tc.params, err)
			continue
		}
		want := &messages.AddressAgent{}
		if err := prototext.Unmarshal([]byte(tc.want), want); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Errorf("FromOCF(%s, %v)\n got %v\nwant %v", tc.typ, tc.params, got, want)
		}
	}
	for _, tc := range []struct {
		typ    string
		params map[string]string
		want   []string
	}{
		{"IPaddr2", map[string]string{"ip": "10.0.0.10", "lvs_support": "true"}, []string{`parameter lvs_support="true": the built-in address resource only runs it without LVS support (false)`}},
		{"IPaddr2", map[string]string{"ip": "10.0.0.10", "arp_sender": "iputils_arping", "send_arp_opts": "-A"},
			[]string{`parameter arp_sender="iputils_arping"`, `parameter send_arp_opts="-A"`}},
		{"IPaddr2", map[string]string{"ip": "10.0.0.10", "flush_routes": "true", "run_arping": "1", "arp_bg": "false", "network_namespace": "ns1"},
			[]string{"arp_bg", "flush_routes", "network_namespace", "run_arping"}},
		{"IPaddr2", map[string]string{"ip": "10.0.0.10", "colour": "blue"}, []string{"parameter colour: not understood by the built-in address resource"}},
		{"IPaddr2", map[string]string{"ip": "10.0.0.10", "arp_count": "0"}, []string{`parameter arp_count="0": a number from 1 to 1000`}},
		{"IPaddr2", map[string]string{"ip": "10.0.0.10", "arp_interval": "0.2"}, []string{`parameter arp_interval="0.2": a positive number of milliseconds`}},
		{"IPaddr", map[string]string{"ip": "10.0.0.10", "local_start_script": "/bin/true", "ARP_BACKGROUND": "no"},
			[]string{"ARP_BACKGROUND", "local_start_script"}},
		{"IPsrcaddr", map[string]string{"ipaddress": "10.0.0.10"}, []string{"IPsrcaddr is not an address agent"}},
	} {
		_, err := FromOCF(tc.typ, tc.params)
		if err == nil {
			t.Errorf("FromOCF(%s, %v): no error", tc.typ, tc.params)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("FromOCF(%s, %v) = %v, want %q in it", tc.typ, tc.params, err, w)
			}
		}
	}
}

// Positional is the haresources spelling, and FromScript reads it back.
func TestPositional(t *testing.T) {
	for _, s := range []string{"10.0.0.10", "10.0.0.10/24", "10.0.0.10/24/eth0", "10.0.0.10/24/eth0:web/10.0.0.255", "10.0.0.10/24/10.0.0.255", "10.0.0.10//eth0", "2001:db8::10/64/eth0"} {
		a, err := FromScript(HaresourcesName, strings.Split(s, "::"))
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if got := Positional(a); got != s {
			t.Errorf("Positional(FromScript(%q)) = %q", s, got)
		}
	}
	if got := Positional(&messages.AddressAgent{Ip: "10.0.0.10", Nic: "eth0", Iflabel: "web"}); got != "10.0.0.10//eth0:web" {
		t.Errorf("iflabel: %q", got)
	}
}
