// Package rt makes hanode a soft real-time process, as Heartbeat's
// `realtime on` does: every thread scheduled SCHED_RR at priority rtprio,
// and, when asked, its memory locked. Why: at small deadtimes (keepalive
// 10ms, deadtime 50ms) a node whose heartbeat sender waits behind ordinary
// processes on a busy machine, tens of milliseconds at a time, is declared
// dead by its peers although nothing failed; a real-time thread runs
// before every SCHED_OTHER one, whatever their number.
//
// The scheduling policy belongs to a thread, not to a process, and Go runs
// goroutines on many threads it creates as it goes. SetRealtime sets the
// policy on every thread the process has; a thread created later inherits
// it from the thread that clones it. SCHED_RESET_ON_FORK is not used,
// although it would keep the policy from the programs hanode starts: the
// kernel resets it on every clone, so every thread the Go runtime created
// afterwards would run at normal priority again.
//
// The programs hanode starts (resource agents, fencing devices, respawned
// programs) must not run at real-time priority: a script looping there
// would take a CPU from everything else, and Heartbeat sets its children
// back to normal time. Start starts a program from a thread set back to
// SCHED_OTHER for that start, which the child inherits; the thread is
// locked to the start meanwhile, so no goroutine runs on it at normal
// priority and the Go runtime clones no thread from it (a locked thread
// asks the runtime's template thread to).
//
// The Go runtime does background work (sweeping, idle GC marking) on any
// processor left idle, which at real-time priority nothing of normal
// priority interrupts: SpareCPU keeps one CPU out of the Go scheduler's
// reach.
package rt

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// DefaultPriority is the priority Heartbeat 3.0.6 runs at without rtprio:
// the lowest real-time one. (ha.cf(5) says halfway between the lowest and
// highest, but heartbeat passes -1 and cl_make_realtime takes the minimum:
// `ps -o cls,rtprio` shows RR 1.) It is above every ordinary process and
// below the kernel's threaded interrupt handlers (50), which deliver the
// node's own frames on PREEMPT_RT kernels.
const DefaultPriority = 1

// MinPriority and MaxPriority bound rtprio (sched_get_priority_min and
// max of SCHED_RR on Linux).
const (
	MinPriority = 1
	MaxPriority = 99
)

// maxPasses bounds SetRealtime's sweeps of the process's threads: each
// pass sets the threads it finds; one that finds every thread set ends it.
// Threads are created rarely, so two passes are the rule.
const maxPasses = 10

// realtime says that SetRealtime set threads of this process to a
// real-time policy: Start then starts programs from a thread at normal
// priority.
var realtime atomic.Bool

// Realtime says whether SetRealtime made this process real-time.
func Realtime() bool { return realtime.Load() }

// SetRealtime schedules every thread of this process SCHED_RR at priority
// prio, and returns how many threads it has. Failing (no CAP_SYS_NICE, an
// RLIMIT_RTPRIO below prio, a cgroup without real-time runtime), it leaves
// the process as it was when the first thread fails.
func SetRealtime(prio int) (int, error) {
	if prio < MinPriority || prio > MaxPriority {
		return 0, fmt.Errorf("real-time priority %d: not between %d and %d", prio, MinPriority, MaxPriority)
	}
	want := unix.SchedAttr{Policy: unix.SCHED_RR, Priority: uint32(prio)}
	for pass := 0; pass < maxPasses; pass++ {
		tids, err := threads()
		if err != nil {
			return 0, err
		}
		changed := 0
		for _, tid := range tids {
			cur, err := unix.SchedGetAttr(tid, 0)
			if errors.Is(err, unix.ESRCH) {
				continue // the thread ended meanwhile
			}
			if err != nil {
				return 0, fmt.Errorf("scheduling policy of thread %d: %w", tid, err)
			}
			if cur.Policy == want.Policy && cur.Priority == want.Priority && cur.Flags&unix.SCHED_FLAG_RESET_ON_FORK == 0 {
				continue
			}
			attr := want
			if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
				if errors.Is(err, unix.ESRCH) {
					continue
				}
				return 0, permissionHint(fmt.Errorf("SCHED_RR priority %d for thread %d: %w", prio, tid, err), prio)
			}
			realtime.Store(true)
			changed++
		}
		if changed == 0 {
			return len(tids), nil
		}
	}
	return 0, fmt.Errorf("SCHED_RR priority %d: threads still appearing after %d passes over /proc/self/task", prio, maxPasses)
}

