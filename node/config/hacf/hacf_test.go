package hacf

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
)

func parse(t testing.TB, hacf, haresources, authkeys string) (*config.Loaded, config.Errors) {
	t.Helper()
	l := config.NewLoaded(config.FormatHeartbeat, "/etc/ha.d")
	l.Files["ha.cf"] = "ha.cf"
	var errs config.Errors
	if hacf != "" {
		errs = append(errs, ParseHaCf(l, "ha.cf", []byte(hacf))...)
	}
	if haresources != "" {
		errs = append(errs, ParseHaresources(l, "haresources", []byte(haresources))...)
	}
	if authkeys != "" {
		errs = append(errs, ParseAuthkeys(l, "authkeys", []byte(authkeys))...)
	}
	return l, errs
}

const minimalCf = "node a b\nucast eth0 10.201.0.2\n"
const minimalKeys = "auth 1\n1 sha1 secret\n"

// TestBadInputs: each bad input gives exactly the expected one-line error,
// at the right file and line.
func TestBadInputs(t *testing.T) {
	cases := []struct {
		name                        string
		hacf, haresources, authkeys string
		want                        string // "file:line: phrase"
	}{
		{"unknown directive", "node a\nnodee b\n", "", "", `ha.cf:2: unknown directive "nodee"`},
		{"bad time", "deadtime 3x\n", "", "", `ha.cf:1: deadtime: "3x": unknown time unit "x"`},
		{"not a number", "deadtime soon\n", "", "", `ha.cf:1: deadtime: "soon" is not a time`},
		{"bad time unit", "keepalive 2h\n", "", "", `ha.cf:1: keepalive: "2h": unknown time unit "h"`},
		{"two dots", "warntime 1.2.3\n", "", "", `ha.cf:1: warntime: "1.2.3" is not a time`},
		{"zero time", "initdead 0\n", "", "", `ha.cf:1: initdead: "0" is not a positive time`},
		{"rounds to zero", "keepalive 499us\n", "", "", `ha.cf:1: keepalive: "499us" is not a positive time`},
		{"time without value", "\nkeepalive\n", "", "", "ha.cf:2: keepalive: missing value"},
		{"two values", "keepalive 1 2\n", "", "", "ha.cf:1: keepalive: expects one value, not 2"},
		{"port range", "udpport 70000\n", "", "", `ha.cf:1: udpport: "70000" is not a number from 1 to 65535`},
		{"port text", "udpport http\n", "", "", `ha.cf:1: udpport: "http" is not a number`},
		{"baud", "baud 12345\n", "", "", `ha.cf:1: baud: "12345" is not a supported speed`},
		{"duplicate node", "node a b A\n", "", "", `ha.cf:1: node: "A" is listed twice`},
		{"ucast one arg", "ucast eth0\n", "", "", "ha.cf:1: ucast: expects an interface and a peer address"},
		{"ucast bad ip", "ucast eth0 10.0.0.300\n", "", "", `ha.cf:1: ucast: "10.0.0.300" is not an IPv4 address`},
		{"ucast ipv6", "ucast eth0 fe80::1\n", "", "", `ha.cf:1: ucast: "fe80::1" is an IPv6 address: write it on a ucast6 line (ucast6 ... fe80::1)`},
		{"mcast arity", "mcast eth0 225.0.0.1 694 1\n", "", "", "ha.cf:1: mcast: expects 5 values"},
		{"mcast group", "mcast eth0 10.0.0.1 694 1 0\n", "", "", `ha.cf:1: mcast: "10.0.0.1" is not an IPv4 multicast group`},
		{"mcast ttl", "mcast eth0 225.0.0.1 694 0 0\n", "", "", "ha.cf:1: mcast: ttl"},
		{"mcast loop", "mcast eth0 225.0.0.1 694 1 2\n", "", "", "ha.cf:1: mcast: loop"},
		{"bcast no dev", "bcast\n", "", "", "ha.cf:1: bcast: missing interface name"},
		{"bad interface", "bcast eth0/1\n", "", "", `ha.cf:1: bcast: "eth0/1" is not an interface name`},
		{"serial relative", "serial ttyS0\n", "", "", `ha.cf:1: serial: "ttyS0" must be an absolute device path`},
		{"ucast6 arity", "node a\nucast6 eth0\n", "", "", "ha.cf:2: ucast6: expects an interface and a peer IPv6 address (ucast6 eth0 fe80::2), not 1 values"},
		{"ucast6 bad dev", "ucast6 eth0/1 fe80::1\n", "", "", `ha.cf:1: ucast6: "eth0/1" is not an interface name`},
		{"ucast6 ipv4", "ucast6 eth0 10.0.0.2\n", "", "", `ha.cf:1: ucast6: "10.0.0.2" is an IPv4 address: write it on a ucast line`},
		{"ucast6 host name", "ucast6 eth0 peer.example\n", "", "", `ha.cf:1: ucast6: "peer.example" is not an IPv6 address (Heartbeat's ucast6 takes a numeric address, not a host name)`},
		{"ucast6 bad address", "ucast6 eth0 fe80::1::2\n", "", "", `ha.cf:1: ucast6: "fe80::1::2" is not an IPv6 address`},
		{"ucast6 scope mismatch", "ucast6 eth1 fe80::2%eth0\n", "", "", `ha.cf:1: ucast6: "fe80::2%eth0" has scope %eth0, not the medium's interface eth1`},
		{"ucast6 numeric scope", "ucast6 eth0 fe80::2%2\n", "", "", `ha.cf:1: ucast6: "fe80::2%2" has a numeric scope %2: name the interface (%eth0)`},
		{"ucast6 scope on global", "ucast6 eth0 fd00::2%eth0\n", "", "", `ha.cf:1: ucast6: "fd00::2%eth0" has a scope, which only a link-local address (fe80::/10) takes`},
		{"ucast6 mapped", "ucast6 eth0 ::ffff:10.0.0.2\n", "", "", `ha.cf:1: ucast6: "::ffff:10.0.0.2" is an IPv4-mapped address: write the IPv4 address 10.0.0.2`},
		{"ucast6 multicast", "ucast6 eth0 ff02::1\n", "", "", `ha.cf:1: ucast6: "ff02::1" is a multicast address`},
		{"ucast6 unspecified", "ucast6 eth0 ::\n", "", "", `ha.cf:1: ucast6: "::" is the unspecified address`},
		{"ucast6 loopback", "ucast6 lo ::1\n", "", "", `ha.cf:1: ucast6: "::1" is the loopback address`},
		{"mcast6 arity", "mcast6 eth0 ff12::1 694 1\n", "", "", "ha.cf:1: mcast6: expects 5 values (dev group port hops loop"},
		{"mcast6 ipv4 group", "mcast6 eth0 225.0.0.1 694 1 0\n", "", "", `ha.cf:1: mcast6: "225.0.0.1" is an IPv4 address: write it on a mcast line`},
		{"mcast6 not multicast", "mcast6 eth0 fd00::1 694 1 0\n", "", "", `ha.cf:1: mcast6: group "fd00::1" is not a multicast address (ff00::/8)`},
		{"mcast6 flags", "mcast6 eth0 ff32::1 694 1 0\n", "", "", `ha.cf:1: mcast6: group "ff32::1" has flags 3: only the transient flag (ff1x::) is allowed`},
		{"mcast6 interface-local", "mcast6 eth0 ff11::1 694 1 0\n", "", "", `ha.cf:1: mcast6: group "ff11::1" has interface-local scope (ffx1::): it never leaves this host`},
		{"mcast6 global scope", "mcast6 eth0 ff1e::1 694 1 0\n", "", "", `ha.cf:1: mcast6: group "ff1e::1" has global scope (ffxe::)`},
		{"mcast6 reserved scope", "mcast6 eth0 ff13::1 694 1 0\n", "", "", `ha.cf:1: mcast6: group "ff13::1" has a reserved or unassigned scope 3`},
		{"mcast6 all zero", "mcast6 eth0 ff12:: 694 1 0\n", "", "", `ha.cf:1: mcast6: group "ff12::" is a reserved group (all zero after the scope)`},
		{"mcast6 scope", "mcast6 eth0 ff12::1%eth0 694 1 0\n", "", "", `ha.cf:1: mcast6: group "ff12::1%eth0" has a scope: the group's interface is the medium's device`},
		{"mcast6 port", "mcast6 eth0 ff12::1 0 1 0\n", "", "", `ha.cf:1: mcast6: port "0" is not a number from 1 to 65535`},
		{"mcast6 hops", "mcast6 eth0 ff12::1 694 5 0\n", "", "", `ha.cf:1: mcast6: hops "5" is not a number from 0 to 4 (Heartbeat's mcast6 takes 0..4; 1 for a link-local group)`},
		{"mcast6 hops 0", "mcast6 eth0 ff12::1 694 0 0\n", "", "", "ha.cf:1: mcast6: hops 0 keeps every frame on this host"},
		{"mcast6 loop", "mcast6 eth0 ff12::1 694 1 2\n", "", "", `ha.cf:1: mcast6: loop "2" is not a number from 0 to 1`},
		{"ping6 missing", "ping6\n", "", "", "ha.cf:1: ping6: missing address"},
		{"ping6 ipv4", "ping6 10.0.0.1\n", "", "", `ha.cf:1: ping6: "10.0.0.1" is an IPv4 address: write it on a ping line`},
		{"ping6 name", "ping6 router.example\n", "", "", `ha.cf:1: ping6: "router.example" is not an IPv6 address (Heartbeat's ping6 takes a numeric address, not a host name)`},
		{"ping6 link-local", "ping6 fe80::1\n", "", "", `ha.cf:1: ping6: "fe80::1" is link-local: it needs its interface as scope (fe80::1%eth0)`},
		{"ping6 ipv6 on ping", "ping fd00::1\n", "", "", `ha.cf:1: ping: "fd00::1" is an IPv6 address: write it on a ping6 line`},
		{"ping_group ipv6 link-local", "ping_group r fd00::1 fe80::1\n", "", "", `ha.cf:1: ping_group r: "fe80::1" is link-local: it needs its interface as scope (fe80::1%eth0)`},
		{"ping", "ping 10.0.0.256\n", "", "", `ha.cf:1: ping: "10.0.0.256" is not an IPv4 address`},
		{"ping_group", "ping_group routers\n", "", "", "ha.cf:1: ping_group: expects a name and at least one address"},
		{"auto_failback", "auto_failback maybe\n", "", "", `ha.cf:1: auto_failback: "maybe" is not on, off or legacy`},
		{"nice_failback", "nice_failback perhaps\n", "", "", `ha.cf:1: nice_failback: "perhaps" is not a boolean`},
		{"facility", "logfacility local9\n", "", "", `ha.cf:1: logfacility: "local9" is not a syslog facility`},
		{"debug level", "debug 300\n", "", "", `ha.cf:1: debug: "300" is not a number from 0 to 255`},
		{"logfile relative", "logfile ha-log\n", "", "", `ha.cf:1: logfile: "ha-log" must be an absolute path`},
		{"respawn relative", "respawn hacluster ipfail\n", "", "", `ha.cf:1: respawn: program "ipfail" must be an absolute path`},
		{"stonith arity", "stonith baytech\n", "", "", "ha.cf:1: stonith: expects a device type and its configuration file"},
		{"pacemaker", "crm on\n", "", "", "ha.cf:1: crm on: hanode manages resources from haresources"},
		{"ignored with bad value", "coredumps sometimes\n", "", "", `ha.cf:1: coredumps: "sometimes" is not a boolean`},
		{"realtime", "realtime sometimes\n", "", "", `ha.cf:1: realtime: "sometimes" is not a boolean`},
		{"rtprio", "rtprio 100\n", "", "", `ha.cf:1: rtprio: "100" is not a real-time priority from 1 to 99`},
		{"hbgenmethod", "hbgenmethod random\n", "", "", `ha.cf:1: hbgenmethod: "random" is not file or time`},
		{"env", "env 1X=2\n", "", "", `ha.cf:1: env: "1X=2" is not NAME=value`},
		{"NUL byte", "node a\nkeep\x00alive 1\n", "", "", "ha.cf:2: NUL byte"},
		{"not UTF-8", "node a\nnode \xff\n", "", "", "ha.cf:2: not valid UTF-8 text"},
		{"overlong line", "node " + strings.Repeat("a", maxLine) + "\n", "", "", "ha.cf:1: line longer than"},
		{"group without resources", "", "node1\n", "", `haresources:1: resource group of node "node1" lists no resources`},
		{"resource without name", "", "node1 ::arg\n", "", `haresources:1: resource "::arg" has no script name`},
		{"resource path", "", "node1 \\\n  /etc/init.d/apache\n", "", `haresources:2: resource "/etc/init.d/apache": "/etc/init.d/apache" is not a script name`},
		{"duplicate group key", "", "node1 10.0.0.1 apache\nnode2 10.0.0.1\n", "", `haresources:2: resource "10.0.0.1" already starts the group on line 1`},
		{"node that is a resource", "", "10.0.0.1 apache\n", "", `haresources:1: "10.0.0.1" is not a node name`},
		{"no auth line", "", "", "1 crc\n", "authkeys: no `auth N` line"},
		{"auth undefined", "", "", "auth 2\n1 crc\n", "authkeys:1: auth 2: key 2 is not defined"},
		{"auth range", "", "", "auth 16\n", `authkeys:1: auth: key "16" is not a number from 0 to 15`},
		{"two auth lines", "", "", "auth 1\nauth 1\n1 crc\n", "authkeys:2: a second auth line (the first is line 1)"},
		{"crc with key", "", "", "auth 1\n1 crc secret\n", "authkeys:2: key 1: crc does not use a key"},
		{"sha1 without key", "", "", "auth 1\n1 sha1\n", "authkeys:2: key 1: sha1 requires a key"},
		{"unknown method", "", "", "auth 1\n1 sha512 k\n", `authkeys:2: key 1: unknown method "sha512"`},
		{"key id range", "", "", "auth 1\n1 crc\n17 md5 k\n", `authkeys:3: expected ` + "`auth N`" + ` or ` + "`N method [key]`"},
		{"duplicate key id", "", "", "auth 1\n1 crc\n1 md5 k\n", "authkeys:3: key 1 is already defined on line 2"},
		{"key with space", "", "", "auth 1\n1 md5 two words\n", "authkeys:2: key 1: the key must be one word"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errs := parse(t, c.hacf, c.haresources, c.authkeys)
			if len(errs) != 1 {
				t.Fatalf("want one error %q, got %d: %v", c.want, len(errs), errs)
			}
			got := errs[0].Error()
			if !strings.HasPrefix(got, c.want) || strings.Contains(got, "\n") {
				t.Fatalf("got  %q\nwant %q...", got, c.want)
			}
			if strings.Contains(got, "secret") {
				t.Fatalf("error shows the secret: %q", got)
			}
		})
	}
}

