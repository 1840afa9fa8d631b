package logging

import (
	"testing"
	"time"
)

func TestRateLimitLetsOnePerPeriodAndCounts(t *testing.T) {
	r := NewLimiter(10 * time.Second)
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	if n, ok := r.Allow(t0); !ok || n != 0 {
		t.Fatalf("first: %d %v", n, ok)
	}
	for i := 1; i <= 5; i++ {
		if _, ok := r.Allow(t0.Add(time.Duration(i) * time.Second)); ok {
			t.Fatalf("allowed again after %ds", i)
		}
	}
	if n, ok := r.Allow(t0.Add(10 * time.Second)); !ok || n != 5 {
		t.Fatalf("after the period: %d suppressed, %v; want 5, true", n, ok)
	}
}
