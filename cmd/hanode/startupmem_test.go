package main

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/node/host/rt"
)

// programRSS is how many kB of this process's executable are mapped in
// its read-only mappings, by /proc/self/smaps.
func programRSS(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total, counting := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && len(fields[1]) == 4:
			counting = len(fields) >= 6 && fields[5] == exe && !strings.Contains(fields[1], "w")
		case counting && len(fields) == 3 && fields[0] == "Rss:":
			kb, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatal(err)
			}
			total += kb
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// TestReleasingProgramPagesLeavesWhatRunsMapped: after the release, the
// process maps much less of its program, and it keeps running (what it
// runs next is mapped again on first use).
func TestReleasingProgramPagesLeavesWhatRunsMapped(t *testing.T) {
	before := programRSS(t)
	if before < 1024 {
		t.Fatalf("only %d kB of the program mapped before: nothing to measure", before)
	}
	if err := rt.ReleaseProgramPages(); err != nil {
		t.Fatal(err)
	}
	after := programRSS(t)
	if after > before/2 {
		t.Fatalf("%d kB of the program mapped after the release, %d kB before: want less than half", after, before)
	}
	// Still runs: code not run since is mapped again on first use.
	if got := strings.Repeat(strconv.Itoa(42), 3); got != "424242" {
		t.Fatalf("after the release: %q", got)
	}
	t.Logf("program pages mapped: %d kB before, %d kB after", before, after)
}

// TestStartupMemoryIsReleasedAgainOnceSettled: the second release comes
// a minute after initdead and drops the program pages mapped since the
// first; a node that stops first never makes it.
func TestStartupMemoryIsReleasedAgainOnceSettled(t *testing.T) {
	if got := SettledAfter(20 * time.Second); got != 80*time.Second {
		t.Fatalf("SettledAfter(20s) = %v, want 80s", got)
	}
	stop := make(chan struct{})
	close(stop)
	if releaseWhenSettled(time.Hour, false, stop) {
		t.Fatal("released after the node stopped")
	}
	// What runs meanwhile maps pages of the program again.
	rt.ReleaseProgramPages()
	var b strings.Builder
	for i := range 10000 {
		b.WriteString(strconv.Itoa(i))
	}
	debug.FreeOSMemory()
	before := programRSS(t)
	if !releaseWhenSettled(10*time.Millisecond, false, make(chan struct{})) {
		t.Fatal("not released")
	}
	if after := programRSS(t); after >= before {
		t.Fatalf("%d kB of the program mapped after the second release, %d kB before it", after, before)
	} else {
		t.Logf("program pages mapped: %d kB before the second release, %d kB after", before, after)
	}
}

// TestSmallClustersCollectSooner: a node of a cluster of up to
// SmallCluster nodes collects at SmallClusterGC, a larger one at Go's
// default, and GOGC set by the operator always stands.
func TestSmallClustersCollectSooner(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	t.Setenv("GOGC", "") // restored after the test
	os.Unsetenv("GOGC")
	for _, c := range []struct {
		nodes int
		want  int
	}{{2, SmallClusterGC}, {SmallCluster, SmallClusterGC}, {SmallCluster + 1, 100}, {64, 100}} {
		debug.SetGCPercent(100)
		setGCTarget(c.nodes)
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("%d nodes: GOGC %d, want %d", c.nodes, got, c.want)
		}
	}
	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200)
	setGCTarget(2)
	if got := debug.SetGCPercent(100); got != 200 {
		t.Errorf("GOGC=200 set by the operator: %d, want it kept", got)
	}
}

// TestLargeClustersRunOnOneThread: a node of a cluster of more than
// OneThreadCluster nodes runs its Go code on one thread at a time; a
// smaller cluster's keeps the default, and so does any node whose
// operator set GOMAXPROCS.
func TestLargeClustersRunOnOneThread(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	t.Setenv("GOMAXPROCS", "") // restored after the test
	os.Unsetenv("GOMAXPROCS")
	for _, c := range []struct {
		nodes int
		want  int
	}{{2, 4}, {OneThreadCluster, 4}, {OneThreadCluster + 1, 1}, {64, 1}} {
		runtime.GOMAXPROCS(4)
		setThreads(c.nodes)
		if got := runtime.GOMAXPROCS(0); got != c.want {
			t.Errorf("%d nodes: GOMAXPROCS %d, want %d", c.nodes, got, c.want)
		}
	}
	t.Setenv("GOMAXPROCS", "3")
	runtime.GOMAXPROCS(3)
	setThreads(64)
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Errorf("GOMAXPROCS=3 set by the operator: %d, want it kept", got)
	}
}
