// Package scale is the scale bench of issue 13: N real hanode processes,
// each on a test host of its own (a network namespace of netlab, all on
// one bridge), each with a group of its own, started one per 100 ms. It
// measures what tells whether hanode holds at that size: the time from the
// first start to a stable view (every node sees every node active, and
// keeps seeing it for 3 keepalives), the false deaths while it watches
// (every death is false: nothing is killed), cluster messages per node and
// second (with retransmissions and NAKs), CPU and RSS per node; it writes
// the samples (CSV) and a plot of RSS and messages over time (PNG).
//
// It reads the nodes as an operator would: each node's control socket
// (the status `hanode status --json` shows) and /proc. `hanode-bench
// scale` runs it; a shortened run is part of make test.
package scale

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hanode/hanode/internal/lab/netlab"
)

// Options describe a run. Zero values take the defaults (see defaults).
type Options struct {
	// Hanode is the hanode binary.
	Hanode string
	// Nodes is the number of nodes (2 to netlab.MaxHosts; quorum counts
	// from 3).
	Nodes int
	// Medium is bcast or ucast (every node listing every node).
	Medium string
	// Keepalive, Deadtime and Initdead of ha.cf; Initdead defaults to
	// twice deadtime, as Heartbeat's sample ha.cf recommends.
	Keepalive, Deadtime, Initdead time.Duration
	// Duration is how long to watch after formation.
	Duration time.Duration
	// StartInterval is the time between two starts.
	StartInterval time.Duration
	// Sample is the time between two samples while watching (default 5s;
	// at most 1s while the cluster forms).
	Sample time.Duration
	// FormationTimeout is how long after the last start the cluster may
	// take to form before the watch begins anyway (default 3 x initdead
	// + 10s).
	FormationTimeout time.Duration
	// Resource is ResourceIPaddr2 (default), ResourceIPaddr2Native or
	// ResourceScript.
	Resource string
	// Out is where the CSV files and the PNG go.
	Out string
	// Work holds the nodes' configurations, state and logs; a temporary
	// directory when empty, removed at the end unless Keep.
	Work string
	Keep bool
	// MinFreeMemory stops the run early when the machine's available
	// memory falls under it (default 4 GiB).
	MinFreeMemory uint64
	// Progress receives a line at each stage, and every minute while
	// watching (nil: none).
	Progress io.Writer
}

