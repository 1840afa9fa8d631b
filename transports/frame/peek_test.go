package frame

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

func TestPeekReadsSenderGenerationAndBody(t *testing.T) {
	kr := keyring(t, 4, sha256Key)
	seal := func(env *messages.Envelope) []byte {
		t.Helper()
		b, err := kr.Seal(env)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, st := range []messages.NodeStatus{messages.NodeStatus_NODE_STATUS_UNSPECIFIED, messages.NodeStatus_NODE_STATUS_UP,
		messages.NodeStatus_NODE_STATUS_ACTIVE, messages.NodeStatus_NODE_STATUS_DEAD, 99} {
		env := heartbeatOf(64)
		env.GetHeartbeat().Status = st
		b := seal(env)
		if g, ok := Peek(b); !ok || !g.Heartbeat || g.Message || g.Status != st || string(g.Sender) != "node1" || g.Generation != 7 {
			t.Errorf("heartbeat with status %v: Peek = %+v, %v", st, g, ok)
		}
		if _, ok := Peek(b[:len(b)-1]); ok {
			t.Errorf("a truncated heartbeat frame (status %v) is read", st)
		}
	}
	msg := &messages.Envelope{Sender: "node2", Generation: 9, Sequence: 3,
		Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: 12, Destination: "node1"}}}
	if g, ok := Peek(seal(msg)); !ok || !g.Message || g.Heartbeat || g.MessageSequence != 12 || string(g.Sender) != "node2" || g.Generation != 9 {
		t.Errorf("cluster message: Peek = %+v, %v", g, ok)
	}
	for name, env := range map[string]*messages.Envelope{
		"retransmit request":  {Sender: "node2", Generation: 1, Body: &messages.Envelope_RetransmitRequest{RetransmitRequest: &messages.RetransmitRequest{}}},
		"retransmit nak":      {Sender: "node2", Generation: 1, Body: &messages.Envelope_RetransmitNak{RetransmitNak: &messages.RetransmitNak{}}},
		"retransmit requests": {Sender: "node2", Generation: 1, Body: &messages.Envelope_RetransmitRequests{RetransmitRequests: &messages.RetransmitRequests{}}},
	} {
		if g, ok := Peek(seal(env)); !ok || g.Heartbeat || g.Message || !g.Repair {
			t.Errorf("%s: Peek = %+v, %v", name, g, ok)
		}
	}
	if g, _ := Peek(seal(msg)); g.Repair {
		t.Errorf("a cluster message is read as a repair: %+v", g)
	}
	if g, _ := Peek(seal(heartbeatOf(2))); g.Repair {
		t.Errorf("a heartbeat is read as a repair: %+v", g)
	}
	hb, _ := proto.Marshal(heartbeatOf(2))
	m, _ := proto.Marshal(msg)
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for name, b := range map[string][]byte{
		"empty":                       nil,
		"prefix only":                 Prefix,
		"no prefix":                   hb,
		"no body":                     seal(&messages.Envelope{Sender: "node2", Generation: 1}),
		"no sender":                   seal(&messages.Envelope{Generation: 1, Body: msg.Body}),
		"no generation":               seal(&messages.Envelope{Sender: "node2", Body: msg.Body}),
		"a heartbeat, then a message": sealBody(t, kr, cat(hb, m)),
		"a message, then a heartbeat": sealBody(t, kr, cat(m, hb)),
		"two envelopes":               append(sealBody(t, kr, hb), sealBody(t, kr, hb)[len(Prefix):]...),
		"a heartbeat twice":           sealBody(t, kr, cat(hb, hb)),
		"status of the wrong type":    sealBody(t, kr, cat([]byte{0x12, 0x01, 'n', 0x18, 0x01}, []byte{0x52, 0x02, 0x0d, 0x00})),
		"status twice":                sealBody(t, kr, cat([]byte{0x12, 0x01, 'n', 0x18, 0x01}, []byte{0x52, 0x04, 0x08, 0x03, 0x08, 0x04})),
		"message number twice":        sealBody(t, kr, cat([]byte{0x12, 0x01, 'n', 0x18, 0x01}, []byte{0x5a, 0x04, 0x08, 0x03, 0x08, 0x04})),
	} {
		if g, ok := Peek(b); ok {
			t.Errorf("%s: read as %+v", name, g)
		}
	}
}

// FuzzPeek checks the look against the decoder: whatever envelope bytes a
// key holder sealed, what Peek reads of the frame is, once Open accepts
// it, what the envelope says. Peeking at the raw bytes must not fail
// either.
func FuzzPeek(f *testing.F) {
	kr := keyring(f, 4, sha256Key)
	for _, n := range []int{0, 2, 64} {
		b, _ := proto.Marshal(heartbeatOf(n))
		f.Add(b)
	}
	dead := heartbeatOf(1)
	dead.GetHeartbeat().Status = messages.NodeStatus_NODE_STATUS_DEAD
	b, _ := proto.Marshal(dead)
	f.Add(b)
	msg, _ := proto.Marshal(&messages.Envelope{Sender: "node2", Generation: 3, Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: 1}}})
	f.Add(msg)
	nak, _ := proto.Marshal(&messages.Envelope{Sender: "node2", Generation: 3, Body: &messages.Envelope_RetransmitNak{RetransmitNak: &messages.RetransmitNak{First: 1, Last: 2}}})
	f.Add(nak)
	f.Add([]byte{0x12, 0x01, 'n', 0x18, 0x01, 0x52, 0x04, 0x08, 0x03, 0x08, 0x04})
	f.Add([]byte{0x12, 0x01, 'n', 0x18, 0x01, 0x52, 0x02, 0x08, 0x04, 0x52, 0x02, 0x08, 0x03})
	f.Add([]byte{0x12, 0x01, 'n', 0x18, 0x01, 0x5a, 0x02, 0x08, 0x04, 0x12, 0x01, 'm'})
	f.Fuzz(func(t *testing.T, env []byte) {
		Peek(env)
		frame := sealBody(t, kr, env)
		g, ok := Peek(frame)
		if !ok {
			return
		}
		e, _, err := kr.Open(frame)
		if err != nil {
			return
		}
		switch {
		case e.Sender != string(g.Sender) || e.Generation != g.Generation:
			t.Fatalf("read sender %q generation %d, opens as %v", g.Sender, g.Generation, e)
		case g.Heartbeat != (e.GetHeartbeat() != nil) || g.Message != (e.GetMessage() != nil) ||
			g.Repair != (e.GetRetransmitRequest() != nil || e.GetRetransmitRequests() != nil || e.GetRetransmitNak() != nil):
			t.Fatalf("read %+v, opens as %v", g, e)
		case g.Heartbeat && e.GetHeartbeat().GetStatus() != g.Status:
			t.Fatalf("read status %v, opens as %v", g.Status, e)
		case g.Message && e.GetMessage().GetMessageSequence() != g.MessageSequence:
			t.Fatalf("read message %d, opens as %v", g.MessageSequence, e)
		}
	})
}

func BenchmarkPeek(b *testing.B) {
	kr := keyring(b, 4, sha256Key)
	data, err := kr.Seal(heartbeatOf(95))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Peek(data); !ok {
			b.Fatal("not read")
		}
	}
}
