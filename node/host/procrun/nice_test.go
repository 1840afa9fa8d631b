package procrun

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// niceScript prints its own nice value and its child's (field 19 of
// /proc/PID/stat; the command name, field 2, has no spaces here).
const niceScript = `cut -d' ' -f19 /proc/$$/stat; /bin/sh -c "cut -d' ' -f19 /proc/\$\$/stat"`

func nices(t *testing.T, r Result) (self, child int) {
	t.Helper()
	if r.Err != nil || r.ExitCode != 0 {
		t.Fatalf("run: exit %d, %v: %s", r.ExitCode, r.Err, r.Output)
	}
	f := strings.Fields(r.Output)
	if len(f) != 2 {
		t.Fatalf("output %q", r.Output)
	}
	self, err1 := strconv.Atoi(f[0])
	child, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		t.Fatalf("output %q", r.Output)
	}
	return self, child
}

// TestNiceLowersTheRunAndItsChildren: Spec.Nice, or a context made
// WithNice, runs the program and what it starts below hanode's priority;
// a run without either runs at hanode's.
func TestNiceLowersTheRunAndItsChildren(t *testing.T) {
	base, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	low := min(int(base.Nice)+10, 19)
	prog := script(t, niceScript)
	spec := Spec{Path: prog, Env: []string{"PATH=/usr/bin:/bin"}, Timeout: 5 * time.Second}
	for _, c := range []struct {
		name string
		ctx  context.Context
		nice int
		want int
	}{
		{"plain", context.Background(), 0, int(base.Nice)},
		{"Spec.Nice", context.Background(), 10, low},
		{"WithNice", WithNice(context.Background(), 10), 0, low},
	} {
		s := spec
		s.Nice = c.nice
		if self, child := nices(t, Run(c.ctx, s)); self != c.want || child != c.want {
			t.Errorf("%s: program nice %d, its child's %d; want %d", c.name, self, child, c.want)
		}
	}
}