func TestGoodHaCf(t *testing.T) {
	cf := `# a two-node cluster
logfacility     local0
keepalive 100ms
deadtime 0.5          # fractional seconds
warntime 300ms
initdead 10
ucast eth0 10.201.0.1   # before udpport: Heartbeat uses port 694 for it
udpport 7000
ucast eth1 10.201.1.1
ucast eth1 10.201.1.2
bcast eth2, eth3
mcast eth4 225.0.0.1 694 1 0
serial /dev/ttyS0
baud 38400
auto_failback on
node node1 NODE2
cluster prod
ping 10.201.0.254
ping_group routers 10.201.0.253 10.201.0.252
respawn hacluster /usr/lib/heartbeat/ipfail -v
stonith_host * external/ssh node1 node2
watchdog /dev/watchdog
env HA_FOO=bar
hbgenmethod time
debug 1
realtime on
`
	l, errs := parse(t, cf, "", "")
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	want := &messages.Cluster{
		Name:    "prod",
		Nodes:   []*messages.Node{{Name: "node1"}, {Name: "node2"}},
		Timing:  &messages.Timing{Keepalive: "100ms", Deadtime: "500ms", Warntime: "300ms", Initdead: "10s"},
		UdpPort: proto.Uint32(7000),
		Baud:    proto.Uint32(38400),
		Links: []*messages.Link{
			{Medium: &messages.Link_Ucast{Ucast: &messages.Ucast{Dev: "eth0", Peers: []string{"10.201.0.1"}, Port: proto.Uint32(694)}}},
			{Medium: &messages.Link_Ucast{Ucast: &messages.Ucast{Dev: "eth1", Peers: []string{"10.201.1.1", "10.201.1.2"}}}},
			{Medium: &messages.Link_Bcast{Bcast: &messages.Bcast{Dev: "eth2"}}},
			{Medium: &messages.Link_Bcast{Bcast: &messages.Bcast{Dev: "eth3"}}},
			{Medium: &messages.Link_Mcast{Mcast: &messages.Mcast{Dev: "eth4", Group: "225.0.0.1", Port: 694, Ttl: 1}}},
			{Medium: &messages.Link_Serial{Serial: &messages.Serial{Device: "/dev/ttyS0", Baud: proto.Uint32(19200)}}},
		},
		AutoFailback: messages.AutoFailback_AUTO_FAILBACK_ON,
		PingNodes: []*messages.PingNode{
			{Name: "10.201.0.254", Addresses: []string{"10.201.0.254"}},
			{Name: "routers", Addresses: []string{"10.201.0.253", "10.201.0.252"}},
		},
		Respawn:          []*messages.Respawn{{User: "hacluster", Path: "/usr/lib/heartbeat/ipfail", Args: []string{"-v"}}},
		FenceDevices:     []*messages.FenceDevice{{Name: "stonith-1", Kind: &messages.FenceDevice_Stonith{Stonith: &messages.StonithPlugin{Type: "external/ssh", Params: []string{"node1", "node2"}}}}},
		Watchdog:         &messages.Watchdog{Device: "/dev/watchdog"},
		Env:              map[string]string{"HA_FOO": "bar"},
		GenerationMethod: messages.GenerationMethod_GENERATION_METHOD_TIME,
		Logging:          &messages.Logging{Facility: "local0", Debug: 1},
	}
	if d := cmp.Diff(want, l.Cluster, protocmp.Transform()); d != "" {
		t.Fatalf("cluster (-want +got):\n%s", d)
	}
	if p := l.Sources["timing.deadtime"]; p.Line != 4 {
		t.Errorf("deadtime written at %v", p)
	}
	if p := l.Sources["links[1].ucast.peers[1]"]; p.Line != 10 {
		t.Errorf("second eth1 peer at %v", p)
	}
	if got := l.Parameters["deadtime"]; got != "0.5" {
		t.Errorf("deadtime parameter %q, want as written", got)
	}
	var warns []string
	for _, w := range l.Warnings {
		warns = append(warns, w.String())
	}
	joined := strings.Join(warns, "\n")
	for _, want := range []string{
		"ha.cf:7: ucast declared before udpport uses port 694",
		"ha.cf:13: serial declared before baud runs at 19200",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("no warning %q in:\n%s", want, joined)
		}
	}
	// realtime is carried out (hanode run reads the parameter), not
	// ignored.
	if strings.Contains(joined, "realtime") || l.Parameters["realtime"] != "on" {
		t.Errorf("realtime: parameter %q, warnings:\n%s", l.Parameters["realtime"], joined)
	}
}

