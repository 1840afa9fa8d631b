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
	// Parameters holds Heartbeat parameter values as written in ha.cf
	// (keepalive "2", deadtime "30"), for cl_status hbparameter. Missing
	// ones are filled with Heartbeat's defaults by Resolve.
	Parameters map[string]string
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
