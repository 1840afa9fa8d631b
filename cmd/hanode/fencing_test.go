package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/internal/lab/testhosts/hacluster"
)

// TestFencedPartition partitions a 2-node cluster that has a fencing
// device (a fence agent that powers a test host off): node2 no longer
// hears node1, which serves the virtual IP; it fences node1 and only then
// takes the group over; node1, which sees node2 dead holding nothing,
// fences nobody. An invariant checker samples, every 10 ms, the hosts that
// are on and have the VIP configured: never two at once.
func TestFencedPartition(t *testing.T) {
	fencedPartitionGap(t)
}

// fencedPartitionGap runs TestFencedPartition's scenario and returns the
// gap: from the split to node2's first answer.
func fencedPartitionGap(t *testing.T) time.Duration {
	l := newFailoverLab(t, 2, "on")
	n1, n2 := l.cluster.Nodes[0], l.cluster.Nodes[1]
	markers := t.TempDir()
	agent := hacluster.WriteFenceAgent(t, t.TempDir())
	// The same /etc/ha.d, converted to the native configuration, plus the
	// fencing device (Heartbeat's ha.cf can only name cluster-glue
	// plugins).
	code, native, errOut := runCLI("config", "convert", n1.HaDir())
	if code != 0 {
		t.Fatalf("convert: %d %s", code, errOut)
	}
	native += fmt.Sprintf(`fence_devices {
  name: "testhosts"
  fence_agent {
    agent: %q
    options { key: "marker_dir" value: %q }
    options { key: "ns_node1" value: %q }
    options { key: "ns_node2" value: %q }
  }
}
`, agent, markers, n1.Host.Netns(), n2.Host.Netns())
	configs := map[string]string{}
	for _, n := range l.cluster.Nodes {
		configs[n.Name] = filepath.Join(n.Dir, "cluster.textproto")
		if err := os.WriteFile(configs[n.Name], []byte(native), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, errOut := runCLI("check", "--config", configs["node1"], "--name", "node1"); code != 0 || !strings.Contains(out, "fence device testhosts: "+agent) {
		t.Fatalf("check: %d %s %s", code, out, errOut)
	}
	start := time.Now()
	n1.StartConfig(hanodeBin, configs["node1"])
	n2.StartConfig(hanodeBin, configs["node2"], "--metrics", "127.0.0.1:9694")
	l.waitServedBy(t, "node1", start, 15*time.Second)
	testhosts.WaitFor(t, 10*time.Second, 20*time.Millisecond, "fence device checked", func() (bool, string) {
		s := nodeStatusOf(t, n2)
		return len(s.FenceDevices) == 1 && s.FenceDevices[0].Ok, fmt.Sprint(s.FenceDevices)
	})

	// Where the VIP is, on both hosts, every 10ms, from the start of the
	// split.
	watch, err := testhosts.WatchAddr([]*testhosts.Host{n1.Host, n2.Host}, netip.MustParseAddr(testVIP), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Stop()
	split := time.Now()
	if err := n1.Host.BlockUDP(694, true); err != nil {
		t.Fatal(err)
	}
	testhosts.WaitFor(t, 10*time.Second, 10*time.Millisecond, "node1 fenced", func() (bool, string) {
		return hacluster.IsOff(n1.Host, markers), fmt.Sprint(nodeStatusOf(t, n2).GetUnfenced())
	})
	fencedAt := hacluster.OffSince(n1.Host, markers)
	first := l.waitServedBy(t, "node2", split, 10*time.Second)
	watch.Stop()
	// A host powered off by the fence agent holds nothing, whatever its
	// (dead) network namespace still says.
	worst, at, hosts := watch.Overlaps(func(host int, t time.Time) bool { return host == 0 && !t.Before(fencedAt) })
	if worst > 0 {
		t.Fatalf("VIP on hosts %v, both powered on, for %v from %v after the split", hosts, worst, at.Sub(split))
	}
	t.Logf("node1 fenced %v after the split; node2 serves the VIP %v after it; %d+%d samples: never on two powered hosts",
		fencedAt.Sub(split).Round(time.Millisecond), first.At.Sub(split).Round(time.Millisecond), watch.Count(0), watch.Count(1))
	if hacluster.IsOff(n2.Host, markers) {
		t.Fatal("node2 was fenced too")
	}
	s := nodeStatusOf(t, n2)
	if len(s.Unfenced) != 0 || fmt.Sprint(s.Groups[0].RunningOn) != "[node2]" {
		t.Fatalf("node2 after fencing: unfenced %v, group on %v", s.Unfenced, s.Groups[0].RunningOn)
	}
	// node2's metrics (scraped from inside its host) count the fence and
	// the move.
	testhosts.WaitFor(t, 5*time.Second, 50*time.Millisecond, "node2's metrics", func() (bool, string) {
		body, err := n2.Host.HTTPGet("http://127.0.0.1:9694/metrics", 2*time.Second)
		if err != nil {
			return false, err.Error()
		}
		ok := strings.Contains(body, `hanode_fence_operations_total{device="testhosts",result="ok",target="node1"} 1`) &&
			strings.Contains(body, `hanode_group_moves_total{from="node1",group="IPaddr2::`+testVIP+`/24/eth0",how="died"} 1`) &&
			strings.Contains(body, `hanode_fence_device_ok{device="testhosts"} 1`)
		return ok, grepLines(body, "hanode_fence") + "\n" + grepLines(body, "hanode_group_moves")
	})
	return first.At.Sub(split)
}

// TestFailingFenceDeviceBlocksTakeover: when the fence device cannot fence
// the dead node, its group never starts elsewhere, and status says why.
func TestFailingFenceDeviceBlocksTakeover(t *testing.T) {
	l := newFailoverLab(t, 2, "on")
	n1, n2 := l.cluster.Nodes[0], l.cluster.Nodes[1]
	broken := filepath.Join(t.TempDir(), "fence_broken")
	os.WriteFile(broken, []byte("#!/bin/sh\ncat >/dev/null\n[ \"$1\" = monitor ] && exit 0\necho 'device unreachable'; exit 1\n"), 0o755)
	code, native, errOut := runCLI("config", "convert", n1.HaDir())
	if code != 0 {
		t.Fatalf("convert: %d %s", code, errOut)
	}
	native += fmt.Sprintf("fence_devices { name: \"broken\" script { path: %q } }\n", broken)
	config := filepath.Join(t.TempDir(), "cluster.textproto")
	os.WriteFile(config, []byte(native), 0o600)
	start := time.Now()
	n1.StartConfig(hanodeBin, config)
	n2.StartConfig(hanodeBin, config)
	l.waitServedBy(t, "node1", start, 15*time.Second)
	crash := time.Now()
	n1.CrashHost()
	testhosts.WaitFor(t, 10*time.Second, 20*time.Millisecond, "a failed fencing attempt reported", func() (bool, string) {
		s := nodeStatusOf(t, n2)
		return len(s.Unfenced) == 1 && s.Unfenced[0].Attempts >= 1 && strings.Contains(s.Unfenced[0].LastFailure, "device unreachable"), fmt.Sprint(s.Unfenced)
	})
	// Past the deadtime by far: still nobody serves, nothing was started.
	time.Sleep(time.Second)
	if who := l.probe.Answerers(crash.Add(100 * time.Millisecond)); len(who) != 0 {
		t.Fatalf("served by %v without fencing", who)
	}
	if on := l.vipHoldersOf(n2); len(on) != 0 {
		t.Fatal("node2 took the VIP without fencing node1")
	}
	if _, out, _ := runCLI("status", "--socket", n2.Socket); !strings.Contains(out, "node1") || !strings.Contains(out, "device unreachable") {
		t.Fatalf("status does not show the fencing failure:\n%s", out)
	}

	// The operator made sure node1 is off, and says so: node2 takes over.
	if code, out, errOut := runCLI("fenced", "--socket", n2.Socket, "node1"); code != 0 || !strings.Contains(out, "node1 confirmed off") {
		t.Fatalf("fenced: %d %q %q", code, out, errOut)
	}
	confirmed := time.Now()
	l.waitServedBy(t, "node2", confirmed, 10*time.Second)
	if code, _, errOut := runCLI("fenced", "--socket", n2.Socket, "node1"); code != 1 || !strings.Contains(errOut, "node1 is not waiting to be fenced") {
		t.Fatalf("second confirmation: %d %q", code, errOut)
	}
}
