package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/need"
	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/internal/lab/testhosts/hacluster"
)

// IPv6: Heartbeat's ucast6, mcast6 and ping6, alone and mixed with IPv4
// media in one cluster, and IPv6 addresses as resources (IPv6addr, the
// built-in address), on test hosts with IPv6 addresses (global
// fd00:10:201::i and link-local, testhosts.Options.IPv6).

// startCluster6 is startCluster with a resource group: the media lines,
// more lines (extra) and haresources are shared. With a stopTimeout the
// nodes run from the native configuration (startNative).
func startCluster6(t *testing.T, hosts []*testhosts.Host, timing, media, extra, haresources, stopTimeout string) []*haNode {
	t.Helper()
	var names []string
	for i := range hosts {
		names = append(names, fmt.Sprintf("node%d", i+1))
	}
	var nodes []*haNode
	for i, h := range hosts {
		n := &haNode{name: names[i], host: h, dir: h.TempDir()}
		n.socket = filepath.Join(n.dir, "hanode.sock")
		ha := filepath.Join(n.dir, "ha.d")
		if err := os.MkdirAll(ha, 0o755); err != nil {
			t.Fatal(err)
		}
		cf := fmt.Sprintf("logfacility none\n%s\n%s\n%s\nauto_failback on\nnode %s\n", timing, media, extra, strings.Join(names, " "))
		for name, text := range map[string]string{"ha.cf": cf, "haresources": haresources, "authkeys": "auth 1\n1 sha1 " + testKey + "\n"} {
			mode := os.FileMode(0o644)
			if name == "authkeys" {
				mode = 0o600
			}
			if err := os.WriteFile(filepath.Join(ha, name), []byte(text), mode); err != nil {
				t.Fatal(err)
			}
		}
		if stopTimeout == "" {
			n.start()
		} else {
			n.startNative(t, stopTimeout)
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// startNative runs the node from its ha.d converted to the native
// configuration (`hanode config convert`: the IPv6 media round-trip), its
// resources given a stop timeout: without fencing, a cluster of three
// waits for a dead node's stop budget before its groups run elsewhere.
func (n *haNode) startNative(t *testing.T, stop string) {
	t.Helper()
	code, native, errOut := runCLI("config", "convert", filepath.Join(n.dir, "ha.d"))
	if code != 0 {
		t.Fatalf("config convert: %d %s", code, errOut)
	}
	edited := strings.ReplaceAll(native, "  resources: {\n", "  resources: {\n    stop_timeout: \""+stop+"\"\n")
	if !strings.Contains(edited, "stop_timeout") {
		t.Fatalf("no resources to set stop_timeout on in:\n%s", native)
	}
	path := filepath.Join(n.dir, "cluster.textproto")
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	n.proc = n.host.Start(n.name, hanodeBin, "run", "--config", path, "--name", n.name,
		"--state-dir", filepath.Join(n.dir, "state"), "--socket", n.socket)
}

// addrHolders lists the hosts whose eth0 has addr.
func addrHolders(hosts []*testhosts.Host, addr string) []string {
	var on []string
	for _, h := range hosts {
		out, _, _, err := h.Run(context.Background(), "ip", "-6", "-o", "addr", "show", "dev", "eth0")
		if err == nil && strings.Contains(out, " "+addr+"/") {
			on = append(on, h.Name())
		}
	}
	return on
}

func waitHolders(t *testing.T, hosts []*testhosts.Host, addr string, timeout time.Duration, ok func([]string) bool, desc string) []string {
	t.Helper()
	var on []string
	testhosts.WaitFor(t, timeout, 20*time.Millisecond, desc, func() (bool, string) {
		on = addrHolders(hosts, addr)
		return ok(on), fmt.Sprintf("%s on %v", addr, on)
	})
	return on
}

func waitNodeStatus(t *testing.T, n *haNode, peer, want string, timeout time.Duration) {
	t.Helper()
	testhosts.WaitFor(t, timeout, 20*time.Millisecond, fmt.Sprintf("%s sees %s %s", n.name, peer, want), func() (bool, string) {
		_, out := n.clStatus("nodestatus", peer)
		return out == want+"\n", out
	})
}

// TestUcast6LinkLocalOnly: three nodes whose only link is ucast6 to the
// peers' link-local addresses (one shared ha.cf: a peer with %eth0, one
// with the device as implied scope, this node's own line skipped). They
// see each other, a killed node is declared dead, and its group (an IPv6
// built-in address) moves to a survivor.
func TestUcast6LinkLocalOnly(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 3, IPv6: true})
	hosts := lab.Hosts()
	var media strings.Builder
	for i, h := range hosts {
		scope := ""
		if i%2 == 0 {
			scope = "%eth0"
		}
		fmt.Fprintf(&media, "ucast6 eth0 %s%s\n", h.LinkLocal(0), scope)
	}
	const vip = "fd00:10:201::100"
	nodes := startCluster6(t, hosts, fastTiming, media.String(), "", "node1 hanode-address::"+vip+"/64/eth0\n", "1s")
	for _, n := range nodes {
		for _, o := range nodes {
			if o != n {
				waitLinks(t, n, o.name, "eth0")
			}
		}
	}
	waitHolders(t, hosts, vip, 10*time.Second, func(on []string) bool { return strings.Join(on, " ") == "h1" }, "the address on node1")

	nodes[0].proc.Kill()
	for _, n := range nodes[1:] {
		waitNodeStatus(t, n, "node1", "dead", 5*time.Second)
	}
	// node1's host keeps the address it had (a crash removes nothing);
	// one survivor takes it.
	on := waitHolders(t, hosts[1:], vip, 10*time.Second, func(on []string) bool { return len(on) == 1 }, "the address on one survivor")
	t.Logf("after node1 was killed the address is on %v", on)
}

// TestIPv6MixedWithIPv4: two nodes with one IPv4 link (bcast eth1) and one
// IPv6 link (mcast6 and ucast6 to global addresses, both on eth0), and a
// third host as two IPv6 ping nodes (ping6 to its global and to its
// link-local address). Both links come up; losing either is logged, no
// failover; the ping nodes answer, and the global one is dead once its
// address is gone (the link-local one answers on); a killed node is
// declared dead and its group moves.
func TestIPv6MixedWithIPv4(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 3, SecondNetwork: true, IPv6: true})
	h1, h2, router := lab.Host(1), lab.Host(2), lab.Host(3)
	media := fmt.Sprintf("bcast eth1\nmcast6 eth0 ff12::1:2:3:4 694 1 0\nucast6 eth0 %s\nucast6 eth0 %s", h1.Addr6(), h2.Addr6())
	const vip = "fd00:10:201::101"
	// A second ping node: the router's link-local address, with its scope.
	routerLL := router.LinkLocal(0) + "%eth0"
	nodes := startCluster6(t, lab.Hosts()[:2], fastTiming+"\ndeadping 500ms", media, "ping6 "+router.Addr6()+" "+routerLL, "node1 hanode-address::"+vip+"/64/eth0\n", "")
	n1, n2 := nodes[0], nodes[1]
	waitLinks(t, n1, "node2", "eth0", "eth1")
	waitLinks(t, n2, "node1", "eth0", "eth1")
	if code, out, errOut := runCLI("check", "--hacf", filepath.Join(n1.dir, "ha.d"), "--name", "node1"); code != 0 ||
		!strings.Contains(out, "mcast6 on eth0 to [ff12::1:2:3:4]:694 hops 1") || !strings.Contains(out, "ucast on eth0 to "+h1.Addr6()+", "+h2.Addr6()) {
		t.Errorf("check: exit %d\n%s%s", code, out, errOut)
	}
	for _, n := range nodes {
		waitNodeStatus(t, n, router.Addr6(), "ping", 5*time.Second)
		waitNodeStatus(t, n, routerLL, "ping", 5*time.Second)
	}
	waitHolders(t, lab.Hosts(), vip, 10*time.Second, func(on []string) bool { return strings.Join(on, " ") == "h1" }, "the address on node1")

	// The IPv6 link alone, then the IPv4 link alone, carries the cluster.
	for _, dev := range []string{"eth1", "eth0"} {
		other := map[string]string{"eth0": "eth1", "eth1": "eth0"}[dev]
		if err := h2.LinkDown(dev); err != nil {
			t.Fatal(err)
		}
		waitLinkStatus(t, n1, "node2", dev, "dead")
		if _, out := n1.clStatus("hblinkstatus", "node2", other); out != "up\n" {
			t.Fatalf("%s with %s down: %q", other, dev, out)
		}
		if _, out := n1.clStatus("nodestatus", "node2"); out != "active\n" {
			t.Fatalf("node2 with %s down: %q", dev, out)
		}
		if err := h2.LinkUp(dev); err != nil {
			t.Fatal(err)
		}
		waitLinkStatus(t, n1, "node2", dev, "up")
	}

	// The ping node's address goes: it is dead for both nodes.
	if err := router.DelAddr(router.Addr6()+"/64", "eth0"); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitNodeStatus(t, n, router.Addr6(), "dead", 5*time.Second)
		if _, out := n.clStatus("nodestatus", routerLL); out != "ping\n" {
			t.Errorf("%s: the link-local ping node, still there, is %q", n.name, out)
		}
	}

	n1.proc.Kill()
	waitNodeStatus(t, n2, "node1", "dead", 5*time.Second)
	waitHolders(t, []*testhosts.Host{h2}, vip, 10*time.Second, func(on []string) bool { return len(on) == 1 }, "the address on node2")
}

