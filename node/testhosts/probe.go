package testhosts

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
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

// Sample is one probe of a service: when it was sent, and who answered
// ("" when nobody did in time).
type Sample struct {
	At     time.Time
	Answer string
}

// Probe asks a TCP service on the lab network, from a host, who serves it:
// it connects, sends an HTTP request and takes the last line of the reply
// as the answer. Several workers, staggered, keep the time between probes
// short even while probes hang (a service address nobody holds).
type Probe struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	s      []Sample
}

// maxSamples bounds a probe's memory: at 2 ms a sample, about 10 minutes.
const maxSamples = 300000

// NewProbe probes addr (host:port) from host every interval, with
// per-probe timeout, until Stop.
func NewProbe(h *Host, addr string, interval, timeout time.Duration) (*Probe, error) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &Probe{cancel: cancel}
	workers := int(timeout/interval) + 1
	if workers > 16 {
		workers = 16
	}
	period := interval * time.Duration(workers)
	start := time.Now()
	for w := 0; w < workers; w++ {
		offset := interval * time.Duration(w)
		p.wg.Add(1)
		err := h.InNetns(func() {
			defer p.wg.Done()
			next := start.Add(offset)
			for ctx.Err() == nil {
				time.Sleep(time.Until(next))
				next = next.Add(period)
				at := time.Now()
				ans := probeOnce(addr, timeout)
				p.mu.Lock()
				if len(p.s) < maxSamples {
					p.s = append(p.s, Sample{At: at, Answer: ans})
				}
				p.mu.Unlock()
			}
		})
		if err != nil {
			p.wg.Done()
			p.Stop()
			return nil, err
		}
	}
	return p, nil
}

func probeOnce(addr string, timeout time.Duration) string {
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp4", addr)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		return ""
	}
	var last string
	sc := bufio.NewScanner(io.LimitReader(c, 4096))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	return last
}

// Stop ends the probe and waits for its workers.
func (p *Probe) Stop() {
	p.cancel()
	p.wg.Wait()
}

// Samples returns the samples so far, in the order they were sent.
func (p *Probe) Samples() []Sample {
	p.mu.Lock()
	out := append([]Sample(nil), p.s...)
	p.mu.Unlock()
	sortSamples(out)
	return out
}

func sortSamples(s []Sample) {
	// Workers append in completion order; restore send order (insertion
	// sort: nearly sorted already).
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].At.Before(s[j-1].At); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// Last is the latest answer ("" if none yet or nobody answered).
func (p *Probe) Last() Sample {
	s := p.Samples()
	if len(s) == 0 {
		return Sample{}
	}
	return s[len(s)-1]
}

// FirstAnswerBy is the first sample sent at or after since that who
// answered; ok is false if there is none.
func (p *Probe) FirstAnswerBy(who string, since time.Time) (Sample, bool) {
	for _, s := range p.Samples() {
		if !s.At.Before(since) && s.Answer == who {
			return s, true
		}
	}
	return Sample{}, false
}

// LastAnswerBy is the last sample sent before until that who answered.
func (p *Probe) LastAnswerBy(who string, until time.Time) (Sample, bool) {
	var last Sample
	found := false
	for _, s := range p.Samples() {
		if s.At.Before(until) && s.Answer == who {
			last, found = s, true
		}
	}
	return last, found
}

// Answerers lists who answered from since on, in order of first answer.
func (p *Probe) Answerers(since time.Time) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range p.Samples() {
		if !s.At.Before(since) && s.Answer != "" && !seen[s.Answer] {
			seen[s.Answer] = true
			out = append(out, s.Answer)
		}
	}
	return out
}
