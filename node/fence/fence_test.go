package fence

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

// need skips (or, in CI, fails) without a program from Debian's packages.
func need(t *testing.T, bin, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing (apt-get install %s)", bin, pkg)
		}
		t.Skipf("%s missing (apt-get install %s)", bin, pkg)
	}
	return p
}

// TestStonithPlugin drives cluster-glue's null plugin through the real
// stonith command, as a Heartbeat stonith_host line configures it.
func TestStonithPlugin(t *testing.T) {
	need(t, "stonith", "cluster-glue")
	d, err := New(&messages.FenceDevice{Name: "null", Kind: &messages.FenceDevice_Stonith{Stonith: &messages.StonithPlugin{
		Type: "null", Params: []string{"node1", "node2"}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hosts, err := d.Hosts(ctx)
	if err != nil || strings.Join(hosts, " ") != "node1 node2" {
		t.Fatalf("hosts: %v %v", hosts, err)
	}
	if err := d.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Fence(ctx, "node2", Reboot); err != nil {
		t.Fatal(err)
	}
	bad, _ := New(&messages.FenceDevice{Name: "nosuch", Kind: &messages.FenceDevice_Stonith{Stonith: &messages.StonithPlugin{Type: "nosuchplugin"}}})
	if err := bad.Check(ctx); err == nil {
		t.Fatal("an unknown plugin passed its check")
	}
}

// TestFenceAgent drives fence-agents' fence_dummy (its file type keeps
// the "power" state in a file) over the stdin key=value protocol.
func TestFenceAgent(t *testing.T) {
	need(t, "fence_dummy", "fence-agents")
	state := filepath.Join(t.TempDir(), "power")
	if err := os.WriteFile(state, []byte("on"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := New(&messages.FenceDevice{Name: "dummy", Kind: &messages.FenceDevice_FenceAgent{FenceAgent: &messages.FenceAgent{
		Agent: "fence_dummy", Options: map[string]string{"type": "file", "status_file": state}, Targets: []string{"Node2"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Controls("node2") || d.Controls("node1") {
		t.Fatal("targets")
	}
	ctx := context.Background()
	if err := d.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Fence(ctx, "node2", Off); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(state); string(b) != "off" {
		t.Fatalf("power state %q after off", b)
	}
	// fence_dummy's fail type never powers anything off.
	failing, _ := New(&messages.FenceDevice{Name: "fail", Kind: &messages.FenceDevice_FenceAgent{FenceAgent: &messages.FenceAgent{
		Agent: "fence_dummy", Options: map[string]string{"type": "fail", "power_timeout": "1"}}}})
	if err := failing.Fence(ctx, "node2", Reboot); err == nil || !strings.Contains(err.Error(), "Timed out waiting to power OFF") {
		t.Fatalf("a fence that cannot work: %v", err)
	}
}

func TestScriptDeviceAndTimeout(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	script := filepath.Join(dir, "fence.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+log+"\n[ \"$2\" = hang ] && sleep 300\nexit 0\n"), 0o755)
	d, err := New(&messages.FenceDevice{Name: "s", RunOn: []string{"*"}, Kind: &messages.FenceDevice_Script{Script: &messages.FenceScript{Path: script, Args: []string{"--lab", "x"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if !d.UsableFrom("anynode") {
		t.Fatal("run_on * is any node")
	}
	ctx := context.Background()
	if err := d.Fence(ctx, "node2", Off); err != nil {
		t.Fatal(err)
	}
	if err := d.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(log); string(b) != "--lab x off node2\n--lab x monitor\n" {
		t.Fatalf("script saw %q", b)
	}
	hang, _ := New(&messages.FenceDevice{Name: "h", Kind: &messages.FenceDevice_Script{Script: &messages.FenceScript{Path: script}}})
	hang.Timeout = 200 * time.Millisecond
	start := time.Now()
	err = hang.Fence(ctx, "hang", Off)
	if err == nil || !strings.Contains(err.Error(), "no answer within 200ms") || time.Since(start) > 5*time.Second {
		t.Fatalf("hung device: %v after %v", err, time.Since(start))
	}
}

func TestRunOnAndBadConfig(t *testing.T) {
	d, _ := New(&messages.FenceDevice{Name: "x", RunOn: []string{"Node1"}, Kind: &messages.FenceDevice_Script{Script: &messages.FenceScript{Path: "/bin/true"}}})
	if !d.UsableFrom("node1") || d.UsableFrom("node2") {
		t.Fatal("run_on")
	}
	for _, bad := range []*messages.FenceDevice{
		{Name: "a"},
		{Name: "b", Kind: &messages.FenceDevice_Stonith{Stonith: &messages.StonithPlugin{}}},
		{Name: "c", Kind: &messages.FenceDevice_FenceAgent{FenceAgent: &messages.FenceAgent{}}},
		{Name: "d", Kind: &messages.FenceDevice_Script{Script: &messages.FenceScript{}}},
	} {
		if _, err := New(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
