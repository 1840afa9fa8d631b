// Package vip is hanode's built-in virtual IP address resource: what
// Heartbeat's IPaddr2 script does, done in-process. The address is added
// and removed with netlink and announced with gratuitous ARP or unsolicited
// neighbour advertisements (node/host/announce), so that a start or a stop
// takes well under a millisecond where the script takes 60 to 300 (a
// shell, ip, findif's pipelines, send_arp): on a failover the address is
// most of what clients wait for (BenchmarkStartStop compares the two).
//
// It behaves as IPaddr2 does, with the same parameters (node/machine/addrspec):
// the interface, prefix and broadcast found in the routing table when not
// given, the same label, scope and flags, and the same exit statuses as an
// OCF agent:
//
//   - start adds the address to the interface (nothing to do when it is
//     there already), brings the interface up if it is down, waits for
//     IPv6 duplicate address detection to end (a failure removes the
//     address and fails the start), then announces the address: the first
//     round before start returns, the others in the background.
//   - monitor: running while the address is on the interface and the
//     interface is up with a carrier; not running (7) when the address is
//     not there; failed (1) when it is, on an interface that is down, so
//     that a node never keeps, or probes as stopped, an address that comes
//     back on the network with the link.
//   - stop ends the background announcements and removes the address
//     (nothing to do when it is not there).
//
// Everything runs in the network namespace of the calling thread, or where
// Options.InNetns puts it.
package vip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/hanode/hanode/node/host/announce"
	"github.com/hanode/hanode/node/machine/addrspec"
	"github.com/hanode/hanode/node/machine/resource"
)

// OCF exit statuses the results carry, so that status shows what an OCF
// agent would have said.
const (
	ocfSuccess    = 0
	ocfErrGeneric = 1
	ocfErrConfig  = 6
	ocfNotRunning = 7
)

// Options are the resource's surroundings.
type Options struct {
	// Log receives what the resource does (at debug level: the group
	// actor logs each action's result) and the problems no result carries
	// (background announcements that fail); nil: slog.Default().
	Log *slog.Logger
	// InNetns, when set, runs fn on a thread in the network namespace the
	// address belongs to and returns once fn is under way (as
	// testhosts.Host.InNetns does); nil runs fn on the calling goroutine,
	// in the process's own namespace. Tests put the resource in a test
	// host with it: a goroutine started from a thread that entered a
	// namespace does not run in that namespace.
	InNetns func(fn func()) error
}

// Resource is one address. Its methods may be called from any goroutine,
// one action at a time (the group runner's way).
type Resource struct {
	id   string
	spec addrspec.Spec
	log  *slog.Logger
	in   func(fn func()) error

	mu sync.Mutex
	// bgCancel ends the background announcements, bgDone closes when they
	// have ended; nil when none run.
	bgCancel context.CancelFunc
	bgDone   chan struct{}
}

// New returns the resource id (its name in logs) for spec.
func New(id string, spec addrspec.Spec, opts Options) *Resource {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	return &Resource{id: id, spec: spec, log: log.With("resource", id), in: opts.InNetns}
}

// UseLog sends what the resource logs to log (with its id), instead of
// the logger it was made with: the node's own, which exists only once the
// node starts, after its agents were found. Called before the first
// action.
func (r *Resource) UseLog(log *slog.Logger) {
	if log != nil {
		r.log = log.With("resource", r.id)
	}
}

// outcome is what an action came to, before timing is added.
type outcome struct {
	outcome resource.Outcome
	code    int
	msg     string
}

func succeeded(format string, args ...any) outcome {
	return outcome{resource.Succeeded, ocfSuccess, fmt.Sprintf(format, args...)}
}

func failed(code int, format string, args ...any) outcome {
	return outcome{resource.Failed, code, fmt.Sprintf(format, args...)}
}

// Run carries out action within timeout (resource.Result as an OCF agent
// gives it). netlink calls do not block for long; the waits (duplicate
// address detection, the first announcement) end with ctx or the timeout.
func (r *Resource) Run(ctx context.Context, action resource.Action, timeout time.Duration) resource.Result {
	begin := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var o outcome
	err := r.inNetns(func() {
		switch action {
		case resource.Start:
			o = r.start(ctx)
		case resource.Stop:
			o = r.stop(ctx)
		case resource.Monitor:
			o = r.monitor()
		default:
			o = failed(ocfErrGeneric, "unknown action %q", action)
		}
	})
	if err != nil {
		o = failed(ocfErrGeneric, "enter the network namespace: %v", err)
	}
	if o.outcome == resource.Failed && ctx.Err() == context.DeadlineExceeded {
		o.outcome = resource.TimedOut
	}
	return resource.Result{Action: action, Outcome: o.outcome, ExitCode: o.code, Output: o.msg, Duration: time.Since(begin)}
}

