package scale

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hanode/hanode/messages"
)

// This file reads what the nodes answer: whether a view is whole, the
// deaths it reports, where the groups run. Pure functions of the
// statuses, so that they are tested without a cluster.

// recentEventsCap is how many membership events a status carries
// (actors.MaxRecentEvents): a full list whose oldest event is newer than
// anything seen before may have lost some.
const recentEventsCap = 100

// notActive is how many of the n members the view does not show active
// (missing members included); n when there is no view.
func notActive(s *messages.ClusterStatus, n int) int {
	if s == nil {
		return n
	}
	active := 0
	for _, m := range s.GetNodes() {
		if m.GetType() != messages.NodeType_NODE_TYPE_PING && m.GetStatus() == messages.NodeStatus_NODE_STATUS_ACTIVE {
			active++
		}
	}
	return max(n-active, 0)
}

// activeSince is when the view's last member became active, by the
// observer's clock (the test hosts share the machine's clock): the moment
// the view became whole. Zero when the view does not say.
func activeSince(s *messages.ClusterStatus) time.Time {
	var last time.Time
	for _, m := range s.GetNodes() {
		if m.GetSince() == nil {
			return time.Time{}
		}
		if t := m.GetSince().AsTime(); t.After(last) {
			last = t
		}
	}
	return last
}

// timelineCap is how many events a node's timeline keeps
// (events.DefaultSize).
const timelineCap = 2000

// death is one observer's verdict on one node, at a time.
type death struct {
	observer, node string
	at             time.Time
}

// deathLog gathers the deaths every node reports, three ways: the
// membership events of the statuses (each DEAD transition, even one that
// healed between two polls), the nodes' timelines (which keep more
// events: they catch what a status's short list let slip), and the member
// states (a node shown DEAD, with the time it became so). An event and
// its timeline entry have the same time and count once. It also gathers
// the quorum changes of the timelines.
type deathLog struct {
	events map[death]bool
	states map[death]bool
	quorum map[death]bool
	// newest is the newest status event seen per observer, newestTL the
	// newest timeline entry.
	newest, newestTL map[string]time.Time
	// maybeMissed is set when a full list began after the newest entry
	// seen before: entries in between were not seen.
	maybeMissed bool
}

func newDeathLog() *deathLog {
	return &deathLog{events: map[death]bool{}, states: map[death]bool{}, quorum: map[death]bool{},
		newest: map[string]time.Time{}, newestTL: map[string]time.Time{}}
}

// observe records the deaths in one node's status.
func (d *deathLog) observe(observer string, s *messages.ClusterStatus) {
	evs := s.GetRecentEvents()
	prev, seen := d.newest[observer]
	if seen && len(evs) >= recentEventsCap && evs[0].GetTime().AsTime().After(prev) {
		d.maybeMissed = true
	}
	for _, ev := range evs {
		at := ev.GetTime().AsTime()
		if at.After(d.newest[observer]) {
			d.newest[observer] = at
		}
		if ev.GetKind() == messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS && ev.GetStatus() == messages.NodeStatus_NODE_STATUS_DEAD {
			d.events[death{observer, ev.GetNode(), at}] = true
		}
	}
	for _, m := range s.GetNodes() {
		if m.GetType() != messages.NodeType_NODE_TYPE_PING && m.GetStatus() == messages.NodeStatus_NODE_STATUS_DEAD && m.GetSince() != nil {
			d.states[death{observer, m.GetName(), m.GetSince().AsTime()}] = true
		}
	}
}

// observeTimeline records the deaths and quorum changes in one node's
// timeline (oldest first). A death there is a membership entry whose
// summary is the membership event's reason, "node3 dead: ...".
func (d *deathLog) observeTimeline(observer string, evs []*messages.ClusterEvent) {
	if len(evs) == 0 {
		return
	}
	prev, seen := d.newestTL[observer]
	if seen && len(evs) >= timelineCap && evs[0].GetTime().AsTime().After(prev) {
		d.maybeMissed = true
	}
	for _, ev := range evs {
		at := ev.GetTime().AsTime()
		if at.After(d.newestTL[observer]) {
			d.newestTL[observer] = at
		}
		switch ev.GetKind() {
		case messages.EventKind_EVENT_KIND_MEMBERSHIP:
			if ev.GetNode() != "" && strings.HasPrefix(ev.GetSummary(), ev.GetNode()+" dead: ") {
				d.events[death{observer, ev.GetNode(), at}] = true
			}
		case messages.EventKind_EVENT_KIND_QUORUM:
			d.quorum[death{observer, ev.GetSummary(), at}] = true
		}
	}
}

