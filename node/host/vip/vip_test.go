package vip

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/resource"
)

const vip = "10.201.0.100"

// The life of an address: probe, start, check, start again, a link that
// goes down, stop, stop again; each result as an OCF agent gives it.
func TestStartMonitorStop(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 1})
	h := lab.Host(1)
	r := newOn(t, h, &messages.AddressAgent{Ip: vip})

	if res := run(t, r, resource.Monitor, resource.Stopped); res.ExitCode != 7 {
		t.Errorf("probe before start: exit %d, want 7 (not running)", res.ExitCode)
	}
	res := run(t, r, resource.Start, resource.Succeeded)
	t.Logf("start: %s in %v", res.Output, res.Duration)
	if !strings.HasSuffix(res.Output, "; announced") {
		t.Errorf("start: %q, want the address announced", res.Output)
	}
	// No nic, no netmask: both from the route the address falls in
	// (10.201.0.0/24 dev eth0), as IPaddr2 finds them.
	got := addresses(t, h, "eth0", vip)
	if len(got) != 1 || got[0]["prefixlen"] != float64(24) || got[0]["label"] != "eth0" {
		t.Fatalf("after start, %s on eth0: %v", vip, got)
	}
	if res := run(t, r, resource.Monitor, resource.Running); res.ExitCode != 0 {
		t.Errorf("monitor: exit %d", res.ExitCode)
	}

	// Idempotent: a second start succeeds and adds nothing.
	res = run(t, r, resource.Start, resource.Succeeded)
	if !strings.Contains(res.Output, "already on eth0") {
		t.Errorf("second start: %q, want it to say the address is already there", res.Output)
	}
	if got := addresses(t, h, "eth0", vip); len(got) != 1 {
		t.Fatalf("after a second start: %v", got)
	}

	// The address on a link that is down is a failure, not a stop: a
	// probe must not leave it there (it would come back with the link).
	if err := h.LinkDown("eth0"); err != nil {
		t.Fatal(err)
	}
	if res := run(t, r, resource.Monitor, resource.Failed); res.ExitCode != 1 || !strings.Contains(res.Output, "eth0 is down") {
		t.Errorf("monitor on a link down: exit %d, %q", res.ExitCode, res.Output)
	}
	// A start brings the link up, as IPaddr2 does.
	res = run(t, r, resource.Start, resource.Succeeded)
	if !strings.Contains(res.Output, "eth0 brought up") {
		t.Errorf("start on a link down: %q", res.Output)
	}
	run(t, r, resource.Monitor, resource.Running)

	res = run(t, r, resource.Stop, resource.Succeeded)
	t.Logf("stop: %s in %v", res.Output, res.Duration)
	if got := addresses(t, h, "eth0", vip); len(got) != 0 {
		t.Fatalf("after stop: %v", got)
	}
	// Idempotent: stopping what is stopped succeeds.
	if res := run(t, r, resource.Stop, resource.Succeeded); !strings.Contains(res.Output, "not on eth0") {
		t.Errorf("second stop: %q", res.Output)
	}
	run(t, r, resource.Monitor, resource.Stopped)
	// The host's own address was never touched.
	if got := addresses(t, h, "eth0", h.Addr()); len(got) != 1 {
		t.Errorf("host address %s: %v", h.Addr(), got)
	}
}

// An address that cannot be placed: a start fails (not configured), a
// probe says stopped, a stop has nothing to do, as IPaddr2's.
func TestUnplaceable(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 1})
	h := lab.Host(1)
	for _, a := range []*messages.AddressAgent{
		{Ip: "10.201.99.1"},                    // no route holds it
		{Ip: vip, Nic: "eth9"},                 // no such interface
		{Ip: "10.201.99.1", CidrNetmask: "24"}, // a netmask, but no interface
	} {
		r := newOn(t, h, a)
		if res := run(t, r, resource.Start, resource.Failed); res.ExitCode != 6 {
			t.Errorf("%v: start exit %d (%s), want 6", a, res.ExitCode, res.Output)
		}
		run(t, r, resource.Monitor, resource.Stopped)
		run(t, r, resource.Stop, resource.Succeeded)
	}
	// With nic and netmask given, no route is needed.
	r := newOn(t, h, &messages.AddressAgent{Ip: "10.201.99.1", CidrNetmask: "24", Nic: "eth0"})
	run(t, r, resource.Start, resource.Succeeded)
	if got := addresses(t, h, "eth0", "10.201.99.1"); len(got) != 1 || got[0]["broadcast"] != nil {
		t.Errorf("10.201.99.1/24 on eth0: %v (want no broadcast: none was given, and no route gives one)", got)
	}
	run(t, r, resource.Stop, resource.Succeeded)
}

