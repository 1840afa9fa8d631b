package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/host/fence"
	"github.com/hanode/hanode/node/machine/placement"
	"github.com/hanode/hanode/node/ops/metrics"
)

// FenceDriver carries out a device's operations: *fence.Device runs its
// program; the whole-cluster simulation has fake ones.
type FenceDriver interface {
	Fence(ctx context.Context, target string, action fence.Action) error
	Check(ctx context.Context) error
	Hosts(ctx context.Context) ([]string, error)
}

// FenceDeviceState is a fencing device and its last check. It lives in the
// node; the placement actor finds in it the actor of the device a fencing
// order names, status shows it.
type FenceDeviceState struct {
	Device *fence.Device
	// Driver carries out its operations; nil: Device itself.
	Driver FenceDriver
	// PID is the device's actor, set when it is spawned.
	PID *actor.PID
	// Metrics counts fencing operations; may be nil.
	Metrics *metrics.Metrics

	mu      sync.Mutex
	checked time.Time
	ok      bool
	detail  string
	// hosts are what a device that lists them (fence.Device.Lists) said
	// it controls at its last successful listing (listed).
	hosts  []string
	listed bool
}

// NewFenceDeviceState wraps a device not checked yet.
func NewFenceDeviceState(d *fence.Device) *FenceDeviceState { return &FenceDeviceState{Device: d} }

func (s *FenceDeviceState) driver() FenceDriver {
	if s.Driver != nil {
		return s.Driver
	}
	return s.Device
}

// setHosts records a successful listing.
func (s *FenceDeviceState) setHosts(hosts []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hosts, s.listed = hosts, true
}

// listedHost says whether the last successful listing named target.
func (s *FenceDeviceState) listedHost(target string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listed && slices.Contains(s.hosts, target)
}

// mayFence makes sure, before fencing target, that the device controls
// it. A device that lists its hosts is asked again unless its last list
// named target: the list may be unknown (the device failed its check) or
// old (a VM added since). Not listed, or not known to be, the device
// cannot fence target: an error, never a reason to go on without fencing.
func (s *FenceDeviceState) mayFence(ctx context.Context, target string) error {
	if !s.Device.Lists() || s.listedHost(target) {
		return nil
	}
	hosts, err := s.driver().Hosts(ctx)
	if err != nil {
		return fmt.Errorf("cannot list the nodes it controls: %w", err)
	}
	s.setHosts(hosts)
	if !slices.Contains(hosts, target) {
		return fmt.Errorf("%s is not among the %d nodes it lists", target, len(hosts))
	}
	return nil
}

// Status describes the device for status.
func (s *FenceDeviceState) Status() *messages.FenceDeviceState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &messages.FenceDeviceState{Name: s.Device.Name, Ok: s.ok, Detail: s.detail}
	if !s.checked.IsZero() {
		st.Checked = timestamppb.New(s.checked)
	}
	return st
}

// FenceRequest asks a fence device actor to fence Target (one attempt of
// a placement.FenceOrder); it answers the sender with *FenceOutcome.
type FenceRequest struct {
	Target string
	Action fence.Action
}

func (m *FenceRequest) TraceSummary() string { return string(m.Action) + " " + m.Target }

// FenceOutcome answers FenceRequest.
type FenceOutcome struct {
	Target string
	Device string
	Err    error
}

func (m *FenceOutcome) TraceSummary() string {
	if m.Err != nil {
		return fmt.Sprintf("%s by %s failed: %v", m.Target, m.Device, m.Err)
	}
	return m.Target + " fenced by " + m.Device
}

type fenceCheckTick struct{}

type fenceChecked struct {
	err error
	// hosts are the nodes the device listed, when it lists them and
	// could (listed).
	hosts  []string
	listed bool
	at     time.Time
}

// FenceCheckInterval is how often devices are checked (Heartbeat: hourly).
const FenceCheckInterval = time.Hour

