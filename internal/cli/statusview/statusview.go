// Package statusview renders a node's ClusterStatus for operators: the
// table `hanode status` prints, and its JSON form (--json).
package statusview

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hanode/hanode/internal/cli/clstatus"
	"github.com/hanode/hanode/messages"
)

// maxEvents is how many recent events the table shows.
const maxEvents = 10

// Table writes the status as a header, a node table, the recent events and
// the rejected-frame counters.
func Table(w io.Writer, s *messages.ClusterStatus) {
	now := s.GetNow().AsTime()
	fmt.Fprintf(w, "cluster %s, node %s (generation %d), hanode %s, up %s\n",
		s.Cluster, s.LocalNode, s.Generation, s.Version, Duration(now.Sub(s.GetStarted().AsTime())))
	fmt.Fprintf(w, "keepalive %s, warntime %s, deadtime %s, initdead %s\n\n",
		Duration(s.GetKeepalive().AsDuration()), Duration(s.GetWarntime().AsDuration()),
		Duration(s.GetDeadtime().AsDuration()), Duration(s.GetInitdead().AsDuration()))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tTYPE\tSTATUS\tGEN\tLAST HEARD\tMSGS\tLINKS")
	for _, n := range s.Nodes {
		name := n.Name
		if n.Local {
			name += " *"
		}
		status := clstatus.StatusWord(n.Status)
		if n.Late {
			status += " (late)"
		}
		if !n.Local && n.Type == messages.NodeType_NODE_TYPE_NORMAL && !n.HearsUs &&
			(n.Status == messages.NodeStatus_NODE_STATUS_ACTIVE || n.Status == messages.NodeStatus_NODE_STATUS_UP) {
			// It does not acknowledge our frames: it may declare us dead.
			status += " (does not hear us)"
		}
		heard := "-"
		if !n.Local && n.LastHeard != nil {
			heard = Duration(now.Sub(n.LastHeard.AsTime())) + " ago"
		}
		var links []string
		for _, l := range n.Links {
			links = append(links, l.Name+":"+clstatus.LinkWord(l.Status))
		}
		if n.Type == messages.NodeType_NODE_TYPE_PING {
			// A ping node has no links: show what is pinged, and what
			// answered last.
			links = []string{"echo " + strings.Join(n.Addresses, ",")}
			if n.AnsweredBy != "" {
				links = append(links, "(answered by "+n.AnsweredBy+")")
			}
		}
		gen := "-"
		if n.Generation != 0 {
			gen = fmt.Sprint(n.Generation)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, clstatus.TypeWord(n.Type), status, gen, heard, stream(n.Messages), strings.Join(links, " "))
	}
	tw.Flush()
	groups(w, s)
	fencing(w, s)

	if evs := s.Timeline; len(evs) > 0 {
		if len(evs) > maxEvents {
			evs = evs[len(evs)-maxEvents:]
		}
		fmt.Fprintln(w, "\nRecent events (hanode events for all):")
		for _, e := range evs {
			fmt.Fprintf(w, "  %s  %-12s  %s\n", e.GetTime().AsTime().Local().Format("15:04:05.000"), KindWord(e.Kind), e.Summary)
		}
	} else if evs := s.RecentEvents; len(evs) > 0 {
		if len(evs) > maxEvents {
			evs = evs[len(evs)-maxEvents:]
		}
		fmt.Fprintln(w, "\nRecent events:")
		for _, e := range evs {
			fmt.Fprintf(w, "  %s  %s\n", e.GetTime().AsTime().Local().Format("15:04:05.000"), e.Reason)
		}
	}
	if len(s.RejectedFrames) > 0 {
		reasons := make([]string, 0, len(s.RejectedFrames))
		for r := range s.RejectedFrames {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		parts := make([]string, len(reasons))
		for i, r := range reasons {
			parts[i] = fmt.Sprintf("%s %d", r, s.RejectedFrames[r])
		}
		fmt.Fprintf(w, "\nRejected frames: %s\n", strings.Join(parts, ", "))
	}
}

// groups writes the resource groups: where each runs and should run, its
// phase here, and each resource's last operation on this node.
func groups(w io.Writer, s *messages.ClusterStatus) {
	if len(s.Groups) == 0 {
		return
	}
	now := s.GetNow().AsTime()
	fmt.Fprintln(w)
	if s.NoQuorum {
		fmt.Fprintln(w, "NO QUORUM: this node's partition holds no majority of the nodes: it runs no groups (quorum policy stop) or starts none (freeze)")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP	PREFERS	RUNS ON	SHOULD RUN ON	HERE	NOTE")
	for _, g := range s.Groups {
		runs := strings.Join(g.RunningOn, ",")
		if runs == "" {
			runs = "-"
		}
		desired := g.DesiredNode
		if desired == "" {
			desired = "(nowhere)"
		}
		var note []string
		if g.Claiming {
			note = append(note, "claiming")
		}
		if len(g.BannedOn) > 0 {
			note = append(note, "kept off "+strings.Join(g.BannedOn, ","))
		}
		if g.LastFailure != "" {
			note = append(note, "last failure: "+g.LastFailure)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.Name, g.PreferredNode, runs, desired, PhaseWord(g.LocalPhase), strings.Join(note, "; "))
	}
	tw.Flush()
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nRESOURCE\tGROUP\tRUNS ON\tHERE\tLAST OPERATION")
	for _, g := range s.Groups {
		runs := strings.Join(g.RunningOn, ",")
		if runs == "" {
			runs = "-"
		}
		for _, r := range g.Resources {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Id, g.Name, runs, resourceState(r), lastOperation(r, now))
		}
		// Kept running wherever hanode runs, whatever node runs the
		// group: this node's instance.
		for _, r := range g.Everywhere {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Id, g.Name, "every node", resourceState(r), lastOperation(r, now))
		}
	}
	tw.Flush()
}

