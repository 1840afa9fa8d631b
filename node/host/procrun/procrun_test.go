package procrun

import (
	"bufio"
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// script writes an executable shell script into a temporary directory.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// procStatus reads a field of /proc/self/status, in kB.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// wchar is how many bytes process pid has written.
func wchar(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "wchar: "); ok {
			n, _ := strconv.ParseInt(rest, 10, 64)
			return n
		}
	}
	t.Fatalf("no wchar for %d", pid)
	return 0
}

// waitUntil polls cond every 10ms until it holds, or fails the test after
// timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (%s)", what, timeout, detail)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBuffersNeverExceedTheirBound writes random amounts into the tail and
// head buffers: they keep exactly the end (or the start) of the stream and
// never hold more than their bound.
func TestBuffersNeverExceedTheirBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		limit := 1 + rng.IntN(5000)
		tl, hd := newTail(limit), newHead(limit)
		var all []byte
		for w := rng.IntN(40); w > 0; w-- {
			p := make([]byte, rng.IntN(3*limit))
			for i := range p {
				p[i] = byte(rng.IntN(256))
			}
			all = append(all, p...)
			tl.write(p)
			hd.write(p)
			if cap(tl.b) > limit || cap(hd.b) > limit {
				t.Fatalf("limit %d: tail holds %d, head %d", limit, cap(tl.b), cap(hd.b))
			}
		}
		ts, hs := tl.snapshot(), hd.snapshot()
		if want := all[max(len(all)-limit, 0):]; !bytes.Equal(ts.data, want) || ts.overflowed != (len(all) > limit) {
			t.Fatalf("limit %d, %d written: tail %d bytes, overflowed %v", limit, len(all), len(ts.data), ts.overflowed)
		}
		if want := all[:min(len(all), limit)]; !bytes.Equal(hs.data, want) || hs.overflowed != (len(all) > limit) {
			t.Fatalf("limit %d, %d written: head %d bytes, overflowed %v", limit, len(all), len(hs.data), hs.overflowed)
		}
	}
}

// TestHugeOutputKeepsOnlyItsTail: an agent printing 512 MiB costs hanode
// its last MaxOutput bytes, not 512 MiB: the test process's peak memory
// barely moves, and what the program writes to does not grow either (an
// in-memory file would, the program reports its size).
func TestHugeOutputKeepsOnlyItsTail(t *testing.T) {
	prog := script(t, "yes | head -c 536870912\necho \"held: $(stat -L -c %s /proc/$$/fd/1)\"\n")
	before := procStatus(t, "VmHWM")
	r := Run(context.Background(), Spec{Path: prog, Env: []string{"PATH=/usr/bin:/bin"}, Timeout: 60 * time.Second})
	grew := procStatus(t, "VmHWM") - before
	if r.Err != nil || r.ExitCode != 0 {
		t.Fatalf("run: %+v", r)
	}
	if len(r.Output) > MaxOutput || !strings.HasPrefix(r.Output, "y\ny\n") {
		t.Fatalf("kept %d bytes, starting %q", len(r.Output), r.Output[:min(len(r.Output), 20)])
	}
	last := LastLine(r.Output)
	held, err := strconv.ParseInt(strings.TrimPrefix(last, "held: "), 10, 64)
	if err != nil || held > MaxOutput {
		t.Fatalf("the output went to something holding %q", last)
	}
	if grew > 64<<10 {
		t.Fatalf("peak memory grew by %d kB for 512 MiB of output", grew)
	}
	t.Logf("512 MiB in %v; peak memory +%d kB", r.Duration, grew)
}

// pgids records the process groups of runs.
type pgids struct{ last atomic.Int64 }

func (p *pgids) Started(pgid int) { p.last.Store(int64(pgid)) }
func (p *pgids) Ended(int)        {}

