package hacf

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/transports/medium"
)

// TestIPv6Media: Heartbeat's ucast6, mcast6 and ping6 lines, beside IPv4
// media, as Heartbeat reads them: ucast6 takes the udpport in effect on
// its line and joins the ucast medium of its interface and port (one link
// per interface), a link-local peer takes the device as its scope, mcast6
// keeps its own port and its hops; ping6 gives a ping node per address and
// a ping_group may hold IPv6 members (hanode's, a difference).
func TestIPv6Media(t *testing.T) {
	cf := `node a b
udpport 695
ucast6 eth0 fe80::2
ucast6 eth0 fe80::3%eth0
udpport 694
bcast eth1
ucast eth1 10.0.0.2
ucast6 eth1 fd00:10:201::2
mcast6 eth1 ff12::1:2:3:4 696 1 0
ping6 fd00:10:201::fe FE80::1%eth1
ping_group routers 10.0.0.254 fd00:10:201::fd
`
	l, errs := parse(t, cf, "", minimalKeys)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	eff, err := config.Resolve(l, "a")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ls := range eff.Links {
		var ms []string
		for _, m := range ls.Media {
			ms = append(ms, m.Medium.String())
		}
		got = append(got, ls.Name+": "+strings.Join(ms, "; "))
	}
	want := []string{
		"eth0: ucast on eth0 to fe80::2%eth0, fe80::3%eth0, port 695",
		"eth1: bcast on eth1, port 694; ucast on eth1 to 10.0.0.2, fd00:10:201::2, port 694; mcast6 on eth1 to [ff12::1:2:3:4]:696 hops 1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("links\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if mc := eff.Links[1].Media[2].Medium.(*medium.Mcast); mc.Loop || mc.TTL != 1 || mc.Group != netip.MustParseAddr("ff12::1:2:3:4") {
		t.Errorf("mcast6 %+v", mc)
	}
	var pings []string
	for _, p := range eff.PingNodes {
		pings = append(pings, p.Name+"="+medium.JoinAddrs(p.Addresses, ","))
	}
	if g := strings.Join(pings, " "); g != "fd00:10:201::fe=fd00:10:201::fe fe80::1%eth1=fe80::1%eth1 routers=10.0.0.254,fd00:10:201::fd" {
		t.Errorf("ping nodes %s", g)
	}
	diffs := strings.Join(differences(l, config.DiffAccepted), "\n")
	for _, w := range []string{
		"accepted: ha.cf:10: ping6 FE80::1%eth1: a link-local target with its interface, which Heartbeat's ping6 refuses",
		"accepted: ha.cf:11: ping_group routers fd00:10:201::fd: an IPv6 member, which Heartbeat's ping_group refuses",
	} {
		if !strings.Contains(diffs, w) {
			t.Errorf("no difference %q in\n%s", w, diffs)
		}
	}
	// A ucast6 line repeated is one peer, with a warning.
	l, errs = parse(t, "node a b\nucast6 eth0 fe80::2\nucast6 eth0 fe80::2%eth0\n", "", minimalKeys)
	if len(errs) > 0 || len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0].String(), "ucast6: eth0 fe80::2%eth0 is listed twice") {
		t.Errorf("repeated ucast6: %v %v", errs, l.Warnings)
	}
}

// IPv6addr in haresources: with hanode_native_addresses on, it runs as the
// built-in address resource under its own name (the address, split by
// haresources at "::", joined again); as the script, an address written
// with "::" is refused when read (resource.d/IPv6addr would get several
// arguments and stop at its usage line), one written out in full runs.
func TestIPv6addrResource(t *testing.T) {
	const haresources = "a IPv6addr::fd00:10:201::100/64/eth0\n"
	l, errs := parse(t, minimalCf+"hanode_native_addresses on\n", haresources, minimalKeys)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	eff, err := config.Resolve(l, "a")
	if err != nil {
		t.Fatal(err)
	}
	r := eff.Groups[0].Resources[0]
	if a := r.Resource.GetAddress(); r.ID != "IPv6addr::fd00:10:201::100/64/eth0" || a.GetIp() != "fd00:10:201::100" || a.GetCidrNetmask() != "64" || a.GetNic() != "eth0" {
		t.Errorf("%s: %v", r.ID, r.Resource)
	}

	l, errs = parse(t, minimalCf, haresources, minimalKeys)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	_, err = config.Resolve(l, "a")
	want := `haresources:1: IPv6addr::fd00:10:201::100/64/eth0: haresources splits fd00:10:201::100/64/eth0 at "::" into 2 arguments, and resource.d/IPv6addr takes one: write the address without "::" (fd00:0:0:0:0:0:0:10), or set hanode_native_addresses on`
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("got %v\nwant %s", err, want)
	}

	l, errs = parse(t, minimalCf, "a IPv6addr::fd00:10:201:0:0:0:0:100/64/eth0\n", minimalKeys)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if eff, err = config.Resolve(l, "a"); err != nil || eff.Groups[0].Resources[0].Resource.GetHeartbeat() == nil {
		t.Errorf("IPv6addr written in full: %v", err)
	}
}
