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

// keepSessionsOf returns the serialized Envelope env without the heartbeat
// sessions that do not name local. Decoding the result gives what decoding
// env gives, less those sessions; it fails where decoding env would fail
// because of them (malformed bytes, a node name that is not UTF-8), and
// otherwise leaves malformed input for the decoder to refuse. env itself
// is returned when it carries no heartbeat.
func keepSessionsOf(env []byte, local string) ([]byte, error) {
	var out []byte
	rest := env
	copied := 0 // bytes of env already in out (or, while out is nil, skipped)
	for len(rest) > 0 {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return env, nil // malformed: the decoder says so
		}
		m := protowire.ConsumeFieldValue(num, typ, rest[n:])
		if m < 0 {
			return env, nil
		}
		at := len(env) - len(rest)
		if num == envelopeHeartbeat && typ == protowire.BytesType {
			value, _ := protowire.ConsumeBytes(rest[n:])
			hb, err := keepHeartbeatSessions(value, local)
			if err != nil {
				return nil, err
			}
			if out == nil {
				out = make([]byte, 0, at+len(hb)+len(env)-(at+n+m)+protowire.SizeVarint(uint64(len(hb))))
			}
			out = append(out, env[copied:at]...)
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendBytes(out, hb)
			copied = at + n + m
		}
		rest = rest[n+m:]
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
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return nil, errBadSession
		}
		m := protowire.ConsumeFieldValue(num, typ, rest[n:])
		if m < 0 {
			return nil, errBadSession
		}
		field := rest[:n+m]
		rest = rest[n+m:]
		if num != heartbeatSessions || typ != protowire.BytesType {
			out = append(out, field...)
			continue
		}
		session, _ := protowire.ConsumeBytes(field[n:])
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
		num, typ, n := protowire.ConsumeTag(s)
		if n < 0 {
			return nil, errBadSession
		}
		m := protowire.ConsumeFieldValue(num, typ, s[n:])
		if m < 0 {
			return nil, errBadSession
		}
		if num == sessionNode && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(s[n:])
			if !utf8.Valid(v) {
				return nil, errBadSession
			}
			node = v
		}
		s = s[n+m:]
	}
	return node, nil
}
