package node

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

// respawnPIDs reads the pids the test program recorded.
func respawnPIDs(dir string) []int {
	b, _ := os.ReadFile(filepath.Join(dir, "pids"))
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

func waitPIDs(t *testing.T, dir string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := respawnPIDs(dir)
		if len(pids) >= n && syscall.Kill(pids[len(pids)-1], 0) == nil {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for start %d of the program: pids %v", n, pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for i := 0; syscall.Kill(pid, 0) == nil; i++ {
		if i > 1000 {
			t.Fatalf("process %d still running", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// respawnCluster is a one-node cluster keeping the test program running
// (as failfast when asked); the program records its pids in dir.
func respawnCluster(t *testing.T, failfast bool) (*messages.Cluster, []string, string) {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	prog, err := filepath.Abs("testdata/respawn/prog")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, addrs := loopbackCluster(t, 1, "100ms", "500ms")
	c.Respawn = []*messages.Respawn{{User: me.Username, Path: prog, Args: []string{dir}, Failfast: failfast}}
	return c, addrs, dir
}

func TestRespawn(t *testing.T) {
	c, addrs, dir := respawnCluster(t, false)
	n := startNode(t, nodeConfig(t, c, addrs, 1), Options{})

	first := waitPIDs(t, dir, 1)[0]
	// Killed: started again at once.
	syscall.Kill(first, syscall.SIGKILL)
	second := waitPIDs(t, dir, 2)[1]
	// Exits with an error: started again.
	os.WriteFile(filepath.Join(dir, "exit"), []byte("3"), 0o644)
	third := waitPIDs(t, dir, 3)[2]
	if first == second || second == third {
		t.Fatalf("pids %d %d %d", first, second, third)
	}
	// Stopping the node stops the program.
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitGone(t, third)
	if pids := respawnPIDs(dir); len(pids) != 3 {
		t.Fatalf("started again while the node stopped: %v", pids)
	}
}

func TestRespawnNotAfterExit100(t *testing.T) {
	c, addrs, dir := respawnCluster(t, false)
	startNode(t, nodeConfig(t, c, addrs, 1), Options{})
	pid := waitPIDs(t, dir, 1)[0]
	os.WriteFile(filepath.Join(dir, "exit"), []byte("100"), 0o644)
	waitGone(t, pid)
	// A restart would come at once (TestRespawn sees it within
	// milliseconds); none may come within half a second.
	time.Sleep(500 * time.Millisecond)
	if pids := respawnPIDs(dir); len(pids) != 1 {
		t.Fatalf("restarted after exit 100: %v", pids)
	}
}

// TestFailfastReboots: a failfast program that dies abnormally reboots the
// machine (here a stand-in records it); one that exits with 100 does not.
func TestFailfastReboots(t *testing.T) {
	c, addrs, dir := respawnCluster(t, true)
	rebooted := make(chan struct{}, 1)
	startNode(t, nodeConfig(t, c, addrs, 1), Options{Reboot: func() error { rebooted <- struct{}{}; return nil }})
	pid := waitPIDs(t, dir, 1)[0]
	os.WriteFile(filepath.Join(dir, "exit"), []byte("7"), 0o644)
	select {
	case <-rebooted:
	case <-time.After(10 * time.Second):
		t.Fatal("no reboot after the failfast program died")
	}
	waitGone(t, pid)
	if pids := respawnPIDs(dir); len(pids) != 1 {
		t.Fatalf("restarted instead of rebooting: %v", pids)
	}
}
