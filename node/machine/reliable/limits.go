package reliable

import (
	"math"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

// Sizes. A stream message travels in one frame on every link, so it must
// fit the smallest: a serial link's frame (SerialFrame) or a UDP datagram
// (UDPFrame), less what sealing adds (FrameOverhead). Config.MaxMessage
// says what fits; larger messages are sent in fragments, up to
// MaxFragments of them and MaxMessageSize in all.
const (
	// MaxFragments bounds the fragments of one message, well inside the
	// sender's history and the receiver's window (500 each by default).
	MaxFragments = 128
	// MaxMessageSize bounds one message as encoded, whatever the links: it
	// bounds the memory a receiver spends joining a peer's fragments.
	MaxMessageSize = 1 << 20
	// SerialFrame is the largest frame a serial link carries
	// (transports.MaxSerialPayload), the smallest of hanode's links.
	SerialFrame = 2048
	// UDPFrame is the largest frame a UDP link carries
	// (transports/frame.MaxSize; a test holds them equal, so that this
	// pure package does not import the codec).
	UDPFrame = 65507
	// UDPStreamFrame is the frame cluster messages are cut to on UDP
	// (node.StreamFrameCapacity): six IP fragments at an MTU of 1500.
	// A datagram travels in fragments and is lost when any of them is: a
	// 64 KB one is 45, and at 96 nodes on one machine, where a broadcast
	// of one is 45 packets to each of 95 hosts at once, fragments
	// overflowed the kernel's queues, the remains of the datagrams they
	// belonged to filled every host's fragment memory (4 MiB, kept 30 s),
	// and from then on 99% of fragmented datagrams failed to reassemble:
	// the cluster messages they carried were asked for and resent
	// forever. Frames of one unfragmented datagram (1452 bytes) cut a
	// full state into so many stream messages that the 500-message
	// history turned over faster than losses were repaired; 8 KiB keeps
	// a full state in a few.
	UDPStreamFrame = 8192
	// MaxNameLength is the longest cluster or node name the configuration
	// accepts.
	MaxNameLength = 253
	// EnvelopeReserve is room left in every frame for envelope fields that
	// FrameOverhead does not count (added after it was written): a new
	// header field of up to this many bytes keeps every frame sealable.
	EnvelopeReserve = 64
	// maxMAC bounds a frame's MAC: HMAC-SHA256 takes 32 bytes, the
	// other methods less.
	maxMAC = 64
)

// DefaultMaxMessage is the MaxMessage of a cluster with a serial link and
// the longest names: it fits in one frame of any link.
var DefaultMaxMessage = MessageCapacity(SerialFrame, strings.Repeat("c", MaxNameLength), strings.Repeat("n", MaxNameLength))

// FrameOverhead bounds what sealing adds to a stream message in a frame
// sent by node sender of cluster: the envelope's header at its largest
// (numbers of 10 bytes), the message's tag and length, the frame's prefix,
// key id and MAC, and EnvelopeReserve.
func FrameOverhead(cluster, sender string) int {
	header := proto.Size(&messages.Envelope{
		Cluster: cluster, Sender: sender,
		Generation: math.MaxUint64, Sequence: math.MaxUint64, SendTimeUnixNano: math.MinInt64,
	})
	const (
		body = 1 + 3 // tag and length (below 2 MiB) of the envelope's message
		// prefix; envelope bytes' tag and length; key id; MAC's tag,
		// length and bytes.
		sealing = 3 + (1 + 3) + (1 + 5) + (1 + 1 + maxMAC)
	)
	return header + body + sealing + EnvelopeReserve
}

// MessageCapacity is the largest stream message (MaxMessage) that one
// frame of frameCapacity bytes carries, for node sender of cluster.
func MessageCapacity(frameCapacity int, cluster, sender string) int {
	return frameCapacity - FrameOverhead(cluster, sender)
}
