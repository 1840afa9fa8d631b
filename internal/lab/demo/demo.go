package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hanode/hanode/internal/cli/statusview"
	"github.com/hanode/hanode/internal/lab/probe"
	"github.com/hanode/hanode/messages"
)

// Run is `hanode demo`: it starts a cluster whose node1 runs a small
// service, shows the nodes becoming active, crashes node1 (SIGKILL of the
// node and its service) and shows the others declaring it dead and node2
// taking the service over, with the measured detection time and failover
// gap; restarts node1, which takes the service back (auto_failback); stops
// node1 cleanly and shows node2 taking over at once; then stops
// everything.
func Run(ctx context.Context, out io.Writer, opts Options) error {
	start := time.Now()
	say := func(format string, args ...any) {
		fmt.Fprintf(out, "[%6.3fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	if opts.Nodes < 3 {
		return fmt.Errorf("demo: %d nodes: at least 3 are needed, to crash one and stop another", opts.Nodes)
	}
	opts.Service = true
	c, err := New(opts)
	if err != nil {
		return err
	}
	defer c.Close()
	say("starting %d hanode processes on loopback (keepalive %v, deadtime %v), UDP port %d, files in %s",
		opts.Nodes, opts.Keepalive, opts.Deadtime, c.port, c.dir)
	say("resource group \"demo\" prefers node1: a service answering on %s with its node's name", c.ServiceAddr)
	if err := c.StartAll(); err != nil {
		return err
	}
	for _, n := range c.Nodes() {
		say("  %s  pid %-7d  %s:%d", n.Name, n.PID(), n.Addr, c.port)
	}
	wctx, cancel := context.WithTimeout(ctx, 4*opts.Deadtime+20*time.Second)
	defer cancel()
	if err := c.WaitAllActive(wctx); err != nil {
		return c.failed(err)
	}
	say("every node sees every node active:")
	s, err := c.Nodes()[0].Status(ctx)
	if err != nil {
		return c.failed(err)
	}
	for _, n := range s.Nodes {
		say("  %-6s %-6s generation %d", n.Name, word(n.Status.String()), n.Generation)
	}

	p, err := probe.New(c.ServiceAddr, 2*time.Millisecond, 50*time.Millisecond, nil)
	if err != nil {
		return c.failed(err)
	}
	defer p.Stop()
	n1, n2, n3 := c.Nodes()[0], c.Nodes()[1], c.Nodes()[2]
	if _, ok := p.WaitServedBy(wctx, n1.Name, start); !ok {
		return c.failed(fmt.Errorf("the demo service is not answered by node1: %w", wctx.Err()))
	}
	say("%s answered by %s (pid %d of the service)", c.ServiceAddr, n1.Name, c.ServicePID(n1))

	// A crash: node1 and its service die at once.
	crashedAt, err := c.Crash(n1)
	if err != nil {
		return c.failed(err)
	}
	say("SIGKILL node1 and its service (a crash of its machine)")
	for _, obs := range c.Nodes()[1:] {
		d, err := c.DetectDeath(wctx, obs, n1, crashedAt)
		if err != nil {
			return c.failed(err)
		}
		st, _ := obs.Status(ctx)
		say("%s declares node1 dead %v after the kill (deadtime %v): %s", obs.Name, d.Round(time.Millisecond), opts.Deadtime, lastReason(st, n1.Name))
	}
	say("no fencing device here: node2 and node3 wait until node1, had it been cut off rather than dead, must have stopped the service by itself (it lost quorum; stop budget %v)", DemoStopTimeout)
	first, ok := p.WaitServedBy(wctx, n2.Name, crashedAt)
	if !ok {
		return c.failed(fmt.Errorf("node2 did not take the demo service over: %w", wctx.Err()))
	}
	say("%s answered by node2 %v after the crash: the failover gap (deadtime, the stop budget, the start)", c.ServiceAddr, first.At.Sub(crashedAt).Round(time.Millisecond))

	// node1 comes back: auto_failback moves the service home, node2
	// handing it over cleanly.
	backAt := time.Now()
	if err := c.Start(0); err != nil {
		return c.failed(err)
	}
	say("node1 restarted (pid %d): auto_failback brings the service home", n1.PID())
	first, ok = p.WaitServedBy(wctx, n1.Name, backAt)
	if !ok {
		return c.failed(fmt.Errorf("the demo service did not return to node1: %w", wctx.Err()))
	}
	last, _ := p.LastAnswerBy(n2.Name, first.At)
	say("%s answered by node1 again %v after its restart; unanswered for %v during the hand-over",
		c.ServiceAddr, first.At.Sub(backAt).Round(time.Millisecond), first.At.Sub(last.At).Round(time.Millisecond))

	// A clean stop: node1 hands the service to node2 without waiting for
	// deadtime.
	stopAt := time.Now()
	say("SIGTERM node1 (a clean stop: it releases the group and says so)")
	if err := n1.Stop(time.Minute); err != nil {
		return c.failed(err)
	}
	first, ok = p.WaitServedBy(wctx, n2.Name, stopAt)
	if !ok {
		return c.failed(fmt.Errorf("node2 did not take the demo service over: %w", wctx.Err()))
	}
	last, _ = p.LastAnswerBy(n1.Name, first.At)
	say("%s answered by node2 %v after SIGTERM; unanswered for %v: the clean hand-over gap",
		c.ServiceAddr, first.At.Sub(stopAt).Round(time.Millisecond), first.At.Sub(last.At).Round(time.Millisecond))

	if st, err := n3.Status(ctx); err == nil {
		say("hanode status on %s:", n3.Name)
		var b strings.Builder
		statusview.Table(&b, st)
		for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			fmt.Fprintf(out, "           %s\n", line)
		}
	}
	say("stopping the other nodes (SIGTERM)")
	p.Stop()
	if err := c.Close(); err != nil {
		return err
	}
	say("done")
	return nil
}

// failed adds the nodes' logs to an error, so that a demo that fails says
// why.
func (c *Cluster) failed(err error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "demo failed: %v", err)
	for _, n := range c.nodes {
		log := strings.TrimSpace(n.Log())
		lines := strings.Split(log, "\n")
		if len(lines) > 10 {
			lines = lines[len(lines)-10:]
		}
		fmt.Fprintf(&b, "\n--- %s (last lines of %s)\n%s", n.Name, n.LogPath, strings.Join(lines, "\n"))
	}
	return fmt.Errorf("%s", b.String())
}

func word(enum string) string {
	if i := strings.LastIndexByte(enum, '_'); i >= 0 {
		return strings.ToLower(enum[i+1:])
	}
	return strings.ToLower(enum)
}

// lastReason is the reason of the last event about node in s.
func lastReason(s *messages.ClusterStatus, node string) string {
	evs := s.GetRecentEvents()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Node == node && evs[i].Kind == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS {
			return evs[i].Reason
		}
	}
	return ""
}
