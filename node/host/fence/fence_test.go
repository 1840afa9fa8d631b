package fence

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// fakeStonith writes a stand-in for cluster-glue's stonith command: -l
// prints a warning on standard error, then the hosts in file list (if it
// exists; else it fails), then another warning; -T records the target.
func fakeStonith(t *testing.T, dir, list string) string {
	t.Helper()
	p := filepath.Join(dir, "stonith")
	body := `#!/bin/sh
for a; do last=$a; done
case " $* " in
*" -l "*)
	echo "WARN: plugin: deprecated parameter, ignored" >&2
	[ -f "` + list + `" ] || { echo "ERROR: cannot reach the device" >&2; exit 1; }
	cat "` + list + `"
	echo "WARN: 3 hosts unreachable" >&2
	exit 0;;
*" -T "*) echo "$last" >> "` + list + `.fenced"; exit 0;;
esac
exit 0
`
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStonithHostsFromStdoutOnly: a plugin that warns on standard error
// and lists 500 VMs (over 4 KiB; the node to fence first): the hosts are
// exactly the standard output's list, none lost and no warning word taken
// for a host.
func TestStonithHostsFromStdoutOnly(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "hosts")
	var want []string
	var b strings.Builder
	for i := 0; i < 500; i++ {
		h := fmt.Sprintf("vm-%03d.cluster.example", i)
		want = append(want, h)
		if i%2 == 0 {
			fmt.Fprintf(&b, "%s\n", strings.ToUpper(h))
		} else {
			fmt.Fprintf(&b, "%s \n\n", h)
		}
	}
	if b.Len() <= 4096 {
		t.Fatalf("list of %d bytes: too short to show anything", b.Len())
	}
	if err := os.WriteFile(list, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := New(&messages.FenceDevice{Name: "vms", Kind: &messages.FenceDevice_Stonith{Stonith: &messages.StonithPlugin{Type: "external/libvirt"}}})
	if err != nil {
		t.Fatal(err)
	}
	d.StonithBin = fakeStonith(t, dir, list)
	if !d.Lists() {
		t.Fatal("a STONITH plugin lists its hosts")
	}
	hosts, err := d.Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hosts, want) {
		t.Fatalf("hosts: %d, from %v to %v", len(hosts), hosts[:min(3, len(hosts))], hosts[max(0, len(hosts)-3):])
	}
	// A listing that fails is an error with the device's word, not an
	// empty (or partial) list.
	os.Remove(list)
	if hosts, err := d.Hosts(context.Background()); err == nil || !strings.Contains(err.Error(), "cannot reach the device") {
		t.Fatalf("failed listing: %v %v", hosts, err)
	}
}
