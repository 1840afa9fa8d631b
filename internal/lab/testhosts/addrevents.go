package testhosts

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// This file records every change of one address (a virtual IP) on the
// hosts of a lab, exactly: the kernel's own notifications (RTM_NEWADDR,
// RTM_DELADDR) as `ip -ts -o monitor address` prints them, with their
// timestamps, instead of samples.
//
// One `ip monitor` process serves the whole lab. It runs in the lab's
// switch namespace with all-nsid, which delivers the notifications of
// every namespace that has an id there (every host: their veth pairs were
// made from the switch, which gave each host an id). A monitor inside a
// host's own namespace would die with the host: a crash (KillNamespace) or
// the test fence agent kill every process in the namespace. The switch
// namespace is never crashed, and the monitor is killed by its PID.

// AddrEvent is one line of `ip -ts -o monitor address [all-nsid]` (or of
// `ip -o addr show`, without time): an address added to or deleted from
// an interface.
type AddrEvent struct {
	// At is ip's timestamp (zero for `ip addr show` lines).
	At time.Time
	// NSID is the namespace id of an all-nsid monitor ("0", "current"),
	// "" without one.
	NSID string
	// Deleted marks RTM_DELADDR ("Deleted ..."); otherwise the address was
	// added (or changed: the kernel says RTM_NEWADDR for both).
	Deleted bool
	// Index is the interface index in the address's namespace.
	Index int
	// Dev is the interface name as ip printed it (in an all-nsid monitor,
	// a name from the monitor's own namespace: do not trust it).
	Dev string
	// Label is the address label (IPv4: the interface name in the
	// address's namespace, or an alias such as eth0:1), "" if none.
	Label string
	// Family is "inet" or "inet6".
	Family string
	// Prefix is the address with its prefix length.
	Prefix netip.Prefix
	// Line is the line as ip printed it.
	Line string
}

// ipTimeLayout is the format of ip -ts timestamps (local time).
const ipTimeLayout = "2006-01-02T15:04:05.999999999"

// addrFlags are the words ip prints after "scope X" that are not a label.
var addrFlags = map[string]bool{
	"secondary": true, "temporary": true, "primary": true, "tentative": true, "deprecated": true,
	"dadfailed": true, "home": true, "nodad": true, "noprefixroute": true, "autojoin": true,
	"mngtmpaddr": true, "stable-privacy": true, "optimistic": true, "dynamic": true, "permanent": true,
}

// ParseAddrLine parses one line of `ip -ts -o monitor address [all-nsid]`
// (timestamps in loc, time.Local when nil) or of `ip -o addr show`. ok is
// false, with a nil error, for lines that carry no address event: the
// continuation lines of ip's multi-line format ("valid_lft ..."), blank
// lines. A line that looks like an event but cannot be read is an error.
func ParseAddrLine(line string, loc *time.Location) (ev AddrEvent, ok bool, err error) {
	if loc == nil {
		loc = time.Local
	}
	ev.Line = line
	s := strings.TrimRight(line, "\r\n")
	if strings.TrimSpace(s) == "" {
		return ev, false, nil
	}
	// Continuation line of the multi-line format (indented).
	if s[0] == ' ' || s[0] == '\t' {
		return ev, false, nil
	}
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return ev, false, fmt.Errorf("unterminated [ in %q", line)
		}
		inner := s[1:end]
		if !strings.HasPrefix(inner, "nsid ") {
			at, err := time.ParseInLocation(ipTimeLayout, inner, loc)
			if err != nil {
				return ev, false, fmt.Errorf("timestamp %q: %v", inner, err)
			}
			ev.At = at
			s = strings.TrimLeft(s[end+1:], " ")
		}
	}
	if strings.HasPrefix(s, "[nsid ") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return ev, false, fmt.Errorf("unterminated [nsid in %q", line)
		}
		ev.NSID = strings.TrimPrefix(s[:end], "[nsid ")
		s = strings.TrimLeft(s[end+1:], " ")
	}
	if rest, found := strings.CutPrefix(s, "Deleted "); found {
		ev.Deleted = true
		s = rest
	}
	// One-line format: what follows the first backslash is the
	// continuation (lifetimes).
	if i := strings.IndexByte(s, '\\'); i >= 0 {
		s = s[:i]
	}
	f := strings.Fields(s)
	if len(f) < 4 || !strings.HasSuffix(f[0], ":") {
		return ev, false, fmt.Errorf("not an address event: %q", line)
	}
	ev.Index, err = strconv.Atoi(strings.TrimSuffix(f[0], ":"))
	if err != nil {
		return ev, false, fmt.Errorf("interface index in %q: %v", line, err)
	}
	ev.Dev = strings.TrimSuffix(f[1], ":")
	if i := strings.IndexByte(ev.Dev, '@'); i > 0 {
		ev.Dev = ev.Dev[:i]
	}
	ev.Family = f[2]
	if ev.Family != "inet" && ev.Family != "inet6" {
		return ev, false, fmt.Errorf("family %q in %q", ev.Family, line)
	}
	a := f[3]
	if !strings.Contains(a, "/") {
		// A point-to-point address: "inet A peer B/len": keep A as /32.
		if ev.Family == "inet" {
			a += "/32"
		} else {
			a += "/128"
		}
	}
	ev.Prefix, err = netip.ParsePrefix(a)
	if err != nil {
		return ev, false, fmt.Errorf("address in %q: %v", line, err)
	}
	// The label: the last word after "scope X" that is not a flag (IPv4
	// only; ip prints none for IPv6).
	for i := 4; i < len(f)-1; i++ {
		if f[i] == "scope" {
			if last := f[len(f)-1]; i+1 < len(f)-1 && !addrFlags[last] && ev.Family == "inet" {
				ev.Label = last
			}
			break
		}
	}
	return ev, true, nil
}