func TestHaresources(t *testing.T) {
	res := `# groups
node1 10.0.0.170 Filesystem::/dev/sda1::/data1::ext2
NODE2   135.9.216.3/28/eth0/135.9.216.12 \
        httpd   # continued
node1 IPaddr2::10.201.0.100/24/eth0 \

node2 apache
`
	l, errs := parse(t, "", res, "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	hb := func(name string, args ...string) *messages.Resource {
		return &messages.Resource{Agent: &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: name, Args: args}}}
	}
	want := []*messages.ResourceGroup{
		{Name: "10.0.0.170", PreferredNode: "node1", Resources: []*messages.Resource{hb("IPaddr", "10.0.0.170"), hb("Filesystem", "/dev/sda1", "/data1", "ext2")}},
		{Name: "135.9.216.3/28/eth0/135.9.216.12", PreferredNode: "node2", Resources: []*messages.Resource{hb("IPaddr", "135.9.216.3/28/eth0/135.9.216.12"), hb("httpd")}},
		{Name: "IPaddr2::10.201.0.100/24/eth0", PreferredNode: "node1", Resources: []*messages.Resource{hb("IPaddr2", "10.201.0.100/24/eth0")}},
		{Name: "apache", PreferredNode: "node2", Resources: []*messages.Resource{hb("apache")}},
	}
	if d := cmp.Diff(want, l.Cluster.Groups, protocmp.Transform()); d != "" {
		t.Fatalf("groups (-want +got):\n%s", d)
	}
	if p := l.Sources["groups[1].resources[1]"]; p.Line != 4 {
		t.Fatalf("httpd at %v, want line 4", p)
	}
}