// TestIPv6addrFailover: an IPv6addr group, as Heartbeat's resource.d script
// (the OCF agent of resource-agents underneath) and, with
// hanode_native_addresses on, as the built-in address resource: the
// address is on the holder and moves to node2 when node1 crashes.
func TestIPv6addrFailover(t *testing.T) {
	hacluster.Require(t)
	for _, p := range []string{"/etc/ha.d/resource.d/IPv6addr", "/usr/lib/ocf/resource.d/heartbeat/IPv6addr"} {
		if _, err := os.Stat(p); err != nil {
			need.Missing(t, p+" is missing (apt-get install heartbeat resource-agents)")
		}
	}
	script, err := os.ReadFile("/etc/ha.d/resource.d/IPv6addr")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, resource, hacf, addr string
	}{
		// haresources splits at "::": the script needs the address in full.
		{"script", "IPv6addr::fd00:10:201:0:0:0:0:102/64/eth0", "", "fd00:10:201::102"},
		{"native", "IPv6addr::fd00:10:201::103/64/eth0", "hanode_native_addresses on\n", "fd00:10:201::103"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lab := testhosts.New(t, testhosts.Options{Hosts: 2, IPv6: true})
			hosts := lab.Hosts()
			cl := hacluster.New(t, hacluster.Options{
				Nodes: hosts, Keepalive: "100ms", Deadtime: "500ms", Warntime: "300ms", Initdead: "5",
				Resources: []string{c.resource}, ExtraScripts: map[string][]byte{"IPv6addr": script},
				Service: hanodeBin, HaCf: c.hacf,
			})
			n1, n2 := cl.Nodes[0], cl.Nodes[1]
			n1.Start(hanodeBin)
			n2.Start(hanodeBin)
			waitHolders(t, hosts, c.addr, 20*time.Second, func(on []string) bool { return strings.Join(on, " ") == "h1" }, "the address on node1")
			n1.Crash()
			waitHolders(t, hosts[1:], c.addr, 15*time.Second, func(on []string) bool { return len(on) == 1 }, "the address on node2")
		})
	}
}
