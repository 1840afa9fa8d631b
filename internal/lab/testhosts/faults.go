package testhosts

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Isolate drops (or, with on false, lets through again) every IPv4 packet
// between the host and the given addresses (its peers), in both
// directions, with nftables in the host's namespace: a partition that
// leaves the rest of its traffic (a client, the fence devices) alone. ARP
// is not IP and still passes.
func (h *Host) Isolate(peers []string, on bool) error {
	const table = "hn_isolate"
	script := fmt.Sprintf("table ip %s {}\ndelete table ip %s\n", table, table)
	if on {
		if len(peers) == 0 {
			return errors.New("testhosts: Isolate: no peers")
		}
		for _, p := range peers {
			if a, err := netip.ParseAddr(p); err != nil || !a.Is4() {
				return fmt.Errorf("testhosts: Isolate: %q is not an IPv4 address", p)
			}
		}
		set := "{ " + strings.Join(peers, ", ") + " }"
		script += fmt.Sprintf("table ip %s {\n\tchain in { type filter hook input priority -10; ip saddr %s drop; }\n"+
			"\tchain out { type filter hook output priority -10; ip daddr %s drop; }\n}\n", table, set, set)
	}
	return h.nft(script)
}

// LossUDP drops percent % of the UDP datagrams the host sends to port
// (a cluster's heartbeat port), at random, with nftables; each datagram
// crosses one sender, so the rate applies once. Other traffic is left
// alone. 0 removes it.
func (h *Host) LossUDP(port, percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("testhosts: LossUDP %d%%: between 0 and 100", percent)
	}
	table := fmt.Sprintf("hn_loss_udp_%d", port)
	script := fmt.Sprintf("table ip %s {}\ndelete table ip %s\n", table, table)
	if percent > 0 {
		script += fmt.Sprintf("table ip %s {\n\tchain out { type filter hook output priority 0; udp dport %d numgen random mod 100 < %d drop; }\n}\n",
			table, port, percent)
	}
	return h.nft(script)
}
