package scale

import (
	"fmt"
	"time"
)

// plotRun draws the run: RSS per node (median and max over the nodes) and
// cluster messages per node and second (sent; resent and NAKs) over time,
// with the last start and the stable view marked.
func plotRun(r *Result) error {
	o := r.Options
	var rssMed, rssMax, msgs, repair []point
	for _, s := range r.Samples {
		x := s.T.Seconds()
		if s.RSSMax > 0 { // no process read yet: no point
			rssMed = append(rssMed, point{x, s.RSSMedian})
			rssMax = append(rssMax, point{x, s.RSSMax})
		}
		msgs = append(msgs, point{x, s.Msgs})
		repair = append(repair, point{x, s.Resent + s.Naks + s.RexmitRequests})
	}
	title := fmt.Sprintf("hanode scale: %d nodes, %s, keepalive %v, deadtime %v", o.Nodes, o.Medium, o.Keepalive, o.Deadtime)
	panels := []panel{
		{title: "RSS per node (MiB)", series: []series{{"median", blue, rssMed}, {"max", red, rssMax}}},
		{title: "cluster messages per node per second", series: []series{{"sent", green, msgs}, {"resent + NAKs + rexmit requests", orange, repair}}},
	}
	markers := []marker{{x: r.StartSpan.Seconds(), label: "last start", color: grey}}
	if r.Stable {
		markers = append(markers, marker{x: r.StableAfter.Seconds(), label: "stable " + r.StableAfter.Round(100*time.Millisecond).String(), color: green})
	}
	return drawPlot(r.PlotPNG, title, panels, markers)
}
