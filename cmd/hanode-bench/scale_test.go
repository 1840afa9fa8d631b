package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/netlab"
	"github.com/hanode/hanode/internal/lab/scale"
)

// TestScaleShort is the scale bench of make bench, shortened for make
// test: 8 nodes on test hosts, bcast, keepalive 200ms / deadtime 2s,
// each with an IPaddr2 group, started one per 100ms and watched for 20 s.
// The view must become stable within initdead (plus a margin for a
// loaded machine), no node may declare another dead, and every group
// must run exactly once, on its node, its address on that host only.
func TestScaleShort(t *testing.T) {
	requireScale(t)
	dir := t.TempDir()
	hanode := filepath.Join(dir, "hanode")
	build := exec.Command("go", "build", "-o", hanode, "github.com/hanode/hanode/cmd/hanode")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building hanode: %v\n%s", err, out)
	}
	const (
		keepalive = 200 * time.Millisecond
		deadtime  = 2 * time.Second
		initdead  = 2 * deadtime
		// margin is what a machine busy with the rest of make test may add
		// to the formation.
		margin = 3 * time.Second
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := scale.Run(ctx, scale.Options{
		Hanode: hanode, Nodes: 8, Medium: "bcast",
		Keepalive: keepalive, Deadtime: deadtime, Initdead: initdead,
		Duration: 20 * time.Second, Sample: time.Second,
		// Quick to give up: the assertion below is far tighter.
		FormationTimeout: initdead + margin,
		Resource:         scale.ResourceIPaddr2,
		Out:              filepath.Join(dir, "out"),
		Progress:         testWriter{t},
	})
	if r != nil {
		var report strings.Builder
		r.Report(&report)
		t.Log("\n" + report.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if r.Aborted != "" {
		t.Fatalf("stopped early: %s", r.Aborted)
	}
	if !r.Stable {
		t.Errorf("no stable view: %d of 64 views not active after %v", r.NotActive, initdead+margin)
	} else if r.StableAfter > initdead+margin {
		t.Errorf("stable view after %v: later than initdead (%v) + %v", r.StableAfter, initdead, margin)
	}
	if r.FalseDeaths > 0 || r.DeathsAtLeast {
		t.Errorf("%d false deaths (at least: %v) in %v: %v", r.FalseDeaths, r.DeathsAtLeast, r.Watched, r.Deaths)
	}
	if len(r.Exited) > 0 {
		t.Errorf("nodes exited or reset: %v", r.Exited)
	}
	for _, p := range append(r.GroupProblems, r.AddressProblems...) {
		t.Error(p)
	}
	if _, err := os.Stat(r.PlotPNG); err != nil {
		t.Errorf("no plot: %v", err)
	}
}

// requireScale checks for what the scale bench needs: test hosts (root,
// ip, network namespaces) and Debian's IPaddr2. In CI the test must run:
// what is missing fails it; elsewhere it skips, saying what is missing.
func requireScale(t *testing.T) {
	t.Helper()
	var missing []string
	if err := netlab.Require(); err != nil {
		missing = append(missing, err.Error())
	}
	if err := scale.RequireResource(scale.ResourceIPaddr2); err != nil {
		missing = append(missing, err.Error())
	}
	if len(missing) == 0 {
		return
	}
	msg := "the scale bench: " + strings.Join(missing, "; ")
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: this test must run; .ci/run installs what it needs and runs as root)")
	}
	t.Skip(msg)
}

// testWriter sends the bench's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
