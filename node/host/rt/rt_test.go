package rt

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The real-time checks run in a child test process (helperEnv set): a
// process made real-time, with its memory locked, stays so, and the test
// binary that runs the other packages' tests must not.
const helperEnv = "HANODE_RT_HELPER"

// testPriority is not the default, so that the priority asked for is seen
// to be the one set.
const testPriority = 7

// TestRealtimeProcess makes a child test process real-time and memory
// locked, and checks there (TestRealtimeHelper) that every thread, also
// one the Go runtime creates afterwards, runs SCHED_RR, and that a program
// started with Start runs SCHED_OTHER with nothing locked.
func TestRealtimeProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("in the helper")
	}
	if os.Geteuid() != 0 {
		msg := "real-time scheduling and locked memory need root (CAP_SYS_NICE, CAP_IPC_LOCK)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: this test must run; .ci/run runs as root)")
		}
		t.Skip(msg)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRealtimeHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		out, err = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("helper still running after 60 s:\n%s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestRealtimeHelper") {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	t.Logf("helper:\n%s", out)
}

// TestRealtimeHelper runs in the child process of TestRealtimeProcess.
func TestRealtimeHelper(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("runs as TestRealtimeProcess's child")
	}
	before, err := threads()
	if err != nil {
		t.Fatal(err)
	}
	n, err := SetRealtime(testPriority)
	if err != nil {
		t.Fatal(err)
	}
	if n < len(before) || !Realtime() {
		t.Fatalf("SetRealtime: %d threads (the process had %d), Realtime() %v", n, len(before), Realtime())
	}
	t.Logf("%d threads set SCHED_RR/%d", n, testPriority)
	assertAllThreads(t, unix.SCHED_RR, testPriority)

	// Threads the runtime creates afterwards: goroutines blocked in a
	// system call (a read on a pipe, which the runtime does not poll)
	// each hold a thread, so the runtime clones new ones for the others.
	const blocked = 8
	known := map[int]bool{}
	set, _ := threads()
	for _, tid := range set {
		known[tid] = true
	}
	var fds [blocked][2]int
	for i := range fds {
		if err := unix.Pipe(fds[i][:]); err != nil {
			t.Fatal(err)
		}
		go func(fd int) {
			var b [1]byte
			unix.Read(fd, b[:])
		}(fds[i][0])
	}
	deadline := time.Now().Add(10 * time.Second)
	var fresh []int
	for len(fresh) < blocked/2 {
		if time.Now().After(deadline) {
			t.Fatalf("the runtime created %d new threads for %d blocked goroutines within 10 s", len(fresh), blocked)
		}
		time.Sleep(5 * time.Millisecond)
		fresh = fresh[:0]
		now, _ := threads()
		for _, tid := range now {
			if !known[tid] {
				fresh = append(fresh, tid)
			}
		}
	}
	for _, tid := range fresh {
		if p, prio, err := policyOf(tid); err == nil && (p != unix.SCHED_RR || prio != testPriority) {
			t.Errorf("thread %d, created after SetRealtime: policy %d priority %d, want SCHED_RR/%d", tid, p, prio, testPriority)
		}
	}
	t.Logf("%d threads created afterwards, each SCHED_RR/%d", len(fresh), testPriority)
	for i := range fds {
		unix.Write(fds[i][1], []byte{0})
	}

	if raceEnabled {
		t.Log("memory not locked: the race detector's shadow memory cannot be")
	} else {
		n, err := LockMemory()
		if err != nil {
			t.Fatal(err)
		}
		if kb := statusKB(t, "/proc/self/status", "VmLck"); kb == 0 {
			t.Errorf("VmLck 0 kB after LockMemory")
		}
		// The program is locked whole, read in; the rest as it is used.
		size, rss, whole := programLocked(t)
		if n == 0 || int64(size) != n/1024 || rss != size || !whole {
			t.Errorf("program: %d kB mapped, %d kB resident, locked whole %v; LockMemory said %d bytes", size, rss, whole, n)
		}
		t.Logf("program locked: %d kB; the process: VmRSS %d kB, VmLck %d kB", rss,
			statusKB(t, "/proc/self/status", "VmRSS"), statusKB(t, "/proc/self/status", "VmLck"))
		// The runtime lives with locked memory: a heap that grows and
		// is collected.
		for i := 0; i < 4; i++ {
			b := make([]byte, 16<<20)
			b[len(b)-1] = 1
		}
	}

	// A program started with Start runs at normal priority, nothing
	// locked; started with exec.Cmd.Start, it would inherit SCHED_RR (so
	// the check means something).
	child := func(start func(*exec.Cmd) error) (policy, prio int, lockedKB int) {
		t.Helper()
		cmd := exec.Command("/bin/sh", "-c", "cat /proc/self/sched /proc/self/status")
		var out strings.Builder
		cmd.Stdout = &out
		if err := start(cmd); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		return schedField(t, out.String(), "policy"), schedField(t, out.String(), "prio"), statusField(t, out.String(), "VmLck")
	}
	if p, prio, lck := child(Start); p != unix.SCHED_NORMAL || prio != 120 || lck != 0 {
		t.Errorf("program started with Start: policy %d, kernel prio %d, VmLck %d kB; want SCHED_OTHER (0), 120 (nice 0), 0", p, prio, lck)
	}
	// Started with StartNiced: normal policy too, at the lower priority.
	if p, prio, _ := child(func(c *exec.Cmd) error { return StartNiced(c, 10) }); p != unix.SCHED_NORMAL || prio != 130 {
		t.Errorf("program started with StartNiced(10): policy %d, kernel prio %d; want SCHED_OTHER (0), 130 (nice 10)", p, prio)
	}
	if p, _, _ := child((*exec.Cmd).Start); p != unix.SCHED_RR {
		t.Errorf("program started with exec.Cmd.Start: policy %d; want it to inherit SCHED_RR (2), or the check above proves nothing", p)
	}
	// Many at once, as a node starting its groups does: each child at
	// normal priority, and every thread of the process real-time after.
	const parallel = 16
	errs := make(chan error, parallel)
	for i := 0; i < parallel; i++ {
		go func() {
			cmd := exec.Command("/bin/cat", "/proc/self/sched")
			var out strings.Builder
			cmd.Stdout = &out
			start := Start
			if i%2 == 1 {
				start = func(c *exec.Cmd) error { return StartNiced(c, 10) }
			}
			err := start(cmd)
			if err == nil {
				err = cmd.Wait()
			}
			if err == nil && !policyZero(out.String()) {
				err = fmt.Errorf("child not SCHED_OTHER:\n%s", out.String())
			}
			errs <- err
		}()
	}
	for i := 0; i < parallel; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// The threads StartNiced started from end a moment after it returns.
	waitThreads(t, 10*time.Second, func(a *unix.SchedAttr) bool { return a.Policy == unix.SCHED_RR && a.Priority == testPriority })
	assertAllThreads(t, unix.SCHED_RR, testPriority)
}

