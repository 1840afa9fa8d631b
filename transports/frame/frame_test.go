package frame

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

func keyring(t testing.TB, active uint32, keys ...*messages.AuthKey) *Keyring {
	t.Helper()
	k, err := NewKeyring(&messages.Auth{ActiveKey: proto.Uint32(active), Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var (
	crcKey    = &messages.AuthKey{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_CRC}
	sha1Key   = &messages.AuthKey{Id: 2, Method: messages.AuthMethod_AUTH_METHOD_SHA1, Secret: "HI!"}
	md5Key    = &messages.AuthKey{Id: 3, Method: messages.AuthMethod_AUTH_METHOD_MD5, Secret: "Hello!"}
	sha256Key = &messages.AuthKey{Id: 4, Method: messages.AuthMethod_AUTH_METHOD_SHA256, Secret: "s3cret"}
)

func envelope() *messages.Envelope {
	return &messages.Envelope{
		Cluster: "linux-ha", Sender: "node1", Generation: 7, Sequence: 42, SendTimeUnixNano: 1764000000000000000,
		Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{Status: messages.NodeStatus_NODE_STATUS_ACTIVE, DeadtimeMs: 500}},
	}
}

func TestRoundTripEveryMethod(t *testing.T) {
	for _, k := range []*messages.AuthKey{crcKey, sha1Key, md5Key, sha256Key} {
		kr := keyring(t, k.Id, k)
		b, err := kr.Seal(envelope())
		if err != nil {
			t.Fatal(err)
		}
		env, _, err := kr.Open(b)
		if err != nil {
			t.Fatalf("%v: %v", k.Method, err)
		}
		if !proto.Equal(env, envelope()) {
			t.Fatalf("%v: got %v", k.Method, env)
		}
	}
}

// TestEveryBitFlipIsRefused flips each bit of a sealed frame in turn: none
// may be accepted, with HMAC or with CRC.
func TestEveryBitFlipIsRefused(t *testing.T) {
	for _, k := range []*messages.AuthKey{crcKey, sha256Key} {
		kr := keyring(t, k.Id, k)
		b, _ := kr.Seal(envelope())
		for i := 0; i < len(b)*8; i++ {
			c := append([]byte(nil), b...)
			c[i/8] ^= 1 << (i % 8)
			if env, _, err := kr.Open(c); err == nil {
				t.Fatalf("%v: flipping bit %d was accepted: %v", k.Method, i, env)
			}
		}
	}
}

func TestTruncationsAreRefused(t *testing.T) {
	kr := keyring(t, 4, sha256Key)
	b, _ := kr.Seal(envelope())
	for n := 0; n < len(b); n++ {
		if _, _, err := kr.Open(b[:n]); err == nil {
			t.Fatalf("frame cut to %d of %d bytes accepted", n, len(b))
		}
	}
	if _, _, err := kr.Open(append(b, 0)); err == nil {
		t.Fatal("frame with a trailing byte accepted")
	}
}

func TestRefusalReasons(t *testing.T) {
	kr := keyring(t, 4, sha256Key)
	good, _ := kr.Seal(envelope())
	other := keyring(t, 4, &messages.AuthKey{Id: 4, Method: messages.AuthMethod_AUTH_METHOD_SHA256, Secret: "wrong"})
	forged, _ := other.Seal(envelope())
	unknown, _ := keyring(t, 9, &messages.AuthKey{Id: 9, Method: messages.AuthMethod_AUTH_METHOD_SHA256, Secret: "s3cret"}).Seal(envelope())
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTooShort},
		{"prefix only", Prefix, ErrTooShort},
		{"heartbeat classic text", []byte(">>>\nt=status\n<<<\n"), ErrBadPrefix},
		{"garbage after prefix", append(append([]byte(nil), Prefix...), 0xff, 0xff, 0xff), ErrMalformed},
		{"wrong secret", forged, ErrBadMAC},
		{"unknown key id", unknown, ErrUnknownKey},
		{"oversize", make([]byte, MaxSize+1), ErrTooLarge},
	}
	for _, c := range cases {
		_, _, err := kr.Open(c.b)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if Reason(err) != c.want.Error() {
			t.Errorf("%s: reason %q", c.name, Reason(err))
		}
	}
	if _, _, err := kr.Open(good); err != nil {
		t.Fatal(err)
	}
}

