package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/statusview"
)

// Run is `hanode demo`: it starts a cluster, shows the nodes becoming
// active, kills one with SIGKILL, shows the others declaring it dead with
// the measured detection time, and stops everything.
func Run(ctx context.Context, out io.Writer, opts Options) error {
	start := time.Now()
	say := func(format string, args ...any) {
		fmt.Fprintf(out, "[%6.3fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	if opts.Nodes < 2 {
		return fmt.Errorf("demo: %d nodes: at least 2 are needed, one to kill and one to watch", opts.Nodes)
	}
	c, err := New(opts)
	if err != nil {
		return err
	}
	defer c.Close()
	say("starting %d hanode processes on loopback (keepalive %v, deadtime %v), UDP port %d, files in %s",
		opts.Nodes, opts.Keepalive, opts.Deadtime, c.port, c.dir)
	if err := c.StartAll(); err != nil {
		return err
	}
	for _, n := range c.Nodes() {
		say("  %s  pid %-7d  %s:%d", n.Name, n.PID(), n.Addr, c.port)
	}
	wctx, cancel := context.WithTimeout(ctx, 4*opts.Deadtime+10*time.Second)
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

	victim := c.Nodes()[len(c.Nodes())-1]
	killedAt, err := victim.Kill()
	if err != nil {
		return c.failed(err)
	}
	say("SIGKILL %s (pid %d gone)", victim.Name, victim.cmd.Process.Pid)
	for _, obs := range c.Nodes()[:len(c.Nodes())-1] {
		d, err := c.DetectDeath(wctx, obs, victim, killedAt)
		if err != nil {
			return c.failed(err)
		}
		st, _ := obs.Status(ctx)
		reason := lastReason(st, victim.Name)
		say("%s declares %s dead %v after the kill (deadtime %v): %s", obs.Name, victim.Name, d.Round(time.Millisecond), opts.Deadtime, reason)
	}
	if st, err := c.Nodes()[0].Status(ctx); err == nil {
		say("hanode status on %s:", c.Nodes()[0].Name)
		var b strings.Builder
		statusview.Table(&b, st)
		for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			fmt.Fprintf(out, "           %s\n", line)
		}
	}
	say("stopping the other nodes (SIGTERM)")
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
