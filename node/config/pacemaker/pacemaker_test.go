package pacemaker

import (
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hanode/hanode/internal/lab/need"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/config/hacf"
)

// el is an element of the CIB as read back, for assertions on specific
// elements.
type el struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []*el      `xml:",any"`
}

func (e *el) attr(name string) string {
	for _, a := range e.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// all lists e and its descendants, in document order.
func (e *el) all() []*el {
	out := []*el{e}
	for _, c := range e.Children {
		out = append(out, c.all()...)
	}
	return out
}

// byID finds the element of an id.
func (e *el) byID(id string) *el {
	for _, x := range e.all() {
		if x.attr("id") == id {
			return x
		}
	}
	return nil
}

// kind lists the elements of a name.
func (e *el) kind(name string) []*el {
	var out []*el
	for _, x := range e.all() {
		if x.XMLName.Local == name {
			out = append(out, x)
		}
	}
	return out
}

// params are a primitive's instance attributes, in order, "name=value".
func (e *el) params() []string {
	var out []string
	for _, s := range e.Children {
		if s.XMLName.Local != "instance_attributes" {
			continue
		}
		for _, p := range s.Children {
			out = append(out, p.attr("name")+"="+p.attr("value"))
		}
	}
	return out
}

// agent is a primitive's class:provider:type.
func (e *el) agent() string {
	if p := e.attr("provider"); p != "" {
		return e.attr("class") + ":" + p + ":" + e.attr("type")
	}
	return e.attr("class") + ":" + e.attr("type")
}

func parseCIB(t *testing.T, data []byte) *el {
	t.Helper()
	var root el
	if err := xml.Unmarshal(data, &root); err != nil {
		t.Fatalf("the CIB does not parse: %v\n%s", err, data)
	}
	return &root
}

const nativeBase = `
name: "test"
nodes { name: "node1" }
nodes { name: "node2" }
links { bcast { dev: "eth0" } }
auth { active_key: 1 keys { id: 1 method: AUTH_METHOD_SHA256 secret: "s" } }
`

// native resolves a native configuration (nativeBase and more).
func native(t *testing.T, more string) *config.Effective {
	t.Helper()
	l, err := config.ParseNative("cluster.textproto", []byte(nativeBase+more))
	if err != nil {
		t.Fatal(err)
	}
	eff, err := config.Resolve(l, "")
	if err != nil {
		t.Fatal(err)
	}
	return eff
}

// locate finds the names given in /etc/init.d, any other in resource.d.
func locate(initd ...string) func(config.ResourceSpec) (Script, error) {
	return func(r config.ResourceSpec) (Script, error) {
		name := r.Resource.GetHeartbeat().GetName()
		for _, n := range initd {
			if n == name {
				return InitD, nil
			}
		}
		return ResourceD, nil
	}
}

func export(t *testing.T, eff *config.Effective, opt Options) (*el, *Result) {
	t.Helper()
	res, err := Export(eff, opt)
	if err != nil {
		t.Fatal(err)
	}
	return parseCIB(t, res.CIB), res
}

// heartbeatDir writes an /etc/ha.d (authkeys added) and loads it.
func heartbeatDir(t *testing.T, hacfText, haresources string) (*config.Loaded, *config.Effective) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ha.cf"), []byte(hacfText), 0o644)
	os.WriteFile(filepath.Join(dir, "haresources"), []byte(haresources), 0o644)
	os.WriteFile(filepath.Join(dir, "authkeys"), []byte("auth 1\n1 sha1 SECRET\n"), 0o600)
	l, err := hacf.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	eff, err := config.Resolve(l, "")
	if err != nil {
		t.Fatal(err)
	}
	return l, eff
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// TestHaresourcesByClass: each haresources line is a group, in start
// order; a resource.d script that wraps an OCF agent is that agent with
// the parameters the script gives it; another resource.d script is class
// heartbeat with positional parameters; an init script is lsb.
func TestHaresourcesByClass(t *testing.T) {
	_, eff := heartbeatDir(t, "node node1 node2\nbcast eth0\nauto_failback on\n",
		"node1 IPaddr::10.0.0.1/24/eth0 drbddisk::r0 Filesystem::/dev/drbd0::/data::ext4::noatime apache2\n"+
			"node2 IPaddr2::10.0.0.2/24/eth1:web/10.0.0.255 \\\n  10.0.30.15//8/eth0:10 MailTo::root@example.com::failover\n")
	cib, res := export(t, eff, Options{Locate: locate("apache2")})

	groups := cib.kind("group")
	if len(groups) != 2 {
		t.Fatalf("%d groups, want one per haresources line", len(groups))
	}
	var members []string
	for _, p := range groups[0].kind("primitive") {
		members = append(members, p.attr("id")+" "+p.agent())
	}
	equal(t, "first group, in start order", members, []string{
		"IPaddr_10_0_0_1 ocf:heartbeat:IPaddr",
		"drbddisk_r0 heartbeat:drbddisk",
		"Filesystem_dev_drbd0 ocf:heartbeat:Filesystem",
		"apache2 lsb:apache2",
	})
	if id := groups[0].attr("id"); id != "group_IPaddr_10_0_0_1" {
		t.Errorf("group id %q", id)
	}
	equal(t, "IPaddr", cib.byID("IPaddr_10_0_0_1").params(), []string{"ip=10.0.0.1", "cidr_netmask=24", "nic=eth0", "lvs_support=0"})
	equal(t, "drbddisk", cib.byID("drbddisk_r0").params(), []string{"1=r0"})
	equal(t, "Filesystem", cib.byID("Filesystem_dev_drbd0").params(), []string{"device=/dev/drbd0", "directory=/data", "fstype=ext4", "options=noatime"})
	equal(t, "apache2", cib.byID("apache2").params(), nil)
	equal(t, "IPaddr2", cib.byID("IPaddr2_10_0_0_2").params(), []string{"ip=10.0.0.2", "cidr_netmask=24", "nic=eth1:web", "broadcast=10.0.0.255", "lvs_support=1"})
	// The bare address is IPaddr's, "//" read as the script reads it.
	equal(t, "bare address", cib.byID("IPaddr_10_0_30_15").params(), []string{"ip=10.0.30.15", "cidr_netmask=8", "nic=eth0:10", "lvs_support=0"})
	equal(t, "MailTo", cib.byID("MailTo_root_example_com").params(), []string{"email=root@example.com", "subject=failover"})

	var locs []string
	for _, l := range cib.kind("rsc_location") {
		locs = append(locs, l.attr("rsc")+" "+l.attr("node")+" "+l.attr("score"))
	}
	equal(t, "preferred nodes", locs, []string{"group_IPaddr_10_0_0_1 node1 100", "group_IPaddr2_10_0_0_2 node2 100"})

	var ops []string
	for _, o := range cib.byID("apache2").kind("op") {
		ops = append(ops, o.attr("name")+" "+o.attr("interval")+" "+o.attr("timeout"))
	}
	equal(t, "operations (hanode's defaults)", ops, []string{"monitor 10s 20s", "start 0s 60s", "stop 0s 60s"})

	if len(res.Warnings) == 0 || !strings.Contains(strings.Join(res.Warnings, "\n"), "haresources:1: drbddisk::r0: exported as class heartbeat") {
		t.Errorf("no warning naming drbddisk's line: %q", res.Warnings)
	}
}

// TestWrappers: the resource.d wrappers' arguments, and arguments a
// wrapper's usage refuses, which leave the script as it is (class
// heartbeat).
func TestWrappers(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want []string // nil: not the OCF agent
	}{
		{"IPaddr", []string{"10.0.0.1"}, []string{"ip=10.0.0.1", "lvs_support=0"}},
		{"IPaddr", []string{"10.0.0.1/24/10.0.0.255"}, []string{"ip=10.0.0.1", "cidr_netmask=24", "broadcast=10.0.0.255", "lvs_support=0"}},
		{"IPaddr", []string{"10.0.0.1", "x"}, nil},
		{"IPaddr2", []string{"10.0.0.1/255.255.255.0"}, []string{"ip=10.0.0.1", "cidr_netmask=255.255.255.0", "lvs_support=1"}},
		{"IPv6addr", []string{"fe80/64/eth0"}, []string{"ipv6addr=fe80", "cidr_netmask=64", "nic=eth0"}},
		{"Filesystem", []string{"/dev/sda1"}, nil},
		{"Filesystem", []string{"/dev/sda1", "/data"}, []string{"device=/dev/sda1", "directory=/data"}},
		{"Filesystem", []string{"a", "b", "c", "d", "e"}, nil},
		{"Delay", nil, []string{"startdelay=10"}},
		{"Delay", []string{"5", "3"}, []string{"startdelay=5", "stopdelay=3"}},
		{"WinPopup", nil, []string{"hostfile=hosts"}},
		{"SendArp", []string{"10.0.0.1/eth0"}, []string{"ip=10.0.0.1", "nic=eth0"}},
		{"SendArp", []string{"10.0.0.1"}, nil},
		{"AudibleAlarm", []string{"node1", "node2"}, []string{"nodelist=node1 node2"}},
		{"portblock", []string{"tcp", "80,443", "block"}, []string{"protocol=tcp", "portno=80,443", "action=block"}},
		{"ids", []string{"a"}, nil},
		{"apache", []string{"/etc/apache2/apache2.conf"}, []string{"configfile=/etc/apache2/apache2.conf"}},
	} {
		w, ok := wrappers[c.name]
		if !ok {
			t.Fatalf("no wrapper %s", c.name)
		}
		ps, ok := w(c.args)
		if ok != (c.want != nil) {
			t.Errorf("%s %q: ok %v", c.name, c.args, ok)
			continue
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.name+"="+p.value)
		}
		if ok {
			equal(t, c.name+" "+strings.Join(c.args, "::"), got, c.want)
		}
	}
	// Out of the table, the script itself.
	eff := native(t, `groups { preferred_node: "node1" resources { heartbeat { name: "Filesystem" args: "/dev/sda1" } } }`)
	cib, _ := export(t, eff, Options{Locate: locate()})
	if p := cib.byID("Filesystem_dev_sda1"); p == nil || p.agent() != "heartbeat:Filesystem" {
		t.Errorf("Filesystem with one argument: %+v", p)
	}
}

