package sim

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Trace is the readable story of one schedule: what the simulation did
// (crash, partition, ...) and what the nodes logged, on the fake clock,
// the latest MaxLines kept. Printed when a schedule fails.
type Trace struct {
	mu    sync.Mutex
	start time.Time
	lines []string
	next  int
	full  bool
}

// LiveTrace prints every trace line as it is added (debugging a replay).
var LiveTrace bool

// MaxTraceLines bounds a trace.
const MaxTraceLines = 4000

func newTrace() *Trace { return &Trace{start: time.Now(), lines: make([]string, 0, 256)} }

func (t *Trace) add(who, text string) {
	if LiveTrace {
		fmt.Printf("%9.3fs %-4s %s\n", time.Since(t.start).Seconds(), who, text)
	}
	line := fmt.Sprintf("%9.3fs %-4s %s", time.Since(t.start).Seconds(), who, text)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) < MaxTraceLines {
		t.lines = append(t.lines, line)
		return
	}
	t.lines[t.next] = line
	t.next = (t.next + 1) % MaxTraceLines
	t.full = true
}

// String is the trace, oldest line first.
func (t *Trace) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	if t.full {
		fmt.Fprintf(&b, "(earlier lines dropped)\n")
	}
	for i := range t.lines {
		b.WriteString(t.lines[(t.next+i)%len(t.lines)])
		b.WriteByte('\n')
	}
	return b.String()
}

// traceHandler is a slog.Handler that adds a node's log records to the
// trace: the message and its attributes, except the node name.
type traceHandler struct {
	t     *Trace
	node  string
	attrs []slog.Attr
	min   slog.Level
}

func (h *traceHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }

func (h *traceHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		if a.Key == "node" || a.Key == "lib" {
			return true
		}
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	h.t.add(h.node, b.String())
	return nil
}

func (h *traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &traceHandler{t: h.t, node: h.node, attrs: append(append([]slog.Attr(nil), h.attrs...), as...), min: h.min}
}

func (h *traceHandler) WithGroup(string) slog.Handler { return h }
