package vip

import (
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/resource"
)

// netnsWorker runs functions one after the other on one thread in h's
// namespace, until the benchmark ends: what a node does (it lives in its
// namespace), without a thread and a setns per call. The functions must
// not block for long: background announcements would hold the worker, so
// the resources run with it announce once (arp_count 1).
func netnsWorker(tb testing.TB, h *testhosts.Host) func(fn func()) error {
	ch := make(chan func())
	if err := h.InNetns(func() {
		for fn := range ch {
			fn()
		}
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { close(ch) })
	return func(fn func()) error { ch <- fn; return nil }
}

// BenchmarkStartStop is the time of a start and a stop of one address on
// a test host: the built-in resource, and IPaddr2 as hanode runs it (the
// OCF agent through procrun), with the same parameters. ms/start and
// ms/stop split each.
//
//	go test -run '^$' -bench StartStop -benchtime 50x ./node/host/vip
func BenchmarkStartStop(b *testing.B) {
	requireAgents(b, ocfIPaddr2)
	lab := testhosts.New(b, testhosts.Options{Hosts: 1})
	h := lab.Host(1)
	params := map[string]string{"ip": vip, "cidr_netmask": "24", "nic": "eth0"}

	report := func(b *testing.B, start, stop time.Duration) {
		b.ReportMetric(float64(start.Microseconds())/1000/float64(b.N), "ms/start")
		b.ReportMetric(float64(stop.Microseconds())/1000/float64(b.N), "ms/stop")
	}
	b.Run("builtin", func(b *testing.B) {
		// Every Run enters the namespace on a new thread (as the tests
		// do), which a node never does: the worker below shows the cost
		// without it.
		r := newOn(b, h, &messages.AddressAgent{Ip: vip, CidrNetmask: "24", Nic: "eth0"})
		var start, stop time.Duration
		for b.Loop() {
			start += run(b, r, resource.Start, resource.Succeeded).Duration
			stop += run(b, r, resource.Stop, resource.Succeeded).Duration
		}
		report(b, start, stop)
	})
	b.Run("builtin-in-netns", func(b *testing.B) {
		n := uint32(1)
		a := &messages.AddressAgent{Ip: vip, CidrNetmask: "24", Nic: "eth0", ArpCount: &n}
		in := netnsWorker(b, h) // first: its cleanup runs after the resource's stop
		r := newOn(b, h, a)
		r.in = in
		var start, stop time.Duration
		for b.Loop() {
			start += run(b, r, resource.Start, resource.Succeeded).Duration
			stop += run(b, r, resource.Stop, resource.Succeeded).Duration
		}
		report(b, start, stop)
	})
	b.Run("IPaddr2", func(b *testing.B) {
		s := script{path: ocfIPaddr2, params: params}
		rsctmp := b.TempDir()
		var start, stop time.Duration
		for b.Loop() {
			res := s.run(b, h, rsctmp, "start")
			if res.ExitCode != 0 {
				b.Fatalf("start: exit %d: %s", res.ExitCode, res.Output)
			}
			start += res.Duration
			res = s.run(b, h, rsctmp, "stop")
			if res.ExitCode != 0 {
				b.Fatalf("stop: exit %d: %s", res.ExitCode, res.Output)
			}
			stop += res.Duration
		}
		report(b, start, stop)
	})
}
