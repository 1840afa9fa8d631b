package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/host/fence"
)

// printSecurity prints what decides who can take this cluster over: the
// keys frames are accepted with, the modes and owners of the files that
// say what runs as root, the state directory, and which devices can fence
// which node. Problems that stop a start were errors before this point;
// what is printed here are facts and warnings.
func printSecurity(out io.Writer, l *config.Loaded, eff *config.Effective, devices []*fence.Device, stateDir string) {
	fmt.Fprintln(out, "security:")
	a := eff.Cluster.Auth
	active := messages.AuthMethod_AUTH_METHOD_UNSPECIFIED
	for _, k := range a.Keys {
		if k.Id == a.GetActiveKey() {
			active = k.Method
		}
	}
	var accepted, refused []string
	for _, k := range a.Keys {
		name := fmt.Sprintf("%d (%s)", k.Id, config.MethodName(k.Method))
		if config.RefusedKey(k.Method, active) {
			refused = append(refused, name)
		} else {
			accepted = append(accepted, name)
		}
	}
	fmt.Fprintf(out, "  keys: key %d (%s) signs; accepted: %s", a.GetActiveKey(), config.MethodName(active), strings.Join(accepted, ", "))
	if len(refused) > 0 {
		fmt.Fprintf(out, "; refused: %s, since anyone can compute a crc", strings.Join(refused, ", "))
	}
	fmt.Fprintln(out)
	if active == messages.AuthMethod_AUTH_METHOD_CRC {
		fmt.Fprintln(out, "  warning: crc signs: frames are checked for corruption only; anyone on the network can forge them")
	}

	roles := make([]string, 0, len(l.Files))
	for role := range l.Files {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	for _, role := range roles {
		fmt.Fprintf(out, "  file %s: %s\n", l.Files[role], describeFile(l.Files[role]))
	}
	fmt.Fprintf(out, "  state directory %s: %s\n", stateDir, describeStateDir(stateDir))

	if len(devices) == 0 {
		fmt.Fprintln(out, "  fencing: no device: a dead node's groups move without fencing (as Heartbeat without stonith)")
		return
	}
	for _, n := range eff.Nodes {
		var by []string
		for _, d := range devices {
			if !d.Controls(n) {
				continue
			}
			name := d.Name
			if len(d.Targets) == 0 {
				name += " (if it lists " + n + " when asked)"
			}
			by = append(by, name)
		}
		if len(by) == 0 {
			fmt.Fprintf(out, "  fencing %s: no device controls it: if it dies, its groups stay stopped until an operator confirms it is off (hanode fenced %s)\n", n, n)
			continue
		}
		fmt.Fprintf(out, "  fencing %s: %s\n", n, strings.Join(by, ", "))
	}
}

// describeFile is a file's mode and owner, and whether it is safe.
func describeFile(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return "not present"
	}
	return modeOwner(st) + verdict(config.TrustIssue(path))
}

func describeStateDir(dir string) string {
	st, err := os.Stat(dir)
	if err != nil {
		return "not created yet (hanode run creates it, mode 0700)"
	}
	issue := ""
	if err := node.CheckStateDir(dir); err != nil {
		issue = err.Error()
	}
	return modeOwner(st) + verdict(issue)
}

func modeOwner(st fs.FileInfo) string {
	s := fmt.Sprintf("mode %04o", st.Mode().Perm())
	if uid, ok := config.FileOwner(st); ok {
		s += fmt.Sprintf(", owner uid %d", uid)
	}
	return s
}

func verdict(issue string) string {
	if issue == "" {
		return ": ok"
	}
	return ": warning: " + issue
}
