package scale

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hanode/hanode/messages"
)

// This file is the run itself: the nodes started one per interval while
// rounds of polls follow the cluster until its view is whole and stays so
// (formation), then samples at a slower pace while it is watched. Every
// loop is bounded in count and in time.

// Phases of a run, as the samples name them.
const (
	phaseStarting = "starting"
	phaseForming  = "forming"
	phaseWatching = "watching"
)

// stableKeepalives is how long a whole view must last to count as stable.
const stableKeepalives = 3

// timelineEvery is the time between two reads of every node's timeline
// while watching: often enough that a timeline of 2000 events does not
// overflow in between unless the cluster is in a storm.
const timelineEvery = 30 * time.Second

// nodeLast is what the bench last knew of a node.
type nodeLast struct {
	status *messages.ClusterStatus
	usage  procUsage
	// haveUsage: usage was read at least once.
	haveUsage bool
	rssMaxKiB int64
	totals    streamTotals
	frames    uint64
	// base is the node at the start of watching.
	base       procUsage
	baseTotals streamTotals
	baseSet    bool
}

// sums are the cluster's counters at a sample, for rates between samples.
type sums struct {
	at                                 time.Time
	cpu, agents                        time.Duration
	sent, resent, naks, rexmit, frames uint64
}

type bench struct {
	o      Options
	nodes  []*node
	r      *Result
	deaths *deathLog
	last   []nodeLast
	looks  []look
	// formedAt is when the view became whole (or when the bench stopped
	// waiting for it): deaths from then on are false deaths.
	formedAt   time.Time
	watchStart time.Time
	prev       sums
	quorumEvts int
	// silent is, per node, since when its status requests fail (zero:
	// it answers) and whether that was told.
	silent []silence
}

// silence is a node's run of unanswered status requests.
type silence struct {
	since time.Time
	told  bool
}

// silentAfter is how long a node may leave its status requests
// unanswered before the bench says so: a node that does not answer keeps
// the view from being whole, and the progress lines should say which.
const silentAfter = 10 * time.Second

// noteSilences tells, once per run of failures, of each running node that
// has not answered its status requests for silentAfter, with the last
// error.
func (b *bench) noteSilences(now time.Time) {
	if b.silent == nil {
		b.silent = make([]silence, len(b.nodes))
	}
	for i, l := range b.looks {
		s := &b.silent[i]
		err := l.statusErr
		if err == nil && len(l.status.GetErrors()) > 0 {
			// A status without what some actor of the node knows: the
			// node answered (its status gatherer waits 2 s for each),
			// one of its actors did not.
			err = errors.New(strings.Join(l.status.GetErrors(), "; "))
		}
		switch {
		case err == nil || errors.Is(err, errNotStarted):
			*s = silence{}
		case s.since.IsZero():
			s.since = now
		case !s.told && now.Sub(s.since) >= silentAfter && b.o.Progress != nil:
			s.told = true
			fmt.Fprintf(b.o.Progress, "scale: %s has not answered its status (whole) for %v: %v\n", b.nodes[i].name, now.Sub(s.since).Round(time.Second), err)
		}
	}
}

func newBench(o Options, nodes []*node) *bench {
	return &bench{o: o, nodes: nodes, r: &Result{Options: o}, deaths: newDeathLog(), last: make([]nodeLast, len(nodes))}
}

// statusTimeout bounds one status request.
func (b *bench) statusTimeout() time.Duration { return statusTimeout(b.o.Keepalive) }

// statusTimeout is how long a node may take to answer a status request:
// far longer than a healthy node takes (milliseconds), so that a slow
// answer is a finding, not noise; and longer than the node's status
// gatherer waits for each of its actors (2 s), so that a node one of
// whose actors does not answer answers all the same, saying which.
func statusTimeout(keepalive time.Duration) time.Duration { return max(3*time.Second, keepalive) }

// formationPoll is the time between two rounds while the cluster forms.
func (b *bench) formationPoll() time.Duration {
	return min(max(b.o.Keepalive/2, 50*time.Millisecond), 500*time.Millisecond)
}

