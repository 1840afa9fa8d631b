package announce

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
)

// Arguments Gratuitous refuses before it touches the network: these run
// anywhere, without privileges.
func TestGratuitousBadArguments(t *testing.T) {
	ctx := context.Background()
	v4 := netip.MustParseAddr("10.201.0.100")
	for _, tc := range []struct {
		name     string
		addr     netip.Addr
		count    int
		interval time.Duration
		want     string
	}{
		{"invalid", netip.Addr{}, 1, 0, "invalid address"},
		{"IPv6", netip.MustParseAddr("2001:db8::1"), 1, 0, "2001:db8::1: not an IPv4 address"},
		{"IPv6 link-local with zone", netip.MustParseAddr("fe80::1%eth0"), 1, 0, "fe80::1%eth0: not an IPv4 address"},
		{"unspecified", netip.MustParseAddr("0.0.0.0"), 1, 0, "0.0.0.0: not a unicast address"},
		{"loopback", netip.MustParseAddr("127.0.0.1"), 1, 0, "127.0.0.1: not a unicast address"},
		{"multicast", netip.MustParseAddr("224.0.0.18"), 1, 0, "224.0.0.18: not a unicast address"},
		{"broadcast", netip.MustParseAddr("255.255.255.255"), 1, 0, "255.255.255.255: not a unicast address"},
		{"no rounds", v4, 0, 0, "10.201.0.100: count 0: at least 1"},
		{"negative interval", v4, 1, -time.Second, "10.201.0.100: negative interval -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Gratuitous(ctx, tc.addr, tc.count, tc.interval)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Gratuitous(%v, %d, %v) = %v, want an error with %q", tc.addr, tc.count, tc.interval, err, tc.want)
			}
		})
	}
	if _, _, err := Holds(netip.Addr{}); err == nil {
		t.Fatal("Holds(invalid address): no error")
	}
}

// Interfaces that cannot carry ARP.
func TestCheckInterface(t *testing.T) {
	addr := netip.MustParseAddr("10.201.0.100")
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	for _, tc := range []struct {
		ifi  net.Interface
		want string // "" for none
	}{
		{net.Interface{Name: "eth0", Flags: net.FlagUp | net.FlagBroadcast, HardwareAddr: mac}, ""},
		{net.Interface{Name: "lo", Flags: net.FlagUp | net.FlagLoopback, HardwareAddr: make(net.HardwareAddr, 6)}, "10.201.0.100: held by lo, a loopback interface"},
		{net.Interface{Name: "tun0", Flags: net.FlagUp | net.FlagPointToPoint}, "10.201.0.100: tun0 has no Ethernet hardware address"},
		{net.Interface{Name: "ib0", Flags: net.FlagUp, HardwareAddr: make(net.HardwareAddr, 20)}, "10.201.0.100: ib0 has no Ethernet hardware address"},
		{net.Interface{Name: "eth1", Flags: net.FlagBroadcast, HardwareAddr: mac}, "10.201.0.100: eth1 is down"},
	} {
		err := checkInterface(&tc.ifi, addr)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.ifi.Name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.ifi.Name, err, tc.want)
		}
	}
}

// inNetns runs fn in h's network namespace and returns its result.
func inNetns[T any](t *testing.T, h *testhosts.Host, fn func() T) T {
	t.Helper()
	done := make(chan T, 1)
	if err := h.InNetns(func() { done <- fn() }); err != nil {
		t.Fatal(err)
	}
	return <-done
}

// ip runs the ip command against h's namespace.
func ip(t *testing.T, h *testhosts.Host, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, errOut, code, err := h.Run(ctx, "ip", args...)
	if err != nil || code != 0 {
		t.Fatalf("ip %s on %s: exit %d, %v: %s", strings.Join(args, " "), h.Name(), code, err, errOut)
	}
	return out
}

// sysctl sets a sysctl of h's network namespace (/proc/sys/net is the
// namespace of the thread that opens it).
func sysctl(t *testing.T, h *testhosts.Host, path, value string) {
	t.Helper()
	if err := inNetns(t, h, func() error {
		return os.WriteFile("/proc/sys/"+path, []byte(value+"\n"), 0o644)
	}); err != nil {
		t.Fatalf("sysctl %s=%s on %s: %v", path, value, h.Name(), err)
	}
}

// neighMAC is the MAC of the neighbour entry of h for addr on eth0 ("" when
// there is none), and the entry as ip shows it.
func neighMAC(t *testing.T, h *testhosts.Host, addr string) (string, string) {
	out := strings.TrimSpace(ip(t, h, "neigh", "show", addr, "dev", "eth0"))
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			return f[i+1], out
		}
	}
	return "", out
}

const (
	vip      = "10.201.0.100"
	wrongMAC = "02:00:00:00:00:99"
)

// setRoundSent replaces the per-round hook for one test.
func setRoundSent(t *testing.T, fn func(int)) {
	old := roundSent
	roundSent = fn
	t.Cleanup(func() { roundSent = old })
}