// policyZero says whether /proc/PID/sched text shows policy 0
// (SCHED_OTHER).
func policyZero(text string) bool {
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "policy" {
			return strings.TrimSpace(v) == "0"
		}
	}
	return false
}

// assertAllThreads checks every thread of the process.
func assertAllThreads(t *testing.T, policy, prio int) {
	t.Helper()
	tids, err := threads()
	if err != nil {
		t.Fatal(err)
	}
	for _, tid := range tids {
		p, pr, err := policyOf(tid)
		if errors.Is(err, unix.ESRCH) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if p != policy || pr != prio {
			t.Errorf("thread %d: policy %d priority %d, want %d/%d", tid, p, pr, policy, prio)
		}
	}
}

func policyOf(tid int) (policy, prio int, err error) {
	a, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return 0, 0, err
	}
	return int(a.Policy), int(a.Priority), nil
}

// schedField reads "name : N" from /proc/PID/sched text.
func schedField(t *testing.T, text, name string) int {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == name {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("%s: %q", name, line)
			}
			return n
		}
	}
	t.Fatalf("no %s in:\n%s", name, text)
	return 0
}

// statusField reads "Name:\tN kB" from /proc/PID/status text.
func statusField(t *testing.T, text, name string) int {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("%s: %q", name, line)
			}
			return n
		}
	}
	t.Fatalf("no %s in:\n%s", name, text)
	return 0
}

func statusKB(t *testing.T, path, name string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return statusField(t, string(b), name)
}

// programLocked sums Size and Rss (kB) over the mappings of this
// program's file in /proc/self/smaps, and says whether each is locked
// whole (VmFlags lo, not lf: locked on fault). Rss, not Locked: Locked is
// a proportional share, halved while the parent test process maps the
// same file.
func programLocked(t *testing.T) (size, rss int, whole bool) {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	in, whole, seen := false, true, false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			in = len(f) >= 6 && strings.Join(f[5:], " ") == exe
			seen = seen || in
			continue
		}
		if !in || len(f) < 2 {
			continue
		}
		switch f[0] {
		case "Size:":
			n, _ := strconv.Atoi(f[1])
			size += n
		case "Rss:":
			n, _ := strconv.Atoi(f[1])
			rss += n
		case "VmFlags:":
			flags := " " + strings.Join(f[1:], " ") + " "
			whole = whole && strings.Contains(flags, " lo ") && !strings.Contains(flags, " lf ")
		}
	}
	return size, rss, whole && seen
}

