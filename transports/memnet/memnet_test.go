package memnet

import (
	"errors"
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hanode/hanode/transports"
)

// inbox records what one link receives.
type inbox struct {
	mu   sync.Mutex
	pkts []transports.Packet
}

func (b *inbox) deliver(p transports.Packet) time.Duration {
	b.mu.Lock()
	b.pkts = append(b.pkts, p)
	b.mu.Unlock()
	return 0
}

// take returns and forgets what was received so far.
func (b *inbox) take() []transports.Packet {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.pkts
	b.pkts = nil
	return p
}

// texts returns and forgets the payloads received so far.
func (b *inbox) texts() []string {
	var s []string
	for _, p := range b.take() {
		s = append(s, string(p.Data))
	}
	return s
}

// open opens node on segment with an inbox.
func open(t *testing.T, n *Network, segment, node string) (transports.Link, *inbox) {
	t.Helper()
	in := &inbox{}
	l, err := n.Open(segment, node, in.deliver, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l, in
}

// newNet returns a network closed when the test ends.
func newNet(t *testing.T, cfg Config) *Network {
	n := New(cfg)
	t.Cleanup(func() { n.Close() })
	return n
}

func send(t *testing.T, l transports.Link, s string) {
	t.Helper()
	if err := l.Send([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// settle lets every frame sent so far arrive (the default latency, no
// jitter) and every delivery goroutine finish.
func settle() {
	time.Sleep(time.Millisecond)
	synctest.Wait()
}

func TestDeliversToEveryOtherLinkOfTheSegment(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{})
		a0, ia0 := open(t, n, "eth0", "a")
		_, ib0 := open(t, n, "eth0", "b")
		_, ic0 := open(t, n, "eth0", "c")
		_, ia1 := open(t, n, "eth1", "a")
		_, ib1 := open(t, n, "eth1", "b")

		buf := []byte("hello")
		if err := a0.Send(buf); err != nil {
			t.Fatal(err)
		}
		copy(buf, "XXXXX") // the sender may reuse its buffer at once
		settle()

		from := netip.MustParseAddrPort("10.201.0.1:694")
		pb, pc := ib0.take(), ic0.take()
		if len(pb) != 1 || len(pc) != 1 {
			t.Fatalf("b received %d frames, c %d; want 1 each", len(pb), len(pc))
		}
		for _, p := range []transports.Packet{pb[0], pc[0]} {
			if string(p.Data) != "hello" || p.From != from {
				t.Errorf("received %q from %v, want \"hello\" from %v", p.Data, p.From, from)
			}
		}
		pb[0].Data[0] = 'J' // each receiver owns its copy
		if string(pc[0].Data) != "hello" {
			t.Errorf("receivers share data: c sees %q", pc[0].Data)
		}
		for name, in := range map[string]*inbox{"a on eth0 (itself)": ia0, "a on eth1": ia1, "b on eth1": ib1} {
			if p := in.take(); len(p) != 0 {
				t.Errorf("%s received %d frames, want none", name, len(p))
			}
		}
		if a, _ := n.Addr("c"); a != netip.MustParseAddrPort("10.201.0.3:694") {
			t.Errorf("c's address is %v, want 10.201.0.3:694", a)
		}
		if s := n.Stats(); s != (Stats{Sent: 1, Delivered: 2}) {
			t.Errorf("stats %+v, want 1 sent, 2 delivered", s)
		}
	})
}

func TestLatencyInFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const latency = 30 * time.Millisecond
		n := newNet(t, Config{Latency: latency})
		a, _ := open(t, n, "eth0", "a")
		_, ib := open(t, n, "eth0", "b")

		start := time.Now()
		send(t, a, "x")
		time.Sleep(latency - time.Nanosecond)
		synctest.Wait()
		if p := ib.take(); len(p) != 0 {
			t.Fatalf("delivered after %v, before the latency %v", p[0].At.Sub(start), latency)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		p := ib.take()
		if len(p) != 1 {
			t.Fatalf("%d frames delivered at the latency, want 1", len(p))
		}
		if d := p[0].At.Sub(start); d != latency {
			t.Errorf("delivered after %v, want %v", d, latency)
		}
	})
}