// inNetns runs fn to its end where the address lives.
func (r *Resource) inNetns(fn func()) error {
	if r.in == nil {
		fn()
		return nil
	}
	done := make(chan struct{})
	if err := r.in(func() { defer close(done); fn() }); err != nil {
		return err
	}
	<-done
	return nil
}

// spawn runs fn in the background where the address lives.
func (r *Resource) spawn(fn func()) error {
	if r.in == nil {
		go fn()
		return nil
	}
	return r.in(fn)
}

// family is the netlink address family of the spec.
func (r *Resource) family() int {
	if r.spec.Is6() {
		return netlink.FAMILY_V6
	}
	return netlink.FAMILY_V4
}

// present is the address as the kernel holds it on link, nil when it does
// not: the same address with the same prefix length, what IPaddr2 counts
// as served.
func (r *Resource) present(link netlink.Link, prefix int) (*netlink.Addr, error) {
	addrs, err := addrList(link, r.family())
	if err != nil {
		return nil, err
	}
	for i := range addrs {
		if ip, ok := netip.AddrFromSlice(addrs[i].IP); ok && ip.Unmap() == r.spec.IP {
			if ones, _ := addrs[i].Mask.Size(); ones == prefix {
				return &addrs[i], nil
			}
		}
	}
	return nil, nil
}

