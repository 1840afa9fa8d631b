package pingnodes

import (
	"testing"
	"time"
)

// TestIPv6PingNodes: a ping6 node (named by its address, a link-local one
// with its interface) and a group with members of both families answer and
// die as IPv4 ones do; the reply names the member that answered.
func TestIPv6PingNodes(t *testing.T) {
	m := New("n1", []Node{
		{Name: "fe80::1%eth0", Addresses: []string{"fe80::1%eth0"}},
		{Name: "routers", Addresses: []string{"10.0.1.1", "fd00:10:201::fe"}},
	}, time.Second, t0)
	if got := reasons(m.Reply(t0.Add(100*time.Millisecond), "fe80::1%eth0", "fe80::1%eth0")); got != "ping node fe80::1%eth0 answers (fe80::1%eth0); n1 reaches 1 of 2 ping nodes" {
		t.Fatalf("ping6 reply: %s", got)
	}
	if got := reasons(m.Reply(t0.Add(200*time.Millisecond), "routers", "fd00:10:201::fe")); got != "ping node routers answers (fd00:10:201::fe); n1 reaches 2 of 2 ping nodes" {
		t.Fatalf("group reply by its IPv6 member: %s", got)
	}
	m.Reply(t0.Add(900*time.Millisecond), "routers", "10.0.1.1")
	evs := m.Tick(t0.Add(1100 * time.Millisecond))
	if got := reasons(evs); got != "ping node fe80::1%eth0 dead: no echo reply for 1s; n1 reaches 1 of 2 ping nodes" {
		t.Fatalf("tick: %s", got)
	}
}