// Interval is a stretch of time during which a host held the address.
type Interval struct {
	Host       int // index in the recorder's hosts
	Name       string
	Start, End time.Time
	// Open: the address was still held when the record ended (End is the
	// end of the record).
	Open bool
}

// Duration is End - Start.
func (iv Interval) Duration() time.Duration { return iv.End.Sub(iv.Start) }

// Stretch is a stretch of time with a given set of holders: two or more
// (an overlap) or none (a vacancy).
type Stretch struct {
	Start, End time.Time
	// Hosts held the address during the stretch (every host that held it
	// at some moment of an overlap; none for a vacancy).
	Hosts []string
}

// Duration is End - Start.
func (s Stretch) Duration() time.Duration { return s.End.Sub(s.Start) }

// recKind is what a recorded event does to a host.
type recKind int

const (
	recAdd recKind = iota
	recDel
	recOff
	recOn
	recNote
)

type recEvent struct {
	at    time.Time
	seq   int // arrival order, to keep equal times stable
	host  int // -1 for a note
	kind  recKind
	index int // interface index (add, del)
	text  string
}

// AddrRecorder records the changes of one address on some hosts of a lab.
type AddrRecorder struct {
	lab    *Lab
	addr   netip.Addr
	hosts  []*Host
	names  []string
	cmd    *exec.Cmd
	stderr *strings.Builder
	done   chan struct{} // the reader has ended

	mu       sync.Mutex
	nsid     map[string]int // nsid in the switch namespace -> host index
	marker   netip.Addr
	markerCh chan struct{}
	begin    time.Time // the monitor listens from here on
	initial  [][]int   // per host: interfaces holding the address at begin
	evs      []recEvent
	seq      int
	lines    int
	bad      []string // lines that could not be parsed
	stopped  time.Time
	stopping bool
	exitErr  error
}

// maxRecEvents bounds a record's memory.
const maxRecEvents = 200000

var markerCount atomic.Int32

