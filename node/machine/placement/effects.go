package placement

import (
	"fmt"
	"time"

	"github.com/hanode/hanode/messages"
)

// Effects are what the actor must do after an input.
type Effects struct {
	// Send are cluster messages for the reliable layer (Destination set
	// for replies).
	Send []*messages.ClusterMessage
	// Start and Stop name groups the local group actors must start or
	// stop.
	Start, Stop []string
	// Reannounce names groups that ran on another node too while they ran
	// here, and that this node keeps: their addresses must be announced
	// again (gratuitous ARP) so that clients come back.
	Reannounce []string
	// Log explains the decisions, for the node's log and event timeline.
	Log []string
	// Left is true once a leaving node holds nothing any more.
	Left bool
	// Fence are the fencing attempts to make now, each with one device;
	// every outcome goes back to the machine (FenceResult), which orders
	// the next device or gives up.
	Fence []FenceOrder
	// Reset, when set, says why this node must reset itself at once: it
	// lost quorum and could not stop its groups within their stop budget,
	// after which the majority runs them.
	Reset string
	// Events are the decisions for the node's event timeline (each Log
	// line is one, with a kind); Moved, among them, the groups that now
	// run here after running elsewhere.
	Events []Event
}

// Event is a decision or a change, for the event timeline.
type Event struct {
	Kind    messages.EventKind
	Node    string
	Group   string
	Summary string
	// Moves (Kind GROUP_MOVED): where from, how it was lost there and
	// when.
	From   string
	How    LossKind
	LostAt time.Time
	Gap    time.Duration
}

// LossKind is how a group's last holder stopped running it: it decides
// what a move is measured from (a death from the last heartbeat, a
// release from the release) and names the move in metrics and the
// timeline.
type LossKind int

const (
	// LossDied: the holder died or was cut off (its groups waited for
	// fencing or its stop budget when either applies).
	LossDied LossKind = iota + 1
	// LossStopped: the holder said it was leaving, then stopped (a clean
	// shutdown).
	LossStopped
	// LossReleased: the holder, alive, gave it up (standby, failback, a
	// failure there, ipfail).
	LossReleased
	// LossRestarted: the holder came back in a new life, which runs
	// nothing of the old one.
	LossRestarted
	// LossFenced: the holder was fenced.
	LossFenced
)

// String is the word used in logs, the timeline and the metrics' how
// label.
func (k LossKind) String() string {
	switch k {
	case LossDied:
		return "died"
	case LossStopped:
		return "stopped"
	case LossReleased:
		return "released"
	case LossRestarted:
		return "restarted"
	case LossFenced:
		return "fenced"
	}
	return fmt.Sprintf("LossKind(%d)", int(k))
}

func (e *Effects) send(m *messages.ClusterMessage) { e.Send = append(e.Send, m) }

func (e *Effects) logf(format string, args ...any) {
	e.note(messages.EventKind_EVENT_KIND_GROUP, "", format, args...)
}

// note logs a decision and records it as an event of kind about group.
func (e *Effects) note(kind messages.EventKind, group, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	e.Log = append(e.Log, text)
	e.Events = append(e.Events, Event{Kind: kind, Group: group, Summary: text})
}
