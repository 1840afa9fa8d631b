package testhosts

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hanode/hanode/internal/lab/probe"
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

// AddrWatch samples, on a set of hosts, whether an address is configured
// on one of their interfaces, from a thread in each host's namespace (a
// netlink query, well under a millisecond), every interval until Stop.
type AddrWatch struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	// samples[i] are host i's samples.
	samples [][]AddrSample
}

// AddrSample is one look at one host.
type AddrSample struct {
	At  time.Time
	Has bool
}

// WatchAddr starts watching addr on hosts.
func WatchAddr(hosts []*Host, addr netip.Addr, interval time.Duration) (*AddrWatch, error) {
	w := &AddrWatch{stop: make(chan struct{}), samples: make([][]AddrSample, len(hosts))}
	for i, h := range hosts {
		i := i
		w.wg.Add(1)
		err := h.InNetns(func() {
			defer w.wg.Done()
			t := time.NewTicker(interval)
			defer t.Stop()
			for n := 0; n < maxSamples; n++ {
				has := hasAddr(addr)
				w.mu.Lock()
				w.samples[i] = append(w.samples[i], AddrSample{At: time.Now(), Has: has})
				w.mu.Unlock()
				select {
				case <-w.stop:
					return
				case <-t.C:
				}
			}
		})
		if err != nil {
			w.wg.Done()
			w.Stop()
			return nil, err
		}
	}
	return w, nil
}

// maxSamples bounds a watch's memory per host.
const maxSamples = 100000

func hasAddr(addr netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if p, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(p.IP); ok && ip.Unmap() == addr {
				return true
			}
		}
	}
	return false
}

// Stop ends the watch.
func (w *AddrWatch) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

// Overlaps finds the longest stretch during which two or more hosts had
// the address at once (by their latest samples), when it began and which
// hosts; ignore(i, t) drops host i's sample at t (a host powered off by
// fencing holds nothing).
func (w *AddrWatch) Overlaps(ignore func(host int, at time.Time) bool) (worst time.Duration, at time.Time, hosts []int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Merge all samples in time order; track each host's state; measure
	// the longest stretch with two or more holders.
	type ev struct {
		at   time.Time
		host int
		has  bool
	}
	var evs []ev
	for i, ss := range w.samples {
		for _, s := range ss {
			evs = append(evs, ev{s.At, i, s.Has})
		}
	}
	sort.Slice(evs, func(a, b int) bool { return evs[a].at.Before(evs[b].at) })
	state := make([]bool, len(w.samples))
	var since time.Time
	for _, e := range evs {
		state[e.host] = e.has && (ignore == nil || !ignore(e.host, e.at))
		var on []int
		for i, s := range state {
			if s {
				on = append(on, i)
			}
		}
		switch {
		case len(on) > 1 && since.IsZero():
			since, hosts = e.at, on
		case len(on) > 1:
			if d := e.at.Sub(since); d > worst {
				worst, at = d, since
			}
		case !since.IsZero():
			if d := e.at.Sub(since); d > worst {
				worst, at = d, since
			}
			since = time.Time{}
		}
	}
	return worst, at, hosts
}

// Count is the number of samples taken on host i.
func (w *AddrWatch) Count(i int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.samples[i])
}

// HTTPGet fetches url (http://host:port/path, HTTP/1.0) from inside the
// host's network namespace and returns the body.
func (h *Host) HTTPGet(url string, timeout time.Duration) (string, error) {
	rest, ok := strings.CutPrefix(url, "http://")
	if !ok {
		return "", fmt.Errorf("HTTPGet %s: only http:// URLs", url)
	}
	hostport, path, _ := strings.Cut(rest, "/")
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	err := h.InNetns(func() {
		c, err := net.DialTimeout("tcp", hostport, timeout)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		fmt.Fprintf(c, "GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n", path, hostport)
		b, err := io.ReadAll(c)
		if err != nil {
			done <- result{err: err}
			return
		}
		head, body, _ := strings.Cut(string(b), "\r\n\r\n")
		if !strings.Contains(strings.SplitN(head, "\r\n", 2)[0], " 200 ") {
			done <- result{err: fmt.Errorf("GET %s: %s", url, strings.SplitN(head, "\r\n", 2)[0])}
			return
		}
		done <- result{body: body}
	})
	if err != nil {
		return "", err
	}
	r := <-done
	return r.body, r.err
}
