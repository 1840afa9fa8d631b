package pacemaker

import (
	"fmt"
	"strings"
)

// corosync writes the corosync.conf (Corosync 3, knet) that carries what
// the CIB cannot: the membership's timing, the nodes' ids and quorum.
// Heartbeat's media do not map one to one onto Corosync's links, which
// are addresses of the nodes: ring0_addr is the node's name, to be
// replaced by its address on the cluster network where the name does not
// resolve to it.
func (b *builder) corosync() []byte {
	e := b.eff
	var s strings.Builder
	s.WriteString("# corosync.conf")
	if b.opt.Origin != "" {
		s.WriteString(" for " + b.opt.Origin)
	}
	if b.opt.Generator != "" {
		s.WriteString(", exported by " + b.opt.Generator)
	}
	s.WriteString(".\n")
	s.WriteString("# The nodes' ids match the CIB's <node id=...>. ring0_addr is each node's\n")
	s.WriteString("# name: write its address on the cluster network where the name does not\n")
	s.WriteString("# resolve to it, and add ring1_addr for a second network (Heartbeat's\n")
	s.WriteString("# second medium). corosync-keygen writes /etc/corosync/authkey, the\n")
	s.WriteString("# counterpart of authkeys, which is not carried over.\n")
	s.WriteString("totem {\n")
	s.WriteString("\tversion: 2\n")
	fmt.Fprintf(&s, "\tcluster_name: %s\n", e.Cluster.GetName())
	s.WriteString("\ttransport: knet\n")
	fmt.Fprintf(&s, "\t# deadtime %s: silence after which a node is lost. Corosync then forms\n", duration(e.Deadtime))
	s.WriteString("\t# a new membership within consensus (1.2 x token by default).\n")
	fmt.Fprintf(&s, "\ttoken: %d\n", e.Deadtime.Milliseconds())
	fmt.Fprintf(&s, "\t# keepalive %s and warntime %s have no counterpart: the token circulates\n", duration(e.Keepalive), duration(e.Warntime))
	s.WriteString("\t# all the time, and knet pings each link at token/(2 x knet_pong_count).\n")
	s.WriteString("\tcrypto_cipher: aes256\n")
	s.WriteString("\tcrypto_hash: sha256\n")
	s.WriteString("}\n\n")
	s.WriteString("nodelist {\n")
	for i, n := range e.Nodes {
		s.WriteString("\tnode {\n")
		fmt.Fprintf(&s, "\t\tname: %s\n", n)
		fmt.Fprintf(&s, "\t\tnodeid: %d\n", i+1)
		fmt.Fprintf(&s, "\t\tring0_addr: %s\n", n)
		s.WriteString("\t}\n")
	}
	s.WriteString("}\n\n")
	s.WriteString("quorum {\n")
	s.WriteString("\tprovider: corosync_votequorum\n")
	if len(e.Nodes) == 2 {
		s.WriteString("\t# Two nodes always have quorum, as in hanode (once both have been seen\n")
		s.WriteString("\t# at the first start: two_node turns wait_for_all on).\n")
		s.WriteString("\ttwo_node: 1\n")
	}
	s.WriteString("}\n\n")
	s.WriteString("logging {\n")
	s.WriteString("\tto_syslog: yes\n")
	s.WriteString("}\n")
	return []byte(s.String())
}
