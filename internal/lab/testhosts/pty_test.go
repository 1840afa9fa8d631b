package testhosts

import (
	"os"
	"testing"
	"time"
)

func readWithin(t *testing.T, f *os.File, n int, d time.Duration) string {
	t.Helper()
	f.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, n)
	got := 0
	for got < n {
		k, err := f.Read(buf[got:])
		got += k
		if err != nil {
			break
		}
	}
	return string(buf[:got])
}

func TestCable(t *testing.T) {
	c := NewCable(t)
	a, err := os.OpenFile(c.A, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := os.OpenFile(c.B, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.Write([]byte("ping\n"))
	if got := readWithin(t, b, 5, 5*time.Second); got != "ping\n" {
		t.Fatalf("A->B: %q", got)
	}
	b.Write([]byte("pong"))
	if got := readWithin(t, a, 4, 5*time.Second); got != "pong" {
		t.Fatalf("B->A: %q", got)
	}
	c.Cut()
	a.Write([]byte("lost"))
	if got := readWithin(t, b, 4, 200*time.Millisecond); got != "" {
		t.Fatalf("cut cable carried %q", got)
	}
	c.Restore()
	a.Write([]byte("back"))
	if got := readWithin(t, b, 4, 5*time.Second); got != "back" {
		t.Fatalf("restored cable: %q", got)
	}
	c.Inject("B", []byte{0x00, 0xff})
	if got := readWithin(t, b, 2, 5*time.Second); got != "\x00\xff" {
		t.Fatalf("injected %q", got)
	}
}