// RecordAddr starts recording every change of addr on hosts (names label
// them in results and timelines; the hosts' own names when nil). The
// recorder is stopped at the end of the test, before the lab is removed.
// When RecordAddr returns, the monitor listens and the initial state of
// every host is known: no change can be missed.
func RecordAddr(l *Lab, addr netip.Addr, hosts []*Host, names []string) (*AddrRecorder, error) {
	if len(names) == 0 {
		for _, h := range hosts {
			names = append(names, h.Name())
		}
	}
	if len(names) != len(hosts) {
		return nil, fmt.Errorf("testhosts: %d names for %d hosts", len(names), len(hosts))
	}
	r := &AddrRecorder{lab: l, addr: addr, hosts: hosts, names: names, done: make(chan struct{}),
		nsid: map[string]int{}, markerCh: make(chan struct{}), stderr: &strings.Builder{}}
	// The namespace ids the switch gave the hosts.
	ids, err := r.listIDs()
	if err != nil {
		return nil, err
	}
	for i, h := range hosts {
		id, ok := ids[h.ns]
		if !ok {
			// No id yet (a host whose links were not made from the switch):
			// give it one, in the switch namespace only.
			if out, err := run(context.Background(), "ip", "-n", l.sw, "netns", "set", h.ns, "auto"); err != nil {
				return nil, fmt.Errorf("testhosts: ip -n %s netns set %s auto: %v: %s", l.sw, h.ns, err, out)
			}
			if ids, err = r.listIDs(); err != nil {
				return nil, err
			}
			if id, ok = ids[h.ns]; !ok {
				return nil, fmt.Errorf("testhosts: %s has no namespace id in %s", h.ns, l.sw)
			}
		}
		r.nsid[id] = i
	}
	n := markerCount.Add(1)
	r.marker = netip.AddrFrom4([4]byte{127, 77, byte(n >> 8), byte(n)})

	r.cmd = exec.Command("ip", "-n", l.sw, "-ts", "-o", "monitor", "address", "all-nsid")
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	r.cmd.Stderr = &lockedWriter{mu: &r.mu, w: r.stderr}
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testhosts: start ip monitor: %v", err)
	}
	go r.read(out)
	l.t.Cleanup(r.Stop)

	// A marker address on the switch's loopback tells when the monitor
	// listens (no traffic: 127.77.0.0/16 on a loopback nobody uses). Until
	// it has subscribed, the marker goes unseen: it is added again, every
	// 100 ms, for at most 10 s.
	markerPrefix := r.marker.String() + "/32"
	deadline := time.Now().Add(10 * time.Second)
	for seen := false; !seen; {
		if out, err := run(context.Background(), "ip", "-n", l.sw, "addr", "add", markerPrefix, "dev", "lo"); err != nil {
			r.Stop()
			return nil, fmt.Errorf("testhosts: marker address: %v: %s", err, out)
		}
		select {
		case <-r.markerCh:
			seen = true
		case <-r.done:
			r.Stop()
			return nil, fmt.Errorf("testhosts: ip monitor ended at start: %s", r.stderrText())
		case <-time.After(100 * time.Millisecond):
		}
		run(context.Background(), "ip", "-n", l.sw, "addr", "del", markerPrefix, "dev", "lo")
		if !seen && time.Now().After(deadline) {
			r.Stop()
			return nil, errors.New("testhosts: ip monitor did not report the marker address within 10s")
		}
	}

	// The state at the start: queried now that the monitor listens. An
	// event that arrives before the query's answer may or may not be in
	// it: the first event of an interface seen by then decides (an
	// addition means the address was not there before it).
	queried := make([]map[int]bool, len(hosts))
	var queryEnd []time.Time
	for i, h := range hosts {
		o, err := run(context.Background(), "ip", "-n", h.ns, "-o", "addr", "show")
		queryEnd = append(queryEnd, time.Now())
		if err != nil {
			r.Stop()
			return nil, fmt.Errorf("testhosts: ip -n %s addr show: %v: %s", h.ns, err, o)
		}
		queried[i] = map[int]bool{}
		for _, line := range strings.Split(o, "\n") {
			ev, ok, err := ParseAddrLine(line, nil)
			if err == nil && ok && ev.Prefix.Addr() == addr {
				queried[i][ev.Index] = true
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.initial = make([][]int, len(hosts))
	for i := range hosts {
		first := map[int]recKind{}
		for _, e := range r.evs {
			if e.host == i && (e.kind == recAdd || e.kind == recDel) && !e.at.After(queryEnd[i]) {
				if _, seen := first[e.index]; !seen {
					first[e.index] = e.kind
				}
			}
		}
		for idx := range queried[i] {
			if _, seen := first[idx]; !seen {
				r.initial[i] = append(r.initial[i], idx)
			}
		}
		for idx, k := range first {
			if k == recDel {
				r.initial[i] = append(r.initial[i], idx)
			}
		}
		sort.Ints(r.initial[i])
	}
	return r, nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func (r *AddrRecorder) stderrText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.TrimSpace(r.stderr.String())
}

// listIDs maps the namespaces that have an id in the switch namespace to
// it: `ip -n SW netns list-id` says "nsid 0 (iproute2 netns name: NAME)".
func (r *AddrRecorder) listIDs() (map[string]string, error) {
	out, err := run(context.Background(), "ip", "-n", r.lab.sw, "netns", "list-id")
	if err != nil {
		return nil, fmt.Errorf("testhosts: ip -n %s netns list-id: %v: %s", r.lab.sw, err, out)
	}
	ids := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[0] == "nsid" && f[len(f)-2] == "name:" {
			ids[strings.TrimSuffix(f[len(f)-1], ")")] = f[1]
		}
	}
	return ids, nil
}

// read consumes the monitor's output until it ends.
func (r *AddrRecorder) read(out io.Reader) {
	defer close(r.done)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	markerSeen := false
	for sc.Scan() {
		line := sc.Text()
		ev, ok, err := ParseAddrLine(line, nil)
		r.mu.Lock()
		r.lines++
		switch {
		case err != nil:
			if len(r.bad) < 100 {
				r.bad = append(r.bad, line)
			}
		case !ok:
		case ev.NSID == "current" && ev.Prefix.Addr() == r.marker:
			if !markerSeen && !ev.Deleted {
				markerSeen = true
				r.begin = ev.At
				close(r.markerCh)
			}
		case ev.Prefix.Addr() == r.addr:
			host, known := r.nsid[ev.NSID]
			if known && len(r.evs) < maxRecEvents {
				k := recAdd
				if ev.Deleted {
					k = recDel
				}
				label := ev.Label
				if label == "" {
					label = fmt.Sprintf("if%d", ev.Index)
				}
				r.evs = append(r.evs, recEvent{at: ev.At, seq: r.seq, host: host, kind: k, index: ev.Index, text: ev.Prefix.String() + " " + label})
				r.seq++
			}
		}
		r.mu.Unlock()
	}
	err := r.cmd.Wait()
	r.mu.Lock()
	if !r.stopping {
		r.exitErr = fmt.Errorf("ip monitor ended by itself: %v: %s", err, strings.TrimSpace(r.stderr.String()))
	}
	r.mu.Unlock()
}

// Stop ends the record: the monitor is killed by its PID. Idempotent.
func (r *AddrRecorder) Stop() {
	r.mu.Lock()
	if r.stopping {
		r.mu.Unlock()
		<-r.done
		return
	}
	r.stopping = true
	r.mu.Unlock()
	if r.cmd.Process != nil {
		syscall.Kill(r.cmd.Process.Pid, syscall.SIGKILL)
	}
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.lab.t.Errorf("testhosts: ip monitor (pid %d) still running 10s after SIGKILL", r.cmd.Process.Pid)
	}
	r.mu.Lock()
	r.stopped = time.Now()
	r.mu.Unlock()
}

