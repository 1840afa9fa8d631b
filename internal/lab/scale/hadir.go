package scale

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Resources a node's group can be made of.
const (
	// ResourceIPaddr2 is Debian's IPaddr2 (resource-agents, through the
	// heartbeat package's resource.d wrapper) on 10.201.200.i/16: what
	// real clusters run, and what the figures were taken with.
	ResourceIPaddr2 = "ipaddr2"
	// ResourceIPaddr2Native is the same haresources line run by hanode's
	// built-in address (hanode_native_addresses on in ha.cf): at 64
	// nodes every node probes 64 groups at start, and through Debian's
	// script that alone is minutes of CPU on two cores.
	ResourceIPaddr2Native = "ipaddr2-native"
	// ResourceScript is a heartbeat-class shell script that records its
	// state in a file: nearly free, to measure hanode alone.
	ResourceScript = "script"
)

// Debian's scripts the IPaddr2 resource needs in resource.d.
var ipaddr2Scripts = []string{"IPaddr2", "IPaddr", "hto-mapfuncs"}

// debianResourceD is where Debian's heartbeat package keeps them.
const debianResourceD = "/etc/ha.d/resource.d"

// markScript is the ResourceScript agent: `scalemark NAME
// start|stop|status`, its state a file NAME in a directory of the host it
// runs on (%s: each node's script names its own). The test hosts share
// one file system: a state file named in haresources was the same file
// on every host, so a node probing another's group found it running
// there, and stopping it removed it from under its owner.
const markScript = `#!/bin/sh
# hanode scale bench: a resource that costs nothing, its state a file of this host.
f=%q/"$1"
case "$2" in
start) : > "$f" ;;
stop) rm -f "$f" ;;
status) if [ -e "$f" ]; then echo running; else echo stopped; fi ;;
*) echo "usage: $0 FILE start|stop|status" >&2; exit 1 ;;
esac
`

// vip is node i's group address (with ResourceIPaddr2).
func vip(i int) string { return fmt.Sprintf("10.201.200.%d", i) }

// haTime writes a duration as ha.cf does: whole seconds bare, else
// milliseconds.
func haTime(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprint(int64(d / time.Second))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

// haCf is the cluster's ha.cf, the same on every node. Quorum needs no
// line: with three or more nodes a partition without a majority stops its
// groups (hanode's default policy).
func haCf(o Options, addrs []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# hanode scale bench: %d nodes, %s\nlogfacility none\n", o.Nodes, o.Medium)
	fmt.Fprintf(&b, "keepalive %s\ndeadtime %s\ninitdead %s\nudpport 694\n", haTime(o.Keepalive), haTime(o.Deadtime), haTime(o.Initdead))
	switch o.Medium {
	case "bcast":
		b.WriteString("bcast eth0\n")
	case "ucast":
		for _, a := range addrs {
			fmt.Fprintf(&b, "ucast eth0 %s\n", a)
		}
	}
	b.WriteString("auto_failback on\n")
	if o.Resource == ResourceIPaddr2Native {
		b.WriteString("hanode_native_addresses on\n")
	}
	for i := 0; i < o.Nodes; i += 16 {
		var names []string
		for j := i; j < min(i+16, o.Nodes); j++ {
			names = append(names, nodeName(j+1))
		}
		fmt.Fprintf(&b, "node %s\n", strings.Join(names, " "))
	}
	return b.String()
}

// haresources gives each node one group of its own, preferred on it.
func haresources(o Options) string {
	var b strings.Builder
	for i := 1; i <= o.Nodes; i++ {
		switch o.Resource {
		case ResourceIPaddr2, ResourceIPaddr2Native:
			fmt.Fprintf(&b, "%s IPaddr2::%s/16/eth0\n", nodeName(i), vip(i))
		case ResourceScript:
			fmt.Fprintf(&b, "%s scalemark::%s\n", nodeName(i), nodeName(i))
		}
	}
	return b.String()
}

// nodeName is the name of node i (from 1).
func nodeName(i int) string { return fmt.Sprintf("node%d", i) }

// writeHaDirs writes every node's /etc/ha.d: ha.cf, haresources, authkeys
// and resource.d.
func writeHaDirs(o Options, nodes []*node) error {
	secret := make([]byte, 20)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("authkeys secret: %w", err)
	}
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.host.Addr())
	}
	cf := haCf(o, addrs)
	res := haresources(o)
	keys := "auth 1\n1 sha1 " + hex.EncodeToString(secret) + "\n"
	for _, n := range nodes {
		rd := filepath.Join(n.haDir, "resource.d")
		if err := os.MkdirAll(rd, 0o755); err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
		if err := os.MkdirAll(n.stateDir, 0o700); err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
		for name, text := range map[string]string{"ha.cf": cf, "haresources": res, "authkeys": keys} {
			mode := os.FileMode(0o644)
			if name == "authkeys" {
				mode = 0o600
			}
			if err := os.WriteFile(filepath.Join(n.haDir, name), []byte(text), mode); err != nil {
				return fmt.Errorf("%s: %w", n.name, err)
			}
		}
		switch o.Resource {
		case ResourceIPaddr2:
			// Debian's own scripts, unchanged.
			for _, s := range ipaddr2Scripts {
				if err := os.Symlink(filepath.Join(debianResourceD, s), filepath.Join(rd, s)); err != nil {
					return fmt.Errorf("%s: %w", n.name, err)
				}
			}
		case ResourceScript:
			// Emptied: a mark left by an earlier run is a group found
			// running at start.
			marks := filepath.Join(n.dir, "marks")
			if err := os.RemoveAll(marks); err != nil {
				return fmt.Errorf("%s: %w", n.name, err)
			}
			if err := os.MkdirAll(marks, 0o755); err != nil {
				return fmt.Errorf("%s: %w", n.name, err)
			}
			if err := os.WriteFile(filepath.Join(rd, "scalemark"), fmt.Appendf(nil, markScript, marks), 0o755); err != nil {
				return fmt.Errorf("%s: %w", n.name, err)
			}
		}
	}
	return nil
}

// RequireResource says what this machine lacks to run the resource (nil:
// nothing).
func RequireResource(resource string) error {
	switch resource {
	case ResourceScript, ResourceIPaddr2Native:
		return nil
	case ResourceIPaddr2:
		var missing []string
		for _, p := range []string{filepath.Join(debianResourceD, "IPaddr2"), "/usr/lib/ocf/resource.d/heartbeat/IPaddr2"} {
			if _, err := os.Stat(p); err != nil {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("the IPaddr2 resource needs %s (apt-get install heartbeat resource-agents; or -resource script)", strings.Join(missing, ", "))
		}
		return nil
	}
	return fmt.Errorf("resource %q: %s, %s or %s", resource, ResourceIPaddr2, ResourceIPaddr2Native, ResourceScript)
}
