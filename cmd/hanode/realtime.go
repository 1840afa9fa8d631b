package main

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/config/hacf"
	"github.com/hanode/hanode/node/host/rt"
)

// realtimeFlags are run's flags for real-time scheduling and locked
// memory. ha.cf says the same with realtime and rtprio; the native
// configuration has no such fields, so the flags say it there, and a flag
// given overrides ha.cf.
type realtimeFlags struct {
	realtime bool
	rtprio   int
	memlock  bool
}

func (f *realtimeFlags) register(c *cobra.Command) {
	c.Flags().BoolVar(&f.realtime, "realtime", false, "schedule every thread SCHED_RR, above every ordinary process, and lock the memory, as Heartbeat's "+
		"realtime on (default: ha.cf's realtime, else off); the programs hanode starts run at normal priority")
	c.Flags().IntVar(&f.rtprio, "rtprio", 0, fmt.Sprintf("real-time `PRIORITY` (%d-%d) with --realtime (default: ha.cf's rtprio, else %d, as Heartbeat)",
		rt.MinPriority, rt.MaxPriority, rt.DefaultPriority))
	c.Flags().BoolVar(&f.memlock, "memlock", false, "lock hanode's memory (mlockall) so that it is never paged out (default: as --realtime)")
}

// realtimePlan is what run does about scheduling and memory.
type realtimePlan struct {
	realtime bool
	priority int
	memlock  bool
}

// plan reads ha.cf's directives (from the effective parameters), then the
// flags given on the command line.
func (f *realtimeFlags) plan(c *cobra.Command, eff *config.Effective) (realtimePlan, error) {
	p := realtimePlan{priority: rt.DefaultPriority}
	params := eff.Parameters
	if v, ok := params["realtime"]; ok {
		on, err := hacf.ParseBool(v)
		if err != nil {
			return p, fmt.Errorf("realtime: %w", err)
		}
		p.realtime = on
	}
	if v, ok := params["rtprio"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, fmt.Errorf("rtprio %q: not a number", v)
		}
		p.priority = n
	}
	fl := c.Flags()
	if fl.Changed("realtime") {
		p.realtime = f.realtime
	}
	// Heartbeat's realtime locks the memory too; --memlock=false keeps it
	// pageable, --memlock alone locks it at normal priority.
	p.memlock = p.realtime
	if fl.Changed("rtprio") {
		p.priority = f.rtprio
	}
	if fl.Changed("memlock") {
		p.memlock = f.memlock
	}
	if p.priority < rt.MinPriority || p.priority > rt.MaxPriority {
		return p, fmt.Errorf("real-time priority %d: not between %d and %d", p.priority, rt.MinPriority, rt.MaxPriority)
	}
	return p, nil
}

// apply carries out the plan at start. What the machine refuses is a
// warning, as in Heartbeat: the node runs, at normal priority or with its
// memory pageable, and says so.
func (p realtimePlan) apply(log *slog.Logger) {
	if p.memlock {
		if program, err := rt.LockMemory(); err != nil {
			log.Warn("memory not locked: hanode may be paged out under memory pressure", "err", err)
		} else {
			log.Info("memory locked: the program whole, the rest as it is first used", "program_bytes", program)
		}
	}
	if !p.realtime {
		log.Debug("normal priority (realtime off): busy processes can delay this node's heartbeats")
		return
	}
	threads, err := rt.SetRealtime(p.priority)
	if err != nil {
		log.Warn("real-time scheduling refused: running at normal priority", "err", err)
		return
	}
	log.Info("real-time scheduling: every thread SCHED_RR; programs started at normal priority",
		"priority", p.priority, "threads", threads)
	// Go's background work must not take every CPU at real-time priority
	// (node/host/rt.SpareCPU says why).
	if before, after, changed := rt.SpareCPU(); changed {
		log.Info("Go processors lowered to leave a CPU to the rest of the machine", "gomaxprocs", after, "was", before)
	}
}

// realtimeNote is what config convert says of ha.cf's realtime and
// rtprio, which the native configuration has no field for: the flags of
// hanode run say them instead. "" when ha.cf leaves realtime off.
func realtimeNote(params map[string]string) string {
	on, err := hacf.ParseBool(params["realtime"])
	if err != nil || !on {
		return ""
	}
	flags := "--realtime"
	if p, ok := params["rtprio"]; ok {
		flags += " --rtprio " + p
	}
	return "realtime on is not part of the native configuration: run hanode with " + flags
}
