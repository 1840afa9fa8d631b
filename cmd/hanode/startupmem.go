package main

import "runtime/debug"

// releaseStartupMemory hands back, once the node runs, the heap that
// starting it took and running it does not need (parsing the
// configuration, building the protobuf registries, spawning the actors):
// debug.FreeOSMemory collects once and returns the free pages at once,
// where the runtime's background scavenger would keep most of them and an
// idle node would keep its start-up's peak for a long time. It is one
// collection of a small heap; GOGC and the memory limit stay as they are,
// so a node under load collects as before.
func releaseStartupMemory() { debug.FreeOSMemory() }