func TestAuthkeys(t *testing.T) {
	l, errs := parse(t, "", "", "# keys\nauth 3\n1 crc\n2 sha1 HI! # old key\n3 md5 Hello#World\n4 sha256 k\n")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := &messages.Auth{ActiveKey: proto.Uint32(3), Keys: []*messages.AuthKey{
		{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_CRC},
		{Id: 2, Method: messages.AuthMethod_AUTH_METHOD_SHA1, Secret: "HI!"},
		{Id: 3, Method: messages.AuthMethod_AUTH_METHOD_MD5, Secret: "Hello#World"},
		{Id: 4, Method: messages.AuthMethod_AUTH_METHOD_SHA256, Secret: "k"},
	}}
	if d := cmp.Diff(want, l.Cluster.Auth, protocmp.Transform()); d != "" {
		t.Fatalf("auth (-want +got):\n%s", d)
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"1": time.Second, "1000ms": time.Second, "1000000us": time.Second, "0.1": 100 * time.Millisecond,
		"100ms": 100 * time.Millisecond, "100000us": 100 * time.Millisecond, "0.001": time.Millisecond,
		"1ms": time.Millisecond, "1000us": time.Millisecond, "499us": 0, "501us": time.Millisecond,
		"1.7": 1700 * time.Millisecond, ".5": 500 * time.Millisecond, "2 s": 2 * time.Second, "30 MS": 30 * time.Millisecond,
		"1500msec": 1500 * time.Millisecond, "3sec": 3 * time.Second,
	} {
		got, err := ParseTime(in)
		if err != nil || got != want {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", ".", "ms", "1..2", "1x", "-1", "1e3", "1 2", "99999999999999999999"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

func TestParseBool(t *testing.T) {
	for _, s := range []string{"true", "ON", "Yes", "y", "1"} {
		if v, err := ParseBool(s); err != nil || !v {
			t.Errorf("%q: %v %v", s, v, err)
		}
	}
	for _, s := range []string{"false", "Off", "NO", "n", "0"} {
		if v, err := ParseBool(s); err != nil || v {
			t.Errorf("%q: %v %v", s, v, err)
		}
	}
	if _, err := ParseBool("maybe"); err == nil {
		t.Error("maybe accepted")
	}
}

// debianExamples is where Debian's heartbeat package installs its example
// ha.cf, haresources (gzipped) and authkeys.
const debianExamples = "/usr/share/doc/heartbeat"

// readDebianExample reads one of the example files of Debian's heartbeat
// 3.0.6 package, as installed (.ci/run installs it). Without the package
// the test skips, or fails in CI.
func readDebianExample(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := debianExample(name)
	if err != nil {
		msg := fmt.Sprintf("Debian's heartbeat examples (apt-get install heartbeat): %v", err)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return data
}

func debianExample(name string) ([]byte, error) {
	path := filepath.Join(debianExamples, name)
	if data, err := os.ReadFile(path); err == nil {
		return data, nil
	}
	f, err := os.Open(path + ".gz")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s.gz: %w", path, err)
	}
	return io.ReadAll(z)
}

// TestDebianExamples: the example files shipped with Debian's heartbeat
// 3.0.6 parse as they are.
func TestDebianExamples(t *testing.T) {
	l := config.NewLoaded(config.FormatHeartbeat, debianExamples)
	for _, f := range []struct {
		name  string
		parse func(*config.Loaded, string, []byte) config.Errors
	}{{"ha.cf", ParseHaCf}, {"haresources", ParseHaresources}, {"authkeys", ParseAuthkeys}} {
		data := readDebianExample(t, f.name)
		if errs := f.parse(l, f.name, data); f.name != "authkeys" && len(errs) > 0 {
			t.Errorf("%s: %v", f.name, errs)
		} else if f.name == "authkeys" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), "no `auth N` line")) {
			// The shipped authkeys has every line commented out.
			t.Errorf("authkeys: %v", errs)
		}
	}
	if l.Cluster.AutoFailback != messages.AutoFailback_AUTO_FAILBACK_ON || l.Cluster.Logging.GetFacility() != "local0" {
		t.Errorf("sample ha.cf read as %v", l.Cluster)
	}
}

