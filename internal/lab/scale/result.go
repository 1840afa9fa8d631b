package scale

import (
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Sample is the cluster at one moment of the run (one CSV row). Rates
// are over the time since the previous sample, per node started.
type Sample struct {
	// T is the time since the first node started.
	T time.Duration
	// Phase is starting, forming or watching.
	Phase string
	// Started nodes; Running: their process is alive; Answered: their
	// status came back.
	Started, Running, Answered int
	// AllActive is how many views show every member active; NotActive how
	// many (observer, member) pairs are not active, over the nodes
	// started.
	AllActive, NotActive int
	// FalseDeaths counted so far (after formation); NoQuorum: nodes that
	// said they hold no quorum.
	FalseDeaths, NoQuorum int
	// RSS over the running nodes, MiB.
	RSSMedian, RSSMax float64
	// CPU of the hanode processes and of the agents they ran, in cores.
	CPUCores, AgentCores float64
	// Cluster messages sent, resent, NAKs sent, retransmission requests
	// sent, frames sent: per node and second.
	Msgs, Resent, Naks, RexmitRequests, Frames float64
	// Lost messages (given up) in every node's received streams, so far.
	Lost uint64
	// MemAvailable on the machine, MiB; Load1 its 1-minute load average.
	MemAvailable, Load1 float64
}

// NodeSummary is one node over the watch (after formation).
type NodeSummary struct {
	Name string
	PID  int
	// CPU seconds and share of a core while watching; agents' too.
	CPUSeconds, CPUPercent, AgentPercent float64
	// RSS, MiB: at the start of watching, at the end, the largest seen.
	RSSStart, RSSEnd, RSSMax float64
	// Cluster messages this node sent while watching, per second; the
	// messages it resent and NAKs it sent in all.
	MsgsPerSec    float64
	Resent, Naks  uint64
	DeathsSeen    int
	LogBytes      int64
	Exited, Reset bool
}

// writeSamples writes the samples as CSV.
func writeSamples(path string, samples []Sample) error {
	rows := [][]string{{"t_s", "phase", "started", "running", "answered", "views_all_active", "pairs_not_active",
		"false_deaths", "no_quorum", "rss_median_mib", "rss_max_mib", "cpu_cores", "agent_cpu_cores",
		"msgs_per_node_s", "resent_per_node_s", "naks_per_node_s", "rexmit_req_per_node_s", "frames_per_node_s",
		"lost_total", "mem_available_mib", "load1"}}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	d := strconv.Itoa
	for _, s := range samples {
		rows = append(rows, []string{f(s.T.Seconds()), s.Phase, d(s.Started), d(s.Running), d(s.Answered), d(s.AllActive), d(s.NotActive),
			d(s.FalseDeaths), d(s.NoQuorum), f(s.RSSMedian), f(s.RSSMax), f(s.CPUCores), f(s.AgentCores),
			f(s.Msgs), f(s.Resent), f(s.Naks), f(s.RexmitRequests), f(s.Frames),
			strconv.FormatUint(s.Lost, 10), f(s.MemAvailable), f(s.Load1)})
	}
	return writeCSV(path, rows)
}

// writeNodes writes the per-node summaries as CSV.
func writeNodes(path string, nodes []NodeSummary) error {
	rows := [][]string{{"node", "pid", "cpu_s", "cpu_pct", "agent_cpu_pct", "rss_start_mib", "rss_end_mib", "rss_max_mib",
		"msgs_per_s", "resent", "naks", "deaths_seen", "log_bytes", "exited", "reset"}}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for _, n := range nodes {
		rows = append(rows, []string{n.Name, strconv.Itoa(n.PID), f(n.CPUSeconds), f(n.CPUPercent), f(n.AgentPercent),
			f(n.RSSStart), f(n.RSSEnd), f(n.RSSMax), f(n.MsgsPerSec), strconv.FormatUint(n.Resent, 10), strconv.FormatUint(n.Naks, 10),
			strconv.Itoa(n.DeathsSeen), strconv.FormatInt(n.LogBytes, 10), strconv.FormatBool(n.Exited), strconv.FormatBool(n.Reset)})
	}
	return writeCSV(path, rows)
}

func writeCSV(path string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	w := csv.NewWriter(f)
	w.WriteAll(rows)
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