// addrList is netlink.AddrList, tried again (three times in all) when the
// kernel interrupts the dump because the addresses changed meanwhile.
func addrList(link netlink.Link, family int) ([]netlink.Addr, error) {
	what := "addresses"
	if link != nil {
		what += " of " + link.Attrs().Name
	}
	var err error
	for range 3 {
		var addrs []netlink.Addr
		addrs, err = netlink.AddrList(link, family)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			return addrs, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", what, err)
}

func (r *Resource) start(ctx context.Context) outcome {
	// A start after a start (a restart in place) begins afresh.
	r.endAnnouncements(ctx)
	t, err := place(r.spec)
	if err != nil {
		return failed(ocfErrConfig, "%v", err)
	}
	name := t.link.Attrs().Name
	have, err := r.present(t.link, t.prefix)
	if err != nil {
		return failed(ocfErrGeneric, "%v", err)
	}
	var what string
	if have != nil {
		what = fmt.Sprintf("%s/%d already on %s", r.spec.IP, t.prefix, name)
	} else {
		add, err := r.newAddr(t)
		if err != nil {
			return failed(ocfErrConfig, "%v", err)
		}
		switch err := netlink.AddrAdd(t.link, add); {
		case errors.Is(err, syscall.EEXIST):
			// Added meanwhile by someone else (what we wanted), or, for
			// IPv6, there with another prefix length (not ours to change).
			if have, perr := r.present(t.link, t.prefix); perr != nil || have == nil {
				return failed(ocfErrGeneric, "add %s to %s: %v (the address is there with another prefix length?)", describe(add), name, err)
			}
			what = fmt.Sprintf("%s/%d already on %s", r.spec.IP, t.prefix, name)
		case err != nil:
			return failed(ocfErrGeneric, "add %s to %s: %v", describe(add), name, err)
		default:
			what = fmt.Sprintf("added %s to %s", describe(add), name)
			r.log.Debug("address added", "address", describe(add), "interface", name)
		}
	}
	// IPaddr2 brings the interface up with the address.
	if t.link.Attrs().RawFlags&unix.IFF_UP == 0 {
		if err := netlink.LinkSetUp(t.link); err != nil {
			return failed(ocfErrGeneric, "%s; bring %s up: %v", what, name, err)
		}
		what += fmt.Sprintf("; %s brought up", name)
	}
	if r.spec.Is6() && !r.spec.NoDAD {
		if o, ok := r.waitDAD(ctx, t); !ok {
			return o
		}
	}
	if strings.HasPrefix(name, "lo") {
		// As IPaddr2: nobody to tell on a loopback interface.
		return succeeded("%s", what)
	}
	// The first round at once, so that when start returns the network
	// already knows; the repeats (for lost frames, and receivers that
	// ignore updates within a second of the last) in the background, so
	// that the group's next resource, the service, starts without waiting
	// the second they span. IPaddr2 sends in the background too.
	if err := r.announce(ctx, name, 1, 0); err != nil {
		// The address is up: IPaddr2 logs such an error and succeeds.
		r.log.Warn("address not announced", "address", r.spec.IP, "interface", name, "err", err)
		return succeeded("%s; not announced: %v", what, err)
	}
	if n := r.spec.ArpCount - 1; n > 0 {
		r.background(name, r.spec.ArpInterval, n, r.spec.ArpInterval)
	}
	return succeeded("%s; announced", what)
}

// announce sends count rounds interval apart on the interface name.
func (r *Resource) announce(ctx context.Context, name string, count int, interval time.Duration) error {
	if r.spec.Is6() {
		return announce.Advertise(ctx, name, r.spec.IP, count, interval)
	}
	return announce.GratuitousOn(ctx, name, r.spec.IP, count, interval)
}

// background announces count rounds interval apart, the first after
// first, until the rounds are done, the address is gone or
// endAnnouncements.
func (r *Resource) background(name string, first time.Duration, count int, interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r.mu.Lock()
	r.bgCancel, r.bgDone = cancel, done
	r.mu.Unlock()
	// finish ends this round of announcements; when it ends by itself,
	// the next monitor may refresh again.
	finish := func() {
		cancel()
		r.mu.Lock()
		if r.bgDone == done {
			r.bgCancel, r.bgDone = nil, nil
		}
		r.mu.Unlock()
		close(done)
	}
	err := r.spawn(func() {
		defer finish()
		t := time.NewTimer(first)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := r.announce(ctx, name, count, interval)
		if err != nil && ctx.Err() == nil && !errors.Is(err, announce.ErrNotHeld) {
			r.log.Warn("address announcement", "address", r.spec.IP, "interface", name, "err", err)
		}
	})
	if err != nil {
		finish()
		r.log.Warn("address announcement", "address", r.spec.IP, "interface", name, "err", err)
	}
}

// bgWait bounds the wait for background announcements to end once
// cancelled: a round in flight is one write with a 2s deadline.
const bgWait = 3 * time.Second

// endAnnouncements ends the background announcements and waits for them
// (until ctx ends, at most bgWait), so that nothing announces an address
// once stop has returned.
func (r *Resource) endAnnouncements(ctx context.Context) {
	r.mu.Lock()
	cancel, done := r.bgCancel, r.bgDone
	r.bgCancel, r.bgDone = nil, nil
	r.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	t := time.NewTimer(bgWait)
	defer t.Stop()
	select {
	case <-done:
	case <-ctx.Done():
		r.log.Warn("background announcements not over at the deadline", "address", r.spec.IP)
	case <-t.C:
		r.log.Warn("background announcements did not end", "address", r.spec.IP, "waited", bgWait)
	}
}

// dadPoll is how often start looks whether duplicate address detection
// has ended (it takes about a second: one probe, a retransmission timer).
const dadPoll = 20 * time.Millisecond

// waitDAD waits, until ctx ends, for the IPv6 address to leave the
// tentative state; ok is false with the outcome when it cannot be used.
func (r *Resource) waitDAD(ctx context.Context, t target) (outcome, bool) {
	name := t.link.Attrs().Name
	tick := time.NewTicker(dadPoll)
	defer tick.Stop()
	for {
		a, err := r.present(t.link, t.prefix)
		switch {
		case err != nil:
			return failed(ocfErrGeneric, "%v", err), false
		case a == nil:
			return failed(ocfErrGeneric, "%s/%d left %s during duplicate address detection", r.spec.IP, t.prefix, name), false
		case a.Flags&unix.IFA_F_DADFAILED != 0:
			// As IPaddr2: an address another node holds is removed.
			r.log.Error("IPv6 address collision (duplicate address detection)", "address", r.spec.IP, "interface", name)
			if err := netlink.AddrDel(t.link, a); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
				return failed(ocfErrGeneric, "%s: duplicate address detected on %s; remove it: %v", r.spec.IP, name, err), false
			}
			return failed(ocfErrGeneric, "%s: duplicate address detected on %s (another node holds it): removed", r.spec.IP, name), false
		case a.Flags&unix.IFA_F_TENTATIVE == 0:
			return outcome{}, true
		}
		select {
		case <-ctx.Done():
			return failed(ocfErrGeneric, "%s on %s: duplicate address detection not over: %v", r.spec.IP, name, ctx.Err()), false
		case <-tick.C:
		}
	}
}

