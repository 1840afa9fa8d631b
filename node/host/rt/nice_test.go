package rt

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// statNice is the nice value (field 19) in /proc/PID/stat text.
func statNice(t *testing.T, stat string) int {
	t.Helper()
	// The command name, field 2, is in parentheses and may hold spaces.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		t.Fatalf("not /proc/PID/stat: %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 17 {
		t.Fatalf("short /proc/PID/stat: %q", stat)
	}
	n, err := strconv.Atoi(f[16]) // fields from 3 on: 19 is the 17th
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitThreads waits until every thread of this process satisfies ok, or
// fails the test after timeout naming those that do not.
func waitThreads(t *testing.T, timeout time.Duration, ok func(*unix.SchedAttr) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tids, err := threads()
		if err != nil {
			t.Fatal(err)
		}
		var bad []string
		for _, tid := range tids {
			a, err := unix.SchedGetAttr(tid, 0)
			if errors.Is(err, unix.ESRCH) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if !ok(a) {
				bad = append(bad, fmt.Sprintf("thread %d: policy %d priority %d nice %d", tid, a.Policy, a.Priority, a.Nice))
			}
		}
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, strings.Join(bad, "; "))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStartNicedLowersTheProgramAndItsChildren: a program started with
// StartNiced, and a program it starts in turn, run inc nice steps below
// this process, from their first instruction; this process's threads all
// keep their own priority (the thread the start ran on ends).
func TestStartNicedLowersTheProgramAndItsChildren(t *testing.T) {
	base, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := min(int(base.Nice)+10, MaxNice)
	// Many at once, as a node probing its groups does.
	const parallel = 8
	type got struct {
		out string
		err error
	}
	results := make(chan got, parallel)
	for range parallel {
		go func() {
			cmd := exec.Command("/bin/sh", "-c", `cat /proc/$$/stat; /bin/sh -c 'cat /proc/$$/stat'`)
			var out strings.Builder
			cmd.Stdout = &out
			err := StartNiced(cmd, 10)
			if err == nil {
				err = cmd.Wait()
			}
			results <- got{out.String(), err}
		}()
	}
	for range parallel {
		g := <-results
		if g.err != nil {
			t.Fatal(g.err)
		}
		lines := strings.Split(strings.TrimSpace(g.out), "\n")
		if len(lines) != 2 {
			t.Fatalf("output %q", g.out)
		}
		if self, child := statNice(t, lines[0]), statNice(t, lines[1]); self != want || child != want {
			t.Fatalf("program nice %d, its child's %d; want %d (this process: %d)", self, child, want, base.Nice)
		}
	}
	waitThreads(t, 10*time.Second, func(a *unix.SchedAttr) bool { return a.Nice == base.Nice && a.Policy == base.Policy })
	// The main thread (the one ps shows) is never the one lowered.
	if n, err := unix.SchedGetAttr(unix.Getpid(), 0); err != nil || n.Nice != base.Nice {
		t.Fatalf("main thread: %+v, %v", n, err)
	}
	// A plain start is not lowered.
	out, err := exec.Command("/bin/cat", "/proc/self/stat").Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := statNice(t, string(out)); n != int(base.Nice) {
		t.Fatalf("plain start: nice %d, want %d", n, base.Nice)
	}
}

// TestStartNicedRefusesPdeathsig: the parent-death signal follows the
// thread that started the child, which StartNiced ends at once.
func TestStartNicedRefusesPdeathsig(t *testing.T) {
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &unix.SysProcAttr{Pdeathsig: unix.SIGKILL}
	if err := StartNiced(cmd, 10); err == nil {
		cmd.Wait()
		t.Fatal("started with Pdeathsig")
	}
}