// TestDebianExampleUncommented uncomments every example directive of the
// shipped ha.cf, haresources and authkeys: all parse except two
// placeholders that are not real values.
func TestDebianExampleUncommented(t *testing.T) {
	data := readDebianExample(t, "ha.cf")
	directive := regexp.MustCompile(`^#([a-z_0-9]+)\s`)
	var out []string
	for _, s := range strings.Split(string(data), "\n") {
		if m := directive.FindStringSubmatch(s); m != nil && known(m[1]) {
			s = strings.TrimPrefix(s, "#")
		}
		out = append(out, s)
	}
	l, errs := parse(t, strings.Join(out, "\n"), "", "")
	var got []string
	for _, e := range errs {
		got = append(got, e.Msg)
	}
	want := []string{
		"hbaping is not supported by hanode",
		`msgfmt: "classic/netstring" is not one of classic, netstring`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("errors (-want +got):\n%s", d)
	}
	if len(l.Cluster.Links) < 8 || len(l.Cluster.FenceDevices) != 4 || len(l.Cluster.Nodes) != 2 {
		t.Fatalf("uncommented sample read as %d links, %d fence devices, %d nodes", len(l.Cluster.Links), len(l.Cluster.FenceDevices), len(l.Cluster.Nodes))
	}

	res := readDebianExample(t, "haresources")
	var groups []string
	for _, s := range strings.Split(string(res), "\n") {
		if strings.HasPrefix(s, "#just.linux-ha.org") || strings.HasPrefix(s, "#node1 ") {
			groups = append(groups, strings.TrimPrefix(s, "#"))
		}
	}
	// Each example is an alternative (several start with the same address),
	// so each is its own haresources.
	if len(groups) != 5 {
		t.Fatalf("found %d haresources examples, want 5", len(groups))
	}
	for _, g := range groups {
		l, errs = parse(t, "", g, "")
		if len(errs) > 0 || len(l.Cluster.Groups) != 1 {
			t.Fatalf("haresources example %q: %v", g, errs)
		}
	}

	keys := readDebianExample(t, "authkeys")
	var lines []string
	for _, s := range strings.Split(string(keys), "\n") {
		if strings.HasPrefix(s, "#auth") || regexp.MustCompile(`^#[0-9]`).MatchString(s) {
			lines = append(lines, strings.TrimPrefix(s, "#"))
		}
	}
	l, errs = parse(t, "", "", strings.Join(lines, "\n"))
	if len(errs) > 0 || len(l.Cluster.Auth.GetKeys()) != 3 {
		t.Fatalf("authkeys examples: %v %v", l.Cluster.Auth, errs)
	}
}

