package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/demo"
	"github.com/hanode/hanode/messages"
)

// TestAStalledNodeDoesNotBlameItsPeers: node1 is frozen (SIGSTOP) for
// three deadtimes, as a machine swapping or starved of CPU would be, then
// resumed. Its peers rightly find it silent; but node1 itself, whose
// deadlines fire late and whose frames wait, widens its deadtime by its
// own lateness and reads what its peers sent meanwhile: it never declares
// node2 or node3 dead. Without the widening it did, at once on resuming.
func TestAStalledNodeDoesNotBlameItsPeers(t *testing.T) {
	c, ctx := startDemoCluster(t, demo.Options{Nodes: 3})
	n1 := c.Nodes()[0]
	pid := n1.PID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}()
	// node2 sees node1 dead: the stall is real to its peers.
	n2 := c.Nodes()[1]
	if _, err := n2.WaitStatus(ctx, func(s *messages.ClusterStatus) bool {
		return demo.State(s, n1.Name).GetStatus() == messages.NodeStatus_NODE_STATUS_DEAD
	}); err != nil {
		t.Fatalf("node2 never saw the frozen node1 dead: %v", err)
	}
	time.Sleep(time.Until(stopped.Add(1500 * time.Millisecond))) // three deadtimes frozen
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	// Back together: everyone active again.
	if err := c.WaitAllActive(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := n1.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range s.Timeline {
		if e.Kind == messages.EventKind_EVENT_KIND_MEMBERSHIP && e.Node != n1.Name && strings.Contains(e.Summary, " dead") {
			t.Errorf("the stalled node1 declared a live peer dead: %s", e.Summary)
		}
	}
	if !strings.Contains(n1.Log(), "this node runs late") {
		t.Errorf("node1 did not log its own lateness:\n%s", n1.Log())
	}
}
