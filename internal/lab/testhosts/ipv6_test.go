package testhosts

import (
	"strings"
	"testing"

	"github.com/hanode/hanode/internal/lab/need"
)

// TestIPv6Lab: hosts of an IPv6 lab reach each other at once by their
// global and their link-local addresses (with the interface as scope), on
// both networks; IPv4 is there as before.
func TestIPv6Lab(t *testing.T) {
	need.Command(t, "ping", "iputils-ping")
	lab := New(t, Options{Hosts: 2, SecondNetwork: true, IPv6: true})
	h1, h2 := lab.Host(1), lab.Host(2)
	if h1.Addr6() != "fd00:10:201::1" {
		t.Fatalf("h1 eth0: %q", h1.Addr6())
	}
	if h2.Addr6Second() != "fd00:10:201:1::2" {
		t.Fatalf("h2 eth1: %q", h2.Addr6Second())
	}
	for _, h := range lab.Hosts() {
		for n := 0; n < 2; n++ {
			if !strings.HasPrefix(h.LinkLocal(n), "fe80:") {
				t.Fatalf("%s eth%d link-local %q", h.Name(), n, h.LinkLocal(n))
			}
		}
	}
	for _, to := range []string{h2.Addr6(), h2.Addr6Second(), h2.LinkLocal(0) + "%eth0", h2.LinkLocal(1) + "%eth1", h2.Addr()} {
		if !ping(t, h1, to) {
			t.Errorf("h1 cannot reach %s", to)
		}
	}
	// An address removed no longer answers.
	if err := h2.DelAddr(h2.Addr6()+"/64", "eth0"); err != nil {
		t.Fatal(err)
	}
	if ping(t, h1, h2.Addr6()) {
		t.Fatal("a removed address answers")
	}
}
