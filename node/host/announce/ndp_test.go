package announce

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
)

// Arguments Advertise refuses before it touches the network.
func TestAdvertiseBadArguments(t *testing.T) {
	v6 := netip.MustParseAddr("fd00:201::100")
	for _, tc := range []struct {
		addr     netip.Addr
		count    int
		interval time.Duration
		want     string
	}{
		{netip.Addr{}, 1, 0, "invalid address"},
		{netip.MustParseAddr("10.201.0.100"), 1, 0, "10.201.0.100: not an IPv6 address"},
		{netip.MustParseAddr("::ffff:10.201.0.100"), 1, 0, "not an IPv6 address"},
		{netip.MustParseAddr("::"), 1, 0, ":: not a unicast address"},
		{netip.MustParseAddr("::1"), 1, 0, "::1: not a unicast address"},
		{netip.MustParseAddr("ff02::1"), 1, 0, "ff02::1: not a unicast address"},
		{v6, 0, 0, "count 0: at least 1"},
		{v6, 1, -time.Second, "negative interval"},
	} {
		err := Advertise(context.Background(), "", tc.addr, tc.count, tc.interval)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Advertise(%v, %d, %v) = %v, want an error with %q", tc.addr, tc.count, tc.interval, err, tc.want)
		}
	}
}

// On a host: an address nobody holds, or held on another interface than
// the one named, is not announced; one held is, by Address too.
func TestAdvertiseOnHost(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 1})
	h := lab.Host(1)
	run := func(fn func() error) error { return inNetns(t, h, fn) }
	v6 := netip.MustParseAddr("fd00:201::100")
	if err := run(func() error { return Advertise(context.Background(), "", v6, 1, 0) }); !errors.Is(err, ErrNotHeld) {
		t.Errorf("address not held: %v", err)
	}
	ip(t, h, "addr", "add", "fd00:201::100/64", "dev", "eth0", "nodad")
	if err := run(func() error { return Advertise(context.Background(), "lo", v6, 1, 0) }); !errors.Is(err, ErrNotHeld) || !strings.Contains(err.Error(), "on lo") {
		t.Errorf("held on eth0, asked on lo: %v", err)
	}
	if err := run(func() error { return Advertise(context.Background(), "eth0", v6, 2, time.Millisecond) }); err != nil {
		t.Errorf("Advertise on eth0: %v", err)
	}
	if err := run(func() error { return Address(context.Background(), v6, 1, 0) }); err != nil {
		t.Errorf("Address(%v): %v", v6, err)
	}
	ip(t, h, "addr", "add", vip+"/24", "dev", "eth0")
	if err := run(func() error { return Address(context.Background(), netip.MustParseAddr(vip), 1, 0) }); err != nil {
		t.Errorf("Address(%s): %v", vip, err)
	}
	if err := run(func() error { return GratuitousOn(context.Background(), "lo", netip.MustParseAddr(vip), 1, 0) }); !errors.Is(err, ErrNotHeld) {
		t.Errorf("GratuitousOn lo: %v", err)
	}
}