func TestProgramMappings(t *testing.T) {
	maps := `00400000-00975000 r-xp 00000000 fd:01 1234 /usr/sbin/hanode
00975000-00f80000 r--p 00575000 fd:01 1234 /usr/sbin/hanode
00f80000-00fec000 rw-p 00b80000 fd:01 1234 /usr/sbin/hanode
00fec000-03031000 rw-p 00000000 00:00 0
7f00000000-7f00001000 r--p 00000000 fd:01 99 /usr/sbin/hanode-other
7f10000000-7f10002000 r-xp 00000000 fd:01 77 /opt/my dir/hanode (deleted)
`
	got := programMappings(maps, "/usr/sbin/hanode")
	want := []mapping{{0x400000, 0x975000, false}, {0x975000, 0xf80000, false}, {0xf80000, 0xfec000, true}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("programMappings: %v, want %v", got, want)
	}
	if got := programMappings(maps, "/opt/my dir/hanode (deleted)"); len(got) != 1 || got[0] != (mapping{0x7f10000000, 0x7f10002000, false}) {
		t.Errorf("a replaced program with a space in its path: %v", got)
	}
}

// TestSpareCPU: one CPU is left to everything else, at least one
// processor kept; an operator's GOMAXPROCS is not changed.
func TestSpareCPU(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	t.Setenv("GOMAXPROCS", "")
	os.Unsetenv("GOMAXPROCS")
	runtime.GOMAXPROCS(runtime.NumCPU())
	before, after, changed := SpareCPU()
	want := max(1, runtime.NumCPU()-1)
	if before != runtime.NumCPU() || after != want || runtime.GOMAXPROCS(0) != want || changed != (want != before) {
		t.Errorf("SpareCPU: %d -> %d (changed %v), GOMAXPROCS now %d; want %d -> %d", before, after, changed, runtime.GOMAXPROCS(0), runtime.NumCPU(), want)
	}
	if _, _, changed := SpareCPU(); changed {
		t.Errorf("SpareCPU changed GOMAXPROCS a second time")
	}
	runtime.GOMAXPROCS(runtime.NumCPU())
	t.Setenv("GOMAXPROCS", strconv.Itoa(runtime.NumCPU()))
	if _, after, changed := SpareCPU(); changed || after != runtime.NumCPU() {
		t.Errorf("SpareCPU with GOMAXPROCS set: changed %v, now %d", changed, after)
	}
}

func TestPriorityBounds(t *testing.T) {
	for _, p := range []int{0, -1, 100} {
		if _, err := SetRealtime(p); err == nil || !strings.Contains(err.Error(), "not between 1 and 99") {
			t.Errorf("SetRealtime(%d): %v", p, err)
		}
	}
	if Realtime() {
		t.Errorf("Realtime() after refused priorities")
	}
}

func TestErrorsSayWhatToDo(t *testing.T) {
	err := lockError(unix.ENOMEM, 8<<20, 1200<<20)
	want := "locking memory (mlockall): cannot allocate memory: RLIMIT_MEMLOCK is 8.0 MiB and the process maps 1200.0 MiB; " +
		"run hanode as root (CAP_IPC_LOCK) or raise the limit (LimitMEMLOCK=infinity in the systemd unit)"
	if err.Error() != want || !errors.Is(err, unix.ENOMEM) {
		t.Errorf("lockError:\n got %v\nwant %s", err, want)
	}
	if err := lockError(unix.EINVAL, 0, 0); err.Error() != "locking memory (mlockall): invalid argument" {
		t.Errorf("lockError(EINVAL): %v", err)
	}
	err = permissionHint(fmt.Errorf("SCHED_RR priority 50 for thread 7: %w", unix.EPERM), 50)
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "LimitRTPRIO=50") || !strings.Contains(err.Error(), "CAP_SYS_NICE") {
		t.Errorf("permissionHint: %v", err)
	}
}

// TestStartWhenNotRealtime: a process that is not real-time starts
// programs as exec does.
func TestStartWhenNotRealtime(t *testing.T) {
	if Realtime() {
		t.Skip("this process is real-time")
	}
	cmd := exec.Command("/bin/true")
	if err := Start(cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}
