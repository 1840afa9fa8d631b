// Package frame seals envelopes into authenticated frames and opens them
// again, refusing anything that is not exactly what a key holder sent.
//
// On the wire a frame is the 3-byte prefix "HN\x01" (a fast reject of stray
// traffic, and a version) followed by a protobuf messages.Frame that carries
// the serialized Envelope and a MAC computed over those exact bytes. The
// receiver verifies the bytes it received, never a re-encoding, so the MAC
// does not depend on protobuf's serialization being canonical.
//
// Methods are Heartbeat's authkeys methods: crc (CRC-32, corruption only),
// md5 and sha1 (HMAC), plus sha256 (HMAC-SHA256), hanode's default. The
// active key signs; every key of the keyring is accepted on receive, except
// a crc key next to an active key that authenticates: anyone can compute a
// CRC, so accepting one would make the whole cluster unauthenticated
// (Heartbeat accepts it; hanode does not).
package frame

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

// Prefix starts every frame: "HN" and the format version 1.
var Prefix = []byte{'H', 'N', 1}

// MaxSize is the largest frame accepted or produced: what one UDP datagram
// can carry.
const MaxSize = 65507

// Reasons a frame is refused. Open wraps them with detail; use errors.Is
// and Reason to classify.
var (
	ErrTooShort   = errors.New("too short")
	ErrTooLarge   = errors.New("too large")
	ErrBadPrefix  = errors.New("not a hanode frame")
	ErrMalformed  = errors.New("malformed")
	ErrUnknownKey = errors.New("unknown key")
	ErrBadMAC     = errors.New("bad mac")
	ErrNoKey      = errors.New("no signing key")
)

// Reason names the class of a refusal for counters and logs: "too short",
// "bad mac", ... and "other" for anything unexpected.
func Reason(err error) string {
	for _, e := range []error{ErrTooShort, ErrTooLarge, ErrBadPrefix, ErrMalformed, ErrUnknownKey, ErrRefusedKey, ErrBadMAC} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "other"
}

type key struct {
	id     uint32
	method messages.AuthMethod
	secret []byte
}

// Keyring holds the keys of a cluster. It is immutable after NewKeyring and
// safe for concurrent use.
type Keyring struct {
	active *key
	keys   map[uint32]*key
	// refused are the ids of keys kept out of receiving (AcceptsCRC).
	refused map[uint32]bool
}

// ErrRefusedKey: a frame signed with a crc key while the active key
// authenticates.
var ErrRefusedKey = errors.New("crc key refused")

// Accepted says whether frames signed with key id are accepted: a key of
// the keyring that is not a crc key next to an authenticating active key.
func (k *Keyring) Accepted(id uint32) bool { return k.keys[id] != nil && !k.refused[id] }

// RefusesCRC reports whether key method m is refused on receive when
// active signs: a crc key is accepted only as the active key itself
// (integrity only, a cluster that chose it) or next to another crc key.
func RefusesCRC(m, active messages.AuthMethod) bool {
	return m == messages.AuthMethod_AUTH_METHOD_CRC && active != messages.AuthMethod_AUTH_METHOD_CRC
}

// NewKeyring builds a keyring from validated configuration.
func NewKeyring(a *messages.Auth) (*Keyring, error) {
	k := &Keyring{keys: map[uint32]*key{}, refused: map[uint32]bool{}}
	for _, ak := range a.GetKeys() {
		if ak.Method == messages.AuthMethod_AUTH_METHOD_UNSPECIFIED {
			return nil, fmt.Errorf("key %d: no method", ak.Id)
		}
		k.keys[ak.Id] = &key{id: ak.Id, method: ak.Method, secret: []byte(ak.Secret)}
	}
	if a.ActiveKey == nil {
		return nil, ErrNoKey
	}
	k.active = k.keys[a.GetActiveKey()]
	if k.active == nil {
		return nil, fmt.Errorf("active key %d: %w", a.GetActiveKey(), ErrUnknownKey)
	}
	for id, kk := range k.keys {
		if RefusesCRC(kk.method, k.active.method) {
			k.refused[id] = true
		}
	}
	return k, nil
}

