package config

import (
	"strings"
	"testing"
)

// everywhere on a resource keeps it in its group, in its place, and marks
// it: Moving and Everywhere split the group in configuration order, and
// the kept part costs nothing in the group's stop budget (node package).
func TestEverywhereSplitsTheGroup(t *testing.T) {
	eff, err := resolveText(t, base+`groups { name: "web" preferred_node: "n1"
  resources { id: "php" everywhere: true heartbeat { name: "php-fpm" } }
  resources { address { ip: "10.201.0.100" cidr_netmask: "24" } }
  resources { id: "httpd" everywhere: true heartbeat { name: "httpd" } }
  resources { id: "cron" heartbeat { name: "cron" } } }
`, "n1")
	if err != nil {
		t.Fatal(err)
	}
	g := eff.Groups[0]
	ids := func(rs []ResourceSpec) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.ID)
		}
		return strings.Join(s, " ")
	}
	if got := ids(g.Resources); got != "php hanode-address::10.201.0.100/24 httpd cron" {
		t.Errorf("resources %q", got)
	}
	if got := ids(g.Moving()); got != "hanode-address::10.201.0.100/24 cron" {
		t.Errorf("moving %q", got)
	}
	if got := ids(g.Everywhere()); got != "php httpd" {
		t.Errorf("everywhere %q", got)
	}
}

// An address kept everywhere, and a group with nothing left to move, are
// errors naming the file and the field.
func TestEverywhereErrors(t *testing.T) {
	for _, tc := range []struct{ groups, want string }{
		{`groups { preferred_node: "n1" resources { everywhere: true address { ip: "10.201.0.100" } } resources { heartbeat { name: "httpd" } } }`,
			`cluster.textproto: groups[0].resources[0].everywhere: hanode-address::10.201.0.100: an address cannot be kept running on every node (everywhere): it is what moves with the group`},
		{`groups { preferred_node: "n1" resources { everywhere: true ocf { provider: "heartbeat" type: "IPaddr2" params { key: "ip" value: "10.201.0.100" } } } resources { heartbeat { name: "httpd" } } }`,
			`cluster.textproto: groups[0].resources[0].everywhere: ocf:heartbeat:IPaddr2: an address cannot be kept running on every node (everywhere): it is what moves with the group`},
		{`groups { name: "web" preferred_node: "n1" resources { everywhere: true heartbeat { name: "httpd" } } }`,
			`cluster.textproto: groups[0].resources: resource group "web" has only resources kept running on every node (everywhere, hanode_everywhere): at least one (its address) must move with the group`},
	} {
		_, err := resolveText(t, base+tc.groups, "n1")
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.groups, err, tc.want)
		}
	}
}
