package main

import (
	"os"
	"runtime"
)

// OneThreadCluster is the cluster size beyond which a node runs its Go
// code on one thread at a time (GOMAXPROCS 1), unless GOMAXPROCS is set
// (the operator's word stands).
//
// A node of a large cluster is woken by its peers' frames tens of times a
// second, and each frame is a little work handed along a chain of actors.
// With two or more Ps, the Go scheduler hands each link of the chain to
// another thread: a futex wake, a thread that spins looking for work and
// then sleeps in the netpoller, and the runtime's monitor (sysmon)
// polling every 20-100 µs while any thread runs. That costs more than the
// work. In one 64-node run on two cores (hanode-bench scale, bcast,
// keepalive 1s), the nodes started with GOMAXPROCS=1 used 0.88-1.01% of
// a core each and the others 1.05-1.16% (15% more), with 0.5 MiB more
// RSS; strace of one node over 5 s: 225 futex calls and 472 sysmon
// sleeps on one thread, 654 and 894 with the default. A node's own work
// is one event loop's: it never needed a second core, and its resource
// agents are processes of their own.
//
// A small cluster keeps the default: its nodes are woken rarely, and its
// short deadtimes (down to 50 ms) are better served by a second thread
// when a collection or a long decision holds the first.
const OneThreadCluster = 16

// setThreads sets how many threads run the node's Go code at once for a
// cluster of nodes.
func setThreads(nodes int) {
	if _, set := os.LookupEnv("GOMAXPROCS"); set || nodes <= OneThreadCluster {
		return
	}
	runtime.GOMAXPROCS(1)
}