// TestAutoFailback: on (and legacy, which hanode runs as on) gives no
// stickiness; off more than the preferred node's score.
func TestAutoFailback(t *testing.T) {
	for _, c := range []struct{ setting, want string }{
		{"AUTO_FAILBACK_ON", "0"}, {"AUTO_FAILBACK_LEGACY", "0"}, {"AUTO_FAILBACK_OFF", "200"},
	} {
		eff := native(t, `auto_failback: `+c.setting+`
groups { preferred_node: "node2" resources { address { ip: "10.0.0.10" } } }`)
		cib, _ := export(t, eff, Options{})
		if got := cib.byID("rsc-options-resource-stickiness").attr("value"); got != c.want {
			t.Errorf("%s: resource-stickiness %s, want %s", c.setting, got, c.want)
		}
		if got := cib.byID("rsc-options-migration-threshold").attr("value"); got != "3" {
			t.Errorf("migration-threshold %s", got)
		}
	}
}

// TestAddressResource: hanode's address is IPaddr2 with its parameters;
// an IPaddr entry run natively is IPaddr.
func TestAddressResource(t *testing.T) {
	eff := native(t, `native_addresses: true
groups { preferred_node: "node1"
  resources { address { ip: "10.0.0.10" cidr_netmask: "24" nic: "eth0:web" broadcast: "+" arp_count: 3 arp_interval: "100ms" } }
  resources { heartbeat { name: "IPaddr" args: "10.0.0.11/24/eth1" } }
  resources { address { ip: "2001:db8::10" cidr_netmask: "64" nic: "eth0" nodad: true } }
}`)
	cib, _ := export(t, eff, Options{Locate: locate()})
	p := cib.byID("IPaddr2_10_0_0_10")
	if p == nil || p.agent() != "ocf:heartbeat:IPaddr2" {
		t.Fatalf("address: %+v", p)
	}
	equal(t, "address", p.params(), []string{"ip=10.0.0.10", "cidr_netmask=24", "nic=eth0", "iflabel=web", "broadcast=+", "arp_count=3", "arp_interval=100"})
	p = cib.byID("IPaddr_10_0_0_11")
	if p == nil || p.agent() != "ocf:heartbeat:IPaddr" {
		t.Fatalf("native IPaddr: %+v", p)
	}
	equal(t, "native IPaddr", p.params(), []string{"ip=10.0.0.11", "cidr_netmask=24", "nic=eth1", "ARP_REPEAT=10", "ARP_INTERVAL_MS=500"})
	equal(t, "IPv6", cib.byID("IPaddr2_2001_db8_10").params(), []string{"ip=2001:db8::10", "cidr_netmask=64", "nic=eth0", "nodad=true"})
}