func (r *Resource) monitor() outcome {
	t, err := place(r.spec)
	if err != nil {
		// As IPaddr2's probe: what cannot be placed is not running.
		return outcome{resource.Stopped, ocfNotRunning, err.Error()}
	}
	name := t.link.Attrs().Name
	a, err := r.present(t.link, t.prefix)
	switch {
	case err != nil:
		return failed(ocfErrGeneric, "%v", err)
	case a == nil:
		return outcome{resource.Stopped, ocfNotRunning, fmt.Sprintf("%s/%d not on %s", r.spec.IP, t.prefix, name)}
	case a.Flags&unix.IFA_F_DADFAILED != 0:
		return failed(ocfErrGeneric, "%s/%d on %s failed duplicate address detection", r.spec.IP, t.prefix, name)
	}
	flags := t.link.Attrs().RawFlags
	if flags&unix.IFF_UP == 0 || flags&unix.IFF_LOWER_UP == 0 {
		return failed(ocfErrGeneric, "%s/%d on %s, but %s is down (%s)", r.spec.IP, t.prefix, name, name, t.link.Attrs().OperState)
	}
	if n := r.spec.ArpCountRefresh; n > 0 && !strings.HasPrefix(name, "lo") {
		r.mu.Lock()
		idle := r.bgCancel == nil
		r.mu.Unlock()
		if idle {
			r.background(name, 0, n, r.spec.ArpInterval)
		}
	}
	return outcome{resource.Running, ocfSuccess, fmt.Sprintf("%s/%d on %s", r.spec.IP, t.prefix, name)}
}

func (r *Resource) stop(ctx context.Context) outcome {
	r.endAnnouncements(ctx)
	t, err := place(r.spec)
	if err != nil {
		// As IPaddr2: an address that cannot be placed is not there.
		r.log.Debug("address not resolved at stop", "address", r.spec.IP, "err", err)
		return succeeded("%v: nothing to remove", err)
	}
	name := t.link.Attrs().Name
	a, err := r.present(t.link, t.prefix)
	switch {
	case err != nil:
		return failed(ocfErrGeneric, "%v", err)
	case a == nil:
		return succeeded("%s/%d not on %s", r.spec.IP, t.prefix, name)
	}
	if err := netlink.AddrDel(t.link, a); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
		return failed(ocfErrGeneric, "remove %s/%d from %s: %v", r.spec.IP, t.prefix, name, err)
	}
	r.log.Debug("address removed", "address", fmt.Sprintf("%s/%d", r.spec.IP, t.prefix), "interface", name)
	return succeeded("removed %s/%d from %s", r.spec.IP, t.prefix, name)
}

// newAddr is the address start adds.
func (r *Resource) newAddr(t target) (*netlink.Addr, error) {
	s := r.spec
	bits := 32
	if s.Is6() {
		bits = 128
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: s.IP.AsSlice(), Mask: net.CIDRMask(t.prefix, bits)}}
	if s.NoDAD {
		a.Flags |= unix.IFA_F_NODAD
	}
	if s.NoPrefixRoute {
		a.Flags |= unix.IFA_F_NOPREFIXROUTE
	}
	if s.Is6() {
		if s.PreferredLft != addrspec.Forever {
			// Both lifetimes go together; the valid one stays forever.
			a.PreferedLft, a.ValidLft = s.PreferredLft, math.MaxUint32
		}
		return a, nil
	}
	// netlink computes a broadcast when given none: the zero address
	// says none, as IPaddr2 adds the address without brd.
	a.Broadcast = net.IPv4zero
	if t.broadcast.IsValid() {
		a.Broadcast = t.broadcast.AsSlice()
	}
	name := t.link.Attrs().Name
	switch {
	case s.Label != "":
		a.Label = s.FullLabel(name)
	case s.AliasLabel:
		label, err := r.aliasLabel(t.link)
		if err != nil {
			return nil, err
		}
		a.Label = label
	}
	if err := addrspec.CheckLabel(a.Label); err != nil {
		return nil, fmt.Errorf("iflabel: %w", err)
	}
	return a, nil
}

// maxAlias bounds the alias numbers tried, as IPaddr's 512.
const maxAlias = 512

// aliasLabel is IPaddr's label: NIC:N, N the lowest number no IPv4
// address of the interface is labelled with.
func (r *Resource) aliasLabel(link netlink.Link) (string, error) {
	addrs, err := addrList(link, netlink.FAMILY_V4)
	if err != nil {
		return "", err
	}
	used := map[string]bool{}
	for _, a := range addrs {
		used[a.Label] = true
	}
	name := link.Attrs().Name
	for n := range maxAlias {
		if l := fmt.Sprintf("%s:%d", name, n); !used[l] {
			return l, nil
		}
	}
	return "", fmt.Errorf("no free alias label on %s (%s:0 to %s:%d are used)", name, name, name, maxAlias-1)
}

// describe prints an address as ip addr does: 10.0.0.1/24 brd
// 10.0.0.255 label eth0:web.
func describe(a *netlink.Addr) string {
	s := a.IPNet.String()
	if a.Broadcast != nil && !a.Broadcast.Equal(net.IPv4zero) {
		s += " brd " + a.Broadcast.String()
	}
	if a.Label != "" {
		s += " label " + a.Label
	}
	return s
}
