package config

import (
	"strconv"
	"strings"
	"testing"

	"github.com/hanode/hanode/transports/medium"
)

const linksBase = `
nodes { name: "n1" }
nodes { name: "n2" }
auth { active_key: 1 keys { id: 1 method: AUTH_METHOD_SHA256 secret: "k" } }
`

// TestNativeLinksMerge: in the native format, media on one interface are
// one link too, by their default name or by a name they share; several
// ucast entries for one socket are one medium with all the peers.
func TestNativeLinksMerge(t *testing.T) {
	cases := []struct {
		name, links string
		want        string // name: kinds and ports, per link
		warnings    []string
	}{
		{"default names",
			`links { bcast { dev: "eth0" } } links { mcast { dev: "eth0" group: "225.0.0.1" port: 694 ttl: 1 } }`,
			"eth0: bcast 694, mcast 694",
			[]string{"links[0]: bcast eth0 (links[0]) and mcast eth0 225.0.0.1 694 (links[1]) share one link eth0"}},
		{"one name",
			`links { name: "lan" bcast { dev: "eth0" } } links { name: "lan" ucast { dev: "eth0" peers: "10.0.0.2" } }`,
			"lan: bcast 694, ucast 694 [10.0.0.2]",
			[]string{"links[0]: bcast eth0 (links[0]) and ucast eth0 10.0.0.2 (links[1]) share one link lan: frames go out as broadcast and to 10.0.0.2"}},
		{"ucast entries of one socket",
			`links { ucast { dev: "eth0" peers: "10.0.0.1" } } links { ucast { dev: "eth0" peers: "10.0.0.2" peers: "10.0.0.1" } }`,
			"eth0: ucast 694 [10.0.0.1 10.0.0.2]",
			[]string{
				"links[1]: ucast eth0 10.0.0.1 is listed twice (first at links[0])",
				"links[1]: ucast eth0 10.0.0.2 10.0.0.1 joins the ucast medium of links[0]: one medium, frames go to 10.0.0.1, 10.0.0.2",
			}},
		{"ucast on two ports",
			`links { ucast { dev: "eth0" peers: "10.0.0.1" } } links { ucast { dev: "eth0" port: 695 peers: "10.0.0.1" } }`,
			"eth0: ucast 694 [10.0.0.1], ucast 695 [10.0.0.1]",
			[]string{"share one link eth0: frames go out to 10.0.0.1 and to 10.0.0.1"}},
		{"different devices, different links",
			`links { ucast { peers: "10.0.0.1" port: 695 } } links { bcast { dev: "eth0" } }`,
			"ucast: ucast 695 [10.0.0.1] | eth0: bcast 694",
			nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := ParseNative("cluster.textproto", []byte(linksBase+c.links))
			if err != nil {
				t.Fatal(err)
			}
			before := MarshalNative(l.Cluster, "")
			eff, err := Resolve(l, "n1")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ls := range eff.Links {
				var ms []string
				for _, m := range ls.Media {
					s := m.Medium.Kind() + " " + strconv.Itoa(int(m.Port()))
					if u, ok := m.Medium.(*medium.Ucast); ok {
						s += " [" + medium.JoinAddrs(u.Peers, " ") + "]"
					}
					ms = append(ms, s)
				}
				got = append(got, ls.Name+": "+strings.Join(ms, ", "))
			}
			if strings.Join(got, " | ") != c.want {
				t.Errorf("links %q, want %q", strings.Join(got, " | "), c.want)
			}
			var ws []string
			for _, w := range eff.Warnings {
				ws = append(ws, w.String())
			}
			all := strings.Join(ws, "\n")
			for _, w := range c.warnings {
				if !strings.Contains(all, w) {
					t.Errorf("no warning %q in:\n%s", w, all)
				}
			}
			if len(c.warnings) == 0 && strings.Contains(all, "link") {
				t.Errorf("unexpected warnings:\n%s", all)
			}
			if len(eff.Differences) != 0 {
				t.Errorf("a native configuration has differences from Heartbeat: %v", eff.Differences)
			}
			if after := MarshalNative(l.Cluster, ""); string(after) != string(before) {
				t.Errorf("Resolve changed the loaded configuration:\n%s", after)
			}
		})
	}
}

