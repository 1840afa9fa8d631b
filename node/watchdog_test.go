package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hanode/hanode/messages"
)

// fakeWatchdog is a FIFO standing in for /dev/watchdog: the test reads
// what the node writes to it.
type fakeWatchdog struct {
	path string
	fd   int
	got  []byte
}

func newFakeWatchdog(t *testing.T) *fakeWatchdog {
	path := filepath.Join(t.TempDir(), "watchdog")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// The reader first, non-blocking, so that the node's open for
	// writing does not wait.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return &fakeWatchdog{path: path, fd: fd}
}

// readUntil reads what was written until cond holds on it, or the writer
// closed (EOF after data), within timeout.
func (w *fakeWatchdog) readUntil(t *testing.T, timeout time.Duration, cond func([]byte) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 256)
	for !cond(w.got) {
		if time.Now().After(deadline) {
			t.Fatalf("watchdog device got %q, not what was waited for within %v", w.got, timeout)
		}
		n, err := unix.Read(w.fd, buf)
		if n > 0 {
			w.got = append(w.got, buf[:n]...)
			continue
		}
		if err != nil && !errors.Is(err, syscall.EAGAIN) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWatchdogPettedAndDisarmedOnCleanStop: the node pets the watchdog
// every keepalive while it is healthy, and a clean stop ends with the
// magic close ('V').
func TestWatchdogPettedAndDisarmedOnCleanStop(t *testing.T) {
	wd := newFakeWatchdog(t)
	c, addrs := loopbackCluster(t, 1, "100ms", "500ms")
	c.Watchdog = &messages.Watchdog{Device: wd.path}
	n := startNode(t, nodeConfig(t, c, addrs, 1), Options{})
	start := time.Now()
	wd.readUntil(t, 5*time.Second, func(b []byte) bool { return strings.Count(string(b), "\x00") >= 5 })
	t.Logf("5 pets in %v (keepalive 100ms)", time.Since(start).Round(time.Millisecond))
	if strings.Contains(string(wd.got), "V") {
		t.Fatal("disarmed while running")
	}
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	wd.readUntil(t, 5*time.Second, func(b []byte) bool { return strings.HasSuffix(string(b), "V") })
}

func TestMissingWatchdogDeviceRefusesToStart(t *testing.T) {
	c, addrs := loopbackCluster(t, 1, "100ms", "500ms")
	c.Watchdog = &messages.Watchdog{Device: filepath.Join(t.TempDir(), "nowatchdog")}
	_, err := Start(Options{Config: nodeConfig(t, c, addrs, 1), StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "watchdog: stat") {
		t.Fatalf("start with a missing watchdog: %v", err)
	}
	if _, err := os.Stat(c.Watchdog.Device); err == nil {
		t.Fatal("the device was created")
	}
}
