package config

import (
	"strings"
	"testing"
)

// native_addresses with the OCF agent IPv6addr: its three parameters run
// as the built-in address resource; any other is refused by name, and so
// is an IPv4 address. Without the switch the agent runs as it is.
func TestNativeIPv6addrOCF(t *testing.T) {
	const ok = `native_addresses: true
groups { preferred_node: "n1" resources { ocf { provider: "heartbeat" type: "IPv6addr"
  params { key: "ipv6addr" value: "fd00:10:201::100" } params { key: "cidr_netmask" value: "64" } params { key: "nic" value: "eth0" } } } }
`
	eff, err := resolveText(t, base+ok, "n1")
	if err != nil {
		t.Fatal(err)
	}
	r := eff.Groups[0].Resources[0]
	a := r.Resource.GetAddress()
	if r.ID != "ocf:heartbeat:IPv6addr" || a.GetIp() != "fd00:10:201::100" || a.GetCidrNetmask() != "64" || a.GetNic() != "eth0" {
		t.Errorf("IPv6addr: %s %v", r.ID, r.Resource)
	}

	const bad = `native_addresses: true
groups { preferred_node: "n1" resources { ocf { provider: "heartbeat" type: "IPv6addr"
  params { key: "ipv6addr" value: "10.201.0.100" } params { key: "nodad" value: "true" } } } }
`
	_, err = resolveText(t, base+bad, "n1")
	want := []string{
		`cluster.textproto: groups[0].resources[0]: ocf:heartbeat:IPv6addr: cannot run as the built-in address resource (native_addresses): parameter nodad: not understood by the built-in address resource (IPv6addr takes ipv6addr, cidr_netmask and nic)`,
		`cluster.textproto: groups[0].resources[0]: ocf:heartbeat:IPv6addr: cannot run as the built-in address resource (native_addresses): "10.201.0.100" is not an IPv6 address (IPv6addr takes one; IPaddr2 takes IPv4)`,
	}
	if err == nil || strings.Join(strings.Split(err.Error(), "\n"), "|") != strings.Join(want, "|") {
		t.Errorf("got %v\nwant %s", err, strings.Join(want, "\n"))
	}
	eff, err = resolveText(t, base+strings.TrimPrefix(bad, "native_addresses: true\n"), "n1")
	if err != nil || eff.Groups[0].Resources[0].Resource.GetOcf() == nil {
		t.Errorf("without native_addresses: %v", err)
	}
}

func TestIPv6addrFromScript(t *testing.T) {
	for _, c := range []struct {
		args          []string
		ip, cidr, nic string
		err           string
	}{
		{[]string{"fd00:10:201", "100/64/eth0"}, "fd00:10:201::100", "64", "eth0", ""},
		{[]string{"fd00:10:201:0:0:0:0:100/64"}, "fd00:10:201:0:0:0:0:100", "64", "", ""},
		{[]string{"fe80", "1"}, "fe80::1", "", "", ""},
		{nil, "", "", "", "IPv6addr needs its argument addr[/prefix[/nic]]"},
		{[]string{"fd00", "1/64/eth0/x"}, "", "", "", "IPv6addr takes addr[/prefix[/nic]], not 4 pieces (fd00::1/64/eth0/x)"},
		{[]string{"10.0.0.1/24"}, "", "", "", `"10.0.0.1" is not an IPv6 address (IPv6addr takes one; IPaddr2 takes IPv4)`},
	} {
		a, err := ipv6addrFromScript(c.args)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%v: %v, want %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil || a.Ip != c.ip || a.CidrNetmask != c.cidr || a.Nic != c.nic {
			t.Errorf("%v: %v %v", c.args, a, err)
		}
	}
}