// Err says whether the record can be trusted: nil unless the monitor ended
// by itself, complained, or printed lines that could not be read.
func (r *AddrRecorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.exitErr != nil {
		return r.exitErr
	}
	if s := strings.TrimSpace(r.stderr.String()); s != "" {
		return fmt.Errorf("ip monitor: %s", s)
	}
	if len(r.bad) > 0 {
		return fmt.Errorf("ip monitor: %d unreadable lines, first %q", len(r.bad), r.bad[0])
	}
	if len(r.evs) >= maxRecEvents {
		return fmt.Errorf("more than %d events: the record is truncated", maxRecEvents)
	}
	return nil
}

// Begin is when the record starts (the monitor listened from then on).
func (r *AddrRecorder) Begin() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.begin
}

// Names are the hosts' labels, in the recorder's order.
func (r *AddrRecorder) Names() []string { return append([]string(nil), r.names...) }

func (r *AddrRecorder) hostIndex(h *Host) int {
	for i, x := range r.hosts {
		if x == h {
			return i
		}
	}
	return -1
}

func (r *AddrRecorder) add(e recEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.seq = r.seq
	r.seq++
	r.evs = append(r.evs, e)
}

// PowerOff records that h was powered off (crashed, fenced) at at: from
// then on it holds nothing, whatever its namespace still has configured
// (a crash leaves the address on an interface that is down), until
// PowerOn.
func (r *AddrRecorder) PowerOff(h *Host, at time.Time) {
	if i := r.hostIndex(h); i >= 0 {
		r.add(recEvent{at: at, host: i, kind: recOff, text: "powered off"})
	}
}

// PowerOn records that h runs again from at.
func (r *AddrRecorder) PowerOn(h *Host, at time.Time) {
	if i := r.hostIndex(h); i >= 0 {
		r.add(recEvent{at: at, host: i, kind: recOn, text: "powered on"})
	}
}

// Note adds a line to the timeline (a fault injected, a heal).
func (r *AddrRecorder) Note(at time.Time, text string) {
	r.add(recEvent{at: at, host: -1, kind: recNote, text: text})
}

