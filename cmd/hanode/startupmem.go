package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseStartupMemory hands back, once the node runs, the memory that
// starting it took and running it does not need.
//
// The heap (parsing the configuration, building the protobuf registries,
// spawning the actors): debug.FreeOSMemory collects once and returns the
// free pages at once, where the runtime's background scavenger would keep
// most of them and an idle node would keep its start-up's peak for a long
// time. It is one collection of a small heap; GOGC and the memory limit
// stay as they are, so a node under load collects as before.
//
// The program's own pages (releaseProgramPages), unless the memory is
// locked (--memlock, realtime), where every page is meant to stay.
func releaseStartupMemory(memlocked bool) {
	debug.FreeOSMemory()
	if memlocked {
		return
	}
	_ = releaseProgramPages()
}

// SmallClusterGC is the garbage collector's target (GOGC) of a node of a
// cluster of at most SmallCluster nodes. Such a node's heap is a few
// megabytes and its collections few and cheap: with Go's default of 100
// the heap may grow to twice what is live, and the node holding a group
// settled at 16.2 MiB of RSS in an idle 2-node cluster; at 50 it settled
// at 14.7, at the same CPU (0.30% of a core). A larger cluster keeps the
// default: its frames make collections matter to the CPU.
const (
	SmallClusterGC = 50
	SmallCluster   = 16
)

// setGCTarget sets the collector's target for a cluster of nodes, unless
// GOGC says otherwise (the operator's word stands).
func setGCTarget(nodes int) {
	if _, set := os.LookupEnv("GOGC"); set || nodes > SmallCluster {
		return
	}
	debug.SetGCPercent(SmallClusterGC)
}

// releaseProgramPages takes out of this process's page tables the pages
// of its executable's read-only mappings (code, constants, the function
// tables): starting touches code of nearly every package (their
// initialisation, the configuration's parsers, the protobuf
// descriptors), and the kernel maps the pages around each one touched
// too, so that 11.3 of the 12.9 MB of the program stayed mapped in an
// idle node. The pages stay in the page cache, shared with every other
// hanode process; what the node runs next is mapped again from there on
// first use (a minor fault). What a running node maps back, within a
// minute, is 8.3-9 MB (its working set, spread by the same fault-around):
// the lasting gain is 2.5-3 MB of its resident set. Writable mappings
// (the program's variables) are left alone: dropping them would lose
// what was written.
func releaseProgramPages() error {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("release program pages: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("release program pages: %w", err)
	}
	defer f.Close()
	type span struct{ start, end uintptr }
	var spans []span
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-009ab000 r-xp 00000000 fd:01 1234 /usr/sbin/hanode
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		spans = append(spans, span{uintptr(start), uintptr(end)})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("release program pages: %w", err)
	}
	for _, s := range spans {
		// By address: the mapping is the running program's, not a Go
		// slice (unix.Madvise takes one).
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, s.start, s.end-s.start, unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("release program pages %#x-%#x: %w", s.start, s.end, errno)
		}
	}
	return nil
}
