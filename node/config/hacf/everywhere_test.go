package hacf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/hanode/hanode/node/config"
)

// everywhereDir writes an /etc/ha.d of two nodes with ha.cf's extra lines
// and haresources (none when empty), and returns it.
func everywhereDir(t *testing.T, cfExtra, haresources string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"ha.cf":    "keepalive 100ms\ndeadtime 500ms\nucast eth0 10.201.0.2\nauto_failback on\nnode a b\n" + cfExtra,
		"authkeys": "auth 1\n1 sha1 a-long-secret\n",
	}
	if haresources != "" {
		files["haresources"] = haresources
	}
	for name, text := range files {
		mode := os.FileMode(0o644)
		if name == "authkeys" {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// hanode_everywhere marks the resources it names, as haresources spells
// them (arguments included), whatever their group; haresources is
// unchanged; the directive is a difference from Heartbeat; what config
// convert prints reads back the same.
func TestEverywhereDirective(t *testing.T) {
	dir := everywhereDir(t, "hanode_everywhere httpd\nhanode_everywhere apache::/etc/apache2/apache2.conf, exim\n",
		"a hanode-address::10.0.0.10/24/eth0 httpd\nb IPaddr2::10.0.0.11/24/eth0 apache::/etc/apache2/apache2.conf \\\n  exim\n")
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, g := range l.Cluster.Groups {
		for _, r := range g.Resources {
			if r.Everywhere {
				kept = append(kept, r.GetHeartbeat().GetName())
			}
		}
	}
	if strings.Join(kept, " ") != "httpd apache exim" {
		t.Errorf("kept everywhere: %v", kept)
	}
	if len(l.Everywhere) != 0 {
		t.Errorf("names left over: %v", l.Everywhere)
	}
	eff, err := config.Resolve(l, "a")
	if err != nil {
		t.Fatal(err)
	}
	if m, e := eff.Groups[1].Moving(), eff.Groups[1].Everywhere(); len(m) != 1 || m[0].ID != "IPaddr2::10.0.0.11/24/eth0" || len(e) != 2 {
		t.Errorf("group %s: moving %v, everywhere %v", eff.Groups[1].Name, m, e)
	}
	var lines []string
	for _, d := range eff.Differences {
		if d.Directive == "hanode_everywhere" && d.Kind == config.DiffAccepted && strings.Contains(d.Msg, "which Heartbeat refuses") {
			lines = append(lines, filepath.Base(d.Pos.String()))
		}
	}
	if strings.Join(lines, " ") != "ha.cf:6 ha.cf:7" {
		t.Errorf("differences at %v: %v", lines, eff.Differences)
	}
	back, err := config.ParseNative("converted", config.MarshalNative(l.Cluster, "converted"))
	if err != nil || !proto.Equal(back.Cluster, l.Cluster) {
		t.Fatalf("round trip: %v\n%s", err, cmp.Diff(l.Cluster, back.Cluster, protocmp.Transform()))
	}
}

// What hanode_everywhere cannot mean is an error naming the ha.cf line (or,
// for a group left with nothing to move, its haresources line).
func TestEverywhereDirectiveErrors(t *testing.T) {
	for _, tc := range []struct{ cf, haresources, want string }{
		{"hanode_everywhere\n", "a httpd\n", `ha.cf:6: hanode_everywhere: missing resource name (as haresources spells it: hanode_everywhere httpd)`},
		{"hanode_everywhere nginx\n", "a 10.0.0.10 httpd\n", `ha.cf:6: hanode_everywhere: no resource nginx in haresources (name it as haresources spells it, arguments included: name::arg1::arg2)`},
		{"hanode_everywhere apache\n", "a 10.0.0.10 apache::/etc/apache2.conf\n", `ha.cf:6: hanode_everywhere: no resource apache in haresources (name it as haresources spells it, arguments included: name::arg1::arg2)`},
		{"hanode_everywhere httpd\n", "", `ha.cf:6: hanode_everywhere: no resource httpd in haresources (name it as haresources spells it, arguments included: name::arg1::arg2)`},
		{"hanode_everywhere 10.0.0.10\n", "a 10.0.0.10 httpd\n", `ha.cf:6: hanode_everywhere: 10.0.0.10 is an address: it is what moves with its group, it cannot run on every node`},
		{"hanode_everywhere hanode-address::10.0.0.10/24\n", "a hanode-address::10.0.0.10/24 httpd\n", `ha.cf:6: hanode_everywhere: hanode-address::10.0.0.10/24 is an address: it is what moves with its group, it cannot run on every node`},
		{"hanode_everywhere IPaddr2::10.0.0.10/24\n", "a IPaddr2::10.0.0.10/24 httpd\n", `ha.cf:6: hanode_everywhere: IPaddr2::10.0.0.10/24 is an address: it is what moves with its group, it cannot run on every node`},
		{"hanode_everywhere httpd\n", "a 10.0.0.10\nb httpd\n", `haresources:2: resource group "httpd" has only resources kept running on every node (everywhere, hanode_everywhere): at least one (its address) must move with the group`},
	} {
		dir := everywhereDir(t, tc.cf, tc.haresources)
		l, err := Load(dir)
		if err == nil {
			_, err = config.Resolve(l, "a")
		}
		got := ""
		if err != nil {
			got = strings.ReplaceAll(err.Error(), dir+"/", "")
		}
		if got != tc.want {
			t.Errorf("%q / %q:\n got %s\nwant %s", tc.cf, tc.haresources, got, tc.want)
		}
	}
}