func TestJitterDelaysAndReorders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const latency, jitter = 10 * time.Millisecond, 5 * time.Millisecond
		n := newNet(t, Config{Seed: 1, Latency: latency, Jitter: jitter})
		a, _ := open(t, n, "eth0", "a")
		_, ib := open(t, n, "eth0", "b")

		start := time.Now()
		for i := range 200 {
			send(t, a, strconv.Itoa(i))
		}
		time.Sleep(latency + jitter)
		synctest.Wait()
		ps := ib.take()
		if len(ps) != 200 {
			t.Fatalf("%d frames delivered, want 200", len(ps))
		}
		delays := map[time.Duration]bool{}
		reordered := false
		for i, p := range ps {
			d := p.At.Sub(start)
			if d < latency || d >= latency+jitter {
				t.Errorf("frame %s delayed %v, want in [%v, %v)", p.Data, d, latency, latency+jitter)
			}
			delays[d] = true
			if string(p.Data) != strconv.Itoa(i) {
				reordered = true
			}
		}
		if len(delays) < 100 || !reordered {
			t.Errorf("%d distinct delays, reordered %v: jitter has no effect", len(delays), reordered)
		}
	})
}

func TestOrderPreservedPerPairWithoutJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{})
		_, ib := open(t, n, "eth0", "b")
		senders := map[string]transports.Link{}
		for _, name := range []string{"a", "c", "d"} {
			senders[name], _ = open(t, n, "eth0", name)
		}
		// Each sender in a goroutine of its own, sending in bursts at
		// the same fake instants, so that sends interleave at random.
		const frames = 1000
		var wg sync.WaitGroup
		for name, l := range senders {
			wg.Go(func() {
				for i := range frames {
					if err := l.Send([]byte(name + strconv.Itoa(i))); err != nil {
						t.Error(err)
					}
					runtime.Gosched()
					if i%100 == 99 {
						time.Sleep(100 * time.Microsecond)
					}
				}
			})
		}
		wg.Wait()
		settle()

		ps := ib.take()
		if len(ps) != frames*len(senders) {
			t.Fatalf("%d frames delivered, want %d", len(ps), frames*len(senders))
		}
		next := map[netip.AddrPort]int{}
		for i, p := range ps {
			if want := p.Data[0:1]; string(p.Data) != string(want)+strconv.Itoa(next[p.From]) {
				t.Fatalf("from %v: got %q, want %s%d (out of order)", p.From, p.Data, want, next[p.From])
			}
			next[p.From]++
			// Frames due together come in sender order, whoever sent first.
			if i > 0 && p.At.Equal(ps[i-1].At) && p.Data[0] < ps[i-1].Data[0] {
				t.Fatalf("at %v, %q delivered after %q", p.At, p.Data, ps[i-1].Data)
			}
		}
	})
}

// hears sends one frame from every link and returns who heard whom on each
// segment, as "segment:from>to" sorted.
func hears(t *testing.T, links map[string]transports.Link, inboxes map[string]*inbox) []string {
	t.Helper()
	for key, l := range links {
		send(t, l, key)
	}
	settle()
	var got []string
	for key, in := range inboxes {
		for _, from := range in.texts() {
			got = append(got, from+">"+key[len(key)-1:])
		}
	}
	slices.Sort(got)
	return got
}

// cluster opens every node on every segment; links and inboxes are keyed
// "segment:node".
func cluster(t *testing.T, n *Network, segments, nodes []string) (map[string]transports.Link, map[string]*inbox) {
	links, inboxes := map[string]transports.Link{}, map[string]*inbox{}
	for _, s := range segments {
		for _, node := range nodes {
			links[s+":"+node], inboxes[s+":"+node] = open(t, n, s, node)
		}
	}
	return links, inboxes
}

// all is what hears returns without faults.
func all(segments, nodes []string) []string {
	var s []string
	for _, seg := range segments {
		for _, from := range nodes {
			for _, to := range nodes {
				if from != to {
					s = append(s, seg+":"+from+">"+to)
				}
			}
		}
	}
	slices.Sort(s)
	return s
}

func without(s []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(s), func(x string) bool { return slices.Contains(drop, x) })
}

