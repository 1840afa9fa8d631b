// Package procrun runs the external programs hanode relies on (resource
// agents, fencing devices) the way a cluster manager must: in a process
// group of their own, killed whole when they overrun their timeout, and
// done when the program exits, even if a daemon it started keeps its
// output open.
package procrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Spec is one run.
type Spec struct {
	Path string
	Args []string
	// Env is the whole environment.
	Env []string
	// Stdin is given on standard input.
	Stdin string
	// Timeout bounds the run.
	Timeout time.Duration
}

// Result is what a run did.
type Result struct {
	// ExitCode is -1 when the program did not exit by itself.
	ExitCode int
	// Output is the end of what it wrote (standard output and error).
	Output   string
	Duration time.Duration
	// TimedOut: killed with its process group at the timeout (or when
	// ctx ended).
	TimedOut bool
	// Err says why it could not run at all, or that it timed out.
	Err error
}

// Watcher learns of the process group of every run started with a context
// that carries it (WithWatcher), and of the end of the run: the node keeps
// the runs under way in its state directory, so that a life that starts
// after a crash ends what the previous one left running.
type Watcher interface {
	Started(pgid int)
	Ended(pgid int)
}

type watcherKey struct{}

// WithWatcher returns a context whose runs are told to w.
func WithWatcher(ctx context.Context, w Watcher) context.Context {
	return context.WithValue(ctx, watcherKey{}, w)
}

// MaxOutput bounds what is kept of a program's output.
const MaxOutput = 4096

// Run runs spec. Its error is in Result.Err.
func Run(ctx context.Context, spec Spec) Result {
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	// The output goes to an anonymous file, not a pipe: a daemon the
	// program starts (IPaddr2's send_arp) inherits it and may keep it open
	// long after the program exits, and the run must end when the program
	// does.
	fd, err := unix.MemfdCreate("hanode-output", unix.MFD_CLOEXEC)
	if err != nil {
		return Result{ExitCode: -1, Err: fmt.Errorf("output file: %w", err)}
	}
	out := os.NewFile(uintptr(fd), "hanode-output")
	defer out.Close()
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	cmd.Dir = "/"
	if spec.Stdin != "" {
		cmd.Stdin = strings.NewReader(spec.Stdin)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{ExitCode: -1, Err: err}
	}
	if w, ok := ctx.Value(watcherKey{}).(Watcher); ok {
		w.Started(cmd.Process.Pid)
		defer w.Ended(cmd.Process.Pid)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// The whole group: a script's children (sleep, a hung mount) die
		// with it.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return Result{ExitCode: -1, Output: tail(out), Duration: time.Since(start), TimedOut: true,
			Err: fmt.Errorf("no answer within %v; killed", spec.Timeout)}
	}
	res := Result{Duration: time.Since(start), Output: tail(out)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
	default:
		res.ExitCode, res.Err = -1, err
	}
	return res
}

// tail returns the last MaxOutput bytes written to f.
func tail(f *os.File) string {
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-MaxOutput, 0)
	b := make([]byte, st.Size()-off)
	n, err := f.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	return string(b[:n])
}

// LastLine is the last non-empty line of s.
func LastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