// run starts the nodes and follows them to the end of the watch.
func (b *bench) run(ctx context.Context) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.r.Started = time.Now()
	b.prev.at = b.r.Started
	startDone := make(chan error, 1)
	go func() { startDone <- b.startAll(rctx) }()
	// The starter ends before run returns: no node starts behind the
	// cleanup's back.
	defer func() {
		cancel()
		if startDone != nil {
			<-startDone
		}
	}()

	o := b.o
	lastStart := time.Duration(o.Nodes-1) * o.StartInterval
	formDeadline := b.r.Started.Add(lastStart + o.FormationTimeout)
	hardEnd := formDeadline.Add(o.Duration + 2*time.Minute)
	maxRounds := int((lastStart+o.FormationTimeout)/b.formationPoll()) + int(o.Duration/o.Sample) + 1000
	phase := phaseStarting
	var stableSince, watchEnd time.Time
	nextSample := b.r.Started
	lastProgress := b.r.Started
	var lastTimelines time.Time
	fmt.Fprintf(o.Progress, "scale: starting %d nodes, one per %v\n", o.Nodes, o.StartInterval)
	for round := 0; ; round++ {
		if round > maxRounds || time.Now().After(hardEnd) {
			b.r.Aborted = fmt.Sprintf("the bench overran its own bounds (%d rounds, %v)", round, time.Since(b.r.Started).Round(time.Second))
			break
		}
		select {
		case err := <-startDone:
			startDone = nil
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("scale: %w", err)
			}
			b.r.StartSpan = b.nodes[len(b.nodes)-1].startedAt().Sub(b.r.Started)
			fmt.Fprintf(o.Progress, "scale: %d nodes started in %v\n", o.Nodes, b.r.StartSpan.Round(time.Millisecond))
		default:
		}
		if ctx.Err() != nil {
			b.r.Aborted = "interrupted"
			break
		}
		if avail, err := memAvailable(); err == nil && avail < o.MinFreeMemory {
			b.r.Aborted = fmt.Sprintf("the machine's available memory fell to %d MiB, under the %d MiB the bench keeps free", avail>>20, o.MinFreeMemory>>20)
			break
		}
		b.looks = poll(rctx, b.nodes, b.statusTimeout())
		now := time.Now()
		b.absorb()
		b.noteSilences(now)
		if phase == phaseWatching {
			b.countRequests()
			if now.Sub(lastTimelines) >= timelineEvery {
				b.readTimelines(rctx)
				lastTimelines = now
			}
		}
		allStarted := startDone == nil
		if phase == phaseStarting && allStarted {
			phase = phaseForming
		}
		if !b.r.GroupsRunning && allStarted && len(groupsAtHome(b.statuses(), b.names())) == 0 {
			b.r.GroupsRunning, b.r.GroupsRunningAfter = true, now.Sub(b.r.Started)
			fmt.Fprintf(o.Progress, "scale: every group runs on its node after %v\n", b.r.GroupsRunningAfter.Round(time.Millisecond))
		}
		if phase == phaseForming {
			whole := b.wholeView()
			switch {
			case !whole:
				stableSince = time.Time{}
			case stableSince.IsZero():
				stableSince = now
			}
			formed := whole && now.Sub(stableSince) >= stableKeepalives*o.Keepalive
			if formed || now.After(formDeadline) {
				if formed {
					b.formedAt = b.viewWholeAt(stableSince)
					b.r.Stable, b.r.StableAfter = true, b.formedAt.Sub(b.r.Started)
					fmt.Fprintf(o.Progress, "scale: stable view after %v\n", b.r.StableAfter.Round(time.Millisecond))
				} else {
					b.formedAt = now
					b.r.NotActive = b.notActivePairs()
					fmt.Fprintf(o.Progress, "scale: no stable view %v after the first start: %d of %d views not active; watching anyway\n",
						now.Sub(b.r.Started).Round(time.Second), b.r.NotActive, o.Nodes*o.Nodes)
				}
				phase, b.watchStart, watchEnd, lastProgress = phaseWatching, now, now.Add(o.Duration), now
				b.setBase()
				nextSample = now
				fmt.Fprintf(o.Progress, "scale: watching for %v\n", o.Duration)
			}
		}
		// A sample at the end of the watch too, so that the last figures
		// are the end's.
		if !now.Before(nextSample) || (phase == phaseWatching && !now.Before(watchEnd)) {
			b.r.Samples = append(b.r.Samples, b.sample(now, phase))
			every := o.Sample
			if phase != phaseWatching {
				every = min(every, time.Second)
			}
			nextSample = now.Add(every)
		}
		if phase == phaseWatching && now.Sub(lastProgress) >= time.Minute {
			lastProgress = now
			s := b.r.Samples[len(b.r.Samples)-1]
			fmt.Fprintf(o.Progress, "scale: %v watched: %d false deaths, %d of %d views whole, RSS median %.1f MiB, CPU %.2f cores\n",
				now.Sub(b.watchStart).Round(time.Second), s.FalseDeaths, s.AllActive, o.Nodes, s.RSSMedian, s.CPUCores)
		}
		if phase == phaseWatching && !now.Before(watchEnd) {
			break
		}
		wake := nextSample
		if phase != phaseWatching {
			wake = now.Add(b.formationPoll())
		} else if watchEnd.Before(wake) {
			wake = watchEnd
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(wake)):
			b.noteLateness(wake)
		}
	}
	if b.formedAt.IsZero() {
		b.formedAt = time.Now()
	}
	return nil
}