// defaults fills in the zero values and checks the rest.
func (o *Options) defaults() error {
	if o.Nodes == 0 {
		o.Nodes = 16
	}
	if o.Medium == "" {
		o.Medium = "bcast"
	}
	if o.Keepalive == 0 {
		o.Keepalive = time.Second
	}
	if o.Deadtime == 0 {
		o.Deadtime = 10 * time.Second
	}
	if o.Initdead == 0 {
		o.Initdead = 2 * o.Deadtime
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Minute
	}
	if o.StartInterval == 0 {
		o.StartInterval = 100 * time.Millisecond
	}
	if o.Sample == 0 {
		o.Sample = 5 * time.Second
	}
	if o.FormationTimeout == 0 {
		o.FormationTimeout = 3*o.Initdead + 10*time.Second
	}
	if o.Resource == "" {
		o.Resource = ResourceIPaddr2
	}
	if o.Out == "" {
		o.Out = filepath.Join(os.TempDir(), "hanode-scale")
	}
	if o.MinFreeMemory == 0 {
		o.MinFreeMemory = 4 << 30
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	switch {
	case o.Hanode == "":
		return errors.New("scale: no hanode binary")
	case o.Nodes < 2 || o.Nodes > netlab.MaxHosts:
		return fmt.Errorf("scale: %d nodes: between 2 and %d", o.Nodes, netlab.MaxHosts)
	case o.Medium != "bcast" && o.Medium != "ucast":
		return fmt.Errorf("scale: medium %q: bcast or ucast", o.Medium)
	case o.Keepalive <= 0 || o.Deadtime <= o.Keepalive:
		return fmt.Errorf("scale: deadtime (%v) must be greater than keepalive (%v)", o.Deadtime, o.Keepalive)
	case o.Initdead < o.Deadtime:
		return fmt.Errorf("scale: initdead (%v) must be at least deadtime (%v)", o.Initdead, o.Deadtime)
	case o.Duration < 0 || o.StartInterval < 0 || o.Sample < 0 || o.FormationTimeout < 0:
		return errors.New("scale: durations must be positive")
	}
	return RequireResource(o.Resource)
}

// Result is what a run measured.
type Result struct {
	Options Options
	// Started is when the first node started.
	Started time.Time
	// StartSpan is the time from the first start to the last.
	StartSpan time.Duration
	// Stable: the view became whole (every node sees every node active)
	// and stayed so for 3 keepalives; StableAfter is from the first start
	// to the moment it became whole, by the nodes' own records.
	Stable      bool
	StableAfter time.Duration
	// NotActive is, when the view never became whole, how many (observer,
	// member) pairs were not active when the bench gave up waiting.
	NotActive int
	// GroupsRunningAfter is from the first start to every group running
	// on its preferred node, when that happened.
	GroupsRunning      bool
	GroupsRunningAfter time.Duration
	// Watched is how long the cluster was watched after formation.
	Watched time.Duration
	// FalseDeaths are the DEAD verdicts of any node on any node while
	// watching; DeathsAtLeast says some may have been missed (a node's
	// event list overflowed between two polls). FormationDeaths were
	// before formation. Deaths lists the first few.
	FalseDeaths, FormationDeaths int
	DeathsAtLeast                bool
	Deaths                       []string
	// QuorumEvents are quorum losses and regains in the nodes' timelines
	// while watching.
	QuorumEvents int
	// StatusFailures are the status requests that failed (or took longer
	// than their timeout) while watching, of StatusRequests.
	StatusFailures, StatusRequests int
	// LoadMax is the machine's largest 1-minute load average seen (other
	// work on the machine shows there).
	LoadMax float64
	// Stalls counts the times the bench itself woke more than a second
	// late (the machine stalled); StallMax is the worst, StallAt when it
	// began (from the first start).
	Stalls            int
	StallMax, StallAt time.Duration
	// Per node and second while watching: cluster messages sent, resent,
	// NAKs sent, retransmission requests sent, frames sent. Lost is the
	// messages given up, in all.
	Msgs, Resent, Naks, RexmitRequests, Frames float64
	Lost                                       uint64
	// Overload is the frames dropped at the nodes' gates (their actors
	// behind) in all; OverloadForming those dropped before watching.
	Overload, OverloadForming uint64
	// MsgsLate is cluster messages sent per node and second over the
	// second half of the watch: the settled cluster's rate, without the
	// formation's claims.
	MsgsLate float64
	// CPU while watching: mean share of a core per node; the whole
	// cluster's hanode processes in cores; their agents in cores.
	CPUPercentPerNode, ClusterCores, AgentCores float64
	// RSS (MiB): the median over the nodes at the start of watching and
	// at the end, and the largest any node reached.
	RSSMedianStart, RSSMedianEnd, RSSMax float64
	// GroupProblems lists what is wrong with the groups at the end
	// (nothing: each runs exactly once, on its preferred node);
	// AddressProblems the same for their addresses on the hosts.
	GroupProblems, AddressProblems []string
	// Exited are the nodes whose process ended (a reset included).
	Exited []string
	// Aborted says why the run stopped early ("" when it did not).
	Aborted string
	Nodes   []NodeSummary
	Samples []Sample
	// The files written.
	SamplesCSV, NodesCSV, PlotPNG string
	// WorkDir is the nodes' directory, when kept.
	WorkDir string
}

// Run runs the bench. An error means the bench could not run (a missing
// requirement, a failed setup); a run stopped early (interrupt, memory)
// returns its Result with Aborted set, its files written.
func Run(ctx context.Context, o Options) (res *Result, err error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if err := netlab.Require(); err != nil {
		return nil, fmt.Errorf("scale: test hosts: %w", err)
	}
	if avail, err := memAvailable(); err != nil {
		return nil, fmt.Errorf("scale: %w", err)
	} else if avail < o.MinFreeMemory {
		return nil, fmt.Errorf("scale: the machine has %d MiB available, under the %d MiB the bench keeps free", avail>>20, o.MinFreeMemory>>20)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("scale: output directory: %w", err)
	}
	work := o.Work
	if work == "" {
		if work, err = os.MkdirTemp("", "hanode-scale-"); err != nil {
			return nil, fmt.Errorf("scale: work directory: %w", err)
		}
		if !o.Keep {
			defer os.RemoveAll(work)
		}
	}
	// A control socket's path must fit a sockaddr_un.
	if p := filepath.Join(work, nodeName(o.Nodes), "hanode.sock"); len(p) > 100 {
		return nil, fmt.Errorf("scale: work directory %s: socket paths would be too long (%s)", work, p)
	}
	fmt.Fprintf(o.Progress, "scale: making %d test hosts\n", o.Nodes)
	lab, err := netlab.New(ctx, o.Nodes)
	if err != nil {
		return nil, fmt.Errorf("scale: %w", err)
	}
	// Last in, first out: the lab goes (every process killed by PID, the
	// namespaces deleted) before the work directory is removed.
	defer func() {
		if cerr := lab.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("scale: cleanup: %w", cerr))
		}
	}()
	var nodes []*node
	for _, h := range lab.Hosts() {
		nodes = append(nodes, newNode(work, h))
	}
	if err := writeHaDirs(o, nodes); err != nil {
		return nil, fmt.Errorf("scale: configuration: %w", err)
	}
	b := newBench(o, nodes)
	if err := b.run(ctx); err != nil {
		return nil, err
	}
	b.finish(ctx)
	if o.Keep {
		b.r.WorkDir = work
	}
	if err := b.write(); err != nil {
		return b.r, err
	}
	return b.r, nil
}