// TestNativeLinkConflicts: media of different links that would need one
// socket (overlapping devices and addresses, one port) are refused: Linux
// would hand each unicast datagram to one of the two sockets only.
func TestNativeLinkConflicts(t *testing.T) {
	cases := []struct{ links, want string }{
		{`links { bcast { dev: "eth0" } } links { name: "u" ucast { peers: "10.0.0.1" } }`,
			`links[1]: ucast (any device) of link "u" and bcast eth0 of link "eth0" (links[0]) would receive on one socket (device eth0, port 694)`},
		{`links { ucast { dev: "eth0" bind: "10.0.0.9" peers: "10.0.0.1" } } links { name: "b" bcast { dev: "eth0" } }`,
			`links[1]: bcast eth0 of link "b" and ucast eth0 of link "eth0" (links[0]) would receive on one socket`},
		// A socket bound to an address on every device and one bound to
		// eth0 on every address both match a unicast datagram to that
		// address arriving on eth0.
		{`links { ucast { peers: "10.0.0.1" bind: "10.0.0.9" } } links { bcast { dev: "eth0" } }`,
			`links[1]: bcast eth0 of link "eth0" and ucast (any device) of link "ucast" (links[0]) would receive on one socket (device eth0, port 694)`},
		{`links { mcast { dev: "eth0" group: "225.0.0.1" port: 694 ttl: 1 } } links { name: "m" mcast { dev: "eth0" group: "225.0.0.1" port: 694 ttl: 1 } }`,
			`links[1]: mcast eth0 of link "m" and mcast eth0 of link "eth0" (links[0]) would receive on one socket`},
		// An mcast medium receives on its port's 0.0.0.0 socket.
		{`links { name: "m" mcast { dev: "eth0" group: "225.0.0.1" port: 694 ttl: 1 } } links { name: "b" bcast { dev: "eth0" } }`,
			`links[1]: bcast eth0 of link "b" and mcast eth0 of link "m" (links[0]) would receive on one socket (device eth0, port 694)`},
		{`links { name: "m" mcast { dev: "eth0" group: "225.0.0.1" port: 694 ttl: 1 } } links { name: "n" mcast { dev: "eth0" group: "225.0.0.2" port: 694 ttl: 1 } }`,
			`links[1]: mcast eth0 of link "n" and mcast eth0 of link "m" (links[0]) would receive on one socket`},
		{`links { name: "lan" bcast { dev: "eth0" } } links { name: "lan" bcast { dev: "eth1" } }`,
			`links[1].name: link name "lan" is already used by links[0] (bcast eth0): the media of a link share one interface`},
	}
	for _, c := range cases {
		_, err := resolveText(t, linksBase+c.links, "n1")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v\nwant %q", err, c.want)
		}
	}
	// Apart by port, by bound address, or by device: no conflict.
	for _, ok := range []string{
		`links { bcast { dev: "eth0" } } links { name: "u" ucast { peers: "10.0.0.1" port: 695 } }`,
		`links { ucast { dev: "eth0" bind: "10.0.0.9" peers: "10.0.0.1" } } links { name: "u" ucast { dev: "eth0" bind: "10.0.0.8" peers: "10.0.0.1" } }`,
		`links { bcast { dev: "eth0" } } links { bcast { dev: "eth1" } } links { mcast { dev: "eth2" group: "225.0.0.1" port: 694 ttl: 1 } }`,
		`links { name: "a" mcast { dev: "eth0" group: "225.0.0.1" port: 695 ttl: 1 } } links { name: "b" bcast { dev: "eth0" } }`,
	} {
		if _, err := resolveText(t, linksBase+ok, "n1"); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
