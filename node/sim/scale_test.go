package sim

import (
	"context"
	"flag"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hanode/hanode/messages"
)

// 32 nodes by default: beyond 28 a heartbeat carries some sessions each,
// in turn (node.HeartbeatSessions), and this test is what runs that in
// make test.
var simScale = flag.Int("sim.scale", 32, "nodes of TestScaleJoinCost")

// TestScaleJoinCost starts sim.scale nodes (one group each, a node every
// 100ms) at keepalive 1s / deadtime 10s on the in-memory network, watches
// them for two minutes of cluster time, and checks what a join may cost:
// no node is ever declared dead (nothing fails) or stops hearing another
// (every acknowledgement, though a heartbeat carries some sessions each
// beyond 28 nodes, stays within deadtime), every group runs once,
// and each node's cluster messages stay within a constant per join, not
// a multiple of the cluster's size. In fake time the figures are the
// protocol's own, whatever the machine's load.
func TestScaleJoinCost(t *testing.T) {
	n := *simScale
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		b := NewBehaviour(1)
		b.calm()
		b.MinOp, b.MaxOp = 10*time.Millisecond, 50*time.Millisecond
		c, err := New(Options{Seed: 1, Nodes: n, Groups: n, Resources: 1, Keepalive: time.Second, Deadtime: 10 * time.Second, Dir: dir}, b)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			c.Close()
			time.Sleep(time.Minute)
		}()
		start := time.Now()
		for _, name := range c.Names() {
			if err := c.Boot(name); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(2 * time.Minute)
		elapsed := time.Since(start)
		var sent, retrans, naks []uint64
		deaths, unheard := 0, 0
		for _, name := range c.Names() {
			s, err := c.Node(name).Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, nd := range s.Nodes {
				if nd.Status != messages.NodeStatus_NODE_STATUS_ACTIVE {
					t.Errorf("%s sees %s %v", name, nd.Name, nd.Status)
				}
				if !nd.Local && !nd.HearsUs {
					t.Errorf("%s: %s does not hear it", name, nd.Name)
				}
				if nd.Local {
					sent = append(sent, nd.GetMessages().GetCount())
					retrans = append(retrans, nd.GetMessages().GetRetransmissions())
					naks = append(naks, nd.GetMessages().GetNaks())
				}
			}
			for _, e := range c.Node(name).Timeline(0) {
				if e.Kind == messages.EventKind_EVENT_KIND_MEMBERSHIP && strings.Contains(e.Summary, "has not acknowledged") {
					unheard++
					if unheard < 5 {
						t.Errorf("%s: %s", name, e.Summary)
					}
				}
				if e.Kind == messages.EventKind_EVENT_KIND_MEMBERSHIP && e.Node != name && strings.Contains(e.Summary, " dead") {
					deaths++
					if deaths < 5 {
						t.Errorf("%s: %s", name, e.Summary)
					}
				}
			}
		}
		slices.Sort(sent)
		var total uint64
		for _, s := range sent {
			total += s
		}
		t.Logf("%d nodes, %v: cluster messages sent per node: median %d, max %d, total %d (%.2f per node per second); retransmitted %v; NAKs %v; false deaths %d",
			n, elapsed.Round(time.Second), sent[len(sent)/2], sent[len(sent)-1], total, float64(total)/float64(n)/elapsed.Seconds(), sum(retrans), sum(naks), deaths)
		if deaths > 0 {
			t.Errorf("%d false deaths", deaths)
		}
		// Each node joins once and sees n-1 joins: a constant number of
		// messages for each is what a join may cost.
		if limit := uint64(4*n + 20); sent[len(sent)-1] > limit {
			t.Errorf("a node sent %d cluster messages for %d joins (limit %d)", sent[len(sent)-1], n, limit)
		}
	})
}

func sum(v []uint64) uint64 {
	var t uint64
	for _, x := range v {
		t += x
	}
	return t
}
