package actors

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestDispatcherReusesAndRetiresWorkers: bursts run on kept workers, a
// burst that blocks does not hold up the others, and idle workers exit.
func TestDispatcherReusesAndRetiresWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDispatcher(300, time.Second)
		var ran atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 100; i++ {
			wg.Add(1)
			d.Schedule(func() { ran.Add(1); wg.Done() })
			synctest.Wait()
		}
		wg.Wait()
		if ran.Load() != 100 {
			t.Fatalf("ran %d of 100", ran.Load())
		}
		d.mu.Lock()
		idle := len(d.idle)
		d.mu.Unlock()
		if idle != 1 {
			t.Fatalf("%d idle workers after 100 sequential bursts, want 1 reused", idle)
		}
		// A burst that blocks: the next one still runs.
		release := make(chan struct{})
		d.Schedule(func() { <-release })
		done := make(chan struct{})
		d.Schedule(func() { close(done) })
		<-done
		close(release)
		synctest.Wait()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		d.mu.Lock()
		idle = len(d.idle)
		d.mu.Unlock()
		if idle != 0 {
			t.Fatalf("%d idle workers after the idle timeout", idle)
		}
	})
}

func BenchmarkDispatcherSchedule(b *testing.B) {
	d := NewDispatcher(300, time.Second)
	done := make(chan struct{})
	for b.Loop() {
		d.Schedule(func() { done <- struct{}{} })
		<-done
	}
}
