// Package procrun runs the external programs hanode relies on (resource
// agents, fencing devices) the way a cluster manager must: in a process
// group of their own, killed whole when they overrun their timeout, done
// when the program exits, even if a daemon it started keeps its output
// open, and holding no more of their output than a bounded tail, however
// much they (or that daemon) print.
package procrun

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/hanode/hanode/node/host/rt"
	"github.com/hanode/hanode/node/machine/resource"
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
	// SeparateStdout keeps standard output whole (up to MaxStdout) in
	// Result.Stdout, apart from standard error, whose tail alone is then
	// in Result.Output: for programs whose output is data (a fencing
	// device's host list), which a warning on standard error must not
	// corrupt, nor a long list push out of a tail.
	SeparateStdout bool
	// Nice runs the program, and what it starts, that many nice steps
	// below hanode (see rt.StartNiced); 0: at hanode's priority (never
	// real-time). A context made WithNice sets it when it is 0.
	Nice int
}

// Result is what a run did.
type Result struct {
	// ExitCode is -1 when the program did not exit by itself.
	ExitCode int
	// Output is the end of what it wrote (at most MaxOutput bytes):
	// standard output and error, or standard error alone with
	// SeparateStdout.
	Output string
	// Stdout is its standard output, with SeparateStdout; StdoutTruncated
	// says it wrote more than MaxStdout bytes, of which Stdout holds the
	// first.
	Stdout          string
	StdoutTruncated bool
	Duration        time.Duration
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

type niceKey struct{}

// WithNice returns a context whose runs start inc nice steps below hanode
// (Spec.Nice): background work, such as the probes of a node's resources
// at start, which must leave the CPU to the node itself.
func WithNice(ctx context.Context, inc int) context.Context {
	return context.WithValue(ctx, niceKey{}, inc)
}

// WithWatcher returns a context whose runs are told to w.
func WithWatcher(ctx context.Context, w Watcher) context.Context {
	return context.WithValue(ctx, watcherKey{}, w)
}

const (
	// MaxOutput bounds what is kept of a program's output (its tail).
	MaxOutput = 4096
	// MaxStdout bounds the standard output kept whole with
	// SeparateStdout: a host list of thousands of names fits.
	MaxStdout = 1 << 20
)

// Run runs spec. Its error is in Result.Err.
func Run(ctx context.Context, spec Spec) Result {
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	cmd.Dir = "/"
	if spec.Stdin != "" {
		cmd.Stdin = strings.NewReader(spec.Stdin)
	}
	// The output goes to pipes that hanode reads as the program writes,
	// keeping a bounded part (see capture).
	var out, stdout *capture
	var err error
	if out, err = newCapture(newTail(MaxOutput)); err != nil {
		return Result{ExitCode: -1, Err: fmt.Errorf("output pipe: %w", err)}
	}
	cmd.Stdout, cmd.Stderr = out.w, out.w
	if spec.SeparateStdout {
		if stdout, err = newCapture(newHead(MaxStdout)); err != nil {
			out.abandon()
			return Result{ExitCode: -1, Err: fmt.Errorf("output pipe: %w", err)}
		}
		cmd.Stdout = stdout.w
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	nice := spec.Nice
	if inc, ok := ctx.Value(niceKey{}).(int); ok && nice == 0 {
		nice = inc
	}
	start := time.Now()
	// At normal priority even when hanode runs real-time (realtime on),
	// or lower.
	err = rt.StartNiced(cmd, nice)
	// The program has its copies of the write ends; hanode's would keep
	// the pipes from ever reaching their end.
	out.started()
	stdout.started()
	if err != nil {
		// Nobody holds the write ends: the readers end by themselves.
		return Result{ExitCode: -1, Err: err}
	}
	if w, ok := ctx.Value(watcherKey{}).(Watcher); ok {
		w.Started(cmd.Process.Pid)
		defer w.Ended(cmd.Process.Pid)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	res := Result{}
	select {
	case err = <-done:
	case <-ctx.Done():
		// The whole group: a script's children (sleep, a hung mount) die
		// with it.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		err = nil
		res.ExitCode, res.TimedOut, res.Err = -1, true, fmt.Errorf("no answer within %v; killed", spec.Timeout)
	}
	res.Duration = time.Since(start)
	res.Output = string(out.exited().data)
	if stdout != nil {
		s := stdout.exited()
		res.Stdout, res.StdoutTruncated = string(s.data), s.overflowed
	}
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

// LastLine is the last non-empty line of s.
func LastLine(s string) string { return resource.LastLine(s) }
