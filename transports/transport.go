// Package transports moves frames between nodes over the heartbeat media:
// UDP broadcast, unicast and multicast, and serial lines.
//
// A Link owns the sockets of its media (one interface: see media.go) or a
// serial device. It knows nothing of keys or membership: it sends byte
// slices to every destination of every medium and hands every datagram it
// receives to a callback, from reader goroutines of its own (one call at a
// time). The link actor (package actors) is the only user of a Link.
package transports

import (
	"net/netip"
	"time"
)

// Packet is one datagram (or serial frame) received on a link.
type Packet struct {
	// Data is owned by the receiver of the Packet.
	Data []byte
	// From is the sender's address; zero for serial links.
	From netip.AddrPort
	// At is when the packet arrived: on a UDP medium the kernel's receive
	// time (it may have waited in the socket before it was read), else
	// when it was read, as close to the I/O as possible. It carries a
	// monotonic clock reading, as time.Now() does (see rxmsg.go).
	At time.Time
}

// Deliver receives packets. It is called from the link's reader goroutine,
// never concurrently with itself, and must not block for long. It returns
// how long the reader pauses before it reads on (0: at once): the packets
// that arrive meanwhile wait in the socket, or the device, and are read
// together once the pause ends, so that a busy link wakes the process once
// a pause rather than once a packet (actors.ReadCoalesce). A UDP link's
// reader pauses without being woken by what arrives (see pacedsocket.go).
type Deliver func(Packet) (pause time.Duration)

// ReadError reports a failed read that the reader survived (the link keeps
// reading). Called from the reader goroutine.
type ReadError func(error)

// Link is an open heartbeat medium.
type Link interface {
	// Send transmits b to every peer of the medium. It returns the first
	// error after trying every peer. Send is called from one goroutine at a
	// time (the link actor).
	Send(b []byte) error
	// Close stops the reader goroutine and releases the socket. After Close
	// returns, Deliver is not called again.
	Close() error
}

// maxDatagram is the largest UDP payload read.
const maxDatagram = 65535