// snapshot returns the events in time order (arrival order for equal
// times), the initial state and the end of the record.
func (r *AddrRecorder) snapshot() ([]recEvent, [][]int, time.Time, time.Time) {
	r.mu.Lock()
	evs := append([]recEvent(nil), r.evs...)
	initial := r.initial
	begin, end := r.begin, r.stopped
	r.mu.Unlock()
	if end.IsZero() {
		end = time.Now()
	}
	sort.SliceStable(evs, func(a, b int) bool {
		if !evs[a].at.Equal(evs[b].at) {
			return evs[a].at.Before(evs[b].at)
		}
		return evs[a].seq < evs[b].seq
	})
	return evs, initial, begin, end
}

// hostState follows one host through the events.
type hostState struct {
	ifs map[int]bool
	off bool
}

func (s *hostState) holds() bool { return !s.off && len(s.ifs) > 0 }

func (s *hostState) apply(e recEvent) {
	switch e.kind {
	case recAdd:
		s.ifs[e.index] = true
	case recDel:
		delete(s.ifs, e.index)
	case recOff:
		s.off = true
	case recOn:
		s.off = false
	}
}

func newStates(initial [][]int, n int) []*hostState {
	st := make([]*hostState, n)
	for i := range st {
		st[i] = &hostState{ifs: map[int]bool{}}
		if i < len(initial) {
			for _, idx := range initial[i] {
				st[i].ifs[idx] = true
			}
		}
	}
	return st
}

// AllIntervals lists, for every host, the stretches during which it held
// the address (configured, and the host powered on), over the whole
// record.
func (r *AddrRecorder) AllIntervals() [][]Interval {
	evs, initial, begin, end := r.snapshot()
	st := newStates(initial, len(r.hosts))
	out := make([][]Interval, len(r.hosts))
	open := make([]time.Time, len(r.hosts))
	for i, s := range st {
		if s.holds() {
			open[i] = begin
		}
	}
	for _, e := range evs {
		if e.host < 0 {
			continue
		}
		s := st[e.host]
		before := s.holds()
		s.apply(e)
		switch after := s.holds(); {
		case !before && after:
			open[e.host] = e.at
		case before && !after:
			out[e.host] = append(out[e.host], Interval{Host: e.host, Name: r.names[e.host], Start: open[e.host], End: e.at})
		}
	}
	for i, s := range st {
		if s.holds() {
			out[i] = append(out[i], Interval{Host: i, Name: r.names[i], Start: open[i], End: end, Open: true})
		}
	}
	return out
}

// Intervals lists the stretches during which h held the address, clipped
// to [from, to] (zero times: the whole record).
func (r *AddrRecorder) Intervals(h *Host, from, to time.Time) []Interval {
	i := r.hostIndex(h)
	if i < 0 {
		return nil
	}
	var out []Interval
	for _, iv := range r.AllIntervals()[i] {
		if c, ok := clip(iv, from, to); ok {
			out = append(out, c)
		}
	}
	return out
}

func clip(iv Interval, from, to time.Time) (Interval, bool) {
	if !from.IsZero() && iv.Start.Before(from) {
		iv.Start = from
	}
	if !to.IsZero() && iv.End.After(to) {
		iv.End, iv.Open = to, false
	}
	return iv, iv.End.After(iv.Start)
}

// stretches sweeps the intervals and returns the maximal stretches within
// [from, to] during which the number of holders satisfies want.
func (r *AddrRecorder) stretches(from, to time.Time, want func(n int) bool) []Stretch {
	all := r.AllIntervals()
	_, _, begin, end := r.snapshot()
	if from.IsZero() || from.Before(begin) {
		from = begin
	}
	if to.IsZero() || to.After(end) {
		to = end
	}
	if !to.After(from) {
		return nil
	}
	type edge struct {
		at    time.Time
		host  int
		start bool
	}
	var edges []edge
	for _, ivs := range all {
		for _, iv := range ivs {
			if c, ok := clip(iv, from, to); ok {
				edges = append(edges, edge{c.Start, c.Host, true}, edge{c.End, c.Host, false})
			}
		}
	}
	// Ends before starts at the same instant: a hand-over within one
	// microsecond is not an overlap.
	sort.SliceStable(edges, func(a, b int) bool {
		if !edges[a].at.Equal(edges[b].at) {
			return edges[a].at.Before(edges[b].at)
		}
		return !edges[a].start && edges[b].start
	})
	holders := map[int]bool{}
	var out []Stretch
	var cur *Stretch
	seen := map[int]bool{}
	flush := func(at time.Time) {
		if cur != nil {
			cur.End = at
			for i := range r.hosts {
				if seen[i] {
					cur.Hosts = append(cur.Hosts, r.names[i])
				}
			}
			if cur.End.After(cur.Start) {
				out = append(out, *cur)
			}
			cur = nil
		}
	}
	step := func(at time.Time) {
		if want(len(holders)) {
			if cur == nil {
				cur = &Stretch{Start: at}
				seen = map[int]bool{}
			}
			for h := range holders {
				seen[h] = true
			}
		} else {
			flush(at)
		}
	}
	step(from)
	for i := 0; i < len(edges); {
		at := edges[i].at
		for ; i < len(edges) && edges[i].at.Equal(at); i++ {
			if edges[i].start {
				holders[edges[i].host] = true
			} else {
				delete(holders, edges[i].host)
			}
		}
		step(at)
	}
	flush(to)
	return out
}