func TestCutIsOneWayUntilRestored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{})
		segs, nodes := []string{"eth0", "eth1"}, []string{"a", "b", "c"}
		links, inboxes := cluster(t, n, segs, nodes)

		n.Cut("a", "b")
		if got, want := hears(t, links, inboxes), without(all(segs, nodes), "eth0:a>b", "eth1:a>b"); !slices.Equal(got, want) {
			t.Errorf("after Cut(a, b):\n got %v\nwant %v", got, want)
		}
		if s := n.Stats(); s.Dropped != 2 {
			t.Errorf("%d frames dropped, want 2", s.Dropped)
		}
		n.Restore("a", "b")
		if got, want := hears(t, links, inboxes), all(segs, nodes); !slices.Equal(got, want) {
			t.Errorf("after Restore(a, b):\n got %v\nwant %v", got, want)
		}
	})
}

func TestFramesInFlightSurviveFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{})
		a, _ := open(t, n, "eth0", "a")
		_, ib := open(t, n, "eth0", "b")

		send(t, a, "in flight")
		n.Cut("a", "b")
		n.CutSegment("eth0", "b", true)
		n.SetLoss("a", "b", 1)
		send(t, a, "sent after the cut")
		settle()
		if got := ib.texts(); !slices.Equal(got, []string{"in flight"}) {
			t.Errorf("b received %q, want only the frame sent before the cut", got)
		}
	})
}

func TestPartitionAndHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{})
		segs, nodes := []string{"eth0", "eth1"}, []string{"a", "b", "c", "d"}
		links, inboxes := cluster(t, n, segs, nodes)

		// d is on no side: cut from everyone.
		n.Partition([]string{"a", "b"}, []string{"c"})
		want := []string{"eth0:a>b", "eth0:b>a", "eth1:a>b", "eth1:b>a"}
		if got := hears(t, links, inboxes); !slices.Equal(got, want) {
			t.Errorf("partitioned {a b} {c}:\n got %v\nwant %v", got, want)
		}
		// Restore lifts one direction of a partition.
		n.Restore("c", "a")
		want = []string{"eth0:a>b", "eth0:b>a", "eth0:c>a", "eth1:a>b", "eth1:b>a", "eth1:c>a"}
		if got := hears(t, links, inboxes); !slices.Equal(got, want) {
			t.Errorf("after Restore(c, a):\n got %v\nwant %v", got, want)
		}
		n.HealAll()
		if got, want := hears(t, links, inboxes), all(segs, nodes); !slices.Equal(got, want) {
			t.Errorf("after HealAll:\n got %v\nwant %v", got, want)
		}
	})
}

func TestCutSegmentIsALinkDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{})
		segs, nodes := []string{"eth0", "eth1"}, []string{"a", "b", "c"}
		links, inboxes := cluster(t, n, segs, nodes)

		n.CutSegment("eth0", "b", true)
		want := without(all(segs, nodes), "eth0:a>b", "eth0:c>b", "eth0:b>a", "eth0:b>c")
		if got := hears(t, links, inboxes); !slices.Equal(got, want) {
			t.Errorf("b off eth0:\n got %v\nwant %v", got, want)
		}
		n.CutSegment("eth0", "b", false)
		if got, want := hears(t, links, inboxes), all(segs, nodes); !slices.Equal(got, want) {
			t.Errorf("b back on eth0:\n got %v\nwant %v", got, want)
		}
		n.CutSegment("eth1", "c", true)
		n.HealAll()
		if got, want := hears(t, links, inboxes), all(segs, nodes); !slices.Equal(got, want) {
			t.Errorf("after HealAll:\n got %v\nwant %v", got, want)
		}
	})
}

func TestLossRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{Seed: 7})
		a, ia := open(t, n, "eth0", "a")
		b, ib := open(t, n, "eth0", "b")

		const frames, p = 10000, 0.25
		n.SetLoss("a", "b", p)
		for range frames {
			send(t, a, "a")
			send(t, b, "b")
		}
		settle()
		// 200 is 4.6 standard deviations of the binomial count.
		got := len(ib.take())
		if want := int(frames * (1 - p)); got < want-200 || got > want+200 {
			t.Errorf("b received %d of %d frames with loss %v, want about %v", got, frames, p, want)
		}
		if got := len(ia.take()); got != frames {
			t.Errorf("a received %d of %d frames, want all: loss is one way", got, frames)
		}
		if s := n.Stats(); s.Dropped != uint64(frames-got) {
			t.Errorf("%d frames dropped, want %d", s.Dropped, frames-got)
		}
		n.SetLoss("a", "b", 0)
		send(t, a, "a")
		settle()
		if got := len(ib.take()); got != 1 {
			t.Errorf("after SetLoss(a, b, 0), b received %d frames, want 1", got)
		}
	})
}

