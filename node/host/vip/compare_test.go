package vip

import (
	"context"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/host/procrun"
	"github.com/hanode/hanode/node/machine/addrspec"
	"github.com/hanode/hanode/node/machine/resource"
)

// The agents of Debian's resource-agents and heartbeat packages.
const (
	ocfIPaddr2    = "/usr/lib/ocf/resource.d/heartbeat/IPaddr2"
	ocfIPaddr     = "/usr/lib/ocf/resource.d/heartbeat/IPaddr"
	scriptIPaddr2 = "/etc/ha.d/resource.d/IPaddr2"
	scriptIPaddr  = "/etc/ha.d/resource.d/IPaddr"
)

// requireAgents skips (fails in CI) when an agent is missing.
func requireAgents(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			msg := p + " is missing (apt-get install resource-agents heartbeat): the built-in address is compared with it"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg + " (CI=true: this test must run)")
			}
			t.Skip(msg)
		}
	}
}

// script is an address agent run as hanode runs agents: procrun, from a
// thread in the host's namespace, with OCF_RESKEY_* parameters (OCF) or
// a positional argument (resource.d).
type script struct {
	path   string
	arg    string
	params map[string]string
}

// run runs action on h.
func (s script) run(t testing.TB, h *testhosts.Host, rsctmp, action string) procrun.Result {
	t.Helper()
	env := []string{
		"PATH=/usr/lib/heartbeat:/usr/share/heartbeat:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C", "LC_ALL=C",
		"OCF_ROOT=/usr/lib/ocf", "OCF_RA_VERSION_MAJOR=1", "OCF_RA_VERSION_MINOR=0",
		"OCF_RESOURCE_INSTANCE=vip_test", "HA_RSCTMP=" + rsctmp,
		"OCF_RESKEY_CRM_meta_timeout=60000",
	}
	for k, v := range s.params {
		env = append(env, "OCF_RESKEY_"+k+"="+v)
	}
	var args []string
	if s.arg != "" {
		args = append(args, s.arg)
	}
	if action == "monitor" && s.arg != "" {
		action = "status"
	}
	return inNetns(t, h, func() procrun.Result {
		return procrun.Run(context.Background(), procrun.Spec{Path: s.path, Args: append(args, action), Env: env, Timeout: time.Minute})
	})
}