// TestEverywhereIsAClone: a resource kept on every node is a clone, out
// of its group, started before the group where both start.
func TestEverywhereIsAClone(t *testing.T) {
	eff := native(t, `groups { name: "web" preferred_node: "node1"
  resources { address { ip: "10.0.0.10" } }
  resources { ocf { provider: "heartbeat" type: "apache" params { key: "configfile" value: "/etc/apache2/apache2.conf" } } everywhere: true }
}`)
	cib, _ := export(t, eff, Options{})
	g := cib.byID("web")
	if g == nil || len(g.kind("primitive")) != 1 || g.kind("primitive")[0].attr("id") != "IPaddr2_10_0_0_10" {
		t.Fatalf("group web: %+v", g)
	}
	c := cib.byID("apache-clone")
	if c == nil || c.XMLName.Local != "clone" || c.kind("primitive")[0].agent() != "ocf:heartbeat:apache" {
		t.Fatalf("clone: %+v", c)
	}
	o := cib.kind("rsc_order")
	if len(o) != 1 || o[0].attr("first") != "apache-clone" || o[0].attr("then") != "web" || o[0].attr("kind") != "Optional" {
		t.Errorf("order: %+v", o)
	}
}

// TestProperties: cluster options from the configuration.
func TestProperties(t *testing.T) {
	eff := native(t, `quorum { policy: QUORUM_POLICY_FREEZE }
timing { deadtime: "10s" keepalive: "500ms" initdead: "45s" }`)
	cib, res := export(t, eff, Options{})
	var props []string
	for _, p := range cib.byID("cib-bootstrap-options").Children {
		props = append(props, p.attr("name")+"="+p.attr("value"))
	}
	equal(t, "properties", props, []string{"cluster-name=test", "stonith-enabled=false", "no-quorum-policy=freeze", "dc-deadtime=45s"})
	var nodes []string
	for _, n := range cib.kind("node") {
		nodes = append(nodes, n.attr("id")+"="+n.attr("uname"))
	}
	equal(t, "nodes", nodes, []string{"1=node1", "2=node2"})
	conf := string(res.Corosync)
	for _, want := range []string{"token: 10000\n", "cluster_name: test\n", "nodeid: 2\n", "ring0_addr: node2\n", "two_node: 1\n"} {
		if !strings.Contains(conf, want) {
			t.Errorf("corosync.conf lacks %q:\n%s", want, conf)
		}
	}
	if !strings.Contains(string(res.CIB), "deadtime 10s  -> totem { token: 10000 }") {
		t.Errorf("the CIB's comment does not say where deadtime went:\n%s", res.CIB)
	}
}