// TestKeyRotation: a node that already signs with the new key is understood
// by a node still signing with the old one, as long as both list both keys.
func TestKeyRotation(t *testing.T) {
	oldNode := keyring(t, 2, sha1Key, sha256Key)
	newNode := keyring(t, 4, sha1Key, sha256Key)
	for _, pair := range [][2]*Keyring{{oldNode, newNode}, {newNode, oldNode}} {
		b, _ := pair[0].Seal(envelope())
		if _, _, err := pair[1].Open(b); err != nil {
			t.Fatal(err)
		}
	}
	retired := keyring(t, 4, sha256Key)
	b, _ := oldNode.Seal(envelope())
	if _, _, err := retired.Open(b); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("retired key accepted: %v", err)
	}
}

func TestNewKeyringErrors(t *testing.T) {
	if _, err := NewKeyring(&messages.Auth{Keys: []*messages.AuthKey{sha1Key}}); err == nil {
		t.Fatal("no active key accepted")
	}
	if _, err := NewKeyring(&messages.Auth{ActiveKey: proto.Uint32(5), Keys: []*messages.AuthKey{sha1Key}}); err == nil {
		t.Fatal("undefined active key accepted")
	}
}

// FuzzOpen feeds arbitrary bytes to Open: it must never panic, and whatever
// it accepts must be a frame that the key holder could have sealed.
func FuzzOpen(f *testing.F) {
	kr := keyring(f, 4, crcKey, sha256Key)
	good, _ := kr.Seal(envelope())
	crc, _ := keyring(f, 1, crcKey).Seal(envelope())
	f.Add(good)
	f.Add(crc)
	f.Add([]byte{})
	f.Add(Prefix)
	f.Add([]byte(">>>\nt=status\nst=active\n<<<\n"))
	f.Add(append(append([]byte(nil), Prefix...), 0x0a, 0x05, 'h', 'e', 'l', 'l', 'o'))
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		env, fr, err := kr.Open(b)
		if err != nil {
			if env != nil {
				t.Fatal("envelope returned with an error")
			}
			return
		}
		// Accepted: the MAC must verify under the key it names.
		k := kr.keys[fr.KeyId]
		if k == nil || string(k.mac(fr.Envelope)) != string(fr.Mac) {
			t.Fatalf("accepted a frame whose MAC does not verify")
		}
		if _, err := proto.Marshal(env); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkSealSHA256(b *testing.B) {
	kr := keyring(b, 4, sha256Key)
	env := envelope()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.Seal(env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenSHA256(b *testing.B) {
	kr := keyring(b, 4, sha256Key)
	frame, _ := kr.Seal(envelope())
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := kr.Open(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCRCKeyRefusedNextToAuthenticatingKey: authkeys with `1 crc` next to
// the active `2 sha1 SECRET` (what a rotation away from crc leaves) does
// not make the cluster unauthenticated: a frame anyone can "sign" with crc
// is refused; with crc as the active key (integrity only, warned about by
// the configuration) it is accepted, as the cluster chose.
func TestCRCKeyRefusedNextToAuthenticatingKey(t *testing.T) {
	attacker := keyring(t, 1, crcKey)
	forged, err := attacker.Seal(envelope())
	if err != nil {
		t.Fatal(err)
	}
	node := keyring(t, 2, crcKey, sha1Key)
	if _, _, err := node.Open(forged); !errors.Is(err, ErrRefusedKey) || Reason(err) != "crc key refused" {
		t.Fatalf("crc frame next to an active sha1 key: %v (reason %q)", err, Reason(err))
	}
	if node.Accepted(1) || !node.Accepted(2) {
		t.Fatalf("accepted: crc %v, sha1 %v", node.Accepted(1), node.Accepted(2))
	}
	honest, _ := keyring(t, 2, sha1Key).Seal(envelope())
	if _, _, err := node.Open(honest); err != nil {
		t.Fatalf("sha1 frame: %v", err)
	}
	crcCluster := keyring(t, 1, crcKey, md5Key)
	if _, _, err := crcCluster.Open(forged); err != nil {
		t.Fatalf("crc frame in a cluster whose active key is crc: %v", err)
	}
	md5Frame, _ := keyring(t, 3, md5Key).Seal(envelope())
	if _, _, err := crcCluster.Open(md5Frame); err != nil {
		t.Fatalf("md5 frame in a crc cluster that lists md5: %v", err)
	}
}
