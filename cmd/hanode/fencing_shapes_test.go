package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/internal/lab/testhosts/hacluster"
	"github.com/hanode/hanode/messages"
)

// fencingLab is a failover lab whose nodes share a fencing device every
// node may use: the test fence agent, which powers a test host off (its
// processes killed, its network down) and leaves it off.
type fencingLab struct {
	*failoverLab
	markers string
}

func newFencingLab(t *testing.T, nodes int) *fencingLab {
	t.Helper()
	l := newFailoverLab(t, nodes, "on")
	markers := t.TempDir()
	agent := hacluster.WriteFenceAgent(t, t.TempDir())
	code, native, errOut := runCLI("config", "convert", l.cluster.Nodes[0].HaDir())
	if code != 0 {
		t.Fatalf("convert: %d %s", code, errOut)
	}
	native += fmt.Sprintf("fence_devices {\n  name: \"testhosts\"\n  fence_agent {\n    agent: %q\n    options { key: \"marker_dir\" value: %q }\n", agent, markers)
	for _, n := range l.cluster.Nodes {
		native += fmt.Sprintf("    options { key: \"ns_%s\" value: %q }\n", n.Name, n.Host.Netns())
	}
	native += "  }\n}\n"
	start := time.Now()
	for _, n := range l.cluster.Nodes {
		path := filepath.Join(n.Dir, "cluster.textproto")
		if err := os.WriteFile(path, []byte(native), 0o600); err != nil {
			t.Fatal(err)
		}
		n.StartConfig(hanodeBin, path)
	}
	l.waitServedBy(t, "node1", start, 15*time.Second)
	for _, n := range l.cluster.Nodes {
		testhosts.WaitFor(t, 10*time.Second, 20*time.Millisecond, n.Name+"'s fence device checked", func() (bool, string) {
			s := nodeStatusOf(t, n)
			return len(s.FenceDevices) == 1 && s.FenceDevices[0].Ok, fmt.Sprint(s.FenceDevices)
		})
	}
	return &fencingLab{failoverLab: l, markers: markers}
}

// TestFencingInEveryClusterShape: with a fencing device every node may
// use, the holder of the group (node1) stops answering three ways (its
// host crashes, its hanode alone is killed with the resources left
// running, it is cut off from every peer); each time the survivors fence
// it, and the group runs on exactly one survivor within deadtime +
// fencing + start, never on two powered hosts at once, and every
// survivor's status shows who fenced node1, with which device, when. In
// three and five node clusters: every survivor, not only the fencer, must
// learn of the fencing, or it would deny the takeover for as long as
// node1 stays off.
func TestFencingInEveryClusterShape(t *testing.T) {
	faults := map[string]func(l *fencingLab, n *hacluster.Node){
		"crash":       func(l *fencingLab, n *hacluster.Node) { n.CrashHost() },
		"kill hanode": func(l *fencingLab, n *hacluster.Node) { n.Proc.Kill() },
		"isolate": func(l *fencingLab, n *hacluster.Node) {
			if err := n.Host.BlockUDP(694, true); err != nil {
				t.Fatal(err)
			}
		},
	}
	for _, tc := range []struct {
		nodes int
		fault string
	}{{3, "crash"}, {3, "kill hanode"}, {3, "isolate"}, {5, "crash"}, {5, "isolate"}} {
		t.Run(fmt.Sprintf("%d nodes, %s", tc.nodes, tc.fault), func(t *testing.T) {
			l := newFencingLab(t, tc.nodes)
			n1 := l.cluster.Nodes[0]
			var hosts []*testhosts.Host
			for _, n := range l.cluster.Nodes {
				hosts = append(hosts, n.Host)
			}
			watch, err := testhosts.WatchAddr(hosts, netip.MustParseAddr(testVIP), 10*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			defer watch.Stop()
			fault := time.Now()
			faults[tc.fault](l, n1)
			testhosts.WaitFor(t, 10*time.Second, 10*time.Millisecond, "node1 fenced", func() (bool, string) {
				return hacluster.IsOff(n1.Host, l.markers), ""
			})
			fencedAt := hacluster.OffSince(n1.Host, l.markers)
			// Detection (500ms), the fence agent, the start (IPaddr2 and
			// the HTTP service): well under 5s.
			testhosts.WaitFor(t, 5*time.Second, 10*time.Millisecond, "the VIP served by one survivor", func() (bool, string) {
				last := l.probe.Last()
				return last.Answer != "" && last.Answer != "node1" && last.At.After(fencedAt), last.Answer
			})
			served := l.probe.Last()
			watch.Stop()
			// A host powered off by the fence agent holds nothing,
			// whatever its (dead) network namespace still says.
			worst, at, on := watch.Overlaps(func(host int, t time.Time) bool { return host == 0 && !t.Before(fencedAt) })
			if worst > 0 {
				t.Fatalf("VIP on hosts %v, all powered on, for %v from %v after the fault", on, worst, at.Sub(fault))
			}
			var holders []string
			for _, n := range l.cluster.Nodes[1:] {
				holders = append(holders, l.vipHoldersOf(n)...)
			}
			if len(holders) != 1 || holders[0] != served.Answer {
				t.Fatalf("VIP on %v, served by %s", holders, served.Answer)
			}
			for _, n := range l.cluster.Nodes[1:] {
				if hacluster.IsOff(n.Host, l.markers) {
					t.Fatalf("%s was fenced too", n.Name)
				}
				s := nodeStatusOf(t, n)
				i := slices.IndexFunc(s.Fenced, func(f *messages.FenceRecord) bool { return f.Node == "node1" })
				if i < 0 {
					t.Fatalf("%s's status does not show node1 fenced: %v", n.Name, s.Fenced)
				}
				f := s.Fenced[i]
				if f.Device != "testhosts" || f.FencedBy == "" || f.FencedBy == "node1" || f.Time.AsTime().Before(fault) {
					t.Fatalf("%s's status: %v", n.Name, f)
				}
				if len(s.Unfenced) != 0 || fmt.Sprint(s.Groups[0].RunningOn) != "["+served.Answer+"]" {
					t.Fatalf("%s: still to fence %v, group on %v", n.Name, s.Unfenced, s.Groups[0].RunningOn)
				}
				if _, out, _ := runCLI("status", "--socket", n.Socket); !strings.Contains(out, "Fenced: node1") {
					t.Fatalf("%s's status table does not show the fencing:\n%s", n.Name, out)
				}
			}
			t.Logf("%s: node1 fenced %v after the fault, VIP served by %s %v after it (%v after the fault)",
				tc.fault, fencedAt.Sub(fault).Round(time.Millisecond), served.Answer,
				served.At.Sub(fencedAt).Round(time.Millisecond), served.At.Sub(fault).Round(time.Millisecond))
		})
	}
}
