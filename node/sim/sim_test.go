package sim

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/hanode/hanode/node/machine/mutation"
	"time"
)

var (
	simN     = flag.Int("sim.n", defaultSchedules, "random schedules to run")
	simSeed  = flag.Uint64("sim.seed", 0, "run only the schedule of this seed (0: seeds 1..sim.n), and print its trace")
	simSteps = flag.Int("sim.steps", 10, "faults and operator requests per schedule")
	simLive  = flag.Bool("sim.live", false, "print the trace as it happens (with -sim.seed)")
	simNodes = flag.Int("sim.nodes", 0, "nodes of every schedule (0: the seed's shape, 2 to 5)")
)

// shape is the cluster shape of a schedule of TestSimulation: the seed's,
// with -sim.nodes nodes if set.
func shape(seed uint64) Options {
	o := Shape(seed)
	if *simNodes > 0 {
		o.Nodes = *simNodes
	}
	return o
}

// runOne runs the schedule of seed in a synctest bubble of its own.
func runOne(t *testing.T, seed uint64, shape func(uint64) Options) *Result {
	t.Helper()
	var res *Result
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		opts := shape(seed)
		opts.Dir = dir
		res = Run(opts, *simSteps)
	})
	return res
}

// TestSimulation runs sim.n random schedules of crash, boot, hanode killed
// or stopped, partition, heal, loss bursts, standby, takeover and fencing
// devices that fail or hang, on clusters of 2 to 5 nodes, and checks the
// invariants of package sim after every step. A failing seed is printed
// with its schedule and trace; -sim.seed=N replays it.
func TestSimulation(t *testing.T) {
	if *simSeed != 0 {
		LiveTrace = *simLive
		res := runOne(t, *simSeed, shape)
		t.Log(res.Report())
		if res.Failed() {
			t.Fail()
		}
		return
	}
	var failed atomic.Int32
	start := time.Now()
	for seed := uint64(1); seed <= uint64(*simN); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			if failed.Load() >= 3 {
				t.Skip("three schedules failed already")
			}
			res := runOne(t, seed, shape)
			if res.Failed() {
				failed.Add(1)
				t.Errorf("schedule failed (replay: go test ./node/sim -run 'TestSimulation$' -sim.seed=%d -sim.nodes=%d -v)\n%s", seed, *simNodes, res.Report())
			}
		})
	}
	t.Cleanup(func() { t.Logf("%d schedules in %v", *simN, time.Since(start).Round(time.Millisecond)) })
}

func TestMain(m *testing.M) {
	flag.Parse()
	// Thousands of short-lived nodes: trade memory for less collection.
	debug.SetGCPercent(400)
	os.Exit(m.Run())
}

// TestChecksBite shows that the simulation's checks catch the unsafe
// behaviour each rule prevents: with the rule switched off (package
// mutation), some schedule of the shape that exercises it must fail.
func TestChecksBite(t *testing.T) {
	for _, tc := range []struct {
		name, mutation string
		shape          func(seed uint64) Options
	}{
		{"grant while stopping", "grant-while-stopping", func(seed uint64) Options {
			o := Shape(seed)
			o.AutoFailback = true // failbacks: a stop, then a claim
			return o
		}},
		{"no partition wait", "no-partition-wait", func(seed uint64) Options {
			o := Shape(seed)
			o.Nodes, o.Fencing = 3+int(seed%3), false
			return o
		}},
		{"fencing news dropped on one node", "drop-fenced-notice:n3", func(seed uint64) Options {
			o := Shape(seed)
			o.Nodes, o.Fencing = 3+int(seed%3), true
			return o
		}},
		{"group started before its part kept everywhere", "start-before-kept", func(seed uint64) Options {
			o := Shape(seed)
			o.Everywhere = true
			return o
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restore := mutation.Set(tc.mutation)
			t.Cleanup(restore)
			var caught atomic.Uint64
			var first atomic.Value
			const tries = 300
			t.Cleanup(func() {
				if caught.Load() == 0 {
					t.Errorf("with %s switched off, %d schedules passed every check: the checks do not bite", tc.mutation, tries)
					return
				}
				t.Logf("caught, first by seed %d: %s", caught.Load(), first.Load())
			})
			for seed := uint64(1); seed <= tries; seed++ {
				t.Run(fmt.Sprint(seed), func(t *testing.T) {
					t.Parallel()
					if caught.Load() != 0 {
						t.Skip("caught already")
					}
					res := runOne(t, 10_000+seed, tc.shape)
					if res.Failed() && caught.CompareAndSwap(0, 10_000+seed) {
						first.Store(res.Violations[0])
					}
				})
			}
		})
	}
}
