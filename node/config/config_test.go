package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const base = `
nodes { name: "n1" }
nodes { name: "n2" }
links { ucast { dev: "eth0" peers: "10.201.0.1" peers: "10.201.0.2" } }
auth { active_key: 1 keys { id: 1 method: AUTH_METHOD_SHA256 secret: "k" } }
`

const noAuth = `
nodes { name: "n1" }
links { ucast { peers: "10.0.0.1" } }
`

func resolveText(t *testing.T, text, local string) (*Effective, error) {
	t.Helper()
	l, err := ParseNative("cluster.textproto", []byte(text))
	if err != nil {
		return nil, err
	}
	return Resolve(l, local)
}

func TestDefaults(t *testing.T) {
	eff, err := resolveText(t, base, "N1")
	if err != nil {
		t.Fatal(err)
	}
	if eff.Local != "n1" || eff.Cluster.Name != "linux-ha" || eff.Keepalive != time.Second || eff.Deadtime != 30*time.Second ||
		eff.Warntime != 15*time.Second || eff.Initdead != 30*time.Second || eff.Deadping != 30*time.Second ||
		eff.UDPPort != 694 || eff.Baud != 19200 || eff.Links[0].Name != "eth0" || eff.Links[0].Media[0].Port() != 694 {
		t.Fatalf("defaults: %+v", eff)
	}
	for k, want := range map[string]string{"keepalive": "1000ms", "deadtime": "30000ms", "udpport": "694", "node": "n1 n2", "auto_failback": "legacy"} {
		if got := eff.Parameters[k]; got != want {
			t.Errorf("parameter %s = %q, want %q", k, got, want)
		}
	}
}

func TestInitdeadDefaultsAsHeartbeat(t *testing.T) {
	for deadtime, want := range map[string]time.Duration{"500ms": 12 * time.Second, "5s": 12 * time.Second, "8s": 16 * time.Second, "20s": 20 * time.Second} {
		eff, err := resolveText(t, base+`timing { keepalive: "100ms" deadtime: "`+deadtime+`" }`, "n1")
		if err != nil || eff.Initdead != want {
			t.Errorf("deadtime %s: initdead %v %v, want %v", deadtime, eff.GetInitdead(), err, want)
		}
	}
}

func (e *Effective) GetInitdead() time.Duration {
	if e == nil {
		return 0
	}
	return e.Initdead
}