func resourceState(r *messages.ResourceStatus) string {
	if r.Up {
		return "running"
	}
	return "stopped"
}

func lastOperation(r *messages.ResourceStatus, now time.Time) string {
	if r.LastAction == "" {
		return "-"
	}
	return fmt.Sprintf("%s %s (exit %d, %s) %s ago", r.LastAction, r.LastOutcome, r.LastExitCode,
		Duration(r.GetLastDuration().AsDuration()), Duration(now.Sub(r.GetLastAt().AsTime())))
}

// fencing writes the nodes waiting to be fenced and the fencing devices.
func fencing(w io.Writer, s *messages.ClusterStatus) {
	now := s.GetNow().AsTime()
	for _, f := range s.Unfenced {
		line := fmt.Sprintf("\nTO FENCE: %s (%s) for %s", f.Node, f.Reason, Duration(now.Sub(f.GetSince().AsTime())))
		if f.FencingHere {
			line += ", fenced from here"
		}
		if f.Attempts > 0 {
			line += fmt.Sprintf("; %d failed attempt(s), last: %s", f.Attempts, f.LastFailure)
		}
		fmt.Fprintln(w, line+": its groups do not move until it is fenced")
	}
	for _, ws := range s.SelfStopWaits {
		fmt.Fprintf(w, "\nWAITING: %s was lost without fencing; %s move at %s (in %s), once it must have stopped them by itself\n",
			ws.Node, strings.Join(ws.Groups, ","), ws.GetUntil().AsTime().Local().Format("15:04:05.000"), Duration(ws.GetUntil().AsTime().Sub(now)))
	}
	for _, f := range s.Fenced {
		life := ""
		if f.Generation != 0 {
			life = fmt.Sprintf(" (generation %d)", f.Generation)
		}
		fmt.Fprintf(w, "\nFenced: %s%s by %s with %s at %s (%s ago)\n", f.Node, life, f.FencedBy, f.Device,
			f.GetTime().AsTime().Local().Format("15:04:05.000"), Duration(now.Sub(f.GetTime().AsTime())))
	}
	if len(s.FenceDevices) == 0 {
		return
	}
	var parts []string
	for _, d := range s.FenceDevices {
		switch {
		case d.Checked == nil:
			parts = append(parts, d.Name+" (not checked yet)")
		case d.Ok:
			parts = append(parts, fmt.Sprintf("%s ok (checked %s ago)", d.Name, Duration(now.Sub(d.Checked.AsTime()))))
		default:
			parts = append(parts, fmt.Sprintf("%s FAILED its check %s ago: %s", d.Name, Duration(now.Sub(d.Checked.AsTime())), d.Detail))
		}
	}
	fmt.Fprintf(w, "\nFence devices: %s\n", strings.Join(parts, "; "))
}

// PhaseWord names a group phase in status output.
func PhaseWord(p messages.GroupPhase) string {
	switch p {
	case messages.GroupPhase_GROUP_PHASE_STOPPED:
		return "stopped"
	case messages.GroupPhase_GROUP_PHASE_STARTING:
		return "starting"
	case messages.GroupPhase_GROUP_PHASE_RUNNING:
		return "running"
	case messages.GroupPhase_GROUP_PHASE_STOPPING:
		return "stopping"
	case messages.GroupPhase_GROUP_PHASE_UNMANAGED:
		return "UNMANAGED"
	case messages.GroupPhase_GROUP_PHASE_PROBING:
		return "probing"
	}
	return "?"
}

// stream summarises a node's message stream: the last message delivered
// (or sent), and what is missing or lost.
func stream(m *messages.MessageStream) string {
	if m == nil {
		return "-"
	}
	s := fmt.Sprint(m.Last)
	if m.Missing > 0 {
		s += fmt.Sprintf(" (%d missing)", m.Missing)
	}
	if m.Lost > 0 {
		s += fmt.Sprintf(" (%d lost)", m.Lost)
	}
	return s
}

// JSON writes the status as indented protojson with the proto field names.
// protojson varies its spacing on purpose; re-indenting with encoding/json
// gives scripts and people the same bytes every time.
func JSON(w io.Writer, s *messages.ClusterStatus) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(s)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}

// Duration prints a duration compactly: 350ms, 1.2s, 3m12s, 2h5m.
func Duration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

// KindWord names an event kind in the timeline.
func KindWord(k messages.EventKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "EVENT_KIND_"))
}

// Events writes the timeline, one event per line: time, kind, what
// happened and, indented on the next line, why.
func Events(w io.Writer, evs []*messages.ClusterEvent) {
	for _, ev := range evs {
		fmt.Fprintf(w, "%s  %-12s  %s\n", ev.GetTime().AsTime().Local().Format("2006-01-02 15:04:05.000"), KindWord(ev.Kind), ev.Summary)
		if ev.Reason != "" {
			fmt.Fprintf(w, "%s  %-12s  because: %s\n", strings.Repeat(" ", 23), "", ev.Reason)
		}
	}
}

// EventsJSON writes the timeline as JSON lines (protobuf JSON mapping).
func EventsJSON(w io.Writer, evs []*messages.ClusterEvent) error {
	for _, ev := range evs {
		b, err := protojson.Marshal(ev)
		if err != nil {
			return err
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			return err
		}
		compact.WriteByte('\n')
		if _, err := w.Write(compact.Bytes()); err != nil {
			return err
		}
	}
	return nil
}