// mac computes the authentication code of data with k.
func (k *key) mac(data []byte) []byte {
	var h func() hash.Hash
	switch k.method {
	case messages.AuthMethod_AUTH_METHOD_CRC:
		return binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data))
	case messages.AuthMethod_AUTH_METHOD_MD5:
		h = md5.New
	case messages.AuthMethod_AUTH_METHOD_SHA1:
		h = sha1.New
	default:
		h = sha256.New
	}
	m := hmac.New(h, k.secret)
	m.Write(data)
	return m.Sum(nil)
}

// Seal serializes env and signs it with the active key.
func (k *Keyring) Seal(env *messages.Envelope) ([]byte, error) {
	body, err := proto.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	f := &messages.Frame{Envelope: body, KeyId: k.active.id, Mac: k.active.mac(body)}
	out, err := proto.MarshalOptions{}.MarshalAppend(append([]byte(nil), Prefix...), f)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if len(out) > MaxSize {
		return nil, fmt.Errorf("seal: %d bytes: %w", len(out), ErrTooLarge)
	}
	return out, nil
}

// Open verifies a received frame and returns its envelope. It never panics,
// whatever b holds, and accepts nothing that a key holder did not seal. The
// envelope's fields are not checked beyond what decoding requires; the
// caller checks cluster, sender, generation and sequence.
func (k *Keyring) Open(b []byte) (*messages.Envelope, *messages.Frame, error) {
	return k.open(b, nil)
}

// OpenFor is Open for the node named local: of a heartbeat's sessions it
// decodes only those naming local, the only ones a node reads, so that a
// frame costs the same in a cluster of 2 nodes or 256. What Open refuses,
// OpenFor refuses.
func (k *Keyring) OpenFor(b []byte, local string) (*messages.Envelope, *messages.Frame, error) {
	return k.open(b, &local)
}

func (k *Keyring) open(b []byte, local *string) (*messages.Envelope, *messages.Frame, error) {
	switch {
	case len(b) > MaxSize:
		return nil, nil, fmt.Errorf("%d bytes: %w", len(b), ErrTooLarge)
	case len(b) <= len(Prefix):
		return nil, nil, fmt.Errorf("%d bytes: %w", len(b), ErrTooShort)
	case !bytes.Equal(b[:len(Prefix)], Prefix):
		return nil, nil, ErrBadPrefix
	}
	f := &messages.Frame{}
	if err := proto.Unmarshal(b[len(Prefix):], f); err != nil {
		return nil, nil, fmt.Errorf("frame: %w", ErrMalformed)
	}
	kk := k.keys[f.KeyId]
	if kk == nil {
		return nil, f, fmt.Errorf("key %d: %w", f.KeyId, ErrUnknownKey)
	}
	if k.refused[f.KeyId] {
		return nil, f, fmt.Errorf("key %d (crc, while key %d (%s) signs): %w", f.KeyId, k.active.id, methodName(k.active.method), ErrRefusedKey)
	}
	if !hmac.Equal(f.Mac, kk.mac(f.Envelope)) {
		return nil, f, fmt.Errorf("key %d (%s): %w", f.KeyId, methodName(kk.method), ErrBadMAC)
	}
	body := f.Envelope
	if local != nil {
		var err error
		if body, err = keepSessionsOf(body, *local); err != nil {
			return nil, f, fmt.Errorf("envelope: %w", ErrMalformed)
		}
	}
	env := &messages.Envelope{}
	if err := proto.Unmarshal(body, env); err != nil {
		// Authentic but undecodable: a peer of an incompatible version.
		return nil, f, fmt.Errorf("envelope: %w", ErrMalformed)
	}
	return env, f, nil
}

func methodName(m messages.AuthMethod) string {
	return strings.ToLower(strings.TrimPrefix(m.String(), "AUTH_METHOD_"))
}
