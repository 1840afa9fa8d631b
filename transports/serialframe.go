package transports

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A serial line carries a byte stream, not datagrams: each frame is sent as
//
//	magic 0xC0 0xDE | length (2 bytes, big endian) | payload | CRC-32 (4 bytes)
//
// The CRC (IEEE) covers length and payload. The reader finds frames again
// after garbage, a cut cable or a half-sent frame by looking for the magic
// and checking length and CRC; nothing else needs escaping.
var serialMagic = [2]byte{0xC0, 0xDE}

// MaxSerialPayload is the largest payload a serial frame carries. It is
// small on purpose: a corrupt length makes the reader wait for that many
// bytes, and at 19200 baud 2 KiB take about a second.
const MaxSerialPayload = 2048

const serialOverhead = 2 + 2 + 4

// ErrSerialTooLarge refuses payloads beyond MaxSerialPayload.
var ErrSerialTooLarge = errors.New("frame too large for a serial link")

// EncodeSerialFrame frames payload for a serial line.
func EncodeSerialFrame(payload []byte) ([]byte, error) {
	if len(payload) == 0 || len(payload) > MaxSerialPayload {
		return nil, fmt.Errorf("%d bytes: %w", len(payload), ErrSerialTooLarge)
	}
	out := make([]byte, 0, len(payload)+serialOverhead)
	out = append(out, serialMagic[:]...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(payload)))
	out = append(out, payload...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[2:])), nil
}

// Deframer reassembles frames from a serial byte stream. It is not safe for
// concurrent use; one reader goroutine owns it.
type Deframer struct {
	buf []byte
	// Skipped counts bytes thrown away while resynchronising (garbage,
	// corrupt or cut frames).
	Skipped uint64
}

// Feed adds bytes read from the line and returns the complete, intact
// frames' payloads, in order.
func (d *Deframer) Feed(p []byte) [][]byte {
	d.buf = append(d.buf, p...)
	var out [][]byte
	for {
		i := bytes.Index(d.buf, serialMagic[:])
		if i < 0 {
			// Keep a last byte that may start the next magic.
			keep := 0
			if n := len(d.buf); n > 0 && d.buf[n-1] == serialMagic[0] {
				keep = 1
			}
			d.skip(len(d.buf) - keep)
			return out
		}
		d.skip(i)
		payload, size := d.frameAt(0)
		switch {
		case size > 0:
			out = append(out, payload)
			d.buf = d.buf[size:]
		case size < 0:
			d.skip(1) // a magic that starts no valid frame
		default:
			// Incomplete. If a valid frame follows later in the buffer,
			// this one was cut short and will never complete: drop it
			// now rather than wait for bytes that belong to others.
			j := d.nextValid()
			if j < 0 {
				return out
			}
			d.skip(j)
		}
	}
}

// frameAt checks the frame starting at d.buf[i]: its payload and size when
// complete and intact, size 0 when more bytes are needed, size -1 when it
// cannot be a frame.
func (d *Deframer) frameAt(i int) ([]byte, int) {
	b := d.buf[i:]
	if len(b) < 4 {
		return nil, 0
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n == 0 || n > MaxSerialPayload {
		return nil, -1
	}
	size := n + serialOverhead
	if len(b) < size {
		return nil, 0
	}
	if binary.BigEndian.Uint32(b[4+n:size]) != crc32.ChecksumIEEE(b[2:4+n]) {
		return nil, -1
	}
	return append([]byte(nil), b[4:4+n]...), size
}

// nextValid finds the next magic after the first byte that starts a
// complete, intact frame; -1 if none.
func (d *Deframer) nextValid() int {
	for j := 1; j < len(d.buf); {
		k := bytes.Index(d.buf[j:], serialMagic[:])
		if k < 0 {
			return -1
		}
		j += k
		if _, size := d.frameAt(j); size > 0 {
			return j
		}
		j++
	}
	return -1
}

func (d *Deframer) skip(n int) {
	if n <= 0 {
		return
	}
	d.Skipped += uint64(n)
	d.buf = append(d.buf[:0], d.buf[n:]...)
}
