// Package announce sends gratuitous ARP for an IPv4 address this host
// holds, and unsolicited neighbour advertisements for an IPv6 one (see
// Advertise), so that the machines of its network (clients, routers,
// switches) point their neighbour caches and forwarding tables at this
// host again.
//
// Why hanode does it itself: when a resource group briefly ran on two nodes
// (a false failure detection, a healed partition), the clients of its
// virtual address may have learnt the MAC of the node that gives the group
// up. The node that keeps the group must take those clients back, but
// Debian's IPaddr2 cannot do it for us: its start on an address the
// interface already holds exits early, without sending any ARP. So hanode
// re-announces the address natively, once the other node has let it go.
//
// Each round sends the two forms that `arping -U` and `arping -A` send, as
// IPaddr2's send_arp does: an ARP request (target MAC broadcast) and an ARP
// reply (target MAC = sender MAC), both from the interface's MAC to the
// Ethernet broadcast address, with sender IP = target IP = the address.
// What Linux receivers do with them (checked on Linux 6.18 in this
// package's tests and by hand):
//
//   - Either form is taken as gratuitous (a reply only because its target
//     MAC equals its sender MAC), and then replaces the MAC of an existing
//     neighbour entry at once (REACHABLE, STALE, DELAY...: the entry becomes
//     STALE with the new MAC), whatever net.ipv4.neigh.IF.locktime says and
//     with net.ipv4.conf.IF.arp_accept at its default 0.
//   - Ordinary ARP (a reply to someone, a reply whose target MAC differs)
//     replaces an entry only once locktime (default 100, in 1/100 s: one
//     second) has passed since the entry last changed; the first answer
//     wins within that second.
//   - No entry is created for a host that has none, unless arp_accept is 1
//     (harmless: such a client asks when it needs to). PERMANENT (static)
//     entries never change, and a receiver with
//     net.ipv4.conf.IF.drop_gratuitous_arp set ignores all of this.
//
// Kernels before 4.13 (2017) applied locktime to gratuitous ARP too unless
// arp_accept was set, and other systems differ: callers should announce
// more than once, over more than a second (see Gratuitous).
package announce

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
)

// ErrNotHeld is wrapped by the errors of Gratuitous when no interface of
// this host (of the calling thread's network namespace) holds the address,
// or when it stopped holding it between two rounds.
var ErrNotHeld = errors.New("address not held by this host")

// sendTimeout bounds each write to the packet socket.
const sendTimeout = 2 * time.Second

// Holds says which interface of this host holds addr, if any: the first
// one, in interface index order, with addr among its addresses. IPv4
// addresses written as IPv4-mapped IPv6 count as IPv4. A zone, if addr has
// one, must name the interface. It sees the network namespace of the
// calling thread.
func Holds(addr netip.Addr) (ifname string, ok bool, err error) {
	if !addr.IsValid() {
		return "", false, errors.New("holds: invalid address")
	}
	ifi, err := holder(addr)
	if err != nil || ifi == nil {
		return "", false, err
	}
	return ifi.Name, true, nil
}

// holder is the first interface holding addr, nil when none does.
func holder(addr netip.Addr) (*net.Interface, error) {
	zone := addr.Zone()
	addr = addr.Unmap().WithZone("")
	ifis, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("holds %s: list interfaces: %w", addr, err)
	}
	for i := range ifis {
		ifi := &ifis[i]
		if zone != "" && ifi.Name != zone {
			continue
		}
		has, err := hasAddr(ifi, addr)
		if err != nil {
			return nil, fmt.Errorf("holds %s: %w", addr, err)
		}
		if has {
			return ifi, nil
		}
	}
	return nil, nil
}

// hasAddr says whether ifi holds addr (unmapped, without zone).
func hasAddr(ifi *net.Interface, addr netip.Addr) (bool, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return false, fmt.Errorf("addresses of %s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == addr {
			return true, nil
		}
	}
	return false, nil
}