// FenceDevice is the actor of one fencing device: it checks the device at
// start and every FenceCheckInterval, and fences on request, off the
// actor's goroutine.
type FenceDevice struct {
	st     *FenceDeviceState
	log    *slog.Logger
	ticker *Ticker
}

// NewFenceDevice returns a producer of device actors sharing st.
func NewFenceDevice(st *FenceDeviceState, log *slog.Logger) actor.Producer {
	return func() actor.Actor { return &FenceDevice{st: st, log: log.With("fence_device", st.Device.Name)} }
}

// Receive handles the actor's messages.
func (a *FenceDevice) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.check(ctx)
		a.ticker = Every(ctx.ActorSystem(), FenceCheckInterval, ctx.Self(), &fenceCheckTick{})
	case *actor.Restarting, *actor.Stopping:
		a.ticker.Stop()
	case *fenceCheckTick:
		a.check(ctx)
	case *fenceChecked:
		a.st.mu.Lock()
		a.st.checked, a.st.ok = m.at, m.err == nil
		a.st.detail = ""
		if m.err != nil {
			a.st.detail = m.err.Error()
		}
		if m.listed {
			a.st.hosts, a.st.listed = m.hosts, true
		}
		a.st.mu.Unlock()
		if m.err != nil {
			a.log.Error("fencing device failed its check: it may not be able to fence", "err", m.err)
		} else if m.listed {
			a.log.Info("fencing device checked", "lists", m.hosts)
		} else if len(a.st.Device.Targets) > 0 {
			a.log.Info("fencing device checked", "targets", a.st.Device.Targets)
		} else {
			a.log.Info("fencing device checked", "targets", "any node")
		}
	case *FenceRequest:
		replyTo, sys, d, drv, st := ctx.Sender(), ctx.ActorSystem(), a.st.Device, a.st.driver(), a.st
		a.log.Warn("fencing", "target", m.Target, "action", string(m.Action))
		go func() {
			start := time.Now()
			err := st.mayFence(context.Background(), m.Target)
			if err == nil {
				err = drv.Fence(context.Background(), m.Target, m.Action)
			}
			a.log.Info("fencing done", "target", m.Target, "err", err, "took", time.Since(start).Round(time.Millisecond))
			a.st.Metrics.FenceOp(d.Name, m.Target, err)
			if replyTo != nil {
				sys.Root.Send(replyTo, &FenceOutcome{Target: m.Target, Device: d.Name, Err: err})
			}
		}()
	}
}

func (a *FenceDevice) check(ctx actor.Context) {
	self, sys, d, lists := ctx.Self(), ctx.ActorSystem(), a.st.driver(), a.st.Device.Lists()
	go func() {
		m := &fenceChecked{err: d.Check(context.Background())}
		if m.err == nil && lists {
			var herr error
			if m.hosts, herr = d.Hosts(context.Background()); herr != nil {
				m.err = fmt.Errorf("listing its hosts: %w", herr)
			} else {
				m.listed = true
			}
		}
		m.at = time.Now()
		sys.Root.Send(self, m)
	}()
}

// fence carries out a fencing order of the machine: one attempt with
// one device, whose outcome (FenceOutcome) goes back to the machine.
func (a *Placement) fence(ctx actor.Context, o placement.FenceOrder) {
	for _, d := range a.st.Devices {
		if d.Device.Name == o.Device && d.PID != nil {
			ctx.Request(d.PID, &FenceRequest{Target: o.Target, Action: fence.Reboot})
			return
		}
	}
	a.apply(ctx, a.st.Machine.FenceResult(a.now(), o.Target, o.Device, errors.New("no such fencing device running here")))
}

// PlacementDevices describes the fencing devices for the placement
// machine (Config.Devices), in configuration order.
func PlacementDevices(devices []*FenceDeviceState) []placement.FenceDevice {
	var out []placement.FenceDevice
	for _, st := range devices {
		d := st.Device
		out = append(out, placement.FenceDevice{Name: d.Name, RunOn: d.RunOn, Targets: d.Targets})
	}
	return out
}