// stallThreshold is how late the bench's own wake-up must be to count as
// a stall of the machine: far more than a busy scheduler's delay.
const stallThreshold = time.Second

// noteLateness records how late the bench woke for a round it meant to
// start at wake. The bench sleeps most of the time and needs little CPU:
// when it wakes seconds late, the whole machine stalled (every node's
// timers too), and deaths around then say more about the machine than
// about hanode.
func (b *bench) noteLateness(wake time.Time) {
	late := time.Since(wake)
	if late < stallThreshold {
		return
	}
	b.r.Stalls++
	if late > b.r.StallMax {
		b.r.StallMax, b.r.StallAt = late, wake.Sub(b.r.Started)
	}
}

// startAll starts the nodes one per StartInterval (the first at once).
func (b *bench) startAll(ctx context.Context) error {
	t := time.NewTicker(b.o.StartInterval)
	defer t.Stop()
	for i, n := range b.nodes {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		}
		if err := n.start(b.o.Hanode); err != nil {
			return fmt.Errorf("start %s: %w", n.name, err)
		}
	}
	return nil
}

// absorb takes in the round's looks.
func (b *bench) absorb() {
	for i, l := range b.looks {
		nl := &b.last[i]
		if l.usageErr == nil {
			nl.usage, nl.haveUsage = l.usage, true
			nl.rssMaxKiB = max(nl.rssMaxKiB, l.usage.RSSKiB)
		}
		if l.statusErr == nil {
			nl.status = l.status
			nl.totals = streams(l.status)
			nl.frames = l.status.GetFramesSent()
			b.deaths.observe(b.nodes[i].name, l.status)
		}
	}
}

// countRequests counts the round's status requests and their failures
// (nodes that ended excepted: they are reported as such).
func (b *bench) countRequests() {
	for i, l := range b.looks {
		if p := b.nodes[i].process(); p == nil || p.Exited() {
			continue
		}
		b.r.StatusRequests++
		if l.statusErr != nil {
			b.r.StatusFailures++
		}
	}
}

// setBase records every node at the start of watching.
func (b *bench) setBase() {
	for i := range b.last {
		nl := &b.last[i]
		nl.base, nl.baseTotals, nl.baseSet = nl.usage, nl.totals, true
	}
}

// wholeView says whether every node answered this round and sees every
// node active.
func (b *bench) wholeView() bool {
	for _, l := range b.looks {
		if l.statusErr != nil || notActive(l.status, b.o.Nodes) > 0 {
			return false
		}
	}
	return true
}