// TestStonith: stonith_host lines are stonith resources with the plugin's
// parameter names, kept on the node that may use them; stonith with a
// file reads it; fence agents with targets list them.
func TestStonith(t *testing.T) {
	l, eff := heartbeatDir(t, "node node1 node2\nbcast eth0\nauto_failback off\n"+
		"stonith_host node1 external/ipmi node2 10.0.0.2 admin secret word lanplus\n"+
		"stonith_host * external/ssh node1 node2\n"+
		"stonith baytech /etc/ha.d/conf/stonith.baytech\n",
		"node1 10.0.0.10\n")
	files := map[string]string{"/etc/ha.d/conf/stonith.baytech": "# baytech\n10.0.0.9 admin pass word\n"}
	cib, _ := export(t, eff, Options{Loaded: l, Locate: locate(), ReadFile: func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	}})
	if v := cib.byID("cib-bootstrap-options-stonith-enabled").attr("value"); v != "true" {
		t.Errorf("stonith-enabled %s", v)
	}
	p := cib.byID("stonith-1")
	if p == nil || p.agent() != "stonith:external/ipmi" {
		t.Fatalf("stonith-1: %+v", p)
	}
	// The last parameter takes the rest of the line, as cluster-glue reads it.
	equal(t, "ipmi", p.params(), []string{"hostname=node2", "ipaddr=10.0.0.2", "userid=admin", "passwd=secret", "interface=word lanplus"})
	loc := cib.byID("location-stonith-1")
	if loc == nil {
		t.Fatal("no location for stonith-1")
	}
	r := loc.kind("rule")[0]
	e := r.kind("expression")[0]
	if r.attr("score") != "-INFINITY" || e.attr("attribute") != "#uname" || e.attr("operation") != "ne" || e.attr("value") != "node1" {
		t.Errorf("stonith-1 is not kept on node1: %+v %+v", r, e)
	}
	equal(t, "ssh", cib.byID("stonith-2").params(), []string{"hostlist=node1 node2"})
	if cib.byID("location-stonith-2") != nil {
		t.Error("stonith_host * is kept off some node")
	}
	equal(t, "baytech from its file", cib.byID("stonith-3").params(), []string{"ipaddr=10.0.0.9", "login=admin", "password=pass word"})

	eff = native(t, `fence_devices { name: "ipmi-a" run_on: "node2" fence_agent { agent: "fence_ipmilan" options { key: "ip" value: "10.0.0.1" } options { key: "username" value: "admin" } targets: "node1" } }`)
	cib, _ = export(t, eff, Options{})
	p = cib.byID("ipmi-a")
	if p == nil || p.agent() != "stonith:fence_ipmilan" {
		t.Fatalf("fence agent: %+v", p)
	}
	equal(t, "fence agent", p.params(), []string{"ip=10.0.0.1", "username=admin", "pcmk_host_list=node1", "pcmk_host_check=static-list"})
}

