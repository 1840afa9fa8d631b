package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/fence"
	"github.com/hanode/hanode/node/metrics"
)

// FenceDriver carries out a device's operations: *fence.Device runs its
// program; the whole-cluster simulation has fake ones.
type FenceDriver interface {
	Fence(ctx context.Context, target string, action fence.Action) error
	Check(ctx context.Context) error
	Hosts(ctx context.Context) ([]string, error)
}

// FenceDeviceState is a fencing device and its last check. It lives in the
// node; the placement actor reads it to choose devices, status to show it.
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
	hosts   []string
}

// NewFenceDeviceState wraps a device not checked yet.
func NewFenceDeviceState(d *fence.Device) *FenceDeviceState { return &FenceDeviceState{Device: d} }

func (s *FenceDeviceState) driver() FenceDriver {
	if s.Driver != nil {
		return s.Driver
	}
	return s.Device
}

// Controls says whether the device can fence target: its configured
// targets, or the hosts a STONITH plugin listed at its last check.
func (s *FenceDeviceState) Controls(target string) bool {
	if !s.Device.Controls(target) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hosts) == 0 {
		return true
	}
	for _, h := range s.hosts {
		if h == target {
			return true
		}
	}
	return false
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

// FenceRequest asks a fence device actor to fence Target; it answers the
// sender with *FenceOutcome.
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
	err   error
	hosts []string
	at    time.Time
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
		if m.hosts != nil {
			a.st.hosts = m.hosts
		}
		a.st.mu.Unlock()
		if m.err != nil {
			a.log.Error("fencing device failed its check: it may not be able to fence", "err", m.err)
		} else {
			a.log.Info("fencing device checked", "controls", m.hosts)
		}
	case *FenceRequest:
		replyTo, sys, d, drv := ctx.Sender(), ctx.ActorSystem(), a.st.Device, a.st.driver()
		a.log.Warn("fencing", "target", m.Target, "action", string(m.Action))
		go func() {
			start := time.Now()
			err := drv.Fence(context.Background(), m.Target, m.Action)
			a.log.Info("fencing done", "target", m.Target, "err", err, "took", time.Since(start).Round(time.Millisecond))
			a.st.Metrics.FenceOp(d.Name, m.Target, err)
			if replyTo != nil {
				sys.Root.Send(replyTo, &FenceOutcome{Target: m.Target, Device: d.Name, Err: err})
			}
		}()
	}
}

func (a *FenceDevice) check(ctx actor.Context) {
	self, sys, d := ctx.Self(), ctx.ActorSystem(), a.st.driver()
	go func() {
		err := d.Check(context.Background())
		var hosts []string
		if err == nil {
			var herr error
			if hosts, herr = d.Hosts(context.Background()); herr != nil {
				err = fmt.Errorf("listing its hosts: %w", herr)
			}
		}
		sys.Root.Send(self, &fenceChecked{err: err, hosts: hosts, at: time.Now()})
	}()
}

// fenceJob is fencing one node: the devices to try, in order.
type fenceJob struct {
	devices []*FenceDeviceState
	next    int
	errs    []error
}

// startFencing begins fencing target with the devices this node may use
// that control it, one after the other until one succeeds.
func (a *Placement) startFencing(ctx actor.Context, target string) {
	job := &fenceJob{}
	for _, d := range a.st.Devices {
		if d.Device.UsableFrom(a.st.Local) && d.Controls(target) && d.PID != nil {
			job.devices = append(job.devices, d)
		}
	}
	a.st.fenceJobs[target] = job
	a.nextDevice(ctx, target, job)
}

func (a *Placement) nextDevice(ctx actor.Context, target string, job *fenceJob) {
	if len(job.devices) == 0 {
		// No device controls this node: as Heartbeat does without a
		// device, its groups are taken over without fencing, loudly.
		delete(a.st.fenceJobs, target)
		a.log.Warn("no fencing device can fence this node: taking its groups over unfenced", "target", target)
		a.apply(ctx, a.st.Machine.FenceResult(a.now(), target, "none (no device controls it)", nil))
		return
	}
	if job.next >= len(job.devices) {
		delete(a.st.fenceJobs, target)
		a.apply(ctx, a.st.Machine.FenceResult(a.now(), target, "", errors.Join(job.errs...)))
		return
	}
	d := job.devices[job.next]
	job.next++
	ctx.Request(d.PID, &FenceRequest{Target: target, Action: fence.Reboot})
}

func (a *Placement) fenceOutcome(ctx actor.Context, m *FenceOutcome) {
	job := a.st.fenceJobs[m.Target]
	if job == nil {
		return
	}
	if m.Err == nil {
		delete(a.st.fenceJobs, m.Target)
		a.apply(ctx, a.st.Machine.FenceResult(a.now(), m.Target, m.Device, nil))
		return
	}
	job.errs = append(job.errs, fmt.Errorf("%s: %w", m.Device, m.Err))
	a.nextDevice(ctx, m.Target, job)
}