// TestLeftoverWriterNeitherHoldsTheRunNorGrows: a start script leaves a
// child that prints without end. The run ends when the script does; the
// child keeps writing (it is neither killed by SIGPIPE nor blocked for
// good) while nothing of what it writes is kept: not in hanode's memory,
// not in what its output goes to. Once it dies, the reader ends.
func TestLeftoverWriterNeitherHoldsTheRunNorGrows(t *testing.T) {
	prog := script(t, "yes &\necho $! > \"$1\"\nexit 0\n")
	pidFile := filepath.Join(t.TempDir(), "child")
	w := &pgids{}
	t.Cleanup(func() {
		if pg := w.last.Load(); pg > 0 {
			syscall.Kill(-int(pg), syscall.SIGKILL)
		}
	})
	rss := procStatus(t, "VmRSS")
	r := Run(WithWatcher(context.Background(), w), Spec{Path: prog, Args: []string{pidFile}, Env: []string{"PATH=/usr/bin:/bin"}, Timeout: 30 * time.Second})
	if r.Err != nil || r.ExitCode != 0 {
		t.Fatalf("run: %v, exit %d", r.Err, r.ExitCode)
	}
	if r.Duration > 2*time.Second {
		t.Fatalf("the run took %v: it waited for the leftover child", r.Duration)
	}
	b, _ := os.ReadFile(pidFile)
	child, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || len(r.Output) > MaxOutput {
		t.Fatalf("kept %d bytes of output; child %q", len(r.Output), b)
	}
	from := wchar(t, child)
	waitUntil(t, 20*time.Second, "the leftover child keeps writing", func() (bool, string) {
		if err := syscall.Kill(child, 0); err != nil {
			t.Fatalf("the leftover child died: %v", err)
		}
		n := wchar(t, child)
		return n-from >= 2<<20, strconv.FormatInt(n-from, 10) + " bytes"
	})
	if st, err := os.Stat("/proc/" + strconv.Itoa(child) + "/fd/1"); err != nil || st.Size() > MaxOutput {
		t.Fatalf("the child's output holds %v bytes (%v)", st.Size(), err)
	}
	if grew := procStatus(t, "VmRSS") - rss; grew > 32<<10 {
		t.Fatalf("memory grew by %d kB while the child wrote", grew)
	}
	if n := lingering.Load(); n != 1 {
		t.Fatalf("%d readers draining leftover output, want 1", n)
	}
	syscall.Kill(-int(w.last.Load()), syscall.SIGKILL)
	waitUntil(t, 10*time.Second, "the reader ends with the child", func() (bool, string) {
		return lingering.Load() == 0, strconv.FormatInt(lingering.Load(), 10) + " readers left"
	})
}

// TestSeparateStdout: standard output is kept whole and apart from
// standard error (whose tail is Output); past MaxStdout it is cut and
// says so.
func TestSeparateStdout(t *testing.T) {
	prog := script(t, "echo warning >&2\ni=0\nwhile [ $i -lt \"$1\" ]; do echo line$i; i=$((i+1)); done\necho 'last warning' >&2\n")
	r := Run(context.Background(), Spec{Path: prog, Args: []string{"2000"}, Env: []string{"PATH=/usr/bin:/bin"}, Timeout: 30 * time.Second, SeparateStdout: true})
	lines := strings.Fields(r.Stdout)
	if r.ExitCode != 0 || len(lines) != 2000 || lines[0] != "line0" || lines[1999] != "line1999" || r.StdoutTruncated {
		t.Fatalf("stdout: %d lines, truncated %v, exit %d", len(lines), r.StdoutTruncated, r.ExitCode)
	}
	if r.Output != "warning\nlast warning\n" {
		t.Fatalf("stderr: %q", r.Output)
	}
	big := script(t, "head -c 2000000 /dev/zero\n")
	r = Run(context.Background(), Spec{Path: big, Env: []string{"PATH=/usr/bin:/bin"}, Timeout: 30 * time.Second, SeparateStdout: true})
	if r.ExitCode != 0 || len(r.Stdout) != MaxStdout || !r.StdoutTruncated {
		t.Fatalf("2 MB stdout: kept %d, truncated %v, exit %d", len(r.Stdout), r.StdoutTruncated, r.ExitCode)
	}
}
