package testhosts

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Lines captured from iproute2 6.1: `ip -n SW -ts -o monitor address
// all-nsid` (a host's events seen from the switch namespace, interface
// names from the switch's side), `ip -ts monitor address` in the host
// (multi-line) and `ip -o addr show`.
func TestParseAddrLine(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.ParseInLocation(ipTimeLayout, s, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		line    string
		ok      bool
		want    AddrEvent
		wantErr bool
	}{
		{line: `[2026-12-03T09:00:25.247449] [nsid 0]2: p1    inet 10.201.0.100/24 scope global eth0\       valid_lft forever preferred_lft forever`,
			ok: true, want: AddrEvent{At: at("2026-12-03T09:00:25.247449"), NSID: "0", Index: 2, Dev: "p1", Label: "eth0", Family: "inet", Prefix: netip.MustParsePrefix("10.201.0.100/24")}},
		{line: `[2026-12-03T09:03:49.767364] [nsid 0]Deleted 2: p1    inet 10.201.0.100/24 scope global secondary eth0:0\       valid_lft forever preferred_lft forever`,
			ok: true, want: AddrEvent{At: at("2026-12-03T09:03:49.767364"), NSID: "0", Deleted: true, Index: 2, Dev: "p1", Label: "eth0:0", Family: "inet", Prefix: netip.MustParsePrefix("10.201.0.100/24")}},
		{line: `[2026-12-03T09:00:25.251982] [nsid current]1: lo    inet 127.1.2.3/32 scope host lo\       valid_lft forever preferred_lft forever`,
			ok: true, want: AddrEvent{At: at("2026-12-03T09:00:25.251982"), NSID: "current", Index: 1, Dev: "lo", Label: "lo", Family: "inet", Prefix: netip.MustParsePrefix("127.1.2.3/32")}},
		{line: `[2026-12-03T09:03:48.760557] [nsid 0]2: p1    inet 10.201.0.101 peer 10.201.0.102/32 scope global eth0\       valid_lft forever preferred_lft forever`,
			ok: true, want: AddrEvent{At: at("2026-12-03T09:03:48.760557"), NSID: "0", Index: 2, Dev: "p1", Label: "eth0", Family: "inet", Prefix: netip.MustParsePrefix("10.201.0.101/32")}},
		{line: `[2026-12-03T09:03:49.765594] [nsid 0]Deleted 2: p1    inet6 fe80::40e0:57ff:feb2:ed85/64 scope link tentative \       valid_lft forever preferred_lft forever`,
			ok: true, want: AddrEvent{At: at("2026-12-03T09:03:49.765594"), NSID: "0", Deleted: true, Index: 2, Dev: "p1", Family: "inet6", Prefix: netip.MustParsePrefix("fe80::40e0:57ff:feb2:ed85/64")}},
		// Multi-line format, in the host's namespace.
		{line: `[2026-12-03T09:03:49.767179] Deleted 2: eth0    inet 10.201.0.100/24 scope global secondary eth0:0`,
			ok: true, want: AddrEvent{At: at("2026-12-03T09:03:49.767179"), Deleted: true, Index: 2, Dev: "eth0", Label: "eth0:0", Family: "inet", Prefix: netip.MustParsePrefix("10.201.0.100/24")}},
		{line: `[2026-12-03T09:03:48.748560] 1: lo    inet6 ::1/128 scope host `,
			ok: true, want: AddrEvent{At: at("2026-12-03T09:03:48.748560"), Index: 1, Dev: "lo", Family: "inet6", Prefix: netip.MustParsePrefix("::1/128")}},
		{line: `       valid_lft forever preferred_lft forever`},
		{line: ``},
		// ip -o addr show (no time).
		{line: `2: eth0    inet 10.201.0.100/24 scope global secondary eth0:0\       valid_lft forever preferred_lft forever`,
			ok: true, want: AddrEvent{Index: 2, Dev: "eth0", Label: "eth0:0", Family: "inet", Prefix: netip.MustParsePrefix("10.201.0.100/24")}},
		{line: `3: eth0@if5    inet 10.201.0.1/24 brd 10.201.0.255 scope global eth0\       valid_lft forever preferred_lft forever`,
			ok: true, want: AddrEvent{Index: 3, Dev: "eth0", Label: "eth0", Family: "inet", Prefix: netip.MustParsePrefix("10.201.0.1/24")}},
		// Garbage.
		{line: `[2026-13-03T09:03:48.748560] 1: lo    inet 127.0.0.1/8 scope host lo`, wantErr: true},
		{line: `[2026-12-03T09:03:48.748560 1: lo`, wantErr: true},
		{line: `Timestamp: Thu Dec  3 09:03:48 2026 748560 usec`, wantErr: true},
		{line: `[2026-12-03T09:03:48.748560] 1: lo    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00`, wantErr: true},
		{line: `[2026-12-03T09:03:48.748560] x: lo    inet 127.0.0.1/8 scope host lo`, wantErr: true},
	} {
		got, ok, err := ParseAddrLine(c.line, time.UTC)
		if (err != nil) != c.wantErr || ok != c.ok {
			t.Errorf("%q: ok %v err %v, want ok %v error %v", c.line, ok, err, c.ok, c.wantErr)
			continue
		}
		if !ok {
			continue
		}
		c.want.Line = c.line
		if !got.At.Equal(c.want.At) || got.NSID != c.want.NSID || got.Deleted != c.want.Deleted || got.Index != c.want.Index ||
			got.Dev != c.want.Dev || got.Label != c.want.Label || got.Family != c.want.Family || got.Prefix != c.want.Prefix {
			t.Errorf("%q:\n got %+v\nwant %+v", c.line, got, c.want)
		}
	}
}

// TestStretches checks intervals, overlaps, vacancies and power marks on a
// hand-made record (no monitor).
func TestStretches(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	r := &AddrRecorder{names: []string{"a", "b", "c"}, hosts: make([]*Host, 3), begin: t0, stopped: ms(1000),
		initial: [][]int{{2}, nil, nil}}
	ev := func(at, host int, k recKind) {
		r.evs = append(r.evs, recEvent{at: ms(at), seq: len(r.evs), host: host, kind: k, index: 2, text: "vip"})
	}
	// a holds it from the start; b takes it at 100 (overlap until a drops
	// it at 130); nobody from 300 to 350; c at 350; b again at 360 to 400;
	// c's host is powered off at 500 (it holds nothing more, though the
	// address stays configured) and on again at 700, address still there:
	// it holds it again until the end.
	ev(100, 1, recAdd)
	ev(130, 0, recDel)
	ev(300, 1, recDel)
	ev(350, 2, recAdd)
	ev(400, 1, recDel) // b: deleted twice: no more effect
	ev(360, 1, recAdd)
	ev(400, 1, recDel)
	ev(500, 2, recOff)
	ev(700, 2, recOn)
	ivs := r.AllIntervals()
	want := [][]string{{"0s-130ms"}, {"100ms-300ms", "360ms-400ms"}, {"350ms-500ms", "700ms-1s+"}}
	for h := range ivs {
		var got []string
		for _, iv := range ivs[h] {
			s := iv.Start.Sub(t0).String() + "-" + iv.End.Sub(t0).String()
			if iv.Open {
				s += "+"
			}
			got = append(got, s)
		}
		if strings.Join(got, " ") != strings.Join(want[h], " ") {
			t.Errorf("host %d: intervals %v, want %v", h, got, want[h])
		}
	}
	total, worst := Total(r.Overlaps(time.Time{}, time.Time{}))
	if total != 70*time.Millisecond || worst.Duration() != 40*time.Millisecond || strings.Join(worst.Hosts, ",") != "b,c" || !worst.Start.Equal(ms(360)) {
		t.Errorf("overlaps: total %v, worst %+v", total, worst)
	}
	vac, worstVac := Total(r.Vacancies(time.Time{}, time.Time{}))
	if vac != 250*time.Millisecond || worstVac.Duration() != 200*time.Millisecond || !worstVac.Start.Equal(ms(500)) {
		t.Errorf("vacancies: total %v, worst %+v", vac, worstVac)
	}
	// Clipped to a window.
	if total, _ := Total(r.Overlaps(ms(110), ms(370))); total != 30*time.Millisecond {
		t.Errorf("overlap in [110ms, 370ms]: %v", total)
	}
	if vac, _ := Total(r.Vacancies(ms(320), ms(600))); vac != 130*time.Millisecond {
		t.Errorf("vacancy in [320ms, 600ms]: %v", vac)
	}
	if got := strings.Join(r.Holders(), ","); got != "c" {
		t.Errorf("holders at the end: %s", got)
	}
	tl := r.Timeline(ms(90), ms(450))
	for _, want := range []string{"+10ms", "+ vip", "held by a + b   <== ON 2 HOSTS", "- vip", "held by nobody", "held by c"} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q:\n%s", want, tl)
		}
	}
	if strings.Contains(tl, "powered off") {
		t.Errorf("timeline goes past its window:\n%s", tl)
	}
}