// count is the number of deaths at or after from (and before until, when
// until is not zero): the larger of the events' and the states' counts.
func (d *deathLog) count(from, until time.Time) int {
	return max(countIn(d.events, from, until), countIn(d.states, from, until))
}

// quorumChanges is the number of quorum losses and regains from from on.
func (d *deathLog) quorumChanges(from time.Time) int { return countIn(d.quorum, from, time.Time{}) }

func countIn(set map[death]bool, from, until time.Time) int {
	c := 0
	for k := range set {
		if !k.at.Before(from) && (until.IsZero() || k.at.Before(until)) {
			c++
		}
	}
	return c
}

// list is the deaths from from on, oldest first, from the events (or the
// states when they saw more).
func (d *deathLog) list(from time.Time) []death {
	pick := d.events
	if countIn(d.states, from, time.Time{}) > countIn(d.events, from, time.Time{}) {
		pick = d.states
	}
	var out []death
	for k := range pick {
		if !k.at.Before(from) {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// holding are the phases in which a node runs a group, or may.
var holding = map[messages.GroupPhase]bool{
	messages.GroupPhase_GROUP_PHASE_STARTING:  true,
	messages.GroupPhase_GROUP_PHASE_RUNNING:   true,
	messages.GroupPhase_GROUP_PHASE_STOPPING:  true,
	messages.GroupPhase_GROUP_PHASE_UNMANAGED: true,
}

// groupsAtHome checks that every node says the group preferred on it runs
// there; it lists what is not so (a node without a status is a problem).
func groupsAtHome(statuses map[string]*messages.ClusterStatus, names []string) []string {
	var problems []string
	for _, name := range names {
		s := statuses[name]
		if s == nil {
			problems = append(problems, name+": no status")
			continue
		}
		found := false
		for _, g := range s.GetGroups() {
			if g.GetPreferredNode() != name {
				continue
			}
			found = true
			if g.GetLocalPhase() != messages.GroupPhase_GROUP_PHASE_RUNNING {
				problems = append(problems, fmt.Sprintf("group %s is %s on its node %s", g.GetName(), phaseName(g.GetLocalPhase()), name))
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("%s: no group preferred on it", name))
		}
	}
	return problems
}

// groupsPlaced checks, from every node's own word on its groups, that
// each group runs on its preferred node and nowhere else (no node starting,
// running, stopping or unmanaged with it). It lists what is wrong.
func groupsPlaced(statuses map[string]*messages.ClusterStatus, names []string) []string {
	problems := groupsAtHome(statuses, names)
	holders := map[string][]string{}
	preferred := map[string]string{}
	for _, name := range names {
		for _, g := range statuses[name].GetGroups() {
			preferred[g.GetName()] = g.GetPreferredNode()
			if holding[g.GetLocalPhase()] {
				holders[g.GetName()] = append(holders[g.GetName()], fmt.Sprintf("%s (%s)", name, phaseName(g.GetLocalPhase())))
			}
		}
	}
	var groups []string
	for g := range preferred {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		if h := holders[g]; len(h) != 1 {
			problems = append(problems, fmt.Sprintf("group %s (preferred %s) held by %d nodes: %s", g, preferred[g], len(h), strings.Join(h, ", ")))
		}
	}
	return problems
}

// phaseName is a phase without its prefix: "RUNNING".
func phaseName(p messages.GroupPhase) string {
	return strings.TrimPrefix(p.String(), "GROUP_PHASE_")
}

// streamTotals sums a node's cluster-message counters: its own stream
// (sent, resent, NAKs) and what it received from every peer.
type streamTotals struct {
	Sent, Resent, Naks           uint64
	RexmitRequests, Lost, Missed uint64
	// Overload is the frames the node dropped at its gates because its
	// membership actor or messenger was behind (status: rejected frames
	// "overload").
	Overload uint64
}

func streams(s *messages.ClusterStatus) streamTotals {
	t := streamTotals{Overload: s.GetRejectedFrames()["overload"]}
	for _, m := range s.GetNodes() {
		ms := m.GetMessages()
		if m.GetLocal() {
			t.Sent, t.Resent, t.Naks = ms.GetCount(), ms.GetRetransmissions(), ms.GetNaks()
			continue
		}
		t.RexmitRequests += ms.GetRetransmissions()
		t.Lost += ms.GetLost()
		t.Missed += ms.GetMissing()
	}
	return t
}
