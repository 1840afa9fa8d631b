package vip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"

	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/resource"
)

// arpSeen is one ARP packet a capture saw.
type arpSeen struct {
	at  time.Time
	op  arp.Operation
	mac string
}

// arpCapture records, on host h's eth0, the ARP packets whose sender is
// addr, until the test ends.
type arpCapture struct {
	mu   sync.Mutex
	seen []arpSeen
	// ch is told of every packet.
	ch chan struct{}
}

func captureARP(t *testing.T, h *testhosts.Host, addr netip.Addr) *arpCapture {
	t.Helper()
	c := &arpCapture{ch: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	ready := make(chan error, 1)
	t.Cleanup(func() { cancel(); <-done })
	if err := h.InNetns(func() {
		defer close(done)
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			ready <- err
			return
		}
		conn, err := packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeARP), nil)
		if err != nil {
			ready <- err
			return
		}
		defer conn.Close()
		ready <- nil
		buf := make([]byte, 1500)
		for ctx.Err() == nil { // each read waits at most 50ms
			conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				continue
			}
			var f ethernet.Frame
			var p arp.Packet
			if f.UnmarshalBinary(buf[:n]) != nil || p.UnmarshalBinary(f.Payload) != nil || p.SenderIP != addr {
				continue
			}
			c.mu.Lock()
			c.seen = append(c.seen, arpSeen{at: time.Now(), op: p.Operation, mac: p.SenderHardwareAddr.String()})
			c.mu.Unlock()
			select {
			case c.ch <- struct{}{}:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := <-ready; err != nil {
		t.Fatalf("capture on %s: %v", h.Name(), err)
	}
	return c
}

// requests are the ARP requests seen from mac.
func (c *arpCapture) requests(mac string) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, s := range c.seen {
		if s.mac == mac && s.op == arp.OperationRequest {
			out = append(out, s.at)
		}
	}
	return out
}

// waitRequests waits until n requests from mac were seen.
func (c *arpCapture) waitRequests(t *testing.T, mac string, n int, timeout time.Duration) []time.Time {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if got := c.requests(mac); len(got) >= n {
			return got
		}
		select {
		case <-c.ch:
		case <-deadline:
			t.Fatalf("%d gratuitous ARP requests from %s seen in %v, want %d", len(c.requests(mac)), mac, timeout, n)
		}
	}
}

// A failover as clients see it: the start announces at once (the client
// that pointed the address at another MAC follows before start returns
// or right after), repeats in the background, and the next node's start
// takes the client over; stop ends the repeats.
func TestGratuitousARPMovesClient(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 3})
	h1, h2, client := lab.Host(1), lab.Host(2), lab.Host(3)
	mac1, mac2 := macOf(t, h1, "eth0"), macOf(t, h2, "eth0")
	const wrongMAC = "02:00:00:00:00:99"
	// The client takes only gratuitous ARP as news: no entries from
	// unsolicited ARP (arp_accept 0), no ordinary reply may replace an
	// entry for 1000s (locktime).
	sysctl(t, client, "net/ipv4/conf/eth0/arp_accept", "0")
	sysctl(t, client, "net/ipv4/neigh/eth0/locktime", "100000")
	ip(t, client, "neigh", "replace", vip, "lladdr", wrongMAC, "dev", "eth0", "nud", "stale")
	capture := captureARP(t, client, netip.MustParseAddr(vip))

	// Long enough that a start which waited for the repeats could not
	// pass for one that did not, however loaded the machine.
	const interval = time.Second
	n := uint32(3)
	spec := &messages.AddressAgent{Ip: vip, ArpCount: &n, ArpInterval: interval.String()}
	r1 := newOn(t, h1, spec)
	res := run(t, r1, resource.Start, resource.Succeeded)
	returned := time.Now()
	if res.Duration >= 2*interval {
		t.Errorf("start took %v: it waited for the repeated announcements (%v apart)", res.Duration, interval)
	}
	testhosts.WaitFor(t, 5*time.Second, 10*time.Millisecond, "client's entry for "+vip+" on h1's "+mac1, func() (bool, string) {
		got, entry := neighMAC(t, client, vip)
		return got == mac1, entry
	})
	seen := capture.waitRequests(t, mac1, 3, 5*time.Second)
	if seen[0].After(returned.Add(interval / 2)) {
		t.Errorf("first announcement seen %v after start returned", seen[0].Sub(returned))
	}
	for i := 1; i < len(seen); i++ {
		if gap := seen[i].Sub(seen[i-1]); gap < interval/2 {
			t.Errorf("announcements %d and %d %v apart, want about %v", i, i+1, gap, interval)
		}
	}

	// Failover: h1 stops, h2 starts; the client follows h2.
	run(t, r1, resource.Stop, resource.Succeeded)
	r2 := newOn(t, h2, spec)
	run(t, r2, resource.Start, resource.Succeeded)
	testhosts.WaitFor(t, 5*time.Second, 10*time.Millisecond, "client's entry for "+vip+" on h2's "+mac2, func() (bool, string) {
		got, entry := neighMAC(t, client, vip)
		return got == mac2, entry
	})
	run(t, r2, resource.Stop, resource.Succeeded)

	// Stop ends the repeats: many rounds, a stop after the first.
	n = 50
	r3 := newOn(t, h1, &messages.AddressAgent{Ip: vip, ArpCount: &n, ArpInterval: "50ms"})
	before := len(capture.requests(mac1))
	run(t, r3, resource.Start, resource.Succeeded)
	capture.waitRequests(t, mac1, before+2, 5*time.Second)
	run(t, r3, resource.Stop, resource.Succeeded)
	atStop := len(capture.requests(mac1))
	// An absence: watch for four intervals (a round in flight at the
	// stop may land just after it).
	time.Sleep(200 * time.Millisecond)
	if after := len(capture.requests(mac1)); after > atStop+1 || after >= before+50 {
		t.Errorf("%d announcements after stop (%d before it)", after-atStop, atStop-before)
	}
}

