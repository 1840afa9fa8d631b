package node

import cmap "github.com/orcaman/concurrent-map"

// protoactor-go's process registry (actor.NewProcessRegistry, one per actor
// system) is 1024 buckets, each a concurrent map of cmap.SHARD_COUNT
// shards: 32 by default, so 32768 maps and read-write locks, 2.8 MB of heap,
// three quarters of an idle node's live heap, to hold a few dozen actors.
// Its 1024 buckets already spread the locking (a PID's bucket is chosen by
// a hash of its name), so one shard per bucket costs no contention that
// matters here and leaves 90 kB.
//
// SHARD_COUNT is read on every lookup (a key's shard is its hash modulo
// SHARD_COUNT), so it must never change once a map exists: it is set here,
// in package initialisation, before any actor system can be made. Nothing
// in this process creates a concurrent map before that (protoactor's actor
// package makes them only in NewActorSystem).
func init() { cmap.SHARD_COUNT = 1 }
