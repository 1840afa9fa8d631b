// Package config loads, validates and resolves a hanode cluster
// configuration: the protobuf Cluster message (proto/hanode/v1/config.proto),
// read either from the native text format or, by package hacf, from a
// Heartbeat /etc/ha.d. Both end as a Loaded value, which Resolve turns into
// the Effective configuration one node runs with.
//
// Every problem is reported as an *Error: one line that names the file and
// line, or the file and the field, so an operator can find it at once.
package config

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/hanode/hanode/messages"
)

// Format names the syntax a configuration was read from.
type Format string

const (
	// FormatNative is the protobuf text format (/etc/hanode/cluster.textproto).
	FormatNative Format = "native"
	// FormatHeartbeat is a Heartbeat /etc/ha.d directory.
	FormatHeartbeat Format = "heartbeat"
)

// Pos is a place in a configuration file.
type Pos struct {
	File string
	Line int // 1-based; 0 when unknown
}

func (p Pos) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return p.File
}

// Error is one configuration problem. It prints as one line:
// "file:line: message", "file: field: message" or "field: message".
type Error struct {
	File  string // file the problem is in; empty when none applies
	Line  int    // 1-based line; 0 when unknown
	Field string // field path in the Cluster message ("timing.deadtime"); may be empty
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Field != "" && e.Line == 0 {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is a list of configuration problems, in the order found. Its
// Error() is one line per problem.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Err returns es as an error, or nil when it is empty.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Warning is something an operator should know that does not stop the node:
// an ignored Heartbeat directive, an insecure key, a risky timeout.
type Warning struct {
	Pos   Pos
	Field string
	Msg   string
}

func (w Warning) String() string {
	e := Error{File: w.Pos.File, Line: w.Pos.Line, Field: w.Field, Msg: w.Msg}
	return e.Error()
}

// DifferenceKind says how hanode's reading of a Heartbeat configuration
// differs from what Heartbeat 3.0.6 does with it.
type DifferenceKind string

const (
	// DiffIgnored: a directive Heartbeat acts on and hanode does not; the
	// message says what hanode does instead.
	DiffIgnored DifferenceKind = "ignored"
	// DiffMerged: media lines Heartbeat runs as separate media, hanode as
	// one link (one socket per device and port).
	DiffMerged DifferenceKind = "merged"
	// DiffResolved: a host name resolved to an address when the file was
	// read, as Heartbeat does: a later DNS change needs a restart.
	DiffResolved DifferenceKind = "resolved"
	// DiffQuirk: a Heartbeat quirk reproduced so that the file runs as it
	// did (nice_failback after auto_failback, `auth1`, warntime >=
	// deadtime).
	DiffQuirk DifferenceKind = "quirk"
	// DiffAccepted: something Heartbeat refuses and hanode accepts.
	DiffAccepted DifferenceKind = "accepted"
	// DiffChanged: something hanode runs otherwise than Heartbeat
	// (auto_failback legacy runs as on, ipfail is built in).
	DiffChanged DifferenceKind = "changed"
)

// Difference is one place where hanode runs a Heartbeat configuration
// otherwise than Heartbeat 3.0.6 would, or where it reads the file the
// way Heartbeat does but an operator moving over should know it (a host
// name resolved once). hanode check lists them in a "differences from
// Heartbeat" section; a native configuration has none.
type Difference struct {
	Pos  Pos
	Kind DifferenceKind
	// Directive is the directive (or authkeys/haresources line kind) the
	// difference is about: "realtime", "nice_failback", "ucast", "auth".
	Directive string
	Msg       string
}

// String is "kind: file:line: message".
func (d Difference) String() string {
	e := Error{File: d.Pos.File, Line: d.Pos.Line, Msg: d.Msg}
	return string(d.Kind) + ": " + e.Error()
}

// Loaded is a configuration as read from its files, before validation.
type Loaded struct {
	Cluster *messages.Cluster
	Format  Format
	// Origin is the file (native) or directory (heartbeat) it came from.
	Origin string
	// Files maps the role of each file read ("ha.cf", "haresources",
	// "authkeys", "config") to its path.
	Files map[string]string
	// Sources maps field paths of Cluster ("nodes[1]", "timing.deadtime",
	// "links[0]") to where they were written, so that validation errors can
	// name a line.
	Sources map[string]Pos
	// Warnings found while reading.
	Warnings []Warning
	// Differences from Heartbeat found while reading (Differ); Resolve
	// adds its own to Effective.Differences.
	Differences []Difference
	// Parameters holds Heartbeat parameter values as written in ha.cf
	// (keepalive "2", deadtime "30"), for cl_status hbparameter. Missing
	// ones are filled with Heartbeat's defaults by Resolve.
	Parameters map[string]string
	// Everywhere are the resources ha.cf's hanode_everywhere lines name
	// (as haresources spells them), with the line that names each. ha.cf
	// is read before haresources: the Heartbeat reader marks them
	// (Resource.everywhere) once it has read both, and empties this.
	Everywhere []NameAt
}

// NameAt is a name and where it was written.
type NameAt struct {
	Name string
	Pos  Pos
}

// NewLoaded returns an empty Loaded of the given format.
func NewLoaded(format Format, origin string) *Loaded {
	return &Loaded{
		Cluster:    &messages.Cluster{},
		Format:     format,
		Origin:     origin,
		Files:      map[string]string{},
		Sources:    map[string]Pos{},
		Parameters: map[string]string{},
	}
}

// Errorf returns an *Error about field, placed at the line that wrote the
// field (or its nearest enclosing field) when that is known, else at the
// origin file.
func (l *Loaded) Errorf(field, format string, args ...any) *Error {
	e := &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
	if pos, ok := l.lookup(field); ok {
		e.File, e.Line = pos.File, pos.Line
	} else if l.Format == FormatNative {
		e.File = l.Origin
	} else if f, ok := l.Files["ha.cf"]; ok {
		// A Heartbeat user knows directives, not field paths: name the
		// file alone.
		e.File, e.Field = f, ""
	}
	return e
}

// Warnf records a warning about field.
func (l *Loaded) Warnf(field, format string, args ...any) {
	w := Warning{Field: field, Msg: fmt.Sprintf(format, args...)}
	if pos, ok := l.lookup(field); ok {
		w.Pos = pos
	} else if l.Format == FormatNative {
		w.Pos = Pos{File: l.Origin}
	}
	l.Warnings = append(l.Warnings, w)
}

// Differ records a difference from Heartbeat at pos. A difference that an
// operator should also see in the log at start (an ignored directive) is
// recorded with WarnDiffer instead.
func (l *Loaded) Differ(pos Pos, kind DifferenceKind, directive, format string, args ...any) {
	l.Differences = append(l.Differences, Difference{Pos: pos, Kind: kind, Directive: directive, Msg: fmt.Sprintf(format, args...)})
}

// WarnDiffer records a difference that is also a warning, with one text:
// hanode run logs it at start, hanode check prints it once, among the
// differences.
func (l *Loaded) WarnDiffer(pos Pos, kind DifferenceKind, directive, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.Warnings = append(l.Warnings, Warning{Pos: pos, Msg: msg})
	l.Differences = append(l.Differences, Difference{Pos: pos, Kind: kind, Directive: directive, Msg: msg})
}

// IsDifference says whether w repeats one of ds (recorded by WarnDiffer),
// so that a listing can print it once.
func IsDifference(w Warning, ds []Difference) bool {
	for _, d := range ds {
		if d.Pos == w.Pos && d.Msg == w.Msg {
			return true
		}
	}
	return false
}

// BuiltinRespawn says why a respawn line is not run because hanode does
// its job itself, or "" when it is run: Heartbeat's ipfail is a client of
// Heartbeat's API, which hanode does not have; its job (ping nodes hand
// groups over) is built in.
func BuiltinRespawn(r *messages.Respawn) string {
	if path.Base(r.GetPath()) == "ipfail" {
		return "ipfail is built into hanode (a node that reaches fewer ping nodes hands its groups over)"
	}
	return ""
}

// lookup finds the position of field or of the closest enclosing field:
// "links[2].ucast.peers[0]" falls back to "links[2].ucast" then "links[2]".
func (l *Loaded) lookup(field string) (Pos, bool) {
	for f := field; f != ""; {
		if pos, ok := l.Sources[f]; ok {
			return pos, true
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return Pos{}, false
}

// SortedParameterNames returns the parameter names in alphabetical order.
func (l *Loaded) SortedParameterNames() []string {
	names := make([]string, 0, len(l.Parameters))
	for n := range l.Parameters {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
