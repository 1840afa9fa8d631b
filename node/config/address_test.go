package config

import (
	"strings"
	"testing"
)

// native_addresses in the native configuration: OCF IPaddr2 resources run
// as the built-in address when every parameter is understood; any other
// parameter is an error naming the file, the resource and the parameter,
// one line each.
func TestNativeAddressesOCF(t *testing.T) {
	const ok = `native_addresses: true
groups { preferred_node: "n1" resources { ocf { provider: "heartbeat" type: "IPaddr2"
  params { key: "ip" value: "10.201.0.100" } params { key: "cidr_netmask" value: "24" } params { key: "lvs_support" value: "false" } } }
  resources { ocf { provider: "heartbeat" type: "Dummy" } }
  resources { id: "v6" address { ip: "2001:db8::10" nodad: true } } }
`
	eff, err := resolveText(t, base+ok, "n1")
	if err != nil {
		t.Fatal(err)
	}
	rs := eff.Groups[0].Resources
	a := rs[0].Resource.GetAddress()
	if rs[0].ID != "ocf:heartbeat:IPaddr2" || a.GetIp() != "10.201.0.100" || a.GetCidrNetmask() != "24" {
		t.Errorf("IPaddr2: %s %v", rs[0].ID, rs[0].Resource)
	}
	if rs[1].Resource.GetOcf() == nil || rs[2].ID != "v6" || rs[2].Resource.GetAddress() == nil {
		t.Errorf("others: %v %v", rs[1].Resource, rs[2].Resource)
	}

	const bad = `native_addresses: true
groups { preferred_node: "n1" resources { ocf { provider: "heartbeat" type: "IPaddr2"
  params { key: "ip" value: "10.201.0.100" } params { key: "lvs_support" value: "true" } params { key: "clusterip_hash" value: "x" } params { key: "colour" value: "blue" } } } }
`
	_, err = resolveText(t, base+bad, "n1")
	want := []string{
		`cluster.textproto: groups[0].resources[0]: ocf:heartbeat:IPaddr2: cannot run as the built-in address resource (native_addresses): parameter colour: not understood by the built-in address resource`,
		`cluster.textproto: groups[0].resources[0]: ocf:heartbeat:IPaddr2: cannot run as the built-in address resource (native_addresses): parameter lvs_support="true": the built-in address resource only runs it without LVS support (false)`,
	}
	if err == nil || strings.Join(strings.Split(err.Error(), "\n"), "|") != strings.Join(want, "|") {
		t.Errorf("got %v\nwant %s", err, strings.Join(want, "\n"))
	}

	// Without the switch, the agent runs as it is.
	eff, err = resolveText(t, base+strings.TrimPrefix(bad, "native_addresses: true\n"), "n1")
	if err != nil || eff.Groups[0].Resources[0].Resource.GetOcf() == nil {
		t.Errorf("without native_addresses: %v", err)
	}
}

// A built-in address with a bad parameter is an error naming the field.
func TestAddressErrors(t *testing.T) {
	_, err := resolveText(t, base+`groups { preferred_node: "n1" resources { address { ip: "10.201.0.100" broadcast: "x" arp_interval: "soon" } } }`, "n1")
	want := []string{
		`cluster.textproto: groups[0].resources[0].address: hanode-address::10.201.0.100//x: broadcast: "x" is not an IPv4 address, "+" or "-"`,
		`cluster.textproto: groups[0].resources[0].address: hanode-address::10.201.0.100//x: arp_interval: "soon" is not a duration ("200ms")`,
	}
	if err == nil || strings.Join(strings.Split(err.Error(), "\n"), "|") != strings.Join(want, "|") {
		t.Errorf("got %v\nwant %s", err, strings.Join(want, "\n"))
	}
}
