// Package probe asks a TCP service, over and over, who serves it: it
// connects, sends an HTTP request and takes the last line of the reply as
// the answer (the HTTP services of the demo and of the failover tests
// answer with their node's name). The samples tell when a service moved
// and how long nobody answered: the failover gap.
package probe

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Sample is one probe: when it was sent, and who answered ("" when nobody
// did in time).
type Sample struct {
	At     time.Time
	Answer string
	// Fail says why nobody answered: "timeout" (no host answered in
	// time), "refused" (the address is up, the service not), "reset",
	// "other".
	Fail string
}

// Runner runs a worker; it may run it somewhere special (a thread in
// another network namespace). It returns once the worker is under way.
type Runner func(worker func()) error

// Go runs a worker on a goroutine.
func Go(worker func()) error {
	go worker()
	return nil
}

// Probe samples a service until Stop. Several workers, staggered, keep the
// time between probes short even while probes hang (an address nobody
// holds).
type Probe struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	s      []Sample
}

// maxSamples bounds a probe's memory: at 2 ms a sample, about 10 minutes.
const maxSamples = 300000

// New probes addr (host:port) every interval with a per-probe timeout,
// running its workers with run (Go when nil).
func New(addr string, interval, timeout time.Duration, run Runner) (*Probe, error) {
	if run == nil {
		run = Go
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Probe{cancel: cancel}
	workers := min(int(timeout/interval)+1, 16)
	period := interval * time.Duration(workers)
	start := time.Now()
	for w := 0; w < workers; w++ {
		offset := interval * time.Duration(w)
		p.wg.Add(1)
		err := run(func() {
			defer p.wg.Done()
			next := start.Add(offset)
			for ctx.Err() == nil {
				time.Sleep(time.Until(next))
				next = next.Add(period)
				at := time.Now()
				ans, fail := Attempt(addr, timeout)
				p.mu.Lock()
				if len(p.s) < maxSamples {
					p.s = append(p.s, Sample{At: at, Answer: ans, Fail: fail})
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

// Once asks addr who serves it, "" if nobody answers within timeout.
func Once(addr string, timeout time.Duration) string {
	ans, _ := Attempt(addr, timeout)
	return ans
}

// Attempt asks addr who serves it: the last line of the answer, or "" and
// why nobody answered (see Sample.Fail).
func Attempt(addr string, timeout time.Duration) (answer, fail string) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp4", addr)
	if err != nil {
		return "", failure(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		return "", failure(err)
	}
	var last string
	sc := bufio.NewScanner(io.LimitReader(c, 4096))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	if err := sc.Err(); err != nil {
		return "", failure(err)
	}
	if last == "" {
		return "", "other"
	}
	return last, ""
}

// failure names why a probe got no answer.
func failure(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
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
	// Workers append in completion order; restore send order (insertion
	// sort: nearly sorted already).
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].At.Before(out[j-1].At); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Last is the latest sample (zero if none yet).
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

// WaitServedBy waits until the latest answer comes from who, then returns
// the first answer by who sent at or after since. ok is false if that does
// not happen before ctx ends.
func (p *Probe) WaitServedBy(ctx context.Context, who string, since time.Time) (Sample, bool) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if p.Last().Answer == who {
			if s, ok := p.FirstAnswerBy(who, since); ok {
				return s, true
			}
		}
		select {
		case <-ctx.Done():
			return Sample{}, false
		case <-t.C:
		}
	}
}
