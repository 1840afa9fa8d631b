package vip

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/addrspec"
	"github.com/hanode/hanode/node/machine/resource"
)

// newOn is the resource of a on host h.
func newOn(t testing.TB, h *testhosts.Host, a *messages.AddressAgent) *Resource {
	t.Helper()
	spec, err := addrspec.Parse(a)
	if err != nil {
		t.Fatalf("spec %v: %v", a, err)
	}
	r := New(addrspec.HaresourcesName+"::"+addrspec.Positional(a), spec, Options{InNetns: h.InNetns})
	// Before the lab goes (cleanups run last first): no announcement
	// outlives the test.
	t.Cleanup(func() { r.Run(context.Background(), resource.Stop, 10*time.Second) })
	return r
}

// run runs action and checks its outcome.
func run(t testing.TB, r *Resource, action resource.Action, want resource.Outcome) resource.Result {
	t.Helper()
	res := r.Run(context.Background(), action, 10*time.Second)
	if res.Outcome != want {
		t.Fatalf("%s: %s, want %s (exit %d: %s)", action, res.Outcome, want, res.ExitCode, res.Output)
	}
	return res
}

// inNetns runs fn in h's network namespace and returns its result.
func inNetns[T any](t testing.TB, h *testhosts.Host, fn func() T) T {
	t.Helper()
	done := make(chan T, 1)
	if err := h.InNetns(func() { done <- fn() }); err != nil {
		t.Fatal(err)
	}
	return <-done
}

// sh runs a command on h and returns its standard output.
func sh(t testing.TB, h *testhosts.Host, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, errOut, code, err := h.Run(ctx, bin, args...)
	if err != nil || code != 0 {
		t.Fatalf("%s %s on %s: exit %d, %v: %s%s", bin, strings.Join(args, " "), h.Name(), code, err, out, errOut)
	}
	return out
}

// ip runs the ip command on h.
func ip(t testing.TB, h *testhosts.Host, args ...string) string {
	t.Helper()
	return sh(t, h, "ip", args...)
}

// addrInfo is one address as `ip -j addr show` gives it.
type addrInfo map[string]any

// addresses are the addresses of h's interface dev that equal addr (any
// prefix length), as ip shows them.
func addresses(t testing.TB, h *testhosts.Host, dev, addr string) []addrInfo {
	t.Helper()
	var links []struct {
		AddrInfo []addrInfo `json:"addr_info"`
	}
	out := ip(t, h, "-j", "addr", "show", "dev", dev)
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		t.Fatalf("ip -j addr show dev %s: %v: %s", dev, err, out)
	}
	var found []addrInfo
	for _, l := range links {
		for _, a := range l.AddrInfo {
			if a["local"] == addr {
				found = append(found, a)
			}
		}
	}
	return found
}

// compared are the fields of an address that IPaddr2 and the built-in
// resource must give alike.
var compared = []string{"family", "local", "prefixlen", "broadcast", "scope", "label", "secondary", "nodad", "noprefixroute", "valid_life_time", "preferred_life_time"}

// summary prints the compared fields of a.
func (a addrInfo) summary() string {
	var b strings.Builder
	for _, k := range compared {
		if v, ok := a[k]; ok {
			fmt.Fprintf(&b, "%s=%v ", k, v)
		}
	}
	return strings.TrimSpace(b.String())
}

// macOf is the MAC of h's interface dev.
func macOf(t testing.TB, h *testhosts.Host, dev string) string {
	t.Helper()
	mac := inNetns(t, h, func() string {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err.Error()
		}
		return ifi.HardwareAddr.String()
	})
	if _, err := net.ParseMAC(mac); err != nil {
		t.Fatalf("MAC of %s on %s: %s", dev, h.Name(), mac)
	}
	return mac
}

// sysctl sets a sysctl of h's network namespace.
func sysctl(t testing.TB, h *testhosts.Host, path, value string) {
	t.Helper()
	if err := inNetns(t, h, func() error {
		return os.WriteFile("/proc/sys/"+path, []byte(value+"\n"), 0o644)
	}); err != nil {
		t.Fatalf("sysctl %s=%s on %s: %v", path, value, h.Name(), err)
	}
}

// neighMAC is the MAC of h's neighbour entry for addr on eth0 ("" when
// none), and the entry as ip shows it.
func neighMAC(t testing.TB, h *testhosts.Host, addr string) (string, string) {
	t.Helper()
	out := strings.TrimSpace(ip(t, h, "neigh", "show", addr, "dev", "eth0"))
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			return f[i+1], out
		}
	}
	return "", out
}