// checkArgs validates Gratuitous's arguments before any system call.
func checkArgs(addr netip.Addr, count int, interval time.Duration) (netip.Addr, error) {
	if !addr.IsValid() {
		return addr, errors.New("gratuitous ARP: invalid address")
	}
	if a := addr.Unmap(); a.Is4() && a.Zone() == "" {
		addr = a
	} else {
		return addr, fmt.Errorf("gratuitous ARP for %s: not an IPv4 address", addr)
	}
	if addr.IsUnspecified() || addr.IsLoopback() || addr.IsMulticast() || addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return addr, fmt.Errorf("gratuitous ARP for %s: not a unicast address", addr)
	}
	if count < 1 {
		return addr, fmt.Errorf("gratuitous ARP for %s: count %d: at least 1", addr, count)
	}
	if interval < 0 {
		return addr, fmt.Errorf("gratuitous ARP for %s: negative interval %v", addr, interval)
	}
	return addr, nil
}

// checkInterface says why ifi, which holds addr, cannot announce it
// ("ADDR: why", for the caller to prefix with what it sends).
func checkInterface(ifi *net.Interface, addr netip.Addr) error {
	switch {
	case ifi.Flags&net.FlagLoopback != 0:
		return fmt.Errorf("%s: held by %s, a loopback interface", addr, ifi.Name)
	case len(ifi.HardwareAddr) != 6:
		return fmt.Errorf("%s: %s has no Ethernet hardware address (%q)", addr, ifi.Name, ifi.HardwareAddr.String())
	case ifi.Flags&net.FlagUp == 0:
		return fmt.Errorf("%s: %s is down", addr, ifi.Name)
	}
	return nil
}

// dropAll is a socket filter that keeps nothing: the socket only sends, so
// the ARP traffic of the network never queues up on it.
var dropAll = func() []bpf.RawInstruction {
	raw, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		panic(err)
	}
	return raw
}()

// Gratuitous announces addr, an IPv4 address held by one of this host's
// interfaces, on that interface: count rounds, interval apart, each an ARP
// request and an ARP reply (see the package comment). ctx cancels between
// rounds. It needs CAP_NET_RAW, and works in the network namespace of the
// calling thread.
//
// It fails at once, before sending anything, when addr is not IPv4
// unicast, when no interface holds it (errors.Is(err, ErrNotHeld)) or when
// that interface is a loopback, down, or has no Ethernet address. Before
// each later round it checks that the interface still holds addr, and
// stops with ErrNotHeld when it does not: a node must never announce an
// address it gave up. A cancelled ctx gives an error that wraps ctx.Err().
//
// Call it once the other node has removed the address (its announcements,
// or its answers to clients' ARP requests, would otherwise undo these).
// Several rounds spanning more than the one-second default locktime, say 3
// rounds 1s apart (or IPaddr2's 5 at 200ms followed by another round after
// a second), cover lost frames, receivers that apply locktime to
// gratuitous ARP, and a late announcement from the other node.
func Gratuitous(ctx context.Context, addr netip.Addr, count int, interval time.Duration) error {
	return gratuitous(ctx, "", addr, count, interval)
}

// GratuitousOn is Gratuitous on the interface ifname, which must hold
// addr: the interface a resource put the address on, whatever other
// interface holds it too (a loopback one, in LVS direct routing).
func GratuitousOn(ctx context.Context, ifname string, addr netip.Addr, count int, interval time.Duration) error {
	if ifname == "" {
		return fmt.Errorf("gratuitous ARP for %s: no interface named", addr)
	}
	return gratuitous(ctx, ifname, addr, count, interval)
}

// Address announces addr on the interface that holds it: Gratuitous for
// IPv4, Advertise for IPv6.
func Address(ctx context.Context, addr netip.Addr, count int, interval time.Duration) error {
	if addr.Unmap().Is4() {
		return Gratuitous(ctx, addr, count, interval)
	}
	return Advertise(ctx, "", addr, count, interval)
}