func known(d string) bool {
	_, a := optionDirectives[d]
	_, b := lineDirectives[d]
	_, c := ignored[d]
	return a || b || c
}

// writeHaDir writes an /etc/ha.d with the given authkeys mode.
func writeHaDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"ha.cf": `keepalive 100ms
deadtime 500ms
warntime 300ms
initdead 10
udpport 694
ucast eth0 10.201.0.1
ucast eth0 10.201.0.2
auto_failback on
node node1 node2
`,
		"haresources": "# no groups yet\n",
		"authkeys":    "auth 1\n1 sha1 a-long-secret\n",
	}
	for name, text := range files {
		m := os.FileMode(0o644)
		if name == "authkeys" {
			m = mode
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), m); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dir, name), m)
	}
	return dir
}

func TestLoadTwoNodeHaDir(t *testing.T) {
	dir := writeHaDir(t, 0o600)
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	eff, err := config.Resolve(l, "node1")
	if err != nil {
		t.Fatal(err)
	}
	if eff.Keepalive != 100*time.Millisecond || eff.Deadtime != 500*time.Millisecond || eff.Initdead != 10*time.Second ||
		len(eff.Links) != 1 || eff.Links[0].Name != "eth0" || eff.Links[0].Media[0].Port() != 694 {
		t.Fatalf("effective %+v", eff)
	}
	if _, err := config.Resolve(l, "node3"); err == nil || !strings.Contains(err.Error(), "ha.cf:9: current node [node3] not in configuration") {
		t.Fatalf("unknown local node: %v", err)
	}
}

