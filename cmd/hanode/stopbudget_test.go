package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hanode/hanode/internal/lab/testhosts/hacluster"
)

// startWithStopTimeout runs hanode on n from the native equivalent of its
// /etc/ha.d with stop_timeout set on every resource. A cluster of three
// or more without fencing that loses a node waits, before running its
// groups elsewhere, for the node to have stopped them by itself: the sum
// of the group's stop timeouts (60s each by default, which haresources
// cannot change), so the multi-host tests of such clusters set a short
// one.
func startWithStopTimeout(t *testing.T, n *hacluster.Node, stop string) {
	t.Helper()
	code, native, errOut := runCLI("config", "convert", n.HaDir())
	if code != 0 {
		t.Fatalf("config convert %s: %d %s", n.HaDir(), code, errOut)
	}
	edited := strings.ReplaceAll(native, "  resources: {\n", "  resources: {\n    stop_timeout: \""+stop+"\"\n")
	if strings.Count(edited, "stop_timeout") == 0 {
		t.Fatalf("no resources to set stop_timeout on in:\n%s", native)
	}
	path := filepath.Join(n.Dir, "cluster.textproto")
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	n.StartConfig(hanodeBin, path)
}
