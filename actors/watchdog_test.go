package actors

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// recordingDevice is a regular file standing in for the watchdog device
// (the timeout ioctl fails on it, as on a device that keeps its own).
func readDevice(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWatchdogPetsOnlyWhileHealthy: an unhealthy node (or one that does
// not answer) is not petted for; petting resumes when it recovers.
func TestWatchdogPetsOnlyWhileHealthy(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	defer sys.Shutdown()
	var healthy atomic.Bool
	healthy.Store(true)
	var mu sync.Mutex
	node := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*HealthQuery); ok {
			mu.Lock()
			defer mu.Unlock()
			if healthy.Load() {
				ctx.Respond(&Health{OK: true})
			} else {
				ctx.Respond(&Health{Reason: "test says so"})
			}
		}
	}))
	dev := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pid := sys.Root.Spawn(actor.PropsFromProducer(NewWatchdog(WatchdogConfig{
		Device: dev, Interval: 20 * time.Millisecond, Timeout: time.Second, Node: node, Log: slog.New(slog.DiscardHandler),
	})))
	waitPets := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for bytes.Count(readDevice(t, dev), []byte{0}) < n {
			if time.Now().After(deadline) {
				t.Fatalf("fewer than %d pets: %q", n, readDevice(t, dev))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitPets(3)
	mu.Lock()
	healthy.Store(false)
	mu.Unlock()
	// Let a health query already under way finish, then count.
	time.Sleep(50 * time.Millisecond)
	before := bytes.Count(readDevice(t, dev), []byte{0})
	time.Sleep(200 * time.Millisecond) // ten intervals
	if after := bytes.Count(readDevice(t, dev), []byte{0}); after != before {
		t.Fatalf("petted %d times while the node was unhealthy", after-before)
	}
	healthy.Store(true)
	waitPets(before + 3)
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	if b := readDevice(t, dev); !bytes.HasSuffix(b, []byte("V")) {
		t.Fatalf("no magic close at stop: %q", b)
	}
}