// trace runs a faulty exchange in a bubble of its own and returns what b
// received from a, frame by frame, with when. Disturbed, c sends too and
// frames 500 to 699 meet other faults.
func trace(t *testing.T, seed uint64, disturbed bool) map[int][]time.Duration {
	got := map[int][]time.Duration{}
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{Seed: seed, Jitter: 3 * time.Millisecond})
		a, _ := open(t, n, "eth0", "a")
		_, ib := open(t, n, "eth0", "b")
		c, _ := open(t, n, "eth0", "c")
		n.SetLoss("a", "b", 0.3)
		n.SetDuplicate(0.2)
		start := time.Now()
		for i := range 2000 {
			if disturbed {
				send(t, c, "c")
				switch i {
				case 500:
					n.Cut("a", "b")
					n.SetLoss("a", "b", 0)
					n.SetDuplicate(0)
				case 700:
					n.HealAll()
					n.SetLoss("a", "b", 0.3)
					n.SetDuplicate(0.2)
				}
			}
			send(t, a, strconv.Itoa(i))
			time.Sleep(time.Millisecond)
		}
		time.Sleep(4 * time.Millisecond)
		synctest.Wait()
		for _, p := range ib.take() {
			if i, err := strconv.Atoi(string(p.Data)); err == nil {
				got[i] = append(got[i], p.At.Sub(start))
			}
		}
	})
	return got
}

func TestSameSeedSameFate(t *testing.T) {
	first := trace(t, 42, false)
	if len(first) < 1000 {
		t.Fatalf("only %d frames delivered", len(first))
	}
	// Neither c's traffic nor faults in force for a while change the
	// fate of a's other frames.
	again := trace(t, 42, true)
	for i := range 2000 {
		if (i < 500 || i >= 700) && !slices.Equal(first[i], again[i]) {
			t.Fatalf("same seed, frame %d delivered at %v, then at %v", i, first[i], again[i])
		}
		if i >= 500 && i < 700 && len(again[i]) != 0 {
			t.Fatalf("frame %d delivered through a cut", i)
		}
	}
	other := trace(t, 43, false)
	if maps.EqualFunc(first, other, slices.Equal) {
		t.Errorf("another seed, the same fate")
	}
}

func TestDuplicate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{})
		a, _ := open(t, n, "eth0", "a")
		_, ib := open(t, n, "eth0", "b")

		n.SetDuplicate(1)
		for i := range 10 {
			send(t, a, strconv.Itoa(i))
		}
		settle()
		var want []string
		for i := range 10 {
			want = append(want, strconv.Itoa(i), strconv.Itoa(i))
		}
		if got := ib.texts(); !slices.Equal(got, want) {
			t.Errorf("with duplication 1, b received %q, want %q", got, want)
		}

		const frames, p = 4000, 0.5
		n.SetDuplicate(p)
		for range frames {
			send(t, a, "x")
		}
		settle()
		got := len(ib.take()) - frames
		if want := int(frames * p); got < want-150 || got > want+150 {
			t.Errorf("%d duplicates of %d frames with duplication %v, want about %v", got, frames, p, want)
		}
		if s := n.Stats(); s.Duplicated != uint64(10+got) {
			t.Errorf("%d frames duplicated, want %d", s.Duplicated, 10+got)
		}
	})
}

func TestNoDeliveryAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{Latency: 10 * time.Millisecond})
		a, _ := open(t, n, "eth0", "a")
		// Many times over, close b at the very instant a frame is due,
		// so that Close races with the delivery goroutine woken then.
		for i := range 100 {
			var closed atomic.Bool
			late := 0
			b, err := n.Open("eth0", "b", func(transports.Packet) time.Duration {
				runtime.Gosched() // let Close run meanwhile
				if closed.Load() {
					late++ // still running after Close returned
				}
				return 0
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			send(t, a, "due when b closes")
			time.Sleep(5 * time.Millisecond)
			send(t, a, "in flight when b closes")
			time.Sleep(5 * time.Millisecond)
			b.Close()
			closed.Store(true)
			time.Sleep(10 * time.Millisecond)
			synctest.Wait()
			if late != 0 {
				t.Fatalf("round %d: %d frames delivered after Close returned", i, late)
			}
			if err := b.Send([]byte("x")); !errors.Is(err, ErrClosed) {
				t.Fatalf("Send after Close returned %v, want ErrClosed", err)
			}
		}
		// The frame sent 5ms before each Close was in flight: dropped.
		if s := n.Stats(); s.Dropped < 100 || s.Delivered+s.Dropped != 200 {
			t.Errorf("stats %+v, want at least 100 of 200 frames dropped and the rest delivered", s)
		}
	})
}

func TestDeliverIsNeverConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{})
		var busy atomic.Bool
		count := 0 // unguarded: the race detector objects if deliver overlaps
		_, err := n.Open("eth0", "b", func(transports.Packet) time.Duration {
			if !busy.CompareAndSwap(false, true) {
				t.Error("deliver called while running")
			}
			count++
			runtime.Gosched()
			busy.Store(false)
			return 0
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, name := range []string{"a", "c", "d", "e"} {
			l, _ := open(t, n, "eth0", name)
			wg.Go(func() {
				for range 500 {
					l.Send([]byte(name))
					runtime.Gosched()
				}
			})
		}
		wg.Wait()
		settle()
		if count != 2000 {
			t.Errorf("%d frames delivered, want 2000", count)
		}
	})
}

func TestOpenAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{})
		nop := func(transports.Packet) time.Duration { return 0 }
		a, err := n.Open("eth0", "a", nop, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Open("eth0", "a", nop, nil); err == nil {
			t.Error("opened a twice on eth0")
		}
		if _, err := n.Open("eth1", "a", nop, nil); err != nil {
			t.Errorf("a on a second segment: %v", err)
		}
		for _, bad := range [][2]string{{"", "a"}, {"eth0", ""}} {
			if _, err := n.Open(bad[0], bad[1], nop, nil); err == nil {
				t.Errorf("opened node %q on segment %q", bad[1], bad[0])
			}
		}
		if _, err := n.Open("eth0", "z", nil, nil); err == nil {
			t.Error("opened with a nil deliver")
		}
		before, _ := n.Addr("a")
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		a.Close() // closing twice is harmless
		a, err = n.Open("eth0", "a", nop, nil)
		if err != nil {
			t.Fatalf("reopen after Close: %v", err)
		}
		if after, _ := n.Addr("a"); after != before {
			t.Errorf("restarted node moved from %v to %v", before, after)
		}

		// Close ends every delivery goroutine, frames in flight or not;
		// synctest.Test fails if one is left.
		in := &inbox{}
		if _, err := n.Open("eth0", "b", in.deliver, nil); err != nil {
			t.Fatal(err)
		}
		send(t, a, "in flight")
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		settle()
		if p := in.take(); len(p) != 0 {
			t.Errorf("%d frames delivered after the network closed", len(p))
		}
		if s := n.Stats(); s.Dropped != 1 {
			t.Errorf("%d frames dropped at Close, want 1", s.Dropped)
		}
		if err := a.Send([]byte("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("Send after the network closed returned %v, want ErrClosed", err)
		}
		if _, err := n.Open("eth0", "c", nop, nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Open after the network closed returned %v, want ErrClosed", err)
		}
	})
}

// BenchmarkSendDeliver sends heartbeat-sized frames from one node of three
// to the two others, in real time: a benchmark cannot run in a bubble. Each
// op is one Send and two deliveries.
func BenchmarkSendDeliver(b *testing.B) {
	n := New(Config{Seed: 1})
	defer n.Close()
	want := uint64(2 * b.N)
	var got atomic.Uint64
	done := make(chan struct{})
	count := func(transports.Packet) time.Duration {
		if got.Add(1) == want {
			close(done)
		}
		return 0
	}
	a, err := n.Open("eth0", "a", func(transports.Packet) time.Duration { return 0 }, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, node := range []string{"b", "c"} {
		if _, err := n.Open("eth0", node, count, nil); err != nil {
			b.Fatal(err)
		}
	}
	frame := make([]byte, 200)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := a.Send(frame); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/delivery")
}