// The scenario of a double run: h1 keeps the virtual address, the client
// h2 still points it at another MAC; h1's gratuitous ARP takes it back.
func TestGratuitousTakesClientBack(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 2})
	h1, h2 := lab.Host(1), lab.Host(2)
	addr := netip.MustParseAddr(vip)
	ip(t, h1, "addr", "add", vip+"/24", "dev", "eth0")
	mac := inNetns(t, h1, func() string {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err.Error()
		}
		return ifi.HardwareAddr.String()
	})
	if _, err := net.ParseMAC(mac); err != nil || mac == wrongMAC {
		t.Fatalf("h1 eth0 MAC %q", mac)
	}

	// The client neither creates entries from unsolicited ARP (arp_accept
	// 0, the default) nor lets an ordinary ARP reply replace an entry for
	// 1000 s (locktime, in 1/100 s): only ARP it takes as gratuitous can
	// fix its entry within this test.
	sysctl(t, h2, "net/ipv4/conf/eth0/arp_accept", "0")
	sysctl(t, h2, "net/ipv4/neigh/eth0/locktime", "100000")
	ip(t, h2, "neigh", "replace", vip, "lladdr", wrongMAC, "dev", "eth0", "nud", "stale")
	if got, entry := neighMAC(t, h2, vip); got != wrongMAC {
		t.Fatalf("client entry before: %q", entry)
	}

	t.Run("Holds", func(t *testing.T) {
		type result struct {
			name string
			ok   bool
			err  error
		}
		for _, tc := range []struct {
			addr netip.Addr
			want result
		}{
			{addr, result{"eth0", true, nil}},
			{netip.AddrFrom16(addr.As16()), result{"eth0", true, nil}}, // IPv4-mapped
			{netip.MustParseAddr("10.201.0.1"), result{"eth0", true, nil}},
			{netip.MustParseAddr("127.0.0.1"), result{"lo", true, nil}},
			{netip.MustParseAddr("10.201.0.200"), result{"", false, nil}},
		} {
			got := inNetns(t, h1, func() result {
				name, ok, err := Holds(tc.addr)
				return result{name, ok, err}
			})
			if got != tc.want {
				t.Errorf("Holds(%v) on h1 = %v, want %v", tc.addr, got, tc.want)
			}
		}
		// IPv6 too, when the kernel gives lo its ::1; a zone names the
		// interface.
		holds := func(s string) result {
			return inNetns(t, h1, func() result {
				name, ok, err := Holds(netip.MustParseAddr(s))
				return result{name, ok, err}
			})
		}
		if got := holds("::1"); got.ok {
			if got != (result{"lo", true, nil}) || holds("::1%lo") != got || holds("::1%eth0") != (result{}) {
				t.Errorf("Holds(::1) = %v, Holds(::1%%lo) = %v, Holds(::1%%eth0) = %v", got, holds("::1%lo"), holds("::1%eth0"))
			}
		} else {
			t.Logf("no ::1 on h1's lo (%v): IPv6 zones not checked", got)
		}
	})

	var rounds []int
	setRoundSent(t, func(r int) { rounds = append(rounds, r) })
	start := time.Now()
	err := inNetns(t, h1, func() error {
		return Gratuitous(context.Background(), addr, 3, 20*time.Millisecond)
	})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Gratuitous: %v", err)
	}
	if fmt.Sprint(rounds) != "[1 2 3]" || took < 40*time.Millisecond {
		t.Fatalf("rounds %v in %v, want [1 2 3] at least 40ms apart in all", rounds, took)
	}
	testhosts.WaitFor(t, 5*time.Second, 10*time.Millisecond, "client's entry for "+vip+" pointing at h1 "+mac, func() (bool, string) {
		got, entry := neighMAC(t, h2, vip)
		return got == mac, entry
	})
}

// Errors that need a host: addresses it does not hold, or holds on
// loopback; cancellation; an address removed between two rounds.
func TestGratuitousErrorsOnHost(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 1})
	h := lab.Host(1)
	addr := netip.MustParseAddr(vip)
	run := func(ctx context.Context, addr netip.Addr, count int, interval time.Duration) error {
		return inNetns(t, h, func() error { return Gratuitous(ctx, addr, count, interval) })
	}

	err := run(context.Background(), addr, 1, 0)
	if !errors.Is(err, ErrNotHeld) || !strings.Contains(err.Error(), vip) {
		t.Errorf("address not held: %v", err)
	}

	ip(t, h, "addr", "add", "10.201.0.101/32", "dev", "lo")
	if err := run(context.Background(), netip.MustParseAddr("10.201.0.101"), 1, 0); err == nil ||
		!strings.Contains(err.Error(), "10.201.0.101: held by lo, a loopback interface") {
		t.Errorf("address on lo: %v", err)
	}

	ip(t, h, "addr", "add", vip+"/24", "dev", "eth0")
	setRoundSent(t, func(int) {})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := run(ctx, addr, 1, 0); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "not started") {
		t.Errorf("cancelled before the first round: %v", err)
	}

	// Cancelled while it waits for its second round.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	setRoundSent(t, func(r int) {
		if r == 1 {
			cancel()
		}
	})
	if err := run(ctx, addr, 2, time.Hour); !errors.Is(err, context.Canceled) ||
		!strings.Contains(err.Error(), "on eth0: stopped after 1 of 2 rounds") {
		t.Errorf("cancelled between rounds: %v", err)
	}

	// The address goes away after the first round: it must not be
	// announced again.
	// (The hook runs on Gratuitous's goroutine: no t.Fatal there.)
	var delErr error
	setRoundSent(t, func(r int) {
		if r == 1 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, errOut, code, err := h.Run(ctx, "ip", "addr", "del", vip+"/24", "dev", "eth0")
			if err == nil && code != 0 {
				err = fmt.Errorf("exit %d: %s", code, errOut)
			}
			delErr = err
		}
	})
	err = run(context.Background(), addr, 3, 0)
	if delErr != nil {
		t.Fatalf("ip addr del %s on h1: %v", vip, delErr)
	}
	if !errors.Is(err, ErrNotHeld) || !strings.Contains(err.Error(), "round 2") {
		t.Errorf("address removed after round 1: %v", err)
	}
}
