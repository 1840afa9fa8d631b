// Package medium holds the heartbeat media as typed values: a broadcast,
// a unicast, a multicast medium or a serial line, each with its addresses
// parsed and its port and speed resolved.
//
// Contract:
//
//   - a value is built once, by the configuration's resolver
//     (node/config), from a medium it has validated: its addresses are
//     parsed, IPv4 or IPv6 (never IPv4-mapped; a link-local IPv6 peer
//     carries its interface as its zone, fe80::2%eth0, and no other
//     address has a zone), a Group is a multicast group (IPv4 for bcast's
//     companion mcast, IPv6 for mcast6), its Port is 1..65535 and its
//     Baud a supported speed. Nothing downstream parses or validates a
//     medium again;
//   - Kind names the medium as a configuration does ("bcast", "mcast",
//     "ucast", "serial"), and String describes it for an operator, as
//     `hanode check` prints it; neither changes with the host;
//   - transports opens and checks the values (transports.Open,
//     transports.Check): they describe what to open, and own nothing.
//
// Why a package of its own: the resolver builds the values and transports
// opens them, and neither should depend on the other (the configuration
// would otherwise link the serial driver and the sockets; transports would
// need the configuration and its protobuf messages). Both import this leaf
// package, which imports only the standard library.
package medium

import (
	"fmt"
	"net/netip"
	"strings"
)

// Medium is one way frames travel over a link: *Bcast, *Mcast, *Ucast or
// *Serial. The pointer types implement it so that a type switch names
// them one way.
type Medium interface {
	// Kind is "bcast", "mcast", "ucast" or "serial".
	Kind() string
	// String describes the medium: where frames go and on which port.
	String() string
	// Iface is the medium's network interface: "" for a serial line and
	// for unicast not tied to an interface.
	Iface() string
}

// Bcast is UDP broadcast on an interface (Heartbeat `bcast dev`).
type Bcast struct {
	// Dev is the interface: the socket is bound to it and frames go to
	// its IPv4 broadcast address.
	Dev  string
	Port uint16
}

// Mcast is multicast to a group on an interface: IPv4 (Heartbeat
// `mcast dev group port ttl loop`) or IPv6 (`mcast6 dev group port hops
// loop`).
type Mcast struct {
	Dev   string
	Group netip.Addr
	Port  uint16
	// TTL is the time to live of IPv4 datagrams, the hop limit of IPv6
	// ones (IPV6_MULTICAST_HOPS).
	TTL int
	// Loop makes this host receive its own frames (Heartbeat advises 0).
	Loop bool
}

// Ucast is UDP unicast to a list of peers (Heartbeat `ucast dev peer`;
// `ucast6 dev peer` gives IPv6 peers, and one medium may hold both).
type Ucast struct {
	// Dev is the interface the socket is bound to with SO_BINDTODEVICE, as
	// Heartbeat does; empty for no device binding (needs no privilege).
	Dev string
	// Bind is the local address; the zero Addr binds every address.
	Bind netip.Addr
	// Port is the UDP port to listen on and send to.
	Port uint16
	// Peers are the addresses heartbeats are sent to.
	Peers []netip.Addr
}

// Serial is a serial line (Heartbeat `serial /dev/ttyS0`, `baud`). A
// serial link joins two nodes with a null-modem cable; hanode does not
// forward frames around a ring of serial lines as Heartbeat did.
type Serial struct {
	Device string
	Baud   int
}

func (*Bcast) Kind() string  { return "bcast" }
func (*Mcast) Kind() string  { return "mcast" }
func (*Ucast) Kind() string  { return "ucast" }
func (*Serial) Kind() string { return "serial" }

func (m *Bcast) Iface() string  { return m.Dev }
func (m *Mcast) Iface() string  { return m.Dev }
func (m *Ucast) Iface() string  { return m.Dev }
func (m *Serial) Iface() string { return "" }

func (m *Bcast) String() string { return fmt.Sprintf("bcast on %s, port %d", m.Dev, m.Port) }

func (m *Mcast) String() string {
	if m.Group.Is6() {
		return fmt.Sprintf("mcast6 on %s to [%s]:%d hops %d", m.Dev, m.Group, m.Port, m.TTL)
	}
	return fmt.Sprintf("mcast on %s to %s:%d ttl %d", m.Dev, m.Group, m.Port, m.TTL)
}

func (m *Ucast) String() string {
	dev := m.Dev
	if dev == "" {
		dev = "any device"
	}
	bind := ""
	if m.Bind.IsValid() {
		bind = " from " + m.Bind.String()
	}
	return fmt.Sprintf("ucast on %s%s to %s, port %d", dev, bind, JoinAddrs(m.Peers, ", "), m.Port)
}

func (m *Serial) String() string { return fmt.Sprintf("serial %s at %d baud", m.Device, m.Baud) }

// JoinAddrs writes addresses separated by sep.
func JoinAddrs(as []netip.Addr, sep string) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, sep)
}
