package scale

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// Report prints the run as the other hanode-bench measurements do: what
// ran, a table per node, the cluster's figures, the files, and a one-line
// summary last.
func (r *Result) Report(w io.Writer) {
	o := r.Options
	resource := map[string]string{ResourceIPaddr2: "IPaddr2 groups", ResourceIPaddr2Native: "IPaddr2 groups run natively", ResourceScript: "script groups"}[o.Resource]
	fmt.Fprintf(w, "scale: %d nodes, %s, keepalive %v, deadtime %v, initdead %v, %s, quorum on, started one per %v (span %v); watched %v\n",
		o.Nodes, o.Medium, o.Keepalive, o.Deadtime, o.Initdead, resource, o.StartInterval, r.StartSpan.Round(time.Millisecond), r.Watched.Round(time.Second))
	if r.Aborted != "" {
		fmt.Fprintf(w, "STOPPED EARLY: %s\n", r.Aborted)
	}
	fmt.Fprintf(w, "%-8s %7s %9s %10s %8s %8s %8s %7s %7s %7s %9s\n",
		"node", "CPU %", "agents %", "RSS start", "RSS end", "RSS max", "msgs/s", "resent", "NAKs", "deaths", "log KiB")
	for _, n := range r.Nodes {
		mark := ""
		switch {
		case n.Reset:
			mark = " (reset)"
		case n.Exited:
			mark = " (exited)"
		}
		fmt.Fprintf(w, "%-8s %7.2f %9.2f %10.1f %8.1f %8.1f %8.2f %7d %7d %7d %9d%s\n",
			n.Name, n.CPUPercent, n.AgentPercent, n.RSSStart, n.RSSEnd, n.RSSMax, n.MsgsPerSec, n.Resent, n.Naks, n.DeathsSeen, n.LogBytes/1024, mark)
	}
	if r.Stable {
		within := "within initdead"
		if r.StableAfter > o.Initdead {
			within = "LATER than initdead"
		}
		fmt.Fprintf(w, "stable view: after %v (%s, %v)\n", r.StableAfter.Round(time.Millisecond), within, o.Initdead)
	} else {
		fmt.Fprintf(w, "stable view: NEVER: %d of %d views not active when the bench gave up waiting\n", r.NotActive, o.Nodes*o.Nodes)
	}
	if r.GroupsRunning {
		fmt.Fprintf(w, "groups: every group ran on its node after %v\n", r.GroupsRunningAfter.Round(time.Millisecond))
	} else {
		fmt.Fprintln(w, "groups: NEVER all running on their nodes at once")
	}
	if len(r.GroupProblems)+len(r.AddressProblems) == 0 {
		fmt.Fprintf(w, "groups at the end: each runs exactly once, on its node%s\n", map[bool]string{true: " (and its address is on that host only)"}[o.Resource == ResourceIPaddr2 || o.Resource == ResourceIPaddr2Native])
	} else {
		fmt.Fprintf(w, "groups at the end: %d problems: %s\n", len(r.GroupProblems)+len(r.AddressProblems), firstFew(append(r.GroupProblems, r.AddressProblems...), 5))
	}
	fmt.Fprintf(w, "false deaths while watching: %s (before formation: %d); quorum changes: %d\n", r.deathsText(), r.FormationDeaths, r.QuorumEvents)
	for _, d := range r.Deaths {
		fmt.Fprintf(w, "  %s\n", d)
	}
	if len(r.Exited) > 0 {
		fmt.Fprintf(w, "nodes that exited or reset: %s\n", strings.Join(r.Exited, " "))
	}
	fmt.Fprintf(w, "cluster messages per node per second: %.3f sent (%.3f in the second half of the watch), %.3f resent, %.3f NAKs, %.3f retransmission requests; %d lost; frames sent %.2f per node per second\n",
		r.Msgs, r.MsgsLate, r.Resent, r.Naks, r.RexmitRequests, r.Lost, r.Frames)
	fmt.Fprintf(w, "frames dropped at the nodes' gates (actors behind): %d in all, %d of them before watching\n", r.Overload, r.OverloadForming)
	fmt.Fprintf(w, "CPU: %.2f%% of a core per node, the whole cluster %.1f%% of a core; the agents %.1f%% of a core\n",
		r.CPUPercentPerNode, 100*r.ClusterCores, 100*r.AgentCores)
	fmt.Fprintf(w, "RSS per node: %s\n", r.rssText())
	fmt.Fprintf(w, "status requests unanswered within %v while watching: %d of %d; the machine's load average reached %.1f (%d cores; other work on the machine counts too)\n",
		statusTimeout(o.Keepalive), r.StatusFailures, r.StatusRequests, r.LoadMax, runtime.NumCPU())
	if r.Stalls > 0 {
		fmt.Fprintf(w, "MACHINE STALLED: the bench itself woke more than %v late %d times, worst %v late at +%v: every node's timers stalled too, and deaths then are the machine's as much as hanode's\n",
			stallThreshold, r.Stalls, r.StallMax.Round(time.Millisecond), r.StallAt.Round(time.Second))
	}
	fmt.Fprintf(w, "samples: %s\nnodes: %s\nplot: %s\n", r.SamplesCSV, r.NodesCSV, r.PlotPNG)
	if r.WorkDir != "" {
		fmt.Fprintf(w, "configurations, state and logs kept in %s\n", r.WorkDir)
	}
	fmt.Fprintln(w, r.Summary())
}

// Summary is the one-line summary.
func (r *Result) Summary() string {
	o := r.Options
	stable := "never stable"
	if r.Stable {
		stable = "stable after " + r.StableAfter.Round(time.Millisecond).String()
	}
	groups := "yes"
	if len(r.GroupProblems)+len(r.AddressProblems) > 0 {
		groups = "NO"
	}
	s := fmt.Sprintf("summary: scale %d nodes %s %v/%v: %s; %s false deaths in %v; %.3f msgs/node/s (resent %.3f, NAKs %.3f); CPU %.2f%%/node (cluster %.1f%% of a core); RSS %s; groups once: %s; plot %s",
		o.Nodes, o.Medium, o.Keepalive, o.Deadtime, stable, r.deathsText(), r.Watched.Round(time.Second),
		r.Msgs, r.Resent, r.Naks, r.CPUPercentPerNode, 100*r.ClusterCores, r.rssText(), groups, r.PlotPNG)
	if r.Stalls > 0 {
		s += fmt.Sprintf("; machine stalled %v at +%v", r.StallMax.Round(time.Millisecond), r.StallAt.Round(time.Second))
	}
	if r.Aborted != "" {
		s += "; STOPPED EARLY: " + r.Aborted
	}
	return s
}

// rssText is the median RSS per node at the start of watching and at the
// end, and the largest.
func (r *Result) rssText() string {
	if r.Watched == 0 {
		return fmt.Sprintf("median %.1f MiB, max %.1f MiB (never watched)", r.RSSMedianEnd, r.RSSMax)
	}
	return fmt.Sprintf("median %.1f MiB at the start of watching, %.1f MiB at the end (%+.1f), max %.1f MiB",
		r.RSSMedianStart, r.RSSMedianEnd, r.RSSMedianEnd-r.RSSMedianStart, r.RSSMax)
}

func (r *Result) deathsText() string {
	if r.DeathsAtLeast {
		return fmt.Sprintf("at least %d", r.FalseDeaths)
	}
	return fmt.Sprint(r.FalseDeaths)
}

func firstFew(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:n], "; ") + fmt.Sprintf("; and %d more", len(items)-n)
}