// SpareCPU lowers the Go scheduler's processors (GOMAXPROCS) to one less
// than the CPUs this process may run on, at least one, so that the Go code
// of a real-time process never occupies every CPU. Why: the runtime's
// background work (the sweeper, idle GC workers) runs on any processor
// that is idle, trusting the kernel to share the CPU; at real-time
// priority nothing of normal priority preempts it (the kernel's own
// workers included), and a thread of the same priority waits for the end
// of its round-robin time slice, 100 ms. Two nodes started together on two
// cores, each real-time with two processors, were both silent for about
// 100 ms in 3 to 5 of 30 starts (their peers declared them dead); with one
// processor each, in none of 30. A GOMAXPROCS set in the environment is
// the operator's choice and is left alone (changed is then false).
func SpareCPU() (before, after int, changed bool) {
	before = runtime.GOMAXPROCS(0)
	if os.Getenv("GOMAXPROCS") != "" {
		return before, before, false
	}
	after = max(1, min(before, runtime.NumCPU()-1))
	if after == before {
		return before, after, false
	}
	runtime.GOMAXPROCS(after)
	return before, after, true
}

// permissionHint adds to a refused policy change what would allow it.
func permissionHint(err error, prio int) error {
	if !errors.Is(err, unix.EPERM) {
		return err
	}
	return fmt.Errorf("%w (needs root or CAP_SYS_NICE, or an RLIMIT_RTPRIO of at least %d: LimitRTPRIO=%d in the systemd unit; "+
		"with real-time group scheduling, real-time runtime for the service's cgroup)", err, prio, prio)
}

// threads lists the thread ids of this process.
func threads() ([]int, error) {
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("listing this process's threads: %w", err)
	}
	tids := make([]int, 0, len(entries))
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// Start starts cmd (exec.Cmd.Start), at normal priority when this process
// is real-time: from a thread set back to SCHED_OTHER (keeping its nice
// value) for the start alone, whose policy the child inherits. The thread
// is locked to the start meanwhile, so no goroutine runs at normal
// priority on it, and the runtime creates no thread from it (its template
// thread does). Then it is made real-time again and returned to the
// runtime; should that fail, it is not returned: the runtime ends it.
// cmd must not set SysProcAttr.Pdeathsig, which follows the thread that
// started the child.
func Start(cmd *exec.Cmd) error {
	if !realtime.Load() {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		prev, err := unix.SchedGetAttr(0, 0)
		if err != nil {
			errc <- fmt.Errorf("starting %s at normal priority: scheduling policy of this thread: %w", cmd.Path, err)
			return
		}
		if err := setNormal(prev.Nice); err != nil {
			errc <- fmt.Errorf("starting %s at normal priority: %w", cmd.Path, err)
			return
		}
		err = cmd.Start()
		if unix.SchedSetAttr(0, prev, 0) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// setNormal schedules the calling thread SCHED_OTHER (the kernel's
// SCHED_NORMAL) at nice (sched_setattr sets the nice value too).
func setNormal(nice int32) error {
	attr := unix.SchedAttr{Policy: unix.SCHED_NORMAL, Nice: nice}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		return fmt.Errorf("SCHED_OTHER for this thread: %w", err)
	}
	return nil
}

// LockMemory locks this process's memory (mlockall), so that a node on a
// machine short of memory never waits for the disk to page its heartbeat
// code or data back in. It first raises RLIMIT_MEMLOCK as far as it may
// (to unlimited with CAP_SYS_RESOURCE), as Heartbeat does.
//
// Pages are locked as they are first used (MCL_ONFAULT), not all at once:
// the Go runtime reserves large sparse structures (a 32 MiB arena index,
// 32 MiB in its data segment) of which it touches little, and faulting
// them all in would cost some 70 MiB of memory for nothing (90 MiB
// resident instead of 17 MiB). The program's own code and read-only data
// are locked whole, since a code path first taken in a failover must not
// wait for the disk either. It returns how much of the program it locked.
func LockMemory() (int64, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		return 0, fmt.Errorf("locking memory: reading RLIMIT_MEMLOCK: %w", err)
	}
	if lim.Cur != unix.RLIM_INFINITY {
		if unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}) != nil && lim.Cur < lim.Max {
			unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: lim.Max, Max: lim.Max})
		}
		unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim)
	}
	err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT)
	if errors.Is(err, unix.EINVAL) {
		// A kernel before 4.4 has no MCL_ONFAULT: everything at once.
		err = unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE)
	}
	if err != nil {
		return 0, lockError(err, lim.Cur, mappedBytes())
	}
	n, err := lockProgram()
	if err != nil {
		return n, fmt.Errorf("locking memory: %w", err)
	}
	return n, nil
}

