package frame

import (
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

// heartbeatOf returns an envelope whose heartbeat names n peers, node1 to
// nodeN, as a heartbeat of an N+1-node cluster does.
func heartbeatOf(n int) *messages.Envelope {
	env := envelope()
	hb := env.GetHeartbeat()
	for i := range n {
		hb.Sessions = append(hb.Sessions, &messages.PeerSession{Node: fmt.Sprintf("node%d", i+1),
			Generation: 1764000000 + uint64(i), StreamStart: uint64(3 * i), HeardSendTimeUnixNano: 1764000000000000000 + int64(i)})
	}
	return env
}

// onlySessionsOf is what OpenFor must give: env decoded in full, less the
// sessions that do not name local.
func onlySessionsOf(env *messages.Envelope, local string) *messages.Envelope {
	env = proto.Clone(env).(*messages.Envelope)
	if hb := env.GetHeartbeat(); hb != nil {
		hb.Sessions = slices.DeleteFunc(hb.Sessions, func(s *messages.PeerSession) bool { return s.Node != local })
	}
	return env
}

func TestOpenForKeepsOnlyTheLocalSession(t *testing.T) {
	kr := keyring(t, 2, sha1Key)
	sent := heartbeatOf(64)
	b, err := kr.Seal(sent)
	if err != nil {
		t.Fatal(err)
	}
	for _, local := range []string{"node1", "node33", "node64", "node65", ""} {
		env, _, err := kr.OpenFor(b, local)
		if err != nil {
			t.Fatalf("%s: %v", local, err)
		}
		if want := onlySessionsOf(sent, local); !proto.Equal(env, want) {
			t.Fatalf("OpenFor(%q) = %v, want %v", local, env, want)
		}
		if n := len(env.GetHeartbeat().GetSessions()); n > 1 {
			t.Fatalf("OpenFor(%q) kept %d sessions", local, n)
		}
	}
	// Other bodies pass untouched.
	msg := &messages.Envelope{Cluster: "c", Sender: "node2", Generation: 1, Sequence: 2,
		Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: 1}}}
	b, _ = kr.Seal(msg)
	if env, _, err := kr.OpenFor(b, "node1"); err != nil || !proto.Equal(env, msg) {
		t.Fatalf("cluster message: %v, %v", env, err)
	}
}

// TestOpenForRefusesWhatOpenRefuses: a session that does not name the
// receiver is not decoded, but it is checked: a frame that Open refuses
// because of it is refused by OpenFor too.
func TestOpenForRefusesWhatOpenRefuses(t *testing.T) {
	kr := keyring(t, 2, sha1Key)
	hbBytes := func(sessions ...[]byte) []byte {
		var hb []byte
		for _, s := range sessions {
			hb = protowire.AppendTag(hb, heartbeatSessions, protowire.BytesType)
			hb = protowire.AppendBytes(hb, s)
		}
		env, _ := proto.Marshal(&messages.Envelope{Cluster: "c", Sender: "node2", Generation: 1})
		env = protowire.AppendTag(env, envelopeHeartbeat, protowire.BytesType)
		return protowire.AppendBytes(env, hb)
	}
	node := func(name string) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, sessionNode, protowire.BytesType), []byte(name))
	}
	for name, body := range map[string][]byte{
		"invalid UTF-8 in another node's name": hbBytes(node("node1"), node("node\xff")),
		"truncated session of another node":    hbBytes(node("node1"), node("node3")[:4]),
		"a varint cut short":                   hbBytes(node("node1"), []byte{0x10, 0x80}),
	} {
		sealed := sealBody(t, kr, body)
		if _, _, err := kr.Open(sealed); err == nil {
			t.Fatalf("%s: Open accepted it; the case is wrong", name)
		}
		if _, _, err := kr.OpenFor(sealed, "node1"); err == nil {
			t.Fatalf("%s: OpenFor accepted what Open refuses", name)
		}
	}
}

// sealBody signs raw envelope bytes, as a key holder of another version
// (or gone wrong) could.
func sealBody(t testing.TB, kr *Keyring, body []byte) []byte {
	t.Helper()
	f := &messages.Frame{Envelope: body, KeyId: kr.active.id, Mac: kr.active.mac(body)}
	out, err := proto.MarshalOptions{}.MarshalAppend(append([]byte(nil), Prefix...), f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzKeepSessionsOf checks the filter against the decoder on arbitrary
// envelope bytes: where decoding fails, the filtered bytes must fail too
// (nothing refused becomes accepted); where it succeeds, the filtered
// bytes decode to the same envelope less the other nodes' sessions.
func FuzzKeepSessionsOf(f *testing.F) {
	for _, n := range []int{0, 1, 3, 64} {
		b, _ := proto.Marshal(heartbeatOf(n))
		f.Add(b, "node1")
		f.Add(b, "node3")
	}
	twice, _ := proto.Marshal(heartbeatOf(2))
	f.Add(append(slices.Clone(twice), twice...), "node2")
	msg, _ := proto.Marshal(&messages.Envelope{Sender: "node2", Body: &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: 1}}})
	f.Add(msg, "node1")
	f.Add(append(slices.Clone(twice), msg...), "node1")
	f.Add([]byte{0x52, 0x03, 0x2a, 0x01, 0x0a}, "")
	f.Add([]byte{0x52, 0x04, 0x2a, 0x02, 0x0a, 0x00}, "")
	f.Add([]byte{0x52, 0x02, 0x2b, 0x2c}, "")
	f.Fuzz(func(t *testing.T, env []byte, local string) {
		full := &messages.Envelope{}
		fullErr := proto.Unmarshal(env, full)
		kept, err := keepSessionsOf(env, local)
		got := &messages.Envelope{}
		if err == nil {
			err = proto.Unmarshal(kept, got)
		}
		switch {
		case fullErr != nil && err == nil:
			t.Fatalf("decoding fails (%v) but the filtered bytes decode to %v", fullErr, got)
		case fullErr == nil && err != nil:
			t.Fatalf("decoding works but the filter fails: %v", err)
		case fullErr == nil && !proto.Equal(got, onlySessionsOf(full, local)):
			t.Fatalf("filtered %v, want %v", got, onlySessionsOf(full, local))
		}
	})
}

// BenchmarkOpen: a heartbeat of a cluster of N+1 nodes, opened in full and
// for one receiver.
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{1, 64, 255} {
		kr := keyring(b, 2, sha1Key)
		frame, err := kr.Seal(heartbeatOf(n))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("sessions=%d/all", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := kr.Open(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("sessions=%d/for-one", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := kr.OpenFor(frame, "node1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