func TestLoadRefusesReadableAuthkeys(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		dir := writeHaDir(t, mode)
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), "bad permissions on keyfile") || strings.Contains(err.Error(), "a-long-secret") {
			t.Fatalf("mode %o: %v", mode, err)
		}
	}
}

// TestLoadRefusesWritableAuthkeys: an authkeys file others may write (or
// one another user owns) decides which frames are believed: refused,
// naming the file and its mode. ha.cf and haresources, whose modes
// Heartbeat never checked, load with a warning naming the file.
func TestLoadRefusesWritableAuthkeys(t *testing.T) {
	for _, mode := range []os.FileMode{0o620, 0o602} {
		dir := writeHaDir(t, mode)
		_, err := Load(dir)
		want := fmt.Sprintf("%s: writable by group or others (mode %04o)", filepath.Join(dir, "authkeys"), mode)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Count(err.Error(), "\n") != 0 {
			t.Fatalf("mode %o: %v, want %q", mode, err, want)
		}
	}
	dir := writeHaDir(t, 0o600)
	os.Chmod(filepath.Join(dir, "ha.cf"), 0o666)
	l, err := Load(dir)
	if err != nil {
		t.Fatalf("group-writable ha.cf must still load: %v", err)
	}
	found := false
	for _, w := range l.Warnings {
		found = found || strings.Contains(w.String(), filepath.Join(dir, "ha.cf")+": writable by group or others (mode 0666)")
	}
	if !found {
		t.Fatalf("no warning about ha.cf mode 0666: %v", l.Warnings)
	}
	if os.Geteuid() == 0 {
		dir := writeHaDir(t, 0o600)
		os.Chown(filepath.Join(dir, "authkeys"), 65534, 65534)
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Fatalf("authkeys owned by nobody: %v", err)
		}
	}
}

func TestLoadMissingFiles(t *testing.T) {
	dir := writeHaDir(t, 0o600)
	os.Remove(filepath.Join(dir, "haresources"))
	if _, err := Load(dir); err != nil {
		t.Fatal("missing haresources must mean no groups:", err)
	}
	os.Remove(filepath.Join(dir, "authkeys"))
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "authkeys: cannot read: no such file or directory") {
		t.Fatalf("missing authkeys: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "ha.cf")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("file as directory: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "cannot read Heartbeat configuration") {
		t.Fatalf("missing directory: %v", err)
	}
}

// TestResolveErrorsPointAtLines: validation shared with the native format
// names the ha.cf line of the offending directive.
func TestResolveErrorsPointAtLines(t *testing.T) {
	cases := []struct{ cf, want string }{
		{"keepalive 2\ndeadtime 3\nnode a\nucast eth0 10.0.0.1\n", "ha.cf:2: deadtime (3s) must be more than twice the keepalive (2s)"},
		{"deadtime 20\ninitdead 10\nnode a\nucast eth0 10.0.0.1\n", "ha.cf:2: initdead (10s) must not be less than the deadtime (20s)"},
		{"node a\n", "ha.cf: no heartbeat media defined"},
		{"node a\nserial /dev/ttyS0\nserial /dev/ttyS0\n", "ha.cf:3: serial /dev/ttyS0 is configured twice (first at ha.cf:2)"},
	}
	for _, c := range cases {
		l, errs := parse(t, c.cf, "", minimalKeys)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		_, err := config.Resolve(l, "a")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.cf, err, c.want)
		}
	}
}