func TestNativeErrors(t *testing.T) {
	cases := []struct{ text, local, want string }{
		{base + `timing { keepalive: "2x" }`, "n1", `cluster.textproto: timing.keepalive: invalid duration "2x"`},
		{base + `timing { keepalive: "1s" deadtime: "2s" }`, "n1", "cluster.textproto: timing.deadtime: deadtime (2s) must be more than twice the keepalive (1s)"},
		{base + `timing { deadtime: "10s" initdead: "5s" }`, "n1", "timing.initdead: initdead (5s) must not be less than the deadtime (10s)"},
		{base + `timing { deadping: "1s" }`, "n1", "timing.deadping: deadping (1s) must be more than twice the keepalive (1s)"},
		{base + `timing { keepalive: "-1s" }`, "n1", "timing.keepalive: keepalive must be positive"},
		{base, "n9", "nodes: current node [n9] not in configuration"},
		{base + `nodes { name: "N1" }`, "n1", `nodes[2]: node "n1" is listed twice`},
		{base + `nodes { name: "a b" }`, "n1", `nodes[2]: node name "a b" contains a space`},
		{base + `udp_port: 0`, "n1", "udp_port: udp port 0 is out of range"},
		{base + `baud: 1234`, "n1", "baud: baud rate 1234 is not a supported speed"},
		{base + `links { ucast { peers: "10.0.0.300" } }`, "n1", `links[1].ucast.peers[0]: ucast: "10.0.0.300" is not an IPv4 or IPv6 address`},
		{base + `links { ucast { peers: "fe80::2" port: 695 } }`, "n1", `links[1].ucast.peers[0]: ucast: peer "fe80::2" is link-local: it needs its interface as scope (fe80::2%eth0)`},
		{base + `links { ucast { dev: "eth1" peers: "fe80::2%eth2" } }`, "n1", `links[1].ucast.peers[0]: ucast: peer "fe80::2%eth2" has scope %eth2, not the medium's interface eth1`},
		{base + `links { ucast { dev: "eth1" peers: "fe80::2%3" } }`, "n1", `links[1].ucast.peers[0]: ucast: peer "fe80::2%3" has a numeric scope %3: name the interface (%eth0)`},
		{base + `links { ucast { dev: "eth1" peers: "fd00::2%eth1" } }`, "n1", `links[1].ucast.peers[0]: ucast: peer "fd00::2%eth1" has a scope, which only a link-local address (fe80::/10) takes`},
		{base + `links { ucast { dev: "eth1" peers: "::ffff:10.0.0.2" } }`, "n1", `links[1].ucast.peers[0]: ucast: peer "::ffff:10.0.0.2" is an IPv4-mapped address: write the IPv4 address 10.0.0.2`},
		{base + `links { ucast { dev: "eth1" peers: "ff12::1" } }`, "n1", `links[1].ucast.peers[0]: ucast: peer "ff12::1" is a multicast address`},
		{base + `links { ucast { dev: "eth1" bind: "10.0.0.1" peers: "fd00::2" } }`, "n1", `links[1].ucast.peers[0]: ucast: peer "fd00::2" is not of the family of the bind address 10.0.0.1`},
		{base + `links { mcast { dev: "eth1" group: "fd00::1" port: 694 ttl: 1 } }`, "n1", `links[1].mcast.group: mcast: IPv6 group "fd00::1" is not a multicast address (ff00::/8)`},
		{base + `links { mcast { dev: "eth1" group: "ff1e::1" port: 694 ttl: 1 } }`, "n1", `links[1].mcast.group: mcast: IPv6 group "ff1e::1" has global scope (ffxe::)`},
		{base + `links { mcast { dev: "eth1" group: "ff12::1" port: 694 ttl: 0 } }`, "n1", `links[1].mcast.ttl: mcast: ttl (the hop limit of an IPv6 group) 0 is out of range 1..255`},
		{base + `links { ucast { } }`, "n1", "links[1].ucast.peers: ucast: no peer address"},
		{base + `links { }`, "n1", "links[1]: link has no medium"},
		{base + `links { name: "eth0" ucast { peers: "10.0.0.9" } }`, "n1", `links[1].name: link name "eth0" is already used by links[0]`},
		{base + `links { name: "a" bcast { dev: "eth0" } }`, "n1", `links[1]: bcast eth0 of link "a" and ucast eth0 of link "eth0" (links[0]) would receive on one socket (device eth0, port 694)`},
		{noAuth + `auth { active_key: 1 keys { id: 1 method: AUTH_METHOD_MD5 } }`, "n1", "auth.keys[0]: auth method md5 requires a key"},
		{noAuth + `auth { active_key: 1 keys { id: 1 method: AUTH_METHOD_CRC } keys { id: 1 method: AUTH_METHOD_CRC } }`, "n1", "auth.keys[1].id: key id 1 is defined twice"},
		{noAuth + `auth { active_key: 1 keys { id: 16 method: AUTH_METHOD_CRC } }`, "n1", "auth.keys[0].id: key id 16 is out of range 0..15"},
		{noAuth + `auth { active_key: 3 keys { id: 1 method: AUTH_METHOD_CRC } }`, "n1", "auth.active_key: active key 3 is not defined"},
		{noAuth + `auth { active_key: 1 keys { id: 1 method: AUTH_METHOD_CRC secret: "x" } }`, "n1", "auth.keys[0]: auth method crc does not use a key"},
		{noAuth + `auth { keys { id: 1 method: AUTH_METHOD_CRC } }`, "n1", "auth.active_key: no active key"},
		{base + `links { name: "eth0" bcast { dev: "eth1" } }`, "n1", `links[1].name: link name "eth0" is already used by links[0] (ucast eth0): the media of a link share one interface`},
		{base + `links { serial { device: "/dev/ttyS0" } } links { serial { device: "/dev/ttyS0" } }`, "n1", "links[2]: serial /dev/ttyS0 is configured twice (first at links[1])"},
		{base + `links { serial { device: "/dev/ttyS0" } } links { name: "s2" serial { device: "/dev/ttyS0" } }`, "n1", `links[2]: serial /dev/ttyS0 is already used by link "/dev/ttyS0" (links[1])`},
		{base + `ping_nodes { name: "gw" }`, "n1", `ping_nodes[0].addresses: ping node "gw" has no address`},
		{base + `ping_nodes { name: "gw" addresses: "router" }`, "n1", `ping_nodes[0].addresses[0]: ping: "router" is not an IP address`},
		{base + `ping_nodes { name: "n1" addresses: "10.0.0.1" }`, "n1", `ping_nodes[0].name: ping node "n1" has the name of a cluster node`},
		{base + `ping_nodes { name: "gw" addresses: "10.0.0.1" } ping_nodes { name: "gw" addresses: "10.0.0.2" }`, "n1", `ping_nodes[1].name: ping node "gw" is configured twice`},
		{base + `ping_nodes { name: "gw6" addresses: "fe80::1" }`, "n1", `ping_nodes[0].addresses[0]: ping: "fe80::1" is link-local: it needs its interface as scope (fe80::1%eth0)`},
		{base + `ping_nodes { name: "gw6" addresses: "::ffff:10.0.0.1" }`, "n1", `ping_nodes[0].addresses[0]: ping: "::ffff:10.0.0.1" is an IPv4-mapped address: write the IPv4 address 10.0.0.1`},
		{base + `groups { preferred_node: "n3" resources { heartbeat { name: "apache" } } }`, "n1", `groups[0].preferred_node: resource group's preferred node "n3" is not a cluster node`},
		{base + `groups { preferred_node: "n1" }`, "n1", `groups[0].resources: resource group "" has no resources`},
		{base + `groups { preferred_node: "n1" resources { id: "x" } }`, "n1", `groups[0].resources[0]: resource "x" has no agent`},
		{base + `groups { preferred_node: "n1" resources { heartbeat { name: "../bin/sh" } } }`, "n1", `groups[0].resources[0].heartbeat.name: resource script name "../bin/sh" is not a file name`},
		{base + `groups { preferred_node: "n1" resources { ocf { type: "Dummy" } } }`, "n1", `groups[0].resources[0].ocf: OCF agent needs a provider and a type`},
		{base + `groups { preferred_node: "n1" resources { heartbeat { name: "a" } } } groups { preferred_node: "n2" resources { heartbeat { name: "a" } } }`, "n1", `groups[1].resources[0]: resource "a" is configured twice`},
		{base + `groups { name: "g" preferred_node: "n1" resources { heartbeat { name: "a" } } } groups { name: "g" preferred_node: "n2" resources { heartbeat { name: "b" } } }`, "n1", `groups[1].name: resource group "g" is configured twice`},
		{base + `groups { preferred_node: "n1" resources { heartbeat { name: "a" } monitor_interval: "often" } }`, "n1", `groups[0].resources[0].monitor_interval: monitor_interval: invalid duration "often"`},
		{base + `groups { preferred_node: "n1" resources { heartbeat { name: "a" } start_timeout: "0s" } }`, "n1", `groups[0].resources[0].start_timeout: start_timeout must be positive`},
		{base + `fence_devices { name: "f" }`, "n1", `fence_devices[0]: fence device f: no kind (stonith, fence_agent or script)`},
		{base + `fence_devices { stonith { } }`, "n1", `fence_devices[0].stonith.type: fence device fence-1: no STONITH device type`},
		{base + `fence_devices { name: "f" run_on: "n9" script { path: "/bin/true" } }`, "n1", `fence_devices[0].run_on[0]: fence device f: "n9" is not a cluster node`},
		{base + `fence_devices { name: "f" script { path: "fence.sh" } }`, "n1", `fence_devices[0].script.path: fence device f: script "fence.sh" is not an absolute path`},
		{base + `fence_devices { name: "f" fence_agent { agent: "fence_ipmilan" targets: "n7" } }`, "n1", `fence_devices[0].fence_agent.targets[0]: fence device f: target "n7" is not a cluster node`},
		{base + `fence_devices { name: "f" script { path: "/bin/true" } } fence_devices { name: "f" script { path: "/bin/true" } }`, "n1", `fence_devices[1].name: fence device "f" is configured twice`},
		{base + `respawn { user: "root" path: "bin/prog" }`, "n1", `respawn[0].path: respawn: "bin/prog" is not an absolute path`},
		{base + `respawn { path: "/bin/prog" }`, "n1", `respawn[0].user: respawn: no user to run "/bin/prog" as`},
		{noAuth, "n1", "auth: no authentication specified"},
	}
	for _, c := range cases {
		_, err := resolveText(t, c.text, c.local)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v\nwant %q", err, c.want)
		}
	}
}

