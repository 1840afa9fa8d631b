package transports

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/transports/medium"
)

func TestOpenAndCheckTypedMedia(t *testing.T) {
	if _, err := Open(nil, func(Packet) time.Duration { return 0 }, nil); err == nil {
		t.Error("no media opened")
	}
	two := []medium.Medium{&medium.Serial{Device: "/dev/null", Baud: 19200}, &medium.Serial{Device: "/dev/null", Baud: 19200}}
	if _, err := Open(two, func(Packet) time.Duration { return 0 }, nil); err == nil || !strings.Contains(err.Error(), "one medium") {
		t.Errorf("two media on a serial line: %v", err)
	}
	if err := Check(&medium.Bcast{Dev: "lo"}); err == nil || !strings.Contains(err.Error(), "does not broadcast") {
		t.Errorf("bcast on lo: %v", err)
	}
	if err := Check(&medium.Ucast{Dev: "nosuchdev0"}); err == nil {
		t.Error("ucast on a missing interface passed")
	}
	if err := Check(&medium.Serial{Device: "/nonexistent/tty"}); err == nil {
		t.Error("missing serial device passed")
	}
	a1 := netip.MustParseAddr("127.0.0.1")
	if err := Check(&medium.Ucast{Bind: a1, Peers: []netip.Addr{a1}}); err != nil {
		t.Errorf("ucast without a device: %v", err)
	}
	l, err := Open([]medium.Medium{&medium.Ucast{Bind: a1, Peers: []netip.Addr{netip.MustParseAddr("127.0.0.2")}}}, func(Packet) time.Duration { return 0 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}
