package medium

import (
	"net/netip"
	"testing"
)

// String is what `hanode check` prints for a medium; Iface is "" for a
// serial line and for unicast not tied to an interface.
func TestStringKindIface(t *testing.T) {
	a := netip.MustParseAddr
	for _, c := range []struct {
		m                Medium
		kind, str, iface string
	}{
		{&Bcast{Dev: "eth0", Port: 694}, "bcast", "bcast on eth0, port 694", "eth0"},
		{&Mcast{Dev: "eth1", Group: a("225.0.0.1"), Port: 694, TTL: 1}, "mcast", "mcast on eth1 to 225.0.0.1:694 ttl 1", "eth1"},
		{&Ucast{Peers: []netip.Addr{a("10.0.0.1"), a("10.0.0.2")}, Port: 695}, "ucast", "ucast on any device to 10.0.0.1, 10.0.0.2, port 695", ""},
		{&Ucast{Dev: "eth0", Bind: a("10.0.0.9"), Peers: []netip.Addr{a("10.0.0.1")}, Port: 694}, "ucast", "ucast on eth0 from 10.0.0.9 to 10.0.0.1, port 694", "eth0"},
		{&Serial{Device: "/dev/ttyS0", Baud: 19200}, "serial", "serial /dev/ttyS0 at 19200 baud", ""},
	} {
		if c.m.Kind() != c.kind || c.m.String() != c.str || c.m.Iface() != c.iface {
			t.Errorf("%#v: %q %q %q, want %q %q %q", c.m, c.m.Kind(), c.m.String(), c.m.Iface(), c.kind, c.str, c.iface)
		}
	}
}