// TestNotRepresentable: what Pacemaker cannot run is an error, a line
// each, naming the file and line; nothing is written.
func TestNotRepresentable(t *testing.T) {
	_, eff := heartbeatDir(t, "node node1 node2\nbcast eth0\nauto_failback on\nstonith_host node1 external/ipmi node2 10.0.0.2\n",
		"node1 10.0.0.10\nnode2 10.0.0.11 httpd::-f::/etc/httpd.conf\n")
	res, err := Export(eff, Options{Locate: locate("httpd")})
	if err == nil {
		t.Fatalf("exported:\n%s", res.CIB)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 {
		t.Fatalf("want two errors, got:\n%s", err)
	}
	if !regexp.MustCompile(`/ha\.cf:4: fence device stonith-1: STONITH device external/ipmi takes 5 parameters`).MatchString(lines[1]) {
		t.Errorf("stonith error: %s", lines[1])
	}
	if !regexp.MustCompile(`/haresources:2: httpd::-f::/etc/httpd.conf: httpd is an init script .* called with arguments`).MatchString(lines[0]) {
		t.Errorf("init script error: %s", lines[0])
	}

	eff = native(t, `fence_devices { name: "mine" script { path: "/usr/local/sbin/fence-me" } }`)
	if _, err := Export(eff, Options{}); err == nil || !strings.Contains(err.Error(), "cluster.textproto: fence_devices[0]: fence device mine: a fencing script") {
		t.Errorf("fence script: %v", err)
	}
	eff = native(t, `groups { preferred_node: "node1" resources { heartbeat { name: "nosuch" } } }`)
	if _, err := Export(eff, Options{Locate: func(r config.ResourceSpec) (Script, error) {
		return 0, errors.New(r.Where + ": cannot locate resource script")
	}}); err == nil || !strings.HasPrefix(err.Error(), "cluster.textproto: groups[0].resources[0]: cannot locate") {
		t.Errorf("missing script: %v", err)
	}
}

// TestPingNodes: ping nodes are a ping clone whose score outweighs the
// preference and stickiness, and a rule per group; a ping_group is lossy.
func TestPingNodes(t *testing.T) {
	l, eff := heartbeatDir(t, "node node1 node2\nbcast eth0\nauto_failback off\nping 10.0.0.254\nping_group routers 10.0.0.252 10.0.0.253\n",
		"node1 10.0.0.10 a b c d e\n")
	cib, res := export(t, eff, Options{Loaded: l, Locate: locate()})
	p := cib.byID("ping")
	if p == nil || p.agent() != "ocf:pacemaker:ping" {
		t.Fatalf("ping: %+v", p)
	}
	// Six resources at stickiness 200 and the preference 100: 1301, so 2000.
	equal(t, "ping", p.params(), []string{"host_list=10.0.0.254 10.0.0.252 10.0.0.253", "multiplier=2000", "dampen=30s"})
	r := cib.byID("location-group_IPaddr_10_0_0_10-connectivity-rule")
	if r == nil || r.attr("score-attribute") != "pingd" {
		t.Errorf("connectivity rule: %+v", r)
	}
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, "ha.cf:5: ping_group routers: Pacemaker's ping agent counts each of its 2 addresses") {
		t.Errorf("no ping_group warning naming its line: %s", w)
	}
}