func TestNativeSyntaxErrorsNameTheLine(t *testing.T) {
	cases := []struct{ text, want string }{
		{"name: \"t\"\nnode_nmae: \"x\"\n", "cluster.textproto:2: column 1: unknown field: node_nmae"},
		{"name: \"t\"\nauth { keys { method: AUTH_METHOD_MAYBE } }\n", "cluster.textproto:2: column 23: invalid value for enum type: AUTH_METHOD_MAYBE"},
		{"nodes {\n  name: \"a\"\n", "cluster.textproto:3: unexpected end of file"},
		{"udp_port: -5\n", "cluster.textproto:1: column 11: invalid value for uint32 type: -5"},
	}
	for _, c := range cases {
		_, err := ParseNative("cluster.textproto", []byte(c.text))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("got %v\nwant %q", err, c.want)
		}
	}
}

func TestSecretsInFiles(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("  s3cret\n"), 0o600)
	cfg := filepath.Join(dir, "cluster.textproto")
	text := strings.Replace(base, `secret: "k"`, `secret_file: "`+keyFile+`"`, 1)
	os.WriteFile(cfg, []byte(text), 0o644) // no inline secret: may be readable
	l, err := LoadNative(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if k := l.Cluster.Auth.Keys[0]; k.Secret != "s3cret" || k.SecretFile != "" {
		t.Fatalf("key %v", k)
	}
	os.Chmod(keyFile, 0o640)
	if _, err := LoadNative(cfg); err == nil || !strings.Contains(err.Error(), "bad permissions on key file") {
		t.Fatalf("readable key file: %v", err)
	}
}