// agent is the AddressAgent the configuration makes of the script
// (native_addresses).
func (s script) agent(t testing.TB) *messages.AddressAgent {
	t.Helper()
	name := s.path[strings.LastIndexByte(s.path, '/')+1:]
	var a *messages.AddressAgent
	var err error
	if s.arg != "" {
		a, err = addrspec.FromScript(name, []string{s.arg})
	} else {
		a, err = addrspec.FromOCF(name, s.params)
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return a
}

// String is "ocf:IPaddr2 k=v..." or "resource.d:IPaddr2 arg".
func (s script) String() string {
	name := s.path[strings.LastIndexByte(s.path, '/')+1:]
	if s.arg != "" {
		return "resource.d:" + name + " " + s.arg
	}
	var kv []string
	for k, v := range s.params {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return "ocf:" + name + " " + strings.Join(kv, " ")
}

// The built-in resource gives the address IPaddr2 (and IPaddr) give it,
// for the same parameters: the real agent starts it on h1, the built-in
// resource on h2, two hosts configured alike, and `ip -j addr` must show
// the same address, prefix, broadcast, label, scope and flags.
func TestSameAddressAsIPaddr2(t *testing.T) {
	requireAgents(t, ocfIPaddr2, ocfIPaddr, scriptIPaddr2, scriptIPaddr)
	lab := testhosts.New(t, testhosts.Options{Hosts: 2})
	h1, h2 := lab.Host(1), lab.Host(2)
	for i, h := range []*testhosts.Host{h1, h2} {
		n := string(rune('1' + i))
		// A second network with a broadcast address (the hosts' own
		// 10.201.0.x/24 has none), and an IPv6 one.
		ip(t, h, "addr", "add", "10.201.16."+n+"/20", "brd", "+", "dev", "eth0")
		ip(t, h, "addr", "add", "fd00:201::"+n+"/64", "dev", "eth0", "nodad")
	}
	rsctmp := t.TempDir()
	type P = map[string]string
	for _, s := range []script{
		// OCF IPaddr2.
		{path: ocfIPaddr2, params: P{"ip": vip}},
		{path: ocfIPaddr2, params: P{"ip": vip, "cidr_netmask": "24", "nic": "eth0"}},
		{path: ocfIPaddr2, params: P{"ip": vip, "cidr_netmask": "25", "broadcast": "10.201.0.127", "iflabel": "web"}},
		{path: ocfIPaddr2, params: P{"ip": vip, "nic": "eth0:db", "cidr_netmask": "255.255.255.0"}},
		{path: ocfIPaddr2, params: P{"ip": vip, "cidr_netmask": "24", "broadcast": "+"}},
		{path: ocfIPaddr2, params: P{"ip": vip, "cidr_netmask": "24", "broadcast": "-"}},
		{path: ocfIPaddr2, params: P{"ip": vip, "cidr_netmask": "32", "nic": "eth0"}},
		{path: ocfIPaddr2, params: P{"ip": vip, "cidr_netmask": "24", "nic": "eth0", "noprefixroute": "true", "arp_count": "2", "arp_interval": "100"}},
		// The broadcast of the source address of the route, whatever the
		// prefix length (IPaddr2's findif).
		{path: ocfIPaddr2, params: P{"ip": "10.201.16.100"}},
		{path: ocfIPaddr2, params: P{"ip": "10.201.16.100", "cidr_netmask": "24"}},
		{path: ocfIPaddr2, params: P{"ip": "fd00:201::100", "nodad": "true"}},
		{path: ocfIPaddr2, params: P{"ip": "fd00:201::100", "cidr_netmask": "80", "nic": "eth0", "nodad": "1", "preferred_lft": "0"}},
		{path: ocfIPaddr2, params: P{"ip": "fd00:201::100"}}, // with duplicate address detection
		// Heartbeat's resource scripts, with haresources' arguments.
		{path: scriptIPaddr2, arg: "10.201.0.100/24/eth0:web/10.201.0.255"},
		{path: scriptIPaddr2, arg: "10.201.16.100"},
		{path: scriptIPaddr2, arg: "10.201.0.100/26/10.201.0.127"},
		// IPaddr: an alias label, the prefix's broadcast.
		{path: ocfIPaddr, params: P{"ip": vip}},
		{path: scriptIPaddr, arg: "10.201.16.100/24"},
	} {
		t.Run(s.String(), func(t *testing.T) {
			a := s.agent(t)
			addr := a.GetIp()
			dev, _, _ := strings.Cut(a.GetNic(), ":")
			if dev == "" {
				dev = "eth0"
			}

			res := s.run(t, h1, rsctmp, "start")
			if res.ExitCode != 0 {
				t.Fatalf("%s start on h1: exit %d: %s", s, res.ExitCode, res.Output)
			}
			want := addresses(t, h1, dev, addr)
			if res := s.run(t, h1, rsctmp, "stop"); res.ExitCode != 0 {
				t.Fatalf("%s stop on h1: exit %d: %s", s, res.ExitCode, res.Output)
			}
			if left := addresses(t, h1, dev, addr); len(left) != 0 {
				t.Fatalf("%s left %v on h1", s, left)
			}
			if len(want) != 1 {
				t.Fatalf("%s on h1 gave %d addresses %s: %v", s, len(want), addr, want)
			}

			r := newOn(t, h2, a)
			out := run(t, r, resource.Start, resource.Succeeded)
			got := addresses(t, h2, dev, addr)
			run(t, r, resource.Stop, resource.Succeeded)
			if len(got) != 1 {
				t.Fatalf("built-in on h2 gave %d addresses %s: %v (%s)", len(got), addr, got, out.Output)
			}
			if w, g := want[0].summary(), got[0].summary(); w != g {
				t.Errorf("%s\nIPaddr agent: %s\nbuilt-in:     %s", s, w, g)
			} else {
				t.Logf("%s: both %s (agent %v, built-in %v)", s, g, res.Duration.Round(time.Millisecond), out.Duration.Round(time.Microsecond))
			}
			if left := addresses(t, h2, dev, addr); len(left) != 0 {
				t.Fatalf("built-in left %v on h2", left)
			}
		})
	}
}
