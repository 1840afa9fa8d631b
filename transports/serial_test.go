package transports

import (
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
)

func expectPacket(t *testing.T, ch <-chan Packet, want string) {
	t.Helper()
	select {
	case p := <-ch:
		if string(p.Data) != want {
			t.Fatalf("received %q, want %q", p.Data, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%q not received within 5s", want)
	}
}

// TestSerialOverANullModemCable runs two serial links on the two ends of a
// pseudo-terminal cable: frames pass both ways, survive line noise, and a
// cut cable loses what is sent meanwhile without confusing what follows.
func TestSerialOverANullModemCable(t *testing.T) {
	cable := testhosts.NewCable(t)
	got := make(chan Packet, 16)
	errs := make(chan error, 16)
	a, err := OpenSerial(SerialConfig{Device: cable.A, Baud: 19200}, func(Packet) time.Duration { return 0 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenSerial(SerialConfig{Device: cable.B, Baud: 19200}, func(p Packet) time.Duration { got <- p; return 0 }, func(e error) {
		select {
		case errs <- e:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Send([]byte("heartbeat 1")); err != nil {
		t.Fatal(err)
	}
	expectPacket(t, got, "heartbeat 1")

	cable.Inject("B", []byte("\x00\xc0\xde\xff\xfe garbage \xc0"))
	a.Send([]byte("heartbeat 2"))
	expectPacket(t, got, "heartbeat 2")
	select {
	case e := <-errs:
		t.Logf("reported: %v", e)
	case <-time.After(time.Second):
		t.Fatal("garbage not reported")
	}

	// A frame cut in the middle, then a whole one: the reader resyncs.
	half, _ := EncodeSerialFrame([]byte("a frame cut in the middle"))
	cable.Inject("B", half[:12])
	a.Send([]byte("heartbeat 3"))
	expectPacket(t, got, "heartbeat 3")

	cable.Cut()
	a.Send([]byte("lost while cut"))
	select {
	case p := <-got:
		t.Fatalf("a cut cable carried %q", p.Data)
	case <-time.After(200 * time.Millisecond):
	}
	cable.Restore()
	a.Send([]byte("heartbeat 4"))
	expectPacket(t, got, "heartbeat 4")

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(make([]byte, MaxSerialPayload+1)); err == nil {
		t.Fatal("oversize frame sent")
	}
}