// TestIDs: every id is unique and an NCName, whatever the names collide
// into, and the same configuration exports the same bytes.
func TestIDs(t *testing.T) {
	eff := native(t, `
groups { name: "a.b" preferred_node: "node1"
  resources { heartbeat { name: "a_b" } }
  resources { heartbeat { name: "a.b" } }
  resources { heartbeat { name: "3ware" } }
}
groups { name: "group_a_b" preferred_node: "node2"
  resources { id: "a b" heartbeat { name: "x" } }
  resources { heartbeat { name: "x" args: "1" } }
  resources { ocf { provider: "heartbeat" type: "IPaddr2" params { key: "ip" value: "10.0.0.1" } } }
  resources { address { ip: "10.0.0.1" } }
}
fence_devices { name: "a_b" stonith { type: "null" params: "node1" } }`)
	res1, err := Export(eff, Options{Locate: locate()})
	if err != nil {
		t.Fatal(err)
	}
	res2, _ := Export(eff, Options{Locate: locate()})
	if string(res1.CIB) != string(res2.CIB) {
		t.Error("two exports of one configuration differ")
	}
	cib := parseCIB(t, res1.CIB)
	ncname := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	seen := map[string]bool{}
	for _, x := range cib.all() {
		id := x.attr("id")
		if id == "" || x.XMLName.Local == "node" {
			continue
		}
		if !ncname.MatchString(id) {
			t.Errorf("id %q is not an NCName", id)
		}
		if seen[id] {
			t.Errorf("id %q twice", id)
		}
		seen[id] = true
	}
	var prims []string
	for _, p := range cib.kind("primitive") {
		prims = append(prims, p.attr("id"))
	}
	equal(t, "primitive ids", prims, []string{"a_b", "a_b-2", "_3ware", "a_b-4", "x_1", "IPaddr2_10_0_0_1", "IPaddr2_10_0_0_1-2", "a_b-5"})
	var groups []string
	for _, g := range cib.kind("group") {
		groups = append(groups, g.attr("id"))
	}
	equal(t, "group ids", groups, []string{"a_b-3", "group_a_b"})
}