// TestRecordAddr records a real address on test hosts: present before the
// record starts on h1, added on h2 (an overlap), removed from h1, h2's
// host crashed (every process in it killed: the monitor lives elsewhere
// and goes on), and removed from h2.
func TestRecordAddr(t *testing.T) {
	lab := New(t, Options{Hosts: 3})
	h1, h2, h3 := lab.Host(1), lab.Host(2), lab.Host(3)
	const vip = "10.201.0.100"
	ip := func(h *Host, args ...string) (before, after time.Time) {
		t.Helper()
		before = time.Now()
		if err := h.ip(args...); err != nil {
			t.Fatal(err)
		}
		return before, time.Now()
	}
	ip(h1, "addr", "add", vip+"/24", "dev", "eth0")
	r, err := RecordAddr(lab, netip.MustParseAddr(vip), []*Host{h1, h2, h3}, []string{"node1", "node2", "node3"})
	if err != nil {
		t.Fatal(err)
	}
	waitHolders := func(want string) {
		t.Helper()
		WaitFor(t, 5*time.Second, 2*time.Millisecond, "holders "+want, func() (bool, string) {
			got := strings.Join(r.Holders(), ",")
			return got == want, got
		})
	}
	waitHolders("node1")
	addB, addA := ip(h2, "addr", "add", vip+"/24", "dev", "eth0")
	waitHolders("node1,node2")
	delB, delA := ip(h1, "addr", "del", vip+"/24", "dev", "eth0")
	waitHolders("node2")
	// A crash of h2's host: everything in its namespace is killed; the
	// address stays configured on a dead host, which holds nothing.
	crash := time.Now()
	h2.KillNamespace()
	h2.LinkDown("eth0")
	r.PowerOff(h2, crash)
	r.Note(crash, "h2 crashed")
	waitHolders("")
	// Another address, and the VIP on another interface of h3, then gone.
	ip(h3, "addr", "add", "10.201.0.101/24", "dev", "eth0")
	ip(h3, "addr", "add", vip+"/32", "dev", "lo")
	waitHolders("node3")
	ip(h3, "addr", "del", vip+"/32", "dev", "lo")
	waitHolders("")
	recovered := time.Now()
	ip(h2, "addr", "del", vip+"/24", "dev", "eth0")
	r.PowerOn(h2, time.Now())
	WaitFor(t, 5*time.Second, 2*time.Millisecond, "h2's deletion seen", func() (bool, string) {
		return r.LastChange().After(recovered), r.LastChange().String()
	})
	r.Stop()
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("timeline:\n%s", r.Timeline(time.Time{}, time.Time{}))

	ivs := r.AllIntervals()
	if len(ivs[0]) != 1 || !ivs[0][0].Start.Equal(r.Begin()) {
		t.Fatalf("node1: %+v (begin %v)", ivs[0], r.Begin())
	}
	if len(ivs[1]) != 1 || !ivs[1][0].End.Equal(crash) || len(ivs[2]) != 1 {
		t.Fatalf("node2: %+v, node3: %+v", ivs[1], ivs[2])
	}
	ov := r.Overlaps(time.Time{}, time.Time{})
	if len(ov) != 1 || strings.Join(ov[0].Hosts, ",") != "node1,node2" {
		t.Fatalf("overlaps: %+v", ov)
	}
	// The overlap lies between the commands' bounds (ip's timestamps are
	// taken when the monitor reads the kernel's message: allow for its
	// delay).
	const slack = 100 * time.Millisecond
	lo, hi := delB.Sub(addA)-slack, delA.Sub(addB)+slack
	if d := ov[0].Duration(); d < lo || d > hi {
		t.Errorf("overlap %v, want within [%v, %v]", d, lo, hi)
	}
	vac := r.Vacancies(time.Time{}, time.Time{})
	if len(vac) != 2 || !vac[0].Start.Equal(crash) {
		t.Errorf("vacancies: %+v", vac)
	}
	t.Logf("overlap %v (commands' bounds %v .. %v); vacancies %v and %v", ov[0].Duration(), delB.Sub(addA), delA.Sub(addB),
		vac[0].Duration(), vac[len(vac)-1].Duration())
}
