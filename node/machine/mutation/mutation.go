// Package mutation switches off, for a test, one of the rules that keep a
// resource group on one node, so that the whole-cluster simulation can
// show that its checks catch what the rule prevents (a check that cannot
// fail proves nothing). Nothing but tests sets a mutation; while none is
// set, asking costs one atomic load.
//
// The mutations:
//
//	grant-while-stopping       a node stopping a group no longer holds it: it grants
//	                           claims for it, and others claim it, before the stop ends
//	no-partition-wait          a majority runs a lost node's groups at once, without fencing
//	drop-fenced-notice:NODE    NODE never learns that another node fenced one
//	start-before-kept          a group's moving part is not held until its part kept on
//	                           every node has settled: it may start before that part runs
package mutation

import "sync/atomic"

var active atomic.Pointer[map[string]bool]

// On says whether the named mutation is set.
func On(name string) bool {
	m := active.Load()
	return m != nil && (*m)[name]
}

// Set sets exactly the named mutations until restore is called.
func Set(names ...string) (restore func()) {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	prev := active.Swap(&m)
	return func() { active.Store(prev) }
}
