package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/probe"
)

// TestServiceAnswersEveryProbe: the demo service reads each request
// before answering, so a client probing it in a tight loop gets every
// answer (closing with the request unread made the kernel reset the
// connection, and probes lost their answer).
func TestServiceAnswersEveryProbe(t *testing.T) {
	port, err := FreeTCPPort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, addr, "node9", filepath.Join(t.TempDir(), "pid")) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(5 * time.Second)
	for probe.Once(addr, 100*time.Millisecond) != "node9" {
		if time.Now().After(deadline) {
			t.Fatal("the service never answered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	failed := 0
	for i := 0; i < 1000; i++ {
		if probe.Once(addr, time.Second) != "node9" {
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%d of 1000 probes got no answer", failed)
	}
	// A client that sends nothing and only reads gets the answer too.
	c, err := net.DialTimeout("tcp4", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || !strings.HasSuffix(string(b), "node9\n") {
		t.Fatalf("passive read: %q %v", b, err)
	}
}