// TestNativeConfigurationOthersCanWriteIsRefused: the native configuration
// names programs run as root (agents, respawn, fence commands): writable
// by group or others, it is refused with the file and its mode, even
// without inline secrets.
func TestNativeConfigurationOthersCanWriteIsRefused(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("s3cret\n"), 0o600)
	cfg := filepath.Join(dir, "cluster.textproto")
	os.WriteFile(cfg, []byte(strings.Replace(base, `secret: "k"`, `secret_file: "`+keyFile+`"`, 1)), 0o600)
	for _, mode := range []os.FileMode{0o664, 0o646} {
		os.Chmod(cfg, mode)
		_, err := LoadNative(cfg)
		want := fmt.Sprintf("%s: writable by group or others (mode %04o)", cfg, mode)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("mode %04o: %v, want %q", mode, err, want)
		}
	}
	os.Chmod(cfg, 0o644)
	os.Chmod(keyFile, 0o620)
	if _, err := LoadNative(cfg); err == nil || !strings.Contains(err.Error(), "key file "+keyFile+": writable by group or others (mode 0620)") {
		t.Fatalf("key file others may write: %v", err)
	}
}

// TestShippedExampleIsValid: the example make install ships parses and
// validates.
func TestShippedExampleIsValid(t *testing.T) {
	data, err := os.ReadFile("../../dist/cluster.textproto")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ParseNative("cluster.textproto", data)
	if err != nil {
		t.Fatal(err)
	}
	eff, err := Resolve(l, "node1")
	if err != nil {
		t.Fatal(err)
	}
	if len(eff.Groups) != 1 || len(eff.Cluster.PingNodes) != 1 {
		t.Fatalf("example: %d groups, %d ping nodes", len(eff.Groups), len(eff.Cluster.PingNodes))
	}
}

// TestIpfailRespawnIsIgnored: Heartbeat's ipfail client is not run (it
// needs Heartbeat's API); hanode has it built in, and says so.
func TestIpfailRespawnIsIgnored(t *testing.T) {
	eff, err := resolveText(t, base+`respawn { user: "hacluster" path: "/usr/lib/heartbeat/ipfail" }`, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if len(eff.Respawn) != 0 {
		t.Fatalf("ipfail respawned: %v", eff.Respawn)
	}
	found := false
	for _, w := range eff.Warnings {
		found = found || strings.Contains(w.String(), "ipfail is built into hanode")
	}
	if !found {
		t.Fatalf("no warning: %v", eff.Warnings)
	}
}
