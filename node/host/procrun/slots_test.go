package procrun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSlotsWaitInOrderAndAreGivenBack: callers beyond the bound wait, in
// the order they asked; each release hands its slot to the first of
// them; a second release of the same slot does nothing.
func TestSlotsWaitInOrderAndAreGivenBack(t *testing.T) {
	s := NewSlots(2)
	r1, r2 := s.Acquire(), s.Acquire()
	const waiters = 5
	got := make(chan int, waiters)
	releases := make(chan func(), waiters)
	for i := range waiters {
		go func() {
			r := s.Acquire()
			got <- i
			releases <- r
		}()
		// Each waits before the next asks: the order is the test's.
		waitUntil(t, 5*time.Second, "waiter queued", func() (bool, string) {
			_, w := s.Load()
			return w == i+1, fmt.Sprintf("%d waiting", w)
		})
	}
	served := func(want int) func() {
		t.Helper()
		select {
		case i := <-got:
			if i != want {
				t.Fatalf("waiter %d served before waiter %d", i, want)
			}
			return <-releases
		case <-time.After(5 * time.Second):
			t.Fatalf("waiter %d never served", want)
			return nil
		}
	}
	r1()
	r1() // given back once only
	first := served(0)
	if busy, w := s.Load(); busy != 2 || w != waiters-1 {
		t.Fatalf("after one release: %d busy, %d waiting; want 2, %d", busy, w, waiters-1)
	}
	// One slot given back at a time: the next waiter in line takes it.
	prev := r2
	next := first
	for want := 1; want < waiters; want++ {
		prev()
		prev, next = next, served(want)
	}
	prev()
	next()
	if busy, w := s.Load(); busy != 0 || w != 0 || s.Peak() != 2 {
		t.Fatalf("at the end: %d busy, %d waiting, peak %d; want 0, 0, 2", busy, w, s.Peak())
	}
	var none *Slots
	none.Acquire()() // nil: unbounded
}

// TestSlotsBoundRealRuns: runs of a real script that records its start
// and end, each taking a slot first, never overlap beyond the bound, as
// the scripts themselves see it; every run happens; every slot is given
// back, by runs that exit, fail or time out alike.
func TestSlotsBoundRealRuns(t *testing.T) {
	const bound, runs = 2, 10
	dir := t.TempDir()
	// Each run marks itself running (a file), counts the others running,
	// and records the count; then it sleeps briefly and unmarks itself.
	prog := script(t, `
me=$1
: > "$DIR/run.$me"
n=$(ls "$DIR" | grep -c '^run\.')
echo "$n" > "$DIR/seen.$me"
sleep 0.1
rm "$DIR/run.$me"
case $me in
  3) exit 1 ;;
  5) sleep 30 ;;
esac
`)
	s := NewSlots(bound)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release := s.Acquire()
			defer release()
			timeout := 5 * time.Second
			if i == 5 {
				timeout = 500 * time.Millisecond
			}
			Run(context.Background(), Spec{Path: prog, Args: []string{strconv.Itoa(i)}, Env: []string{"DIR=" + dir, "PATH=/usr/bin:/bin"}, Timeout: timeout})
		}()
	}
	wg.Wait()
	for i := range runs {
		b, err := os.ReadFile(filepath.Join(dir, "seen."+strconv.Itoa(i)))
		if err != nil {
			t.Fatalf("run %d never ran: %v", i, err)
		}
		if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); n < 1 || n > bound {
			t.Errorf("run %d saw %d runs under way; the bound is %d", i, n, bound)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "run.*")); len(left) > 0 {
		t.Errorf("runs never ended: %v", left)
	}
	if busy, w := s.Load(); busy != 0 || w != 0 {
		t.Fatalf("at the end: %d busy, %d waiting", busy, w)
	}
}
