package transports

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/demo"
)

// freePort finds a UDP port free on 127.0.0.1 and 127.0.0.2.
func freePort(t *testing.T) uint16 {
	t.Helper()
	port, err := demo.FreeUDPPort(2)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(port)
}

func TestUcastBetweenTwoLoopbackAddresses(t *testing.T) {
	port := freePort(t)
	a1, a2 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	got := make(chan Packet, 10)
	// Both nodes share one peer list, as they would share one ha.cf.
	peers := []netip.Addr{a1, a2}
	la, err := OpenUcast(UcastConfig{Bind: a1, Port: port, Peers: peers}, func(p Packet) time.Duration { return 0 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	lb, err := OpenUcast(UcastConfig{Bind: a2, Port: port, Peers: peers}, func(p Packet) time.Duration { got <- p; return 0 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ps := la.Peers(); len(ps) != 1 || ps[0].Addr() != a2 {
		t.Fatalf("own address not skipped: peers %v", ps)
	}
	before := time.Now()
	if err := la.Send([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if string(p.Data) != "hello" || p.From != netip.AddrPortFrom(a1, port) || p.At.Before(before) {
			t.Fatalf("received %q from %v at %v", p.Data, p.From, p.At)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received within 5s")
	}
	if err := lb.Close(); err != nil {
		t.Fatal(err)
	}
	// After Close the reader is gone: nothing more is delivered.
	la.Send([]byte("late"))
	select {
	case p := <-got:
		t.Fatalf("delivered after Close: %q", p.Data)
	case <-time.After(50 * time.Millisecond):
	}
	if err := lb.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestUcastBindToMissingDeviceFails(t *testing.T) {
	_, err := OpenUcast(UcastConfig{Dev: "nosuchdev0", Port: 0, Peers: []netip.Addr{netip.MustParseAddr("127.0.0.9")}}, func(Packet) time.Duration { return 0 }, nil)
	if err == nil {
		t.Fatal("binding to a missing device succeeded")
	}
}

func TestSelfPeersUsesLocalInterfaces(t *testing.T) {
	self, err := SelfPeers(UcastConfig{Peers: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.201.254.254")}})
	if err != nil {
		t.Fatal(err)
	}
	if !self[netip.MustParseAddr("127.0.0.1")] || self[netip.MustParseAddr("10.201.254.254")] {
		t.Fatalf("self peers %v", self)
	}
}

func TestBroadcastAddr(t *testing.T) {
	if _, err := BroadcastAddr("lo"); !errors.Is(err, ErrNoBroadcast) {
		t.Fatalf("lo: %v, want ErrNoBroadcast", err)
	}
	if _, err := BroadcastAddr("nosuchdev0"); err == nil {
		t.Fatal("missing interface accepted")
	}
	if _, err := OpenBcast(BcastConfig{Dev: "lo", Port: 0}, func(Packet) time.Duration { return 0 }, nil); err == nil || !strings.Contains(err.Error(), "bcast lo: lo does not broadcast") {
		t.Fatalf("bcast on lo: %v", err)
	}
}
