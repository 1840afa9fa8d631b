package rt

import (
	"fmt"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// MaxNice is the lowest priority (highest nice value) Linux has.
const MaxNice = 19

// StartNiced starts cmd (exec.Cmd.Start) inc nice steps below this
// process's priority (at most MaxNice), and never real-time: for
// background work (the probes of resources at start) that must not take
// the CPU from the node's own threads. The program inherits the priority
// from the thread that starts it, before it runs anything, and so do its
// own children (a script's commands); nothing is changed after the fork,
// so there is no window in which it runs at normal priority, and no extra
// program (nice(1)) is needed. inc <= 0 is Start.
//
// The nice value belongs to a thread on Linux, and an unprivileged thread
// cannot raise its priority back (RLIMIT_NICE is 0 by default): the start
// runs on a thread of its own, locked to it, which is never handed back to
// the Go runtime but ends with it (see throwaway); no goroutine of hanode
// ever runs at the lowered priority. cmd must not set
// SysProcAttr.Pdeathsig, which follows the thread that started the child:
// it would fire as soon as that thread ends.
func StartNiced(cmd *exec.Cmd, inc int) error {
	if inc <= 0 {
		return Start(cmd)
	}
	if cmd.SysProcAttr != nil && cmd.SysProcAttr.Pdeathsig != 0 {
		return fmt.Errorf("starting %s at a lower priority: Pdeathsig would fire when the starting thread ends", cmd.Path)
	}
	var err error
	throwaway(func() {
		if err = lowerThread(inc); err != nil {
			err = fmt.Errorf("starting %s at a lower priority: %w", cmd.Path, err)
			return
		}
		err = cmd.Start()
	})
	return err
}

// lowerThread sets the calling thread inc nice steps lower (at most
// MaxNice), under SCHED_OTHER when it is real-time (an ordinary policy,
// SCHED_BATCH or SCHED_IDLE, is kept).
func lowerThread(inc int) error {
	cur, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		if realtime.Load() {
			return fmt.Errorf("scheduling policy of this thread: %w", err)
		}
		// A kernel or a seccomp filter without sched_getattr (Linux
		// before 3.14): setpriority sets a thread's nice value too
		// (PRIO_PROCESS and 0: the calling thread, on Linux).
		raw, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
		if err != nil {
			return fmt.Errorf("priority of this thread: %w", err)
		}
		nice := min(20-raw+inc, MaxNice) // the system call answers 20-nice
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, nice); err != nil {
			return fmt.Errorf("nice %d for this thread: %w", nice, err)
		}
		return nil
	}
	attr := unix.SchedAttr{Policy: cur.Policy, Nice: min(cur.Nice+int32(inc), MaxNice)}
	switch cur.Policy {
	case unix.SCHED_NORMAL, unix.SCHED_BATCH, unix.SCHED_IDLE:
	default:
		attr.Policy = unix.SCHED_NORMAL
	}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		return fmt.Errorf("nice %d for this thread: %w", attr.Nice, err)
	}
	return nil
}

// throwaway runs f on an OS thread locked to it, which ends when f
// returns: whatever f does to its thread (a lower priority) dies with it.
// The main thread is never used: the Go runtime does not end it but parks
// it for good, and it is the one `ps` shows for the process, which would
// then show the lowered priority. f runs elsewhere while the main thread,
// locked meanwhile, cannot take it.
func throwaway(f func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if !mainThread() {
			defer close(done)
			f()
			return // still locked: the runtime ends the thread
		}
		inner := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			defer close(inner)
			f()
		}()
		<-inner
		runtime.UnlockOSThread()
		close(done)
	}()
	<-done
}

// mainThread says whether the calling thread is the process's first.
func mainThread() bool { return unix.Gettid() == unix.Getpid() }
