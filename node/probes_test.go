package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/actors"
	"github.com/hanode/hanode/messages"
)

// probeSvc is a resource.d script, `ProbeSvc DIR NAME ACTION`: every run
// records the action and its nice value (DIR/nice.NAME); its status (the
// probe at start, then the checks) marks itself running while it runs and
// records how many status runs it saw running (DIR/seen.NAME); start and
// stop keep its state (DIR/up.NAME).
const probeSvc = `#!/bin/sh
dir=$1 name=$2 action=$3
echo "$action $(cut -d' ' -f19 /proc/$$/stat)" >> "$dir/nice.$name"
case $action in
start) : > "$dir/up.$name"; exit 0 ;;
stop) rm -f "$dir/up.$name"; exit 0 ;;
esac
: > "$dir/run.$name"
ls "$dir" | grep -c '^run\.' >> "$dir/seen.$name"
sleep 0.05
rm "$dir/run.$name"
[ -e "$dir/up.$name" ] && echo running
exit 0
`

// TestProbesAreBoundedAndLowered: a node with more groups than probe
// slots probes them all, never more than ProbeSlots at once, each probe
// at ProbeNice below the node, then starts them at the node's priority.
func TestProbesAreBoundedAndLowered(t *testing.T) {
	slots := actors.ProbeSlots()
	groups := slots + 3
	c, addrs := loopbackCluster(t, 1, "100ms", "500ms")
	c.Timing.Initdead = "1s"
	haDir := filepath.Join(t.TempDir(), "ha.d")
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(haDir, "resource.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(haDir, "resource.d", "ProbeSvc"), []byte(probeSvc), 0o755); err != nil {
		t.Fatal(err)
	}
	c.AgentDirs = &messages.AgentDirs{HaDir: haDir}
	var names []string
	for i := range groups {
		name := fmt.Sprintf("g%d", i)
		names = append(names, name)
		c.Groups = append(c.Groups, &messages.ResourceGroup{Name: name, PreferredNode: "n1", Resources: []*messages.Resource{{Id: name,
			Agent: &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: "ProbeSvc", Args: []string{dir, name}}}}}})
	}
	n1 := startNode(t, nodeConfig(t, c, addrs, 1), Options{})
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := n1.Status(context.Background())
		running := 0
		if err == nil {
			for _, g := range s.Groups {
				if g.LocalPhase == messages.GroupPhase_GROUP_PHASE_RUNNING {
					running++
				}
			}
		}
		if running == groups {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d groups running after 30s (%v)", running, groups, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	base, _ := strconv.Atoi(strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))[16])
	for _, name := range names {
		b, _ := os.ReadFile(filepath.Join(dir, "seen."+name))
		first, _, _ := strings.Cut(string(b), "\n")
		if n, err := strconv.Atoi(first); err != nil || n < 1 || n > slots {
			t.Errorf("%s: its probe saw %q probes running at once; the bound is %d", name, first, slots)
		}
		b, _ = os.ReadFile(filepath.Join(dir, "nice."+name))
		runs := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(runs) < 2 || runs[0] != fmt.Sprintf("status %d", min(base+actors.ProbeNice, 19)) || runs[1] != fmt.Sprintf("start %d", base) {
			t.Errorf("%s: runs %q; want the probe at nice %d, then the start at %d", name, runs, min(base+actors.ProbeNice, 19), base)
		}
	}
}
