package frame

import (
	"errors"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hanode/hanode/messages"
)

// A heartbeat names every peer its sender hears (Heartbeat.sessions), and a
// receiver reads only the entry that names itself. Decoding the others
// made a frame's cost grow with the cluster: at 64 nodes a heartbeat
// carries 64 sessions, and decoding them was a quarter of a node's CPU
// (each receiver decodes N entries of N heartbeats a keepalive). OpenFor
// leaves them out of the bytes before decoding, without decoding them.

// The field numbers come from the generated descriptors, so that the
// filter follows a renumbering of the schema instead of silently keeping
// nothing.
var (
	envelopeHeartbeat = fieldNumber(&messages.Envelope{}, "heartbeat")
	heartbeatSessions = fieldNumber(&messages.Heartbeat{}, "sessions")
	sessionNode       = fieldNumber(&messages.PeerSession{}, "node")
)

func fieldNumber(m protoreflect.ProtoMessage, name protoreflect.Name) protowire.Number {
	f := m.ProtoReflect().Descriptor().Fields().ByName(name)
	if f == nil {
		panic("frame: no field " + string(name) + " in " + string(m.ProtoReflect().Descriptor().FullName()))
	}
	return f.Number()
}

var errBadSession = errors.New("malformed session")

// nextField splits off the first field of b: its number and wire type,
// the length of its tag, and the length of the whole field; ok is false
// when b does not start with a well-formed field.
func nextField(b []byte) (num protowire.Number, typ protowire.Type, tag, size int, ok bool) {
	num, typ, tag = protowire.ConsumeTag(b)
	if tag < 0 {
		return 0, 0, 0, 0, false
	}
	n := protowire.ConsumeFieldValue(num, typ, b[tag:])
	if n < 0 {
		return 0, 0, 0, 0, false
	}
	return num, typ, tag, tag + n, true
}

// keepSessionsOf returns the serialized Envelope env without the heartbeat
// sessions that do not name local. Decoding the result gives what decoding
// env gives, less those sessions; it fails where decoding env would fail
// because of them (malformed bytes, a node name that is not UTF-8), and
// otherwise leaves malformed input for the decoder to refuse. env itself
// is returned when it carries no heartbeat.
func keepSessionsOf(env []byte, local string) ([]byte, error) {
	var out []byte
	copied := 0 // bytes of env already in out
	for at := 0; at < len(env); {
		num, typ, tag, size, ok := nextField(env[at:])
		if !ok {
			return env, nil // malformed: the decoder says so
		}
		if num == envelopeHeartbeat && typ == protowire.BytesType {
			value, _ := protowire.ConsumeBytes(env[at+tag : at+size])
			hb, err := keepHeartbeatSessions(value, local)
			if err != nil {
				return nil, err
			}
			if out == nil {
				// The field's place is taken by its filtered self.
				out = make([]byte, 0, len(env)-size+tag+protowire.SizeBytes(len(hb)))
			}
			out = append(out, env[copied:at]...)
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendBytes(out, hb)
			copied = at + size
		}
		at += size
	}
	if out == nil {
		return env, nil
	}
	return append(out, env[copied:]...), nil
}

// keepHeartbeatSessions returns the serialized Heartbeat hb without the
// sessions that do not name local; every session is checked as the
// decoder would check it, kept or not.
func keepHeartbeatSessions(hb []byte, local string) ([]byte, error) {
	out := make([]byte, 0, 64)
	for rest := hb; len(rest) > 0; {
		num, typ, tag, size, ok := nextField(rest)
		if !ok {
			return nil, errBadSession
		}
		field := rest[:size]
		rest = rest[size:]
		if num != heartbeatSessions || typ != protowire.BytesType {
			out = append(out, field...)
			continue
		}
		session, _ := protowire.ConsumeBytes(field[tag:])
		node, err := sessionNodeOf(session)
		if err != nil {
			return nil, err
		}
		if string(node) == local {
			out = append(out, field...)
		}
	}
	return out, nil
}

// sessionNodeOf returns the node a serialized PeerSession names (the last
// occurrence wins, as in decoding), checking the whole session's encoding
// and every occurrence's UTF-8 as decoding would.
func sessionNodeOf(s []byte) ([]byte, error) {
	var node []byte
	for len(s) > 0 {
		num, typ, tag, size, ok := nextField(s)
		if !ok {
			return nil, errBadSession
		}
		if num == sessionNode && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(s[tag:size])
			if !utf8.Valid(v) {
				return nil, errBadSession
			}
			node = v
		}
		s = s[size:]
	}
	return node, nil
}
