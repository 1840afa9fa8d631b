package respawn

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestRestartAtOnceUnlessCode100(t *testing.T) {
	p := New()
	p.Started(t0)
	d := p.Exited(t0.Add(time.Second), 1)
	if !d.Restart || !d.At.Equal(t0.Add(time.Second)) {
		t.Fatalf("exit 1: %+v", d)
	}
	d = p.Exited(t0.Add(2*time.Second), -1)
	if !d.Restart {
		t.Fatalf("killed: %+v", d)
	}
	if d := p.Exited(t0.Add(3*time.Second), 100); d.Restart {
		t.Fatalf("exit 100 restarted: %+v", d)
	}
}

func TestRespawningTooFastIsRateLimited(t *testing.T) {
	p := New()
	now := t0
	// Ten starts a second apart are allowed; the eleventh waits until the
	// first leaves the 30s window.
	for i := 0; i < 10; i++ {
		p.Started(now)
		now = now.Add(time.Second)
	}
	d := p.Exited(now, 1)
	if !d.Restart || !d.At.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("11th start: %+v", d)
	}
	p.Started(d.At)
	// Over any 30s, never more than 10 starts.
	for i := 0; i < 100; i++ {
		d = p.Exited(d.At, 1)
		p.Started(d.At)
		n := 0
		for _, s := range p.starts {
			if d.At.Sub(s) < 30*time.Second {
				n++
			}
		}
		if n > 10 {
			t.Fatalf("%d starts within 30s", n)
		}
	}
	// A program that ran longer than the window restarts at once.
	late := d.At.Add(time.Minute)
	if d := p.Exited(late, 1); !d.At.Equal(late) {
		t.Fatalf("after a long run: %+v", d)
	}
}
