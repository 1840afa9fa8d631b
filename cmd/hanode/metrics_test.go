package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/demo"
	"github.com/hanode/hanode/internal/lab/probe"
)

// scrape fetches a node's metrics.
func scrape(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// metric is the value of the sample name{labels} (labels in the order the
// exposition format writes them: sorted by name).
func metric(t *testing.T, text, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no sample %s in:\n%s", series, grepLines(text, strings.SplitN(series, "{", 2)[0]))
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// startDemoCluster runs a local cluster of real nodes and waits until
// every node sees every other active; it is stopped when the test ends.
func startDemoCluster(t *testing.T, opts demo.Options) (*demo.Cluster, context.Context) {
	t.Helper()
	opts.Exe, opts.Keepalive, opts.Deadtime, opts.Dir = hanodeBin, 100*time.Millisecond, 500*time.Millisecond, t.TempDir()
	c, err := demo.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.StartAll(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if err := c.WaitAllActive(ctx); err != nil {
		t.Fatal(err)
	}
	return c, ctx
}

// TestMetricsAfterFailover runs three real nodes with --metrics and a
// service group on node1, crashes node1, and checks node2's metrics
// against what happened: node1 down, its link dead, the group moved to
// node2 after node1 died with a gap about the deadtime, agent runs
// counted, heartbeats received from both peers, late ones from node1.
func TestMetricsAfterFailover(t *testing.T) {
	c, ctx := startDemoCluster(t, demo.Options{Nodes: 3, Service: true, Metrics: true})
	p, err := probe.New(c.ServiceAddr, 5*time.Millisecond, 50*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	n1, n2 := c.Nodes()[0], c.Nodes()[1]
	if _, ok := p.WaitServedBy(ctx, "node1", time.Time{}); !ok {
		t.Fatal("node1 never served")
	}
	before := scrape(t, n2.MetricsURL)
	if metric(t, before, `hanode_peer_up{peer="node1",type="normal"}`) != 1 || metric(t, before, `hanode_group_phase{group="demo",phase="stopped"}`) != 1 {
		t.Fatalf("before the crash:\n%s", grepLines(before, "hanode_peer_up"))
	}
	crash, err := c.Crash(n1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.WaitServedBy(ctx, "node2", crash); !ok {
		t.Fatal("node2 never served")
	}
	// The group runs (its start reported) before the scrape counts it.
	deadline := time.Now().Add(10 * time.Second)
	var after string
	for {
		after = scrape(t, n2.MetricsURL)
		if strings.Contains(after, `hanode_group_phase{group="demo",phase="running"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group never running in node2's metrics:\n%s", grepLines(after, "hanode_group"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	checks := []struct {
		series string
		ok     func(float64) bool
		want   string
	}{
		{`hanode_peer_up{peer="node1",type="normal"}`, func(v float64) bool { return v == 0 }, "0"},
		{`hanode_peer_up{peer="node3",type="normal"}`, func(v float64) bool { return v == 1 }, "1"},
		{`hanode_peer_status{peer="node1",status="dead"}`, func(v float64) bool { return v == 1 }, "1"},
		{`hanode_link_up{link="lo",peer="node1"}`, func(v float64) bool { return v == 0 }, "0"},
		{`hanode_group_moves_total{from="node1",group="demo",how="died"}`, func(v float64) bool { return v == 1 }, "1"},
		{`hanode_group_move_gap_seconds_count{group="demo",how="died"}`, func(v float64) bool { return v == 1 }, "1"},
		{`hanode_group_move_gap_seconds_sum{group="demo",how="died"}`, func(v float64) bool { return v > 0.4 && v < 3 }, "about the deadtime"},
		{`hanode_resource_operations_total{action="start",group="demo",outcome="succeeded",resource="demosvc::` + c.ServiceAddr + `"}`, func(v float64) bool { return v == 1 }, "1"},
		{`hanode_heartbeats_received_total{link="lo",peer="node1"}`, func(v float64) bool { return v > 0 }, "> 0"},
		{`hanode_heartbeats_received_total{link="lo",peer="node3"}`, func(v float64) bool { return v > 0 }, "> 0"},
		{`hanode_heartbeats_late_total{peer="node1"}`, func(v float64) bool { return v == 1 }, "1"},
		{`hanode_heartbeats_sent_total`, func(v float64) bool { return v > 0 }, "> 0"},
		{`hanode_frames_sent_total{link="lo"}`, func(v float64) bool { return v > 0 }, "> 0"},
		{`hanode_quorum`, func(v float64) bool { return v == 1 }, "1"},
	}
	for _, c := range checks {
		if v := metric(t, after, c.series); !c.ok(v) {
			t.Errorf("%s = %v, want %s", c.series, v, c.want)
		}
	}
}

// TestTraceAttach attaches `hanode trace` to a running node, filtered to
// frames received by the membership actor, and sees them arrive.
func TestTraceAttach(t *testing.T) {
	c, ctx := startDemoCluster(t, demo.Options{Nodes: 2})
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := runCLI("trace", "--socket", c.Nodes()[0].Socket, "--actor", "membership", "--type", "FrameReceived", "-n", "5")
		done <- result{code, out, errOut}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("trace saw fewer than 5 records in 20s")
	}
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if r.code != 0 || len(lines) != 5 {
		t.Fatalf("trace: exit %d, %d lines: %q %q", r.code, len(lines), r.out, r.err)
	}
	for _, l := range lines {
		if !strings.Contains(l, "-> node/membership  *actors.FrameReceived  heartbeat NODE_STATUS_ACTIVE from node2") {
			t.Errorf("unexpected record %q", l)
		}
	}
}

// TestStatusWatch: --watch redraws the status; --count bounds it.
func TestStatusWatch(t *testing.T) {
	c, _ := startDemoCluster(t, demo.Options{Nodes: 2})
	code, out, errOut := runCLI("status", "--socket", c.Nodes()[0].Socket, "--watch", "--interval", "50ms", "--count", "3")
	if code != 0 || strings.Count(out, "cluster demo, node node1") != 3 || strings.Count(out, "----\n") != 2 {
		t.Fatalf("watch: exit %d %q\n%s", code, errOut, out)
	}
}
