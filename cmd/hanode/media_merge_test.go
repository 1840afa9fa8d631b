package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
)

// nftOn runs an nftables script in a host's namespace.
func nftOn(t *testing.T, h *testhosts.Host, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", h.Netns(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nft on %s: %v: %s\n%s", h.Name(), err, out, script)
	}
	return string(out)
}

var nftPackets = regexp.MustCompile(`packets (\d+)`)

// TestMediaSharingOneInterface runs the block many real ha.cf files carry
// (bcast, mcast, ucast and udp all on eth0, one port): both nodes are
// active over one link eth0; every frame of node1 reaches node2 by
// broadcast, by unicast and by multicast, and is processed once (its notes
// are delivered once, no copy is taken for a replay); and any one of the
// three media alone keeps the link up.
func TestMediaSharingOneInterface(t *testing.T) {
	testhosts.RequireCommand(t, "nft", "nftables")
	lab := testhosts.New(t, testhosts.Options{Hosts: 2})
	h1, h2 := lab.Host(1), lab.Host(2)
	nodes := startCluster(t, lab.Hosts(), fastTiming, func(int) string {
		return fmt.Sprintf("bcast eth0\nmcast eth0 225.0.0.1 694 1 0\nucast eth0 %s\nucast eth0 %s\nudp eth0", h1.Addr(), h2.Addr())
	})
	n1, n2 := nodes[0], nodes[1]
	// Count, on h2, node1's datagrams by the way they came.
	nftOn(t, h2, fmt.Sprintf(`table ip hn_media {
	counter bcast {}
	counter ucast {}
	counter mcast {}
	chain count {
		type filter hook input priority -10; policy accept;
		ip saddr %[1]s udp dport 694 meta pkttype broadcast counter name "bcast"
		ip saddr %[1]s udp dport 694 meta pkttype host counter name "ucast"
		ip saddr %[1]s udp dport 694 ip daddr 225.0.0.1 counter name "mcast"
	}
	chain cut {
		type filter hook input priority 0; policy accept;
	}
}
`, h1.Addr()))
	count := func(medium string) int {
		out := nftOn(t, h2, "list counter ip hn_media "+medium+"\n")
		m := nftPackets.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no packet count in %q", out)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}

	waitLinks(t, n1, "node2", "eth0")
	waitLinks(t, n2, "node1", "eth0")
	for _, n := range nodes {
		peer := map[string]string{"node1": "node2", "node2": "node1"}[n.name]
		if code, out := n.clStatus("listhblinks", peer); code != 0 || out != "\teth0\n" {
			t.Fatalf("%s: listhblinks %s: %q, want eth0 once", n.name, peer, out)
		}
	}

	// Every note of node1 arrives three times at node2 and is delivered
	// once; no copy is counted as a replay.
	before := map[string]int{"bcast": count("bcast"), "ucast": count("ucast"), "mcast": count("mcast")}
	for i := 0; i < 10; i++ {
		if code, _, errOut := runCLI("note", "--socket", n1.socket, fmt.Sprintf("note %d", i)); code != 0 {
			t.Fatal(errOut)
		}
	}
	waitNotes(t, n2, map[string]int{"node1": 10})
	for medium, b := range before {
		// 10 notes and their heartbeats: at least 10 frames by each.
		if got := count(medium); got < b+10 {
			t.Errorf("node1's frames by %s: %d more while 10 notes went, want every frame by every medium", medium, got-b)
		}
	}
	s, err := n2.status(t)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.RejectedFrames["replayed sequence"]; n != 0 {
		t.Errorf("node2 took %d copies for replays: %v", n, s.RejectedFrames)
	}

	// Any one medium alone keeps the link up: cut the two others on h2
	// for more than the deadtime (1s).
	kinds := map[string]string{"bcast": "meta pkttype broadcast", "ucast": "meta pkttype host", "mcast": "ip daddr 225.0.0.1"}
	for _, keep := range []string{"bcast", "ucast", "mcast"} {
		var rules []string
		for kind, match := range kinds {
			if kind != keep {
				rules = append(rules, fmt.Sprintf("add rule ip hn_media cut ip saddr %s udp dport 694 %s drop", h1.Addr(), match))
			}
		}
		nftOn(t, h2, "flush chain ip hn_media cut\n"+strings.Join(rules, "\n")+"\n")
		kept := count(keep)
		deadline := time.Now().Add(1500 * time.Millisecond)
		for time.Now().Before(deadline) {
			if code, out := n2.clStatus("hblinkstatus", "node1", "eth0"); code != 0 {
				t.Fatalf("with only %s, link eth0 went %q", keep, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got := count(keep); got < kept+5 {
			t.Fatalf("with only %s: %d frames by it in 1.5s", keep, got-kept)
		}
	}
	nftOn(t, h2, "flush chain ip hn_media cut\n")
	if code, out := n2.clStatus("nodestatus", "node1"); code != 0 || out != "active\n" {
		t.Fatalf("node1 is %q", out)
	}
}

// corpusOnTestHosts are corpus directories run on test hosts, chosen for
// their media: bcast, mcast, ucast and udp on one interface (51); bcast
// and ucast on one interface with a ping node and ipfail (13); a ucast
// peer per node with a ping node (32, and 04 with Heartbeat's
// nice_failback quirk).
var corpusOnTestHosts = []string{"51-ant0wan-k8s", "13-easytzb", "32-cvmfs-hastratum1", "04-7layer-backup"}

// TestCorpusMediaOnTestHosts starts, for each chosen real configuration,
// two nodes on test hosts with its ha.cf and authkeys, rewritten only as
// much as the test hosts need: interfaces become eth0 (eth1), the ucast
// peers the hosts' addresses (in order, the last ones when there are fewer
// peers than nodes, as each file names its peer), ping addresses a third
// host, logfile and debugfile a temporary directory. Node names stay. The
// haresources is empty: this is about media, and the resources (apache2,
// drbd, addresses of other networks) are not on the test hosts. Both
// nodes become active over the mapped links, and the ping nodes answer.
func TestCorpusMediaOnTestHosts(t *testing.T) {
	root := corpusDir(t)
	for _, name := range corpusOnTestHosts {
		t.Run(name, func(t *testing.T) {
			runCorpusMedia(t, filepath.Join(root, name))
		})
	}
}

func runCorpusMedia(t *testing.T, src string) {
	if want, err := readExpect(filepath.Join(src, "EXPECT")); err != nil || want.verdict != "accept" {
		t.Fatalf("%s: EXPECT %+v %v: the test runs accepted configurations only", src, want, err)
	}
	data, err := os.ReadFile(filepath.Join(src, "ha.cf"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	words := func(ln string) []string {
		ln, _, _ = strings.Cut(ln, "#")
		return strings.FieldsFunc(ln, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == '\r' })
	}
	// What the file names: nodes, interfaces, ucast peers, ping addresses.
	var nodeNames, devs, pings []string
	peers := map[string][]string{} // interface -> ucast peers in order
	add := func(list []string, s string) []string {
		for _, x := range list {
			if x == s {
				return list
			}
		}
		return append(list, s)
	}
	for _, ln := range lines {
		w := words(ln)
		if len(w) < 2 {
			continue
		}
		switch w[0] {
		case "node":
			nodeNames = append(nodeNames, w[1:]...)
		case "bcast", "udp":
			for _, d := range w[1:] {
				devs = add(devs, d)
			}
		case "mcast":
			devs = add(devs, w[1])
		case "ucast":
			devs = add(devs, w[1])
			if len(w) > 2 {
				peers[w[1]] = add(peers[w[1]], w[2])
			}
		case "ping":
			for _, a := range w[1:] {
				pings = add(pings, a)
			}
		case "serial", "watchdog", "stonith", "stonith_host", "ping_group", "failfast":
			t.Fatalf("%s uses %s, which the test hosts cannot give it: choose another directory", src, w[0])
		case "respawn":
			if filepath.Base(w[len(w)-1]) != "ipfail" {
				t.Fatalf("%s respawns %s: choose another directory", src, w[len(w)-1])
			}
		}
	}
	if len(nodeNames) != 2 || len(devs) == 0 || len(devs) > 2 {
		t.Fatalf("%s: %d nodes on %d interfaces; the test runs 2 nodes on up to 2 interfaces", src, len(nodeNames), len(devs))
	}
	lab := testhosts.New(t, testhosts.Options{Hosts: 2 + len(pings), SecondNetwork: len(devs) == 2})
	ifname := map[string]string{}
	for i, d := range devs {
		ifname[d] = fmt.Sprintf("eth%d", i)
	}
	addrOf := func(h *testhosts.Host, dev string) string {
		if ifname[dev] == "eth1" {
			return h.Addr2()
		}
		return h.Addr()
	}
	peerAddr := map[string]string{}
	for dev, ps := range peers {
		if len(ps) > 2 {
			t.Fatalf("%s: %d ucast peers on %s", src, len(ps), dev)
		}
		for i, p := range ps {
			peerAddr[p] = addrOf(lab.Host(2-len(ps)+i+1), dev)
		}
	}
	pingAddr := map[string]string{}
	for i, p := range pings {
		pingAddr[p] = lab.Host(3 + i).Addr()
	}
	logs := t.TempDir()
	var out []string
	for _, ln := range lines {
		w := words(ln)
		if len(w) < 2 {
			out = append(out, ln)
			continue
		}
		switch w[0] {
		case "bcast", "udp", "mcast", "ucast":
			w[1] = ifname[w[1]]
			if w[0] == "bcast" || w[0] == "udp" {
				for i := 2; i < len(w); i++ {
					w[i] = ifname[w[i]]
				}
			}
			if w[0] == "ucast" && len(w) > 2 {
				w[2] = peerAddr[w[2]]
			}
		case "ping":
			for i := 1; i < len(w); i++ {
				w[i] = pingAddr[w[i]]
			}
		case "logfile", "debugfile":
			w[1] = filepath.Join(logs, filepath.Base(w[1]))
		default:
			out = append(out, ln)
			continue
		}
		// One rewritten line for one line: errors keep their numbers.
		out = append(out, strings.Join(w, " "))
	}
	cf := strings.Join(out, "\n")
	keys, err := os.ReadFile(filepath.Join(src, "authkeys"))
	if os.IsNotExist(err) {
		keys, err = []byte("auth 1\n1 sha1 SECRET\n"), nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*haNode
	for i, name := range nodeNames {
		h := lab.Host(i + 1)
		n := &haNode{name: name, host: h, dir: h.TempDir()}
		n.socket = filepath.Join(n.dir, "hanode.sock")
		ha := filepath.Join(n.dir, "ha.d")
		if err := os.MkdirAll(ha, 0o755); err != nil {
			t.Fatal(err)
		}
		for file, text := range map[string][]byte{"ha.cf": []byte(cf), "haresources": nil, "authkeys": keys} {
			if err := os.WriteFile(filepath.Join(ha, file), text, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		nodes = append(nodes, n)
	}
	if code, stdout, errOut := runCLI("check", "--hacf", filepath.Join(nodes[0].dir, "ha.d"), "--name", nodeNames[0]); code != 0 {
		t.Fatalf("the rewritten configuration does not check:\n%s%s\n%s", stdout, errOut, cf)
	}
	for _, n := range nodes {
		n.start()
	}
	var links []string
	for _, d := range devs {
		links = append(links, ifname[d])
	}
	for i, n := range nodes {
		waitLinks(t, n, strings.ToLower(nodeNames[1-i]), links...)
		for _, p := range pings {
			testhosts.WaitFor(t, 10*time.Second, 50*time.Millisecond, fmt.Sprintf("%s sees ping node %s", n.name, pingAddr[p]), func() (bool, string) {
				code, out := n.clStatus("nodestatus", pingAddr[p])
				return code == 0 && out == "ping\n", out
			})
		}
	}
	var directives []string
	for _, ln := range out {
		if w := words(ln); len(w) > 0 {
			directives = append(directives, strings.Join(w, " "))
		}
	}
	t.Logf("%s: nodes %s active on %s; ha.cf as run: %s", filepath.Base(src), strings.Join(nodeNames, ", "), strings.Join(links, ", "), strings.Join(directives, "; "))
}