// IPv6: unsolicited neighbour advertisements take a client that points
// the address at another MAC over, at start and on failover.
func TestNeighbourAdvertisementMovesClient(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 3})
	h1, h2, client := lab.Host(1), lab.Host(2), lab.Host(3)
	for i, h := range []*testhosts.Host{h1, h2, client} {
		ip(t, h, "addr", "add", fmt.Sprintf("fd00:201::%d/64", i+1), "dev", "eth0", "nodad")
	}
	const v6, wrongMAC = "fd00:201::100", "02:00:00:00:00:99"
	ip(t, client, "-6", "neigh", "replace", v6, "lladdr", wrongMAC, "dev", "eth0", "nud", "stale")
	spec := &messages.AddressAgent{Ip: v6, Nodad: true}
	for _, h := range []*testhosts.Host{h1, h2} {
		mac := macOf(t, h, "eth0")
		r := newOn(t, h, spec)
		run(t, r, resource.Start, resource.Succeeded)
		testhosts.WaitFor(t, 5*time.Second, 10*time.Millisecond, "client's entry for "+v6+" on "+h.Name()+"'s "+mac, func() (bool, string) {
			got, entry := neighMAC(t, client, v6)
			return got == mac, entry
		})
		run(t, r, resource.Stop, resource.Succeeded)
	}
}

// arp_count_refresh: each monitor that finds the address announces it
// again, as IPaddr2's monitor does (clients a split brain misled come
// back); once a refresh is over, the next monitor sends another.
func TestMonitorRefreshesARP(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 2})
	h, client := lab.Host(1), lab.Host(2)
	mac := macOf(t, h, "eth0")
	capture := captureARP(t, client, netip.MustParseAddr(vip))
	one := uint32(1)
	r := newOn(t, h, &messages.AddressAgent{Ip: vip, ArpCount: &one, ArpCountRefresh: 2, ArpInterval: "20ms"})
	run(t, r, resource.Start, resource.Succeeded)
	capture.waitRequests(t, mac, 1, 5*time.Second)
	run(t, r, resource.Monitor, resource.Running)
	capture.waitRequests(t, mac, 3, 5*time.Second)
	// The refresh is over once its goroutine has cleared its state.
	testhosts.WaitFor(t, 5*time.Second, 5*time.Millisecond, "refresh over", func() (bool, string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.bgDone == nil, "still announcing"
	})
	run(t, r, resource.Monitor, resource.Running)
	capture.waitRequests(t, mac, 5, 5*time.Second)
	run(t, r, resource.Stop, resource.Succeeded)
}