// IPaddr's alias labels: the lowest free NIC:N.
func TestAliasLabel(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 1})
	h := lab.Host(1)
	ip(t, h, "addr", "add", "10.201.0.50/24", "dev", "eth0", "label", "eth0:0")
	r := newOn(t, h, &messages.AddressAgent{Ip: vip, AliasLabel: true})
	run(t, r, resource.Start, resource.Succeeded)
	if got := addresses(t, h, "eth0", vip); len(got) != 1 || got[0]["label"] != "eth0:1" {
		t.Errorf("label: %v, want eth0:1 (eth0:0 is taken)", got)
	}
	run(t, r, resource.Stop, resource.Succeeded)
}

// IPv6: an address added without duplicate address detection is usable
// at once; with it, start returns once the detection is over; an address
// another host holds fails the start and is removed.
func TestIPv6(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 2})
	h1, h2 := lab.Host(1), lab.Host(2)
	for i, h := range []*testhosts.Host{h1, h2} {
		ip(t, h, "addr", "add", "fd00:201::"+string(rune('1'+i))+"/64", "dev", "eth0", "nodad")
	}
	const v6 = "fd00:201::100"

	r := newOn(t, h1, &messages.AddressAgent{Ip: v6, Nodad: true})
	res := run(t, r, resource.Start, resource.Succeeded)
	t.Logf("start (nodad): %s in %v", res.Output, res.Duration)
	got := addresses(t, h1, "eth0", v6)
	if len(got) != 1 || got[0]["prefixlen"] != float64(64) || got[0]["nodad"] != true || got[0]["tentative"] != nil {
		t.Fatalf("after start: %v", got)
	}
	run(t, r, resource.Monitor, resource.Running)
	run(t, r, resource.Stop, resource.Succeeded)
	if got := addresses(t, h1, "eth0", v6); len(got) != 0 {
		t.Fatalf("after stop: %v", got)
	}

	// A link-local address: its interface named, its prefix from the
	// route fe80::/64 of eth0.
	ll := newOn(t, h1, &messages.AddressAgent{Ip: "fe80::100", Nic: "eth0", Nodad: true})
	if res := run(t, ll, resource.Start, resource.Succeeded); !strings.HasSuffix(res.Output, "; announced") {
		t.Errorf("link-local start: %q", res.Output)
	}
	if got := addresses(t, h1, "eth0", "fe80::100"); len(got) != 1 || got[0]["prefixlen"] != float64(64) || got[0]["scope"] != "link" {
		t.Fatalf("link-local address: %v", got)
	}
	run(t, ll, resource.Monitor, resource.Running)
	run(t, ll, resource.Stop, resource.Succeeded)

	r = newOn(t, h1, &messages.AddressAgent{Ip: v6, CidrNetmask: "64", Nic: "eth0"})
	res = run(t, r, resource.Start, resource.Succeeded)
	t.Logf("start (with duplicate address detection): %s in %v", res.Output, res.Duration)
	if got := addresses(t, h1, "eth0", v6); len(got) != 1 || got[0]["tentative"] != nil {
		t.Fatalf("after start: %v (want the detection over)", got)
	}
	run(t, r, resource.Stop, resource.Succeeded)

	// h2 holds it: h1's detection fails.
	ip(t, h2, "addr", "add", v6+"/64", "dev", "eth0", "nodad")
	res = run(t, r, resource.Start, resource.Failed)
	if !strings.Contains(res.Output, "duplicate address detected") {
		t.Errorf("start of an address h2 holds: %q", res.Output)
	}
	if got := addresses(t, h1, "eth0", v6); len(got) != 0 {
		t.Errorf("h1 keeps a duplicate address: %v", got)
	}
}

// The start's deadline bounds its wait for duplicate address detection.
func TestDADTimeout(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 1})
	h := lab.Host(1)
	ip(t, h, "addr", "add", "fd00:201::1/64", "dev", "eth0", "nodad")
	// Ten probes a second apart: the detection takes ten seconds.
	sysctl(t, h, "net/ipv6/conf/eth0/dad_transmits", "10")
	r := newOn(t, h, &messages.AddressAgent{Ip: "fd00:201::100"})
	res := r.Run(context.Background(), resource.Start, 300*time.Millisecond)
	if res.Outcome != resource.TimedOut || res.Duration > 5*time.Second {
		t.Errorf("start: %s in %v (%s), want timed out after 300ms", res.Outcome, res.Duration, res.Output)
	}
	run(t, r, resource.Stop, resource.Succeeded)
}
