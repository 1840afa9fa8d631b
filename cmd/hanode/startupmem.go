package main

import (
	"os"
	"runtime/debug"
	"time"

	"github.com/hanode/hanode/node/host/rt"
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
// The program's own pages (rt.ReleaseProgramPages), unless the memory is
// locked (--memlock, realtime), where every page is meant to stay:
// starting touches code of nearly every package (their initialisation,
// the configuration's parsers, the protobuf descriptors), and the kernel
// maps the pages around each one touched too, so that 11.3 of the 12.9
// MB of the program stayed mapped in an idle node. What a running node
// maps back, within a minute, is 8.3-9 MB (its working set, spread by the
// same fault-around): the lasting gain is 2.5-3 MB of its resident set.
func releaseStartupMemory(memlocked bool) {
	debug.FreeOSMemory()
	if memlocked {
		return
	}
	_ = rt.ReleaseProgramPages()
}

// SettledAfter is how long after it starts a node releases its start-up's
// memory a second time (releaseStartupMemory), for a cluster with the
// given initdead: a minute after initdead, when the cluster has formed,
// the peers not heard are given up on and the groups have been claimed and
// started. Released when the node starts, the program's pages of all that
// (the join handshakes, the claims, the first probes and starts, the
// formatting of their log lines) were mapped again and stayed: an idle
// 2-node cluster's nodes kept 9.1 and 9.7 MB of the program mapped, and
// 7.0 and 8.5 MB once released again after a minute (the one holding the
// group runs its monitor every second, and maps that).
func SettledAfter(initdead time.Duration) time.Duration { return initdead + time.Minute }

// releaseWhenSettled releases the start-up's memory again after the
// given time (SettledAfter), unless stop closes first; it says whether it
// did.
func releaseWhenSettled(after time.Duration, memlocked bool, stop <-chan struct{}) bool {
	t := time.NewTimer(after)
	defer t.Stop()
	select {
	case <-t.C:
		releaseStartupMemory(memlocked)
		return true
	case <-stop:
		return false
	}
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