// viewWholeAt is when the whole view became so by the nodes' own records
// (the latest member to become active in any view), or, when they do not
// say, the round that first saw it.
func (b *bench) viewWholeAt(firstSeen time.Time) time.Time {
	var at time.Time
	for _, l := range b.looks {
		t := activeSince(l.status)
		if t.IsZero() {
			return firstSeen
		}
		if t.After(at) {
			at = t
		}
	}
	if at.IsZero() || at.After(firstSeen) {
		return firstSeen
	}
	return at
}

// notActivePairs counts the (observer, member) pairs not active this
// round, a node that did not answer counting all its pairs.
func (b *bench) notActivePairs() int {
	n := 0
	for _, l := range b.looks {
		if l.statusErr != nil {
			n += b.o.Nodes
			continue
		}
		n += notActive(l.status, b.o.Nodes)
	}
	return n
}

// statuses are the statuses of this round, by node name.
func (b *bench) statuses() map[string]*messages.ClusterStatus {
	m := map[string]*messages.ClusterStatus{}
	for i, l := range b.looks {
		if l.statusErr == nil {
			m[b.nodes[i].name] = l.status
		}
	}
	return m
}

func (b *bench) names() []string {
	var out []string
	for _, n := range b.nodes {
		out = append(out, n.name)
	}
	return out
}

// sample summarises the round as one sample, its rates since the previous
// sample.
func (b *bench) sample(now time.Time, phase string) Sample {
	s := Sample{T: now.Sub(b.r.Started), Phase: phase}
	cur := sums{at: now}
	var rss []float64
	for i, l := range b.looks {
		n := b.nodes[i]
		nl := b.last[i]
		if p := n.process(); p != nil {
			s.Started++
			if !p.Exited() {
				s.Running++
			}
		}
		if l.usageErr == nil {
			rss = append(rss, float64(l.usage.RSSKiB)/1024)
		}
		if l.statusErr == nil {
			s.Answered++
			if notActive(l.status, b.o.Nodes) == 0 {
				s.AllActive++
			}
			if l.status.GetNoQuorum() {
				s.NoQuorum++
			}
		}
		if n.process() != nil {
			if l.statusErr == nil {
				s.NotActive += notActive(l.status, b.o.Nodes)
			} else {
				s.NotActive += b.o.Nodes
			}
		}
		cur.cpu += nl.usage.CPU
		cur.agents += nl.usage.Children
		cur.sent += nl.totals.Sent
		cur.resent += nl.totals.Resent
		cur.naks += nl.totals.Naks
		cur.rexmit += nl.totals.RexmitRequests
		cur.frames += nl.frames
		s.Lost += nl.totals.Lost
	}
	if len(rss) > 0 {
		s.RSSMedian, s.RSSMax = median(rss), maxOf(rss)
	}
	if dt := now.Sub(b.prev.at).Seconds(); dt > 0 && s.Started > 0 {
		perNode := func(c, p uint64) float64 {
			if c < p {
				return 0 // a node restarted: its counters began again
			}
			return float64(c-p) / dt / float64(s.Started)
		}
		s.CPUCores = max(0, (cur.cpu-b.prev.cpu).Seconds()/dt)
		s.AgentCores = max(0, (cur.agents-b.prev.agents).Seconds()/dt)
		s.Msgs, s.Resent, s.Naks = perNode(cur.sent, b.prev.sent), perNode(cur.resent, b.prev.resent), perNode(cur.naks, b.prev.naks)
		s.RexmitRequests, s.Frames = perNode(cur.rexmit, b.prev.rexmit), perNode(cur.frames, b.prev.frames)
	}
	b.prev = cur
	if phase == phaseWatching {
		s.FalseDeaths = b.deaths.count(b.formedAt, time.Time{})
	}
	if avail, err := memAvailable(); err == nil {
		s.MemAvailable = float64(avail) / (1 << 20)
	}
	if l, err := loadAverage(); err == nil {
		s.Load1 = l
		b.r.LoadMax = max(b.r.LoadMax, l)
	}
	return s
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func maxOf(v []float64) float64 {
	m := v[0]
	for _, x := range v[1:] {
		m = max(m, x)
	}
	return m
}
