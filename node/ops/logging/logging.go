// Package logging builds the node's slog logger from the command line and
// the configuration's Logging message: records go to standard error (text or
// JSON, for journald), and, as Heartbeat's ha.cf asks, to a log file, a
// debug file and syslog.
package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strings"
	"sync"

	"github.com/hanode/hanode/messages"
)

// Options say where logs go.
type Options struct {
	// Format of standard error: "text" (default) or "json".
	Format string
	// Stderr receives every record at Level and above; nil for none.
	Stderr io.Writer
	// Config is the configuration's logging section; may be nil.
	Config *messages.Logging
	// Level is the threshold of Stderr and syslog; it starts at debug when
	// Config.Debug > 0, else info, and SIGUSR1/SIGUSR2 move it.
	Level *slog.LevelVar
	// SyslogNetwork and SyslogAddr name the syslog daemon (empty: the
	// local one, /dev/log); tests listen on a socket of their own.
	SyslogNetwork, SyslogAddr string
}

// Facilities maps syslog facility names to their values.
var Facilities = map[string]syslog.Priority{
	"kern": syslog.LOG_KERN, "user": syslog.LOG_USER, "mail": syslog.LOG_MAIL, "daemon": syslog.LOG_DAEMON,
	"auth": syslog.LOG_AUTH, "syslog": syslog.LOG_SYSLOG, "lpr": syslog.LOG_LPR, "news": syslog.LOG_NEWS,
	"uucp": syslog.LOG_UUCP, "cron": syslog.LOG_CRON, "authpriv": syslog.LOG_AUTHPRIV, "ftp": syslog.LOG_FTP,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2, "local3": syslog.LOG_LOCAL3,
	"local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5, "local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

// New returns the logger and a function that closes its files. Problems
// that should not stop the node (no syslog daemon) come back as warnings.
func New(opts Options) (log *slog.Logger, closeFn func() error, warnings []string, err error) {
	level := opts.Level
	if level == nil {
		level = new(slog.LevelVar)
	}
	if opts.Format != "" && opts.Format != "text" && opts.Format != "json" {
		return nil, nil, nil, fmt.Errorf("log format %q: use text or json", opts.Format)
	}
	cfg := opts.Config
	if cfg.GetDebug() > 0 {
		level.Set(slog.LevelDebug)
	}
	var handlers []slog.Handler
	var closers []io.Closer
	if opts.Stderr != nil {
		ho := &slog.HandlerOptions{Level: level}
		if opts.Format == "json" {
			handlers = append(handlers, slog.NewJSONHandler(opts.Stderr, ho))
		} else {
			handlers = append(handlers, slog.NewTextHandler(opts.Stderr, ho))
		}
	}
	closeAll := func() error {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c.Close())
		}
		return errors.Join(errs...)
	}
	openFile := func(path string, min slog.Leveler) error {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("log file: %w", err)
		}
		closers = append(closers, f)
		handlers = append(handlers, slog.NewTextHandler(&lockedWriter{w: f}, &slog.HandlerOptions{Level: min}))
		return nil
	}
	if p := cfg.GetFile(); p != "" {
		if err := openFile(p, slog.LevelInfo); err != nil {
			closeAll()
			return nil, nil, nil, err
		}
	}
	if p := cfg.GetDebugFile(); p != "" {
		if err := openFile(p, slog.LevelDebug); err != nil {
			closeAll()
			return nil, nil, nil, err
		}
	}
	if f := cfg.GetFacility(); f != "" && f != "none" {
		prio, ok := Facilities[f]
		if !ok {
			closeAll()
			return nil, nil, nil, fmt.Errorf("unknown syslog facility %q", f)
		}
		w, err := syslog.Dial(opts.SyslogNetwork, opts.SyslogAddr, prio|syslog.LOG_INFO, "hanode")
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("syslog (facility %s) unavailable, logging without it: %v", f, err))
		} else {
			closers = append(closers, w)
			handlers = append(handlers, &syslogHandler{w: w, level: level})
		}
	}
	return slog.New(fanout(handlers)), closeAll, warnings, nil
}

// lockedWriter serialises writes from several handlers to one file.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// fanout sends each record to every handler that wants it.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

func (f fanout) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(as)
	}
	return out
}

func (f fanout) WithGroup(g string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(g)
	}
	return out
}

// syslogHandler writes "message key=value ..." lines at the syslog
// severity of each record.
type syslogHandler struct {
	w     *syslog.Writer
	level slog.Leveler
	attrs []slog.Attr
}

func (h *syslogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *syslogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	switch {
	case r.Level >= slog.LevelError:
		return h.w.Err(b.String())
	case r.Level >= slog.LevelWarn:
		return h.w.Warning(b.String())
	case r.Level >= slog.LevelInfo:
		return h.w.Info(b.String())
	}
	return h.w.Debug(b.String())
}

func (h *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &syslogHandler{w: h.w, level: h.level, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

// WithGroup is not used by hanode; groups are flattened.
func (h *syslogHandler) WithGroup(string) slog.Handler { return h }
