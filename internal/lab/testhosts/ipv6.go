package testhosts

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// IPv6 labs (Options.IPv6). Host i has on ethN the global address
// fd00:10:201:N::i/64 (a unique local prefix, RFC 4193: never routed
// outside the lab) and the link-local address the kernel derives from the
// interface's random MAC address. Both are ready when New returns: the
// global one is added with nodad, and the link-local one is waited for
// until it is no longer tentative (duplicate address detection is off in
// the lab's hosts, so the wait is normally nil).

// v6Prefix is the lab's IPv6 prefix; network N is v6Prefix + "N::".
const v6Prefix = "fd00:10:201:"

// linkLocalWait bounds the wait for link-local addresses.
const linkLocalWait = 10 * time.Second

// setupIPv6 adds the global addresses and waits for the link-local ones.
func (l *Lab) setupIPv6(ctx context.Context, networks int) {
	t := l.t
	t.Helper()
	for _, h := range l.hosts {
		for n := 0; n < networks; n++ {
			dev := fmt.Sprintf("eth%d", n)
			addr := fmt.Sprintf("%s%x::%x", v6Prefix, n, h.index)
			if n == 0 {
				// As ip writes it: fd00:10:201::1.
				addr = fmt.Sprintf("%s:%x", v6Prefix, h.index)
			}
			if out, err := run(ctx, "ip", "-n", h.ns, "-6", "addr", "add", addr+"/64", "dev", dev, "nodad"); err != nil {
				t.Fatalf("testhosts: add %s on %s %s: %v: %s", addr, h.ns, dev, err, out)
			}
			h.addr6 = append(h.addr6, addr)
		}
	}
	deadline := time.Now().Add(linkLocalWait)
	for _, h := range l.hosts {
		for n := 0; n < networks; n++ {
			dev := fmt.Sprintf("eth%d", n)
			for {
				ll, state := h.readLinkLocal(ctx, dev)
				if ll != "" {
					h.linkLocal = append(h.linkLocal, ll)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("testhosts: %s %s has no usable link-local address within %v: %s", h.ns, dev, linkLocalWait, state)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// readLinkLocal returns dev's link-local address once it is usable (not
// tentative), else "" and what ip shows.
func (h *Host) readLinkLocal(ctx context.Context, dev string) (addr, state string) {
	out, err := run(ctx, "ip", "-n", h.ns, "-6", "-o", "addr", "show", "dev", dev, "scope", "link")
	if err != nil {
		return "", err.Error() + ": " + out
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet6" && strings.HasPrefix(f[i+1], "fe80:") && !strings.Contains(line, "tentative") {
				a, _, _ := strings.Cut(f[i+1], "/")
				return a, ""
			}
		}
	}
	return "", strings.TrimSpace(out)
}

// Addr6 is the host's global IPv6 address on eth0 (fd00:10:201::i), ""
// outside an IPv6 lab.
func (h *Host) Addr6() string { return h.v6(h.addr6, 0) }

// Addr6Second is the host's global IPv6 address on eth1
// (fd00:10:201:1::i), "" without an IPv6 second network.
func (h *Host) Addr6Second() string { return h.v6(h.addr6, 1) }

// LinkLocal is the link-local address of the host's ethN (n = 0 or 1),
// without its scope ("fe80::...": write fe80::...%eth0 where a scope is
// needed); "" outside an IPv6 lab.
func (h *Host) LinkLocal(n int) string { return h.v6(h.linkLocal, n) }

func (h *Host) v6(as []string, n int) string {
	if n < 0 || n >= len(as) {
		return ""
	}
	return as[n]
}

// AddAddr adds an address (CIDR) to the host's interface; IPv6 addresses
// are added with nodad, usable at once.
func (h *Host) AddAddr(cidr, dev string) error {
	args := []string{"addr", "add", cidr, "dev", dev}
	if strings.Contains(cidr, ":") {
		args = append(args, "nodad")
	}
	return h.ip(args...)
}

// DelAddr removes an address (CIDR) from the host's interface.
func (h *Host) DelAddr(cidr, dev string) error { return h.ip("addr", "del", cidr, "dev", dev) }