// TestVerifies runs crm_verify on exports the corpus has no example of
// (fencing, ping nodes, clones, addresses, three nodes), with every node
// online and quorum (a fresh CIB's nodes have never been seen, and with
// fencing on crm_verify wants to fence them first).
func TestVerifies(t *testing.T) {
	crm := need.Command(t, "crm_verify", "pacemaker-cli-utils")
	l, eff := heartbeatDir(t, "node node1 node2 node3\nbcast eth0\nauto_failback off\nping 10.0.0.254\n"+
		"stonith_host node1 external/ipmi node2 10.0.0.2 admin secret lanplus\n"+
		"stonith_host * external/ssh node1 node2 node3\nhanode_everywhere apache2\n",
		"node1 IPaddr2::10.0.0.10/24/eth0 apache2 Filesystem::/dev/sdb1::/srv::ext4\nnode2 hanode-address::10.0.0.11/24/eth0 drbddisk::r0\n")
	res, err := Export(eff, Options{Loaded: l, Locate: locate("apache2")})
	if err != nil {
		t.Fatal(err)
	}
	online := `<status>`
	for i, n := range eff.Nodes {
		online += `<node_state id="` + string(rune('1'+i)) + `" uname="` + n + `" in_ccm="true" crmd="online" join="member" expected="member"/>`
	}
	online += `</status>`
	cib := strings.Replace(string(res.CIB), "<status></status>", online, 1)
	cib = strings.Replace(cib, "<cib ", `<cib have-quorum="1" `, 1)
	file := filepath.Join(t.TempDir(), "cib.xml")
	os.WriteFile(file, []byte(cib), 0o600)
	out, err := exec.Command(crm, "-V", "--xml-file", file).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("crm_verify: %v\n%s\n%s", err, out, cib)
	}
	// Without the status, as exported: valid, only the unseen nodes'
	// fencing is warned about.
	os.WriteFile(file, res.CIB, 0o600)
	out, _ = exec.Command(crm, "-V", "--xml-file", file).CombinedOutput()
	for _, ln := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if ln != "" && !strings.Contains(ln, "unclean") && !strings.Contains(ln, "quorum") && !strings.Contains(ln, "config may not be valid") {
			t.Errorf("crm_verify of the CIB as exported: %s", ln)
		}
	}
}

// TestLossyWarnings: what Pacemaker and Corosync do not carry is a
// warning naming its line, and the CIB is written.
func TestLossyWarnings(t *testing.T) {
	l, eff := heartbeatDir(t, "node node1 node2\nbcast eth0\nserial /dev/ttyS0\nauto_failback on\n"+
		"respawn hacluster /usr/local/bin/watcher\nwatchdog /dev/watchdog\n", "node1 10.0.0.10\n")
	res, err := Export(eff, Options{Loaded: l, Locate: locate()})
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(res.Warnings, "\n")
	for _, want := range []string{
		"ha.cf:3: serial /dev/ttyS0: a serial link has no Corosync counterpart",
		"ha.cf:5: respawn /usr/local/bin/watcher: not exported",
		"ha.cf:6: watchdog /dev/watchdog: not exported",
	} {
		if !strings.Contains(w, want) {
			t.Errorf("no warning %q in:\n%s", want, w)
		}
	}
	if !strings.Contains(string(res.CIB), "not carried over: "+l.Origin) {
		t.Errorf("the CIB's comment does not list what is not carried over:\n%s", res.CIB)
	}
}
