package config

import (
	"strings"
	"testing"
)

// Named links of one interface and port clash only when they need a
// socket of the same family: an IPv6 ucast (an IPv6-only socket) may run
// beside an IPv4 bcast as a link of its own; a link-local peer takes the
// medium's device as its scope.
func TestNativeIPv6LinksAndSockets(t *testing.T) {
	eff, err := resolveText(t, linksBase+`links { name: "v4" bcast { dev: "eth0" } }
links { name: "v6" ucast { dev: "eth0" peers: "fe80::2" peers: "fd00::2" } }
links { name: "v6m" mcast { dev: "eth1" group: "ff12::1:2:3:4" port: 694 ttl: 1 } }`, "n1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ls := range eff.Links {
		got = append(got, ls.Name+": "+ls.Media[0].Medium.String())
	}
	want := "v4: bcast on eth0, port 694 | v6: ucast on eth0 to fe80::2%eth0, fd00::2, port 694 | v6m: mcast6 on eth1 to [ff12::1:2:3:4]:694 hops 1"
	if strings.Join(got, " | ") != want {
		t.Errorf("links %q\nwant  %q", strings.Join(got, " | "), want)
	}
	_, err = resolveText(t, linksBase+`links { name: "v6" ucast { dev: "eth0" peers: "fd00::2" } }
links { name: "v6b" mcast { dev: "eth0" group: "ff12::1" port: 694 ttl: 1 } }`, "n1")
	if err == nil || !strings.Contains(err.Error(), `links[1]: mcast eth0 of link "v6b" and ucast eth0 of link "v6" (links[0]) would receive on one socket (device eth0, port 694)`) {
		t.Errorf("two IPv6 links on one socket: %v", err)
	}
}
