package hacf

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
)

// addressAgent reads an AddressAgent from prototext.
func addressAgent(t *testing.T, text string) *messages.Resource {
	t.Helper()
	a := &messages.AddressAgent{}
	if err := prototext.Unmarshal([]byte(text), a); err != nil {
		t.Fatal(err)
	}
	return &messages.Resource{Agent: &messages.Resource_Address{Address: a}}
}

// hanode-address in haresources is the built-in address; with
// hanode_native_addresses on, IPaddr and IPaddr2 lines run as it too,
// under their own names, and the directive is a difference from
// Heartbeat (which refuses it).
func TestNativeAddresses(t *testing.T) {
	const haresources = "a IPaddr2::10.0.0.10/24/eth0:web/10.0.0.255 10.0.0.11 \\\n hanode-address::2001:db8::10/64/eth0 apache::start\n"
	for _, on := range []bool{false, true} {
		cf := minimalCf
		if on {
			cf += "hanode_native_addresses on\n"
		}
		l, errs := parse(t, cf, haresources, minimalKeys)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if l.Cluster.NativeAddresses != on {
			t.Errorf("native_addresses: %v, want %v", l.Cluster.NativeAddresses, on)
		}
		eff, err := config.Resolve(l, "a")
		if err != nil {
			t.Fatal(err)
		}
		g := eff.Groups[0]
		if g.Name != "IPaddr2::10.0.0.10/24/eth0:web/10.0.0.255" {
			t.Errorf("group name %q", g.Name)
		}
		var ids []string
		var got []*messages.Resource
		for _, r := range g.Resources {
			ids = append(ids, r.ID)
			got = append(got, r.Resource)
		}
		if want := "IPaddr2::10.0.0.10/24/eth0:web/10.0.0.255 IPaddr::10.0.0.11 hanode-address::2001:db8::10/64/eth0 apache::start"; strings.Join(ids, " ") != want {
			t.Errorf("ids %q, want %q", ids, want)
		}
		hb := func(name, arg string) *messages.Resource {
			return &messages.Resource{Agent: &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: name, Args: []string{arg}}}}
		}
		want := []*messages.Resource{
			hb("IPaddr2", "10.0.0.10/24/eth0:web/10.0.0.255"),
			hb("IPaddr", "10.0.0.11"),
			addressAgent(t, `ip: "2001:db8::10" cidr_netmask: "64" nic: "eth0"`),
			hb("apache", "start"),
		}
		if on {
			want[0] = addressAgent(t, `ip: "10.0.0.10" cidr_netmask: "24" nic: "eth0:web" broadcast: "10.0.0.255"`)
			want[0].Id = ids[0]
			want[1] = addressAgent(t, `ip: "10.0.0.11" broadcast: "+" arp_count: 10 arp_interval: "500ms" alias_label: true`)
			want[1].Id = ids[1]
		}
		if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
			t.Errorf("native_addresses %v: resources differ (-want +got):\n%s", on, d)
		}
		found := false
		for _, d := range eff.Differences {
			if d.Directive == "hanode_native_addresses" {
				found = d.Kind == config.DiffAccepted && d.Pos.String() == "ha.cf:3" && strings.Contains(d.Msg, "which Heartbeat refuses")
			}
		}
		if found != on {
			t.Errorf("native_addresses %v: difference for the directive: %v (%v)", on, found, eff.Differences)
		}
	}

	// What config convert prints reads back the same.
	l, errs := parse(t, minimalCf+"hanode_native_addresses yes\n", haresources, minimalKeys)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	back, err := config.ParseNative("converted", config.MarshalNative(l.Cluster, "converted"))
	if err != nil || !proto.Equal(back.Cluster, l.Cluster) {
		t.Fatalf("round trip: %v\n%s", err, cmp.Diff(l.Cluster, back.Cluster, protocmp.Transform()))
	}
}

// What cannot run as the built-in address is an error naming the file,
// the line and what is wrong.
func TestNativeAddressErrors(t *testing.T) {
	for _, tc := range []struct {
		cf, haresources, want string
	}{
		{minimalCf + "hanode_native_addresses maybe\n", "", `ha.cf:3: hanode_native_addresses: "maybe" is not a boolean`},
		{minimalCf + "hanode_native_addresses on\n", "a apache \\\n IPaddr2::10.0.0.10/24::extra\n",
			`haresources:2: IPaddr2::10.0.0.10/24::extra: cannot run as the built-in address resource (native_addresses): IPaddr2 takes one argument, not 2`},
		{minimalCf + "hanode_native_addresses on\n", "a IPaddr2::10.0.0.10/24/eth0/10.0.0.255/more\n",
			`haresources:1: IPaddr2::10.0.0.10/24/eth0/10.0.0.255/more: cannot run as the built-in address resource (native_addresses): unexpected "/more" after the broadcast address`},
		{minimalCf + "hanode_native_addresses on\n", "a IPaddr2::10.0.0.300/24\n",
			`haresources:1: IPaddr2::10.0.0.300/24: ip: "10.0.0.300" is not an IPv4 or IPv6 address`},
		{minimalCf, "a\\\n hanode-address::10.0.0.10/99\n", `haresources:2: hanode-address::10.0.0.10/99: cidr_netmask: "99": a prefix length from 1 to 32`},
		{minimalCf, "a hanode-address::10.0.0.10/24/eth0:\n", `haresources:1: hanode-address::10.0.0.10/24/eth0:: iflabel: empty label`},
	} {
		l, errs := parse(t, tc.cf, tc.haresources, minimalKeys)
		var err error = errs.Err()
		if err == nil {
			_, err = config.Resolve(l, "a")
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q / %q:\n got %v\nwant %q", tc.cf, tc.haresources, err, tc.want)
		} else if strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("not one line: %q", err)
		}
	}
	// A parse error of the resource itself names its line.
	_, errs := parse(t, minimalCf, "a apache\\\n hanode-address::10.0.0.10/24/eth0/10.0.0.255/x\n", minimalKeys)
	if len(errs) != 1 || errs[0].Error() != `haresources:2: resource "hanode-address::10.0.0.10/24/eth0/10.0.0.255/x": unexpected "/x" after the broadcast address` {
		t.Errorf("errors %v", errs)
	}
}