// TestNativeRoundTrip: what `hanode config convert` prints reads back as
// the same Cluster.
func TestNativeRoundTrip(t *testing.T) {
	l, errs := parse(t, "keepalive 2\nnode a b\nucast eth0 10.0.0.1\nucast eth0 10.0.0.2\nping_group g 10.0.0.9\nauto_failback off\nenv A=b\n",
		"a 10.0.0.100 apache::/etc/apache.conf\n", "auth 1\n1 sha1 k\n2 crc\n")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	text := config.MarshalNative(l.Cluster, "converted\nfrom test")
	back, err := config.ParseNative("converted", text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if !proto.Equal(back.Cluster, l.Cluster) {
		t.Fatalf("round trip differs:\n%s", cmp.Diff(l.Cluster, back.Cluster, protocmp.Transform()))
	}
}

func fuzzSeeds(f *testing.F, file string, extra ...string) {
	if data, err := debianExample(file); err == nil {
		f.Add(data)
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

func FuzzHaCf(f *testing.F) {
	fuzzSeeds(f, "ha.cf", minimalCf, "udpport 694\nucast eth0 10.0.0.1\nbaud 9600\nserial /dev/ttyS0\n",
		"mcast eth0 225.0.0.1 694 1 0\n", "keepalive 1.5\ndeadtime 500 ms\n", "node a,b\n#\n\n", "ping_group g 1.2.3.4\nstonith_host * t a b\n",
		"env X=\n", "auto_failback legacy\nnice_failback on\n", "\x00", "ucast\n", "deadtime .\n", "ping gw\nucast eth0 peer\n")
	// Fuzzed host names must not reach DNS: every name fails to resolve.
	saved := lookupIPv4
	f.Cleanup(func() { lookupIPv4 = saved })
	lookupIPv4 = func(string) ([]netip.Addr, error) { return nil, errors.New("no such host") }
	f.Fuzz(func(t *testing.T, data []byte) {
		l := config.NewLoaded(config.FormatHeartbeat, "fuzz")
		errs := ParseHaCf(l, "ha.cf", data)
		for _, e := range errs {
			if e.File != "ha.cf" || strings.Contains(e.Error(), "\n") {
				t.Fatalf("error not one line naming the file: %q", e.Error())
			}
		}
		if _, err := proto.Marshal(l.Cluster); err != nil {
			t.Fatal(err)
		}
		config.Resolve(l, "a") // must not panic either
	})
}

func FuzzHaresources(f *testing.F) {
	fuzzSeeds(f, "haresources", "node1 10.0.0.1 apache\n", "node1 \\\n 1.2.3.4/24/eth0 \\\n", "n ::\n", "n a::b::c\nn2 x\n", "\\\n\\", "n hanode-address::2001:db8::1/64/eth0:x/1.2.3.4/y\n", "n hanode-address::\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		l := config.NewLoaded(config.FormatHeartbeat, "fuzz")
		for _, e := range ParseHaresources(l, "haresources", data) {
			if e.File != "haresources" || e.Line < 1 || strings.Contains(e.Error(), "\n") {
				t.Fatalf("error not one line naming file and line: %q", e.Error())
			}
		}
		for _, g := range l.Cluster.Groups {
			if len(g.Resources) == 0 || g.Name == "" {
				t.Fatalf("empty group accepted: %v", g)
			}
		}
	})
}

func FuzzAuthkeys(f *testing.F) {
	fuzzSeeds(f, "authkeys", minimalKeys, "auth 0\n0 crc\n", "auth 15\n15 sha256 k # c\n", "auth 1\n1 md5 a#b\n", "auth\n", "1\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		l := config.NewLoaded(config.FormatHeartbeat, "fuzz")
		errs := ParseAuthkeys(l, "authkeys", data)
		for _, e := range errs {
			if e.File != "authkeys" || strings.Contains(e.Error(), "\n") {
				t.Fatalf("error not one line naming the file: %q", e.Error())
			}
		}
		if len(errs) == 0 {
			a := l.Cluster.Auth
			if a == nil || a.ActiveKey == nil {
				t.Fatal("accepted without an active key")
			}
			found := false
			for _, k := range a.Keys {
				found = found || k.Id == a.GetActiveKey()
			}
			if !found {
				t.Fatal("accepted an undefined active key")
			}
		}
	})
}