// announcer finds the interface of an announcement: ifname, which must
// hold addr, or ("") the first interface that holds it.
func announcer(ifname string, addr netip.Addr) (*net.Interface, error) {
	if ifname == "" {
		return holder(addr)
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", ifname, err)
	}
	held, err := hasAddr(ifi, addr)
	if err != nil || !held {
		return nil, err
	}
	return ifi, nil
}

// gratuitous is Gratuitous on ifname ("": the first holder).
func gratuitous(ctx context.Context, ifname string, addr netip.Addr, count int, interval time.Duration) error {
	addr, err := checkArgs(addr, count, interval)
	if err != nil {
		return err
	}
	ifi, err := announcer(ifname, addr)
	if err != nil {
		return fmt.Errorf("gratuitous ARP: %w", err)
	}
	if ifi == nil {
		if ifname != "" {
			return fmt.Errorf("gratuitous ARP for %s: %w on %s", addr, ErrNotHeld, ifname)
		}
		return fmt.Errorf("gratuitous ARP for %s: %w", addr, ErrNotHeld)
	}
	if err := checkInterface(ifi, addr); err != nil {
		return fmt.Errorf("gratuitous ARP for %w", err)
	}
	where := fmt.Sprintf("gratuitous ARP for %s on %s", addr, ifi.Name)

	conn, err := packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeARP), &packet.Config{Filter: dropAll})
	if err != nil {
		return fmt.Errorf("%s: open packet socket: %w", where, err)
	}
	c, err := arp.New(ifi, conn)
	if err != nil {
		go conn.Close()
		return fmt.Errorf("%s: %w", where, err)
	}
	// Closed in the background: the kernel waits for an RCU grace period
	// when a packet socket is closed (synchronize_net, 5 to 15ms here),
	// time a start that announces should not wait.
	defer func() { go c.Close() }()

	mac := ifi.HardwareAddr
	// The request as arping -U sends it (target MAC broadcast), the reply
	// as arping -A does (target MAC = sender MAC, which Linux requires to
	// take a reply as gratuitous).
	request, err := arp.NewPacket(arp.OperationRequest, mac, addr, ethernet.Broadcast, addr)
	if err != nil {
		return fmt.Errorf("%s: ARP request: %w", where, err)
	}
	reply, err := arp.NewPacket(arp.OperationReply, mac, addr, mac, addr)
	if err != nil {
		return fmt.Errorf("%s: ARP reply: %w", where, err)
	}

	return rounds(ctx, where, ifi, addr, count, interval, func() error {
		if err := c.SetWriteDeadline(time.Now().Add(sendTimeout)); err != nil {
			return err
		}
		if err := c.WriteTo(request, ethernet.Broadcast); err != nil {
			return fmt.Errorf("send ARP request: %w", err)
		}
		if err := c.WriteTo(reply, ethernet.Broadcast); err != nil {
			return fmt.Errorf("send ARP reply: %w", err)
		}
		return nil
	})
}

// rounds sends count rounds interval apart, checking before each later
// round that ifi still holds addr.
func rounds(ctx context.Context, where string, ifi *net.Interface, addr netip.Addr, count int, interval time.Duration, send func() error) error {
	for round := 1; round <= count; round++ {
		if round == 1 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("%s: not started: %w", where, err)
			}
		} else {
			if err := wait(ctx, interval); err != nil {
				return fmt.Errorf("%s: stopped after %d of %d rounds: %w", where, round-1, count, err)
			}
			held, err := hasAddr(ifi, addr)
			if err != nil {
				return fmt.Errorf("%s: round %d: %w", where, round, err)
			}
			if !held {
				return fmt.Errorf("%s: round %d: %w any more", where, round, ErrNotHeld)
			}
		}
		if err := send(); err != nil {
			return fmt.Errorf("%s: round %d: %w", where, round, err)
		}
		roundSent(round)
	}
	return nil
}

// roundSent is called after each round is sent; tests replace it.
var roundSent = func(round int) {}

// wait waits d, or until ctx is done.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
