package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
)

// TestSoakUnderLoss is the long run behind issue 3's figures (make soak):
// three hosts on two networks, 20% of every packet lost on every link,
// keepalive 100ms and deadtime 6 keepalives, for HANODE_SOAK (e.g. 5m)
// while two nodes each send a cluster message every 100ms. It reports and
// asserts no false death and every message delivered once and in order.
func TestSoakUnderLoss(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("HANODE_SOAK"))
	if err != nil {
		t.Skip("long run: set HANODE_SOAK=5m (make soak)")
	}
	lab := testhosts.New(t, testhosts.Options{Hosts: 3, SecondNetwork: true})
	var media []string
	for _, h := range lab.Hosts() {
		media = append(media, "ucast eth0 "+h.Addr(), "ucast eth1 "+h.Addr2())
	}
	nodes := startCluster(t, lab.Hosts(), "keepalive 100ms\ndeadtime 600ms\nwarntime 400ms\ninitdead 10", func(int) string {
		return strings.Join(media, "\n")
	})
	for _, n := range nodes {
		waitLinks(t, n, "node1", "eth0", "eth1")
		waitLinks(t, n, "node3", "eth0", "eth1")
	}
	for _, h := range lab.Hosts() {
		for _, dev := range []string{"eth0", "eth1"} {
			if err := h.Loss(dev, 20); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Now()
	sent := 0
	for tick := time.NewTicker(100 * time.Millisecond); time.Since(start) < d; <-tick.C {
		for _, n := range nodes[:2] {
			if code, _, errOut := runCLI("note", "--socket", n.socket, fmt.Sprintf("soak %d", sent)); code != 0 {
				t.Fatalf("note: %s", errOut)
			}
		}
		sent++
	}
	for _, n := range nodes {
		waitNotes(t, n, map[string]int{"node1": sent, "node2": sent})
	}
	deaths := regexp.MustCompile(`msg="(node\d) dead: [^"]*"`)
	linkDeaths := regexp.MustCompile(`msg="node\d link \S+ dead: `)
	falseDeaths, lostLinks := 0, 0
	for _, n := range nodes {
		out := n.proc.Output()
		for _, m := range deaths.FindAllStringSubmatch(out, -1) {
			t.Logf("%s: false death: %s", n.name, m[0])
			falseDeaths++
		}
		lostLinks += len(linkDeaths.FindAllString(out, -1))
		s, err := n.status(t)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: frames sent %d, datagrams received %d, rejected %v", n.name, s.FramesSent, s.FramesReceived, s.RejectedFrames)
		for _, ns := range s.Nodes {
			if m := ns.GetMessages(); m != nil {
				t.Logf("  stream of %s: last %d, count %d, missing %d, lost %d, retransmissions %d, duplicates %d, naks %d",
					ns.Name, m.Last, m.Count, m.Missing, m.Lost, m.Retransmissions, m.Duplicates, m.Naks)
			}
		}
	}
	t.Logf("soak: %v, 3 nodes, 2 links each with 20%% loss, keepalive 100ms, deadtime 600ms: %d false dead declarations, %d link losses, %d of %d messages delivered to each node, once and in order",
		d, falseDeaths, lostLinks, 2*sent, 2*sent)
	if falseDeaths > 0 {
		t.Errorf("%d false dead declarations", falseDeaths)
	}
}
