package frame

import (
	"bytes"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hanode/hanode/messages"
)

// A node that reads its socket behind (a flood, a stall, a storm of
// retransmissions) would otherwise verify and handle every frame waiting
// there, the oldest first, and answer seconds-old news: its
// acknowledgements go out stale, its peers stop counting it, and the
// retransmissions that follow make it later still. A heartbeat whose
// sender has sent newer ones since carries nothing the node can use; the
// reader leaves such frames out at the cost of a look at the bytes
// instead of a MAC and a decode. Peek is that look.

var (
	frameEnvelope      = fieldNumber(&messages.Frame{}, "envelope")
	envelopeSender     = fieldNumber(&messages.Envelope{}, "sender")
	envelopeGeneration = fieldNumber(&messages.Envelope{}, "generation")
	envelopeMessage    = fieldNumber(&messages.Envelope{}, "message")
	// envelopeRepairs are the bodies that ask for or refuse
	// retransmissions.
	envelopeRepairs = map[protowire.Number]bool{
		fieldNumber(&messages.Envelope{}, "retransmit_request"):  true,
		fieldNumber(&messages.Envelope{}, "retransmit_requests"): true,
		fieldNumber(&messages.Envelope{}, "retransmit_nak"):      true,
	}
	heartbeatStatus = fieldNumber(&messages.Heartbeat{}, "status")
	messageSequence = fieldNumber(&messages.ClusterMessage{}, "message_sequence")
	// envelopeBodies are the field numbers of Envelope's body oneof.
	envelopeBodies = func() map[protowire.Number]bool {
		fields := (&messages.Envelope{}).ProtoReflect().Descriptor().Oneofs().ByName("body").Fields()
		m := make(map[protowire.Number]bool, fields.Len())
		for i := range fields.Len() {
			m[fields.Get(i).Number()] = true
		}
		return m
	}()
)

// Glance is what Peek reads of a frame.
type Glance struct {
	// Sender and Generation are the envelope's (Sender is a slice of the
	// frame's bytes).
	Sender     []byte
	Generation uint64
	// Heartbeat: the body is a heartbeat, with Status.
	Heartbeat bool
	Status    messages.NodeStatus
	// Message: the body is a cluster message, numbered MessageSequence.
	Message         bool
	MessageSequence uint64
	// Repair: the body asks for retransmissions or refuses them
	// (retransmit_request, retransmit_requests, retransmit_nak).
	Repair bool
}

// Peek reads b as a frame without verifying its MAC or decoding it. The
// answer is unauthenticated: it is only good for deciding to leave a frame
// out, which a forger gains nothing from. It is conservative: ok is true
// only for a well-formed frame with one envelope that names its sender and
// generation once and has exactly one body, and whose heartbeat status or
// message number appears at most once; anything else is left to Open.
// When ok, a frame that Open accepts decodes to what the Glance says.
func Peek(b []byte) (g Glance, ok bool) {
	if len(b) <= len(Prefix) || len(b) > MaxSize || !bytes.Equal(b[:len(Prefix)], Prefix) {
		return g, false
	}
	env, ok := onlyBytesField(b[len(Prefix):], frameEnvelope)
	if !ok {
		return g, false
	}
	var body []byte
	var bodyNum protowire.Number
	var senders, generations, bodies int
	for rest := env; len(rest) > 0; {
		num, typ, tag, size, ok := nextField(rest)
		if !ok {
			return g, false
		}
		value := rest[tag:size]
		rest = rest[size:]
		switch {
		case num == envelopeSender:
			senders++
			if typ != protowire.BytesType {
				return g, false
			}
			g.Sender, _ = protowire.ConsumeBytes(value)
		case num == envelopeGeneration:
			generations++
			if typ != protowire.VarintType {
				return g, false
			}
			g.Generation, _ = protowire.ConsumeVarint(value)
		case envelopeBodies[num]:
			bodies++
			if typ != protowire.BytesType {
				return g, false
			}
			body, _ = protowire.ConsumeBytes(value)
			bodyNum = num
		}
	}
	if senders != 1 || generations != 1 || bodies != 1 {
		return g, false
	}
	switch bodyNum {
	case envelopeHeartbeat:
		v, ok := onlyVarintField(body, heartbeatStatus)
		if !ok {
			return g, false
		}
		g.Heartbeat, g.Status = true, messages.NodeStatus(int32(v)) // as the decoder reads an enum
	case envelopeMessage:
		v, ok := onlyVarintField(body, messageSequence)
		if !ok {
			return g, false
		}
		g.Message, g.MessageSequence = true, v
	default:
		g.Repair = envelopeRepairs[bodyNum]
	}
	return g, true
}

// onlyBytesField returns the value of field num of the serialized message
// m when m is well formed and has that field exactly once, as bytes.
func onlyBytesField(m []byte, num protowire.Number) (value []byte, ok bool) {
	found := false
	for len(m) > 0 {
		n, typ, tag, size, ok := nextField(m)
		if !ok {
			return nil, false
		}
		if n == num {
			if found || typ != protowire.BytesType {
				return nil, false
			}
			found = true
			value, _ = protowire.ConsumeBytes(m[tag:size])
		}
		m = m[size:]
	}
	return value, found
}

// onlyVarintField returns the value of field num of the serialized message
// m (0 when absent) when m is well formed and has that field at most once,
// as a varint.
func onlyVarintField(m []byte, num protowire.Number) (value uint64, ok bool) {
	found := false
	for len(m) > 0 {
		n, typ, tag, size, ok := nextField(m)
		if !ok {
			return 0, false
		}
		if n == num {
			if found || typ != protowire.VarintType {
				return 0, false
			}
			found = true
			value, _ = protowire.ConsumeVarint(m[tag:size])
		}
		m = m[size:]
	}
	return value, true
}