// lockProgram locks, and so reads in, every mapping of the program's file
// (mlock populates the range, where the lock on fault only marked it).
func lockProgram() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("finding the program: %w", err)
	}
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("reading this process's mappings: %w", err)
	}
	var locked int64
	for _, m := range programMappings(string(b), exe) {
		// Every mapping of the program, its variables too.
		if _, _, e := unix.Syscall(unix.SYS_MLOCK, m.start, m.end-m.start, 0); e != 0 {
			return locked, fmt.Errorf("mlock %x-%x of %s: %w", m.start, m.end, exe, e)
		}
		locked += int64(m.end - m.start)
	}
	return locked, nil
}

// mapping is an address range of this process and whether it is
// writable.
type mapping struct {
	start, end uintptr
	writable   bool
}

// ReleaseProgramPages takes out of this process's page tables the pages
// of its program's read-only mappings (code, constants, the function
// tables). They stay in the page cache; what runs next is mapped again
// from there on first use (a minor fault). Writable mappings (the
// program's variables) are left alone: dropping them would lose what was
// written. Not for a process whose memory is locked (LockMemory).
func ReleaseProgramPages() error {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("release program pages: %w", err)
	}
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("release program pages: %w", err)
	}
	for _, m := range programMappings(string(b), exe) {
		if m.writable {
			continue
		}
		// By address: the mapping is the running program's, not a Go
		// slice (unix.Madvise takes one).
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("release program pages %#x-%#x: %w", m.start, m.end, errno)
		}
	}
	return nil
}

// programMappings picks from /proc/self/maps text the mappings of file
// path ("start-end perms offset dev inode path").
func programMappings(maps, path string) []mapping {
	var out []mapping
	for _, line := range strings.Split(maps, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || strings.Join(f[5:], " ") != path {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		out = append(out, mapping{start: uintptr(start), end: uintptr(end), writable: strings.Contains(f[1], "w")})
	}
	return out
}

// lockError says why mlockall failed: with ENOMEM or EPERM, the limit
// against what the process maps, and how to raise it.
func lockError(err error, limit, mapped uint64) error {
	if !errors.Is(err, unix.ENOMEM) && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("locking memory (mlockall): %w", err)
	}
	lim := "unlimited"
	if limit != unix.RLIM_INFINITY {
		lim = mib(limit)
	}
	have := "an unknown size"
	if mapped > 0 {
		have = mib(mapped)
	}
	return fmt.Errorf("locking memory (mlockall): %w: RLIMIT_MEMLOCK is %s and the process maps %s; "+
		"run hanode as root (CAP_IPC_LOCK) or raise the limit (LimitMEMLOCK=infinity in the systemd unit)", err, lim, have)
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// mappedBytes is the process's mapped size (VmSize), 0 when unknown.
func mappedBytes() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmSize:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