// Overlaps are the stretches within [from, to] (zero: the whole record)
// during which two or more hosts held the address.
func (r *AddrRecorder) Overlaps(from, to time.Time) []Stretch {
	return r.stretches(from, to, func(n int) bool { return n >= 2 })
}

// Vacancies are the stretches within [from, to] during which no host held
// the address.
func (r *AddrRecorder) Vacancies(from, to time.Time) []Stretch {
	return r.stretches(from, to, func(n int) bool { return n == 0 })
}

// Total adds up the stretches' durations and returns the longest.
func Total(ss []Stretch) (total time.Duration, worst Stretch) {
	for _, s := range ss {
		total += s.Duration()
		if s.Duration() > worst.Duration() {
			worst = s
		}
	}
	return total, worst
}

// Holders lists the hosts that hold the address now (by the events
// received so far).
func (r *AddrRecorder) Holders() []string {
	evs, initial, _, _ := r.snapshot()
	st := newStates(initial, len(r.hosts))
	for _, e := range evs {
		if e.host >= 0 {
			st[e.host].apply(e)
		}
	}
	var out []string
	for i, s := range st {
		if s.holds() {
			out = append(out, r.names[i])
		}
	}
	return out
}

// LastChange is the time of the latest addition or deletion of the
// address on any host (the start of the record if none).
func (r *AddrRecorder) LastChange() time.Time {
	evs, _, begin, _ := r.snapshot()
	last := begin
	for _, e := range evs {
		if (e.kind == recAdd || e.kind == recDel) && e.at.After(last) {
			last = e.at
		}
	}
	return last
}

// Timeline is a readable account of [from, to] (zero: the whole record):
// every addition and deletion of the address, power changes and notes,
// with the holders after each, times relative to from.
func (r *AddrRecorder) Timeline(from, to time.Time) string {
	evs, initial, begin, end := r.snapshot()
	if from.IsZero() {
		from = begin
	}
	if to.IsZero() {
		to = end
	}
	st := newStates(initial, len(r.hosts))
	holders := func() string {
		var on []string
		for i, s := range st {
			if s.holds() {
				on = append(on, r.names[i])
			}
		}
		switch len(on) {
		case 0:
			return "held by nobody"
		case 1:
			return "held by " + on[0]
		}
		return "held by " + strings.Join(on, " + ") + "   <== ON " + strconv.Itoa(len(on)) + " HOSTS"
	}
	var b strings.Builder
	started := false
	for _, e := range evs {
		if !started && !e.at.Before(from) {
			fmt.Fprintf(&b, "  %s %9s  %-8s %-40s %s\n", from.Format("15:04:05.000000"), "+0s", "", "(window starts)", holders())
			started = true
		}
		if e.at.After(to) {
			break
		}
		if e.host >= 0 {
			st[e.host].apply(e)
		}
		if e.at.Before(from) {
			continue
		}
		who, what := "", e.text
		switch e.kind {
		case recAdd:
			who, what = r.names[e.host], "+ "+e.text
		case recDel:
			who, what = r.names[e.host], "- "+e.text
		case recOff, recOn:
			who = r.names[e.host]
		case recNote:
			what = "# " + e.text
		}
		fmt.Fprintf(&b, "  %s %9s  %-8s %-40s %s\n", e.at.Format("15:04:05.000000"), relDur(e.at.Sub(from)), who, what, holders())
	}
	if !started {
		fmt.Fprintf(&b, "  %s %9s  %-8s %-40s %s\n", from.Format("15:04:05.000000"), "+0s", "", "(window starts)", holders())
	}
	return b.String()
}

func relDur(d time.Duration) string {
	if d < 0 {
		return "-" + relDur(-d)
	}
	return "+" + d.Round(time.Microsecond).String()
}
