package transports

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

func frame(t testing.TB, s string) []byte {
	t.Helper()
	b, err := EncodeSerialFrame([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func collect(d *Deframer, chunks ...[]byte) []string {
	var out []string
	for _, c := range chunks {
		for _, f := range d.Feed(c) {
			out = append(out, string(f))
		}
	}
	return out
}

func TestSerialFramesRoundTripByteByByte(t *testing.T) {
	var stream []byte
	for i := 0; i < 5; i++ {
		stream = append(stream, frame(t, fmt.Sprintf("frame %d", i))...)
	}
	var d Deframer
	var chunks [][]byte
	for _, b := range stream {
		chunks = append(chunks, []byte{b})
	}
	got := collect(&d, chunks...)
	if fmt.Sprint(got) != "[frame 0 frame 1 frame 2 frame 3 frame 4]" || d.Skipped != 0 {
		t.Fatalf("got %q, skipped %d", got, d.Skipped)
	}
}

func TestSerialResyncsAfterGarbage(t *testing.T) {
	var d Deframer
	garbage := []byte{0x00, 0xC0, 0xC0, 0xDE, 0xFF, 0xFF, 0x13, 0xC0}
	got := collect(&d, garbage, frame(t, "a"), []byte("noise\xC0"), frame(t, "b"))
	if fmt.Sprint(got) != "[a b]" || d.Skipped == 0 {
		t.Fatalf("got %q skipped %d", got, d.Skipped)
	}
}

// TestSerialCutCable: a frame cut in the middle (the cable pulled while it
// was sent) is followed by good frames: they arrive at once, not after the
// cut frame's announced length worth of bytes.
func TestSerialCutCable(t *testing.T) {
	var d Deframer
	big := frame(t, string(bytes.Repeat([]byte("x"), 1500)))
	got := collect(&d, big[:40], frame(t, "after the cut"))
	if fmt.Sprint(got) != "[after the cut]" {
		t.Fatalf("got %q", got)
	}
	if got := collect(&d, frame(t, "next")); fmt.Sprint(got) != "[next]" {
		t.Fatalf("then %q", got)
	}
}

func TestSerialCorruptionIsNeverAccepted(t *testing.T) {
	good := frame(t, "heartbeat payload")
	for i := 0; i < len(good)*8; i++ {
		c := append([]byte(nil), good...)
		c[i/8] ^= 1 << (i % 8)
		var d Deframer
		if got := d.Feed(c); len(got) != 0 {
			t.Fatalf("bit %d flipped, frame %q accepted", i, got[0])
		}
	}
}

func TestEncodeSerialFrameLimits(t *testing.T) {
	if _, err := EncodeSerialFrame(nil); err == nil {
		t.Fatal("empty frame accepted")
	}
	if _, err := EncodeSerialFrame(make([]byte, MaxSerialPayload+1)); err == nil {
		t.Fatal("oversize frame accepted")
	}
}

// TestSerialRandomNoise interleaves random garbage with frames: every frame
// surrounded by garbage that does not itself start a valid frame is found.
func TestSerialRandomNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for run := 0; run < 200; run++ {
		var stream []byte
		var want []string
		for i := 0; i < 10; i++ {
			junk := make([]byte, rng.IntN(40))
			for j := range junk {
				junk[j] = byte(rng.IntN(256))
			}
			stream = append(stream, junk...)
			s := fmt.Sprintf("run %d frame %d", run, i)
			want = append(want, s)
			stream = append(stream, frame(t, s)...)
		}
		var d Deframer
		var got []string
		for len(stream) > 0 {
			n := min(len(stream), 1+rng.IntN(64))
			got = append(got, collect(&d, stream[:n])...)
			stream = stream[n:]
		}
		// Garbage could contain a valid frame only by a 2^-32 CRC
		// accident; every real frame must be there, in order.
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("run %d: got %q\nwant %q", run, got, want)
		}
	}
}

// FuzzDeframer: whatever the line carries, the deframer never panics,
// never grows without bound, and returns only payloads whose CRC checks.
func FuzzDeframer(f *testing.F) {
	good, _ := EncodeSerialFrame([]byte("seed"))
	f.Add(good)
	f.Add(append([]byte{0xC0, 0xDE, 0x00, 0x05}, good...))
	f.Add([]byte{0xC0, 0xDE, 0xFF, 0xFF})
	f.Add([]byte{0xC0})
	f.Add(bytes.Repeat([]byte{0xC0, 0xDE}, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Deframer
		for i := 0; i < len(data); i += 7 {
			for _, p := range d.Feed(data[i:min(i+7, len(data))]) {
				if len(p) == 0 || len(p) > MaxSerialPayload {
					t.Fatalf("payload of %d bytes", len(p))
				}
				if again, _ := EncodeSerialFrame(p); !bytes.Contains(data, again) {
					t.Fatalf("returned a frame that is not in the stream")
				}
			}
			if len(d.buf) > MaxSerialPayload+serialOverhead+7 {
				t.Fatalf("buffer grew to %d bytes", len(d.buf))
			}
		}
	})
}
