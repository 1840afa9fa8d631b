package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/host/fence"
	"github.com/hanode/hanode/node/machine/placement"
)

// fencedGroupCluster is groupCluster's two nodes with fencing device dev,
// fencing retried every 200ms.
func fencedGroupCluster(t *testing.T, dev *messages.FenceDevice) (func(i int) *config.Effective, string, Options) {
	t.Helper()
	cfg, dir := groupCluster(t, 2, messages.AutoFailback_AUTO_FAILBACK_ON)
	withDevice := func(i int) *config.Effective {
		eff := cfg(i)
		eff.Cluster.FenceDevices = []*messages.FenceDevice{dev}
		eff.FenceDevices = []config.FenceSpec{{FenceDevice: dev, Where: "test"}}
		return eff
	}
	opts := Options{TunePlacement: func(c *placement.Config) { c.FenceRetryDelay = 200 * time.Millisecond }}
	return withDevice, dir, opts
}

// crashN1 starts both nodes, waits for the group on n1 and n2's device
// check, then stops n1 without a word, its resources left running (their
// state files stay), as a hung or crashed machine would leave them.
func crashN1(t *testing.T, cfg func(int) *config.Effective, dir string, opts Options, checked func(*messages.FenceDeviceState) bool) *Node {
	t.Helper()
	n1 := startNode(t, cfg(1), opts)
	n2 := startNode(t, cfg(2), opts)
	waitRunning(t, dir, "n1", map[string]*Node{"n1": n1, "n2": n2})
	waitStatus(t, n2, 10*time.Second, "fence device checked", func(s *messages.ClusterStatus) bool {
		return len(s.FenceDevices) == 1 && s.FenceDevices[0].Checked != nil && checked(s.FenceDevices[0])
	})
	n1.halt()
	return n2
}

// waitFenceFailure waits until n2 has failed to fence n1 at least twice,
// the last time for a reason containing why, and checks that the group
// stayed on n1 all along: nothing was taken over unfenced.
func waitFenceFailure(t *testing.T, n2 *Node, dir, why string) {
	t.Helper()
	waitStatus(t, n2, 10*time.Second, "n1's fencing failed twice: "+why, func(s *messages.ClusterStatus) bool {
		if on := runningOn(t, dir, "n1", "n2"); len(on) != 1 || on[0] != "n1" {
			t.Fatalf("the group runs on %v while n1 could not be fenced", on)
		}
		return len(s.Unfenced) == 1 && s.Unfenced[0].Node == "n1" && s.Unfenced[0].Attempts >= 2 &&
			strings.Contains(s.Unfenced[0].LastFailure, why)
	})
	s, err := n2.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if g := s.Groups[0]; len(g.RunningOn) != 1 || g.RunningOn[0] != "n1" || g.LocalPhase == messages.GroupPhase_GROUP_PHASE_RUNNING {
		t.Fatalf("n2's view of the group: %v", g)
	}
}

// TestStonithDeviceMustListTheNodeItFences: the cluster's STONITH device
// first cannot list its hosts, then lists others than the dead node (while
// a warning on standard error names it), then lists it. Only then is it
// fenced and its group moved: before, fencing fails, is retried and shown
// in status, and the group stays where the dead node may still run it.
func TestStonithDeviceMustListTheNodeItFences(t *testing.T) {
	bin := t.TempDir()
	hosts, fenced := filepath.Join(bin, "hosts"), filepath.Join(bin, "fenced")
	cfg, dir, opts := fencedGroupCluster(t, &messages.FenceDevice{Name: "pdu",
		Kind: &messages.FenceDevice_Stonith{Stonith: &messages.StonithPlugin{Type: "external/test", Params: []string{"hostlist=" + hosts}}}})
	// A stand-in for cluster-glue's stonith: fencing a node "powers it
	// off" (its resources' state files go).
	stonith := fmt.Sprintf(`#!/bin/sh
echo "WARN: n1 is slow to answer" >&2
for a; do prev=$last; last=$a; done
case $last in
-S) exit 0;;
-l) [ -f %[1]q ] || { echo "ERROR: cannot reach the device" >&2; exit 1; }
    cat %[1]q; exit 0;;
esac
[ "$prev" = reset ] || exit 1
rm -f %[2]q/a/"$last" %[2]q/b/"$last"
echo "$last" >> %[3]q
`, hosts, dir, fenced)
	if err := os.WriteFile(filepath.Join(bin, "stonith"), []byte(stonith), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))

	n2 := crashN1(t, cfg, dir, opts, func(d *messages.FenceDeviceState) bool {
		return !d.Ok && strings.Contains(d.Detail, "cannot reach the device")
	})
	// Its host list unknown: asked again at each attempt, in vain.
	waitFenceFailure(t, n2, dir, "cannot list the nodes it controls")
	// A list without n1: however loudly standard error names it.
	if err := os.WriteFile(hosts, []byte("n2\nbackup-server\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFenceFailure(t, n2, dir, "n1 is not among the 2 nodes it lists")
	if _, err := os.Stat(fenced); err == nil {
		t.Fatal("the device was told to fence a node it does not list")
	}
	// The device controls n1 now: it is fenced, the group moves.
	if err := os.WriteFile(hosts, []byte("n2\nN1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, dir, "n2", map[string]*Node{"n2": n2})
	if b, _ := os.ReadFile(fenced); string(b) != "n1\n" {
		t.Fatalf("fenced: %q", b)
	}
}

// TestNoDeviceForTheDeadNodeBlocksTakeover: fencing is configured, but
// the only device's targets leave n1 out. n1's death is then a fencing
// failure, retried and reported, not a takeover without fencing.
func TestNoDeviceForTheDeadNodeBlocksTakeover(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "fenced")
	agent := filepath.Join(t.TempDir(), "fence_test")
	if err := os.WriteFile(agent, []byte("#!/bin/sh\ncat >> "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, dir, opts := fencedGroupCluster(t, &messages.FenceDevice{Name: "n2-only",
		Kind: &messages.FenceDevice_FenceAgent{FenceAgent: &messages.FenceAgent{Agent: agent, Targets: []string{"n2"}}}})
	if got := Unfenceable(cfg(2), mustResolveFence(t, cfg(2))); len(got) != 1 || got[0] != "n1" {
		t.Fatalf("unfenceable: %v", got)
	}
	n2 := crashN1(t, cfg, dir, opts, func(d *messages.FenceDeviceState) bool { return d.Ok })
	waitFenceFailure(t, n2, dir, "no fencing device that n2 may use is configured to fence n1")
	if b, _ := os.ReadFile(marker); strings.Contains(string(b), "action=reboot") {
		t.Fatalf("the device was asked to fence: %q", b)
	}
}

func mustResolveFence(t *testing.T, eff *config.Effective) []*fence.Device {
	t.Helper()
	devices, err := ResolveFence(eff)
	if err != nil {
		t.Fatal(err)
	}
	return devices
}
