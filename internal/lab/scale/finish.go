package scale

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// finishTimeout bounds the checks at the end of a run.
const finishTimeout = 2 * time.Minute

// maxDeathsListed is how many deaths the result names.
const maxDeathsListed = 10

// finish checks the groups and their addresses once more, reads the
// timelines, and sums up the watch per node and for the cluster. It runs
// after an interrupt too (the nodes still run), bounded by finishTimeout.
func (b *bench) finish(parent context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), finishTimeout)
	defer cancel()
	r := b.r
	b.looks = poll(ctx, b.nodes, b.statusTimeout())
	b.absorb()
	// The watch ends with this last look: the CPU and counters read now
	// are divided by it.
	if !b.watchStart.IsZero() {
		r.Watched = time.Since(b.watchStart)
	}
	r.GroupProblems = groupsPlaced(b.statuses(), b.names())
	if b.o.Resource == ResourceIPaddr2 || b.o.Resource == ResourceIPaddr2Native {
		r.AddressProblems = b.addressProblems(ctx)
	}
	b.readTimelines(ctx)
	r.FalseDeaths = b.deaths.count(b.formedAt, time.Time{})
	r.FormationDeaths = b.deaths.count(time.Time{}, b.formedAt)
	r.QuorumEvents = b.deaths.quorumChanges(b.formedAt)
	r.DeathsAtLeast = b.deaths.maybeMissed
	seen := map[string]int{}
	for i, d := range b.deaths.list(b.formedAt) {
		seen[d.observer]++
		if i < maxDeathsListed {
			r.Deaths = append(r.Deaths, fmt.Sprintf("%s saw %s dead at +%v", d.observer, d.node, d.at.Sub(r.Started).Round(time.Millisecond)))
		}
	}
	b.summarise(seen)
}

// addressProblems checks that each group's address is on exactly one
// host, its preferred node's.
func (b *bench) addressProblems(ctx context.Context) []string {
	on := map[string][]string{}
	var problems []string
	for _, n := range b.nodes {
		out, err := n.host.Run(ctx, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: ip addr: %v", n.name, err))
			continue
		}
		for _, a := range vipPattern.FindAllStringSubmatch(out, -1) {
			on[a[1]] = append(on[a[1]], n.name)
		}
	}
	for _, n := range b.nodes {
		a := vip(n.index)
		if h := on[a]; len(h) != 1 || h[0] != n.name {
			problems = append(problems, fmt.Sprintf("address %s (group of %s) on [%s]", a, n.name, strings.Join(h, " ")))
		}
	}
	return problems
}

var vipPattern = regexp.MustCompile(`inet (10\.201\.200\.\d+)/`)

// readTimelines takes in every node's event timeline: deaths and quorum
// changes.
func (b *bench) readTimelines(ctx context.Context) {
	for i, evs := range timelines(ctx, b.nodes, b.statusTimeout()) {
		b.deaths.observeTimeline(b.nodes[i].name, evs)
	}
}

// summarise fills in the per-node summaries and the cluster's figures over
// the watch.
func (b *bench) summarise(deathsSeen map[string]int) {
	r := b.r
	wall := r.Watched.Seconds()
	var rssStart, rssEnd []float64
	var sent, resent, naks, rexmit uint64
	for i, n := range b.nodes {
		nl := b.last[i]
		s := NodeSummary{Name: n.name, DeathsSeen: deathsSeen[n.name], LogBytes: n.logBytes(), Reset: n.wasReset(),
			RSSEnd: float64(nl.usage.RSSKiB) / 1024, RSSMax: float64(nl.rssMaxKiB) / 1024}
		if p := n.process(); p != nil {
			s.PID = p.PID()
			s.Exited = p.Exited()
		}
		if s.Exited || s.Reset {
			r.Exited = append(r.Exited, n.name)
		}
		if nl.baseSet {
			s.RSSStart = float64(nl.base.RSSKiB) / 1024
			cpu := nl.usage.CPU - nl.base.CPU
			s.CPUSeconds = cpu.Seconds()
			if wall > 0 {
				s.CPUPercent = 100 * cpu.Seconds() / wall
				s.AgentPercent = 100 * (nl.usage.Children - nl.base.Children).Seconds() / wall
				s.MsgsPerSec = float64(sub(nl.totals.Sent, nl.baseTotals.Sent)) / wall
			}
			s.Resent, s.Naks = sub(nl.totals.Resent, nl.baseTotals.Resent), sub(nl.totals.Naks, nl.baseTotals.Naks)
			sent += sub(nl.totals.Sent, nl.baseTotals.Sent)
			resent += s.Resent
			naks += s.Naks
			rexmit += sub(nl.totals.RexmitRequests, nl.baseTotals.RexmitRequests)
			rssStart = append(rssStart, s.RSSStart)
			r.ClusterCores += s.CPUPercent / 100
			r.AgentCores += s.AgentPercent / 100
		}
		if !s.Exited {
			rssEnd = append(rssEnd, s.RSSEnd)
		}
		r.RSSMax = max(r.RSSMax, s.RSSMax)
		r.Lost += nl.totals.Lost
		r.Overload += nl.totals.Overload
		r.OverloadForming += nl.baseTotals.Overload
		r.Nodes = append(r.Nodes, s)
	}
	// Frames per node and second from the samples of the watch (the
	// frame counters are not kept per node at the watch's start).
	var fsum, lsum float64
	var fn, ln int
	half := b.watchStart.Sub(r.Started) + r.Watched/2
	for _, s := range r.Samples {
		if s.Phase != phaseWatching {
			continue
		}
		fsum += s.Frames
		fn++
		if s.T >= half {
			lsum += s.Msgs
			ln++
		}
	}
	if fn > 0 {
		r.Frames = fsum / float64(fn)
	}
	if ln > 0 {
		r.MsgsLate = lsum / float64(ln)
	}
	if len(rssStart) > 0 {
		r.RSSMedianStart = median(rssStart)
	}
	if len(rssEnd) > 0 {
		r.RSSMedianEnd = median(rssEnd)
	}
	if nodes := float64(len(b.nodes)); wall > 0 {
		r.Msgs = float64(sent) / wall / nodes
		r.Resent = float64(resent) / wall / nodes
		r.Naks = float64(naks) / wall / nodes
		r.RexmitRequests = float64(rexmit) / wall / nodes
		r.CPUPercentPerNode = 100 * r.ClusterCores / nodes
	}
}

// sub is a-b, 0 when a counter went back (a restarted node).
func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// write writes the samples, the per-node summaries and the plot into the
// output directory, named after the run.
func (b *bench) write() error {
	r := b.r
	o := b.o
	kind := o.Medium
	if o.Resource != ResourceIPaddr2 {
		kind += "-" + o.Resource
	}
	base := filepath.Join(o.Out, fmt.Sprintf("scale-%d-%s-%s", o.Nodes, kind, r.Started.Format("20060102-150405")))
	r.SamplesCSV, r.NodesCSV, r.PlotPNG = base+".csv", base+"-nodes.csv", base+".png"
	if err := writeSamples(r.SamplesCSV, r.Samples); err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	if err := writeNodes(r.NodesCSV, r.Nodes); err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	if err := plotRun(r); err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	return nil
}
