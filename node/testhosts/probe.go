package testhosts

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hanode/hanode/node/probe"
)

// InNetns runs fn on a thread that has entered the host's network
// namespace: sockets fn opens belong to the host. The thread is discarded
// afterwards (never returned to the Go scheduler's pool). Only fn's own
// goroutine is in the namespace: goroutines it starts are not.
func (h *Host) InNetns(fn func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread ends with this goroutine.
		f, err := os.Open("/run/netns/" + h.ns)
		if err != nil {
			errc <- err
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", h.ns, err)
			return
		}
		errc <- nil
		fn()
	}()
	return <-errc
}

// NewProbe probes addr (host:port) from the host every interval, with a
// per-probe timeout, until Stop.
func NewProbe(h *Host, addr string, interval, timeout time.Duration) (*probe.Probe, error) {
	return probe.New(addr, interval, timeout, h.InNetns)
}
