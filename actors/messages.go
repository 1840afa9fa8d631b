// Package actors holds hanode's actors: thin shells around the pure logic
// of other packages (membership, transports, control), supervised by the
// node's root actor (package node).
//
// Messages between actors inside one process are the plain Go types of this
// file (pointers, immutable after send) and the protobuf messages of package
// messages (membership events, envelopes, status). Each type says who sends
// it and who receives it.
package actors

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/messages"
)

// SendFrame asks a link actor to transmit a sealed frame to every peer of
// its medium. Sent by the heartbeat actor. When sent as a
// request, the link answers *FrameSent.
type SendFrame struct {
	Data []byte
	// Backlog, when set, holds len(Data) places the sender took for this
	// frame: the link gives them back as it takes the frame in hand.
	Backlog *Gate
	// Newest, when set, is the frame sequence of the newest heartbeat
	// handed to this link, and Sequence is this frame's: a heartbeat that
	// a newer one follows in the link's queue is not sent. A link behind
	// (a broadcast to many peers costs the sender their receipt, on a
	// machine overloaded) would otherwise send every stale heartbeat,
	// each as costly as the newest and worth nothing.
	Newest   *atomic.Uint64
	Sequence uint64
}

func (m *SendFrame) TraceSummary() string { return fmt.Sprintf("%d bytes", len(m.Data)) }

// FrameSent answers a SendFrame request.
type FrameSent struct {
	Err error
	// Superseded: not sent, a newer heartbeat follows it (Newest).
	Superseded bool
	// Sequence is the request's SendFrame.Sequence: which heartbeat this
	// answers (0 for other frames).
	Sequence uint64
}

// FrameReceived carries an authenticated envelope from a link actor to the
// membership actor.
type FrameReceived struct {
	Link     string
	Envelope *messages.Envelope
	From     netip.AddrPort
	// At is when the datagram arrived (transports.Packet.At).
	At time.Time
	// Size is the datagram's length, as taken in the inbound gates.
	Size int
}

func (m *FrameReceived) TraceSummary() string {
	e := m.Envelope
	return fmt.Sprintf("%s from %s gen %d seq %d via %s", bodyName(e), e.GetSender(), e.GetGeneration(), e.GetSequence(), m.Link)
}

func bodyName(e *messages.Envelope) string {
	switch b := e.GetBody().(type) {
	case *messages.Envelope_Heartbeat:
		return "heartbeat " + b.Heartbeat.GetStatus().String()
	case *messages.Envelope_Message:
		return fmt.Sprintf("cluster message %d", b.Message.GetMessageSequence())
	case *messages.Envelope_RetransmitRequest:
		r := b.RetransmitRequest
		return fmt.Sprintf("retransmit request to %s for %d..%d", r.GetDestination(), r.GetFirst(), r.GetLast())
	case *messages.Envelope_RetransmitRequests:
		return fmt.Sprintf("%d retransmit requests", len(b.RetransmitRequests.GetRequests()))
	case *messages.Envelope_RetransmitNak:
		n := b.RetransmitNak
		return fmt.Sprintf("retransmit nak to %s for %d..%d", n.GetDestination(), n.GetFirst(), n.GetLast())
	}
	return "frame"
}

// FrameRejected tells the membership actor (which keeps the counters) that
// a link dropped a datagram, and why.
type FrameRejected struct {
	Link   string
	Reason string // frame.Reason, or a membership.Verdict
	From   netip.AddrPort
	Detail string
	// Size is the datagram's length, as taken in the inbound gates.
	Size int
}

// LinkChanged tells the membership actor that one of this node's own links
// opened, failed or recovered. Sent by link actors.
type LinkChanged struct {
	Link   string
	Up     bool
	Detail string
}

// Subscribe asks a publishing actor to send what it publishes to PID from
// now on: the membership actor every *messages.MembershipEvent, the
// messenger every peer's cluster message (*ClusterDelivered), once and in
// order. A subscriber ignores what does not concern it.
type Subscribe struct {
	PID *actor.PID
}

// Subscribed answers a Subscribe sent as a request: the subscription is in
// place.
type Subscribed struct{}

// StatusQuery asks for the node's *messages.ClusterStatus. Sent as a
// request (by the control actor, tests) to the node actor, which forwards
// it to the membership actor.
type StatusQuery struct{}

// ParameterQuery asks the node actor for a Heartbeat parameter; it answers
// *messages.ParameterResponse.
type ParameterQuery struct {
	Name string
}

// Shutdown asks the node actor to announce a clean stop to its peers (a
// last heartbeat saying DEAD on every link). It answers *ShutdownDone when
// the frames are sent; the caller then stops the actor. With resource
// groups, it first stops them and lets the peers take them over, waiting
// at most Timeout.
type Shutdown struct {
	Timeout time.Duration
}

// ShutdownDone answers Shutdown.
type ShutdownDone struct{}

// EventsQuery asks the node actor for the event timeline; it answers
// *messages.EventsResponse.
type EventsQuery struct {
	Limit int
}
