package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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

// FenceDeviceConfig is what a fence device actor is built with.
type FenceDeviceConfig struct {
	Device *fence.Device
	// Driver carries out its operations; nil: Device itself.
	Driver FenceDriver
	// Metrics counts fencing operations; may be nil.
	Metrics *metrics.Metrics
	Log     *slog.Logger
}

// DeviceChecked reports a device's check to the device actor's
// subscribers (Subscribe: the placement actor), after each check, after a
// new listing of its hosts, and to a new subscriber. Sent by the fence device actor.
type DeviceChecked struct {
	Name   string
	Ok     bool
	Detail string
	At     time.Time
	// Hosts are the nodes a device that lists them (fence.Device.Lists)
	// said it controls at its last successful listing (Listed).
	Hosts  []string
	Listed bool
}

func (m *DeviceChecked) TraceSummary() string {
	if !m.Ok {
		return m.Name + " failed its check: " + m.Detail
	}
	return m.Name + " checked"
}

// Status describes the check for status.
func (m *DeviceChecked) Status() *messages.FenceDeviceState {
	st := &messages.FenceDeviceState{Name: m.Name, Ok: m.Ok, Detail: m.Detail}
	if !m.At.IsZero() {
		st.Checked = timestamppb.New(m.At)
	}
	return st
}

// FenceDeviceQuery asks a fence device actor for its state; it answers
// *messages.FenceDeviceState.
type FenceDeviceQuery struct{}

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

// fenceListed carries a listing made before fencing back to the device
// actor.
type fenceListed struct{ hosts []string }

// FenceCheckInterval is how often devices are checked (Heartbeat: hourly).
const FenceCheckInterval = time.Hour

// FenceDevice is the actor of one fencing device: it checks the device at
// start and every FenceCheckInterval, reports each check to its
// subscribers, and fences on request, off the actor's goroutine. It owns
// the device's last check and host list: a restarted actor checks again.
type FenceDevice struct {
	cfg    FenceDeviceConfig
	log    *slog.Logger
	ticker *Ticker
	last   DeviceChecked
	// subscribers outlive a restart (the producer keeps them): they
	// subscribed to the PID, which stays.
	subscribers *[]*actor.PID
}

// NewFenceDevice returns a producer of the actor of one device.
func NewFenceDevice(cfg FenceDeviceConfig) actor.Producer {
	if cfg.Driver == nil {
		cfg.Driver = cfg.Device
	}
	var subscribers []*actor.PID
	return func() actor.Actor {
		return &FenceDevice{cfg: cfg, log: cfg.Log.With("fence_device", cfg.Device.Name), last: DeviceChecked{Name: cfg.Device.Name},
			subscribers: &subscribers}
	}
}

// Receive handles the actor's messages.
func (a *FenceDevice) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.check(ctx)
		a.ticker = Every(ctx.ActorSystem(), FenceCheckInterval, ctx.Self(), &fenceCheckTick{})
	case *actor.Restarting, *actor.Stopping:
		a.ticker.Stop()
	case *Subscribe:
		if m.PID != nil && !slices.ContainsFunc(*a.subscribers, m.PID.Equal) {
			*a.subscribers = append(*a.subscribers, m.PID)
			if !a.last.At.IsZero() {
				ctx.Send(m.PID, a.report())
			}
		}
	case *FenceDeviceQuery:
		ctx.Respond(a.last.Status())
	case *fenceCheckTick:
		a.check(ctx)
	case *fenceChecked:
		a.last.At, a.last.Ok, a.last.Detail = m.at, m.err == nil, ""
		if m.err != nil {
			a.last.Detail = m.err.Error()
		}
		if m.listed {
			a.last.Hosts, a.last.Listed = m.hosts, true
		}
		if m.err != nil {
			a.log.Error("fencing device failed its check: it may not be able to fence", "err", m.err)
		} else if m.listed {
			a.log.Info("fencing device checked", "lists", m.hosts)
		} else if len(a.cfg.Device.Targets) > 0 {
			a.log.Info("fencing device checked", "targets", a.cfg.Device.Targets)
		} else {
			a.log.Info("fencing device checked", "targets", "any node")
		}
		a.publish(ctx)
	case *fenceListed:
		a.last.Hosts, a.last.Listed = m.hosts, true
		if !a.last.At.IsZero() {
			a.publish(ctx)
		}
	case *FenceRequest:
		replyTo, self, sys, cfg := ctx.Sender(), ctx.Self(), ctx.ActorSystem(), a.cfg
		known := a.last.Listed && slices.Contains(a.last.Hosts, m.Target)
		a.log.Warn("fencing", "target", m.Target, "action", string(m.Action))
		log := a.log
		go func() {
			start := time.Now()
			err := mayFence(context.Background(), cfg, known, m.Target, func(hosts []string) {
				sys.Root.Send(self, &fenceListed{hosts: hosts})
			})
			if err == nil {
				err = cfg.Driver.Fence(context.Background(), m.Target, m.Action)
			}
			log.Info("fencing done", "target", m.Target, "err", err, "took", time.Since(start).Round(time.Millisecond))
			cfg.Metrics.FenceOp(cfg.Device.Name, m.Target, err)
			if replyTo != nil {
				sys.Root.Send(replyTo, &FenceOutcome{Target: m.Target, Device: cfg.Device.Name, Err: err})
			}
		}()
	}
}

// report is the last check, as sent to subscribers.
func (a *FenceDevice) report() *DeviceChecked {
	r := a.last
	r.Hosts = slices.Clone(r.Hosts)
	return &r
}

func (a *FenceDevice) publish(ctx actor.Context) {
	for _, s := range *a.subscribers {
		ctx.Send(s, a.report())
	}
}

// mayFence makes sure, before fencing target, that the device controls
// it. A device that lists its hosts is asked again unless its last list
// named target (known): the list may be unknown (the device failed its
// check) or old (a VM added since). Not listed, or not known to be, the
// device cannot fence target: an error, never a reason to go on without
// fencing. A new listing goes to listed.
func mayFence(ctx context.Context, cfg FenceDeviceConfig, known bool, target string, listed func([]string)) error {
	if !cfg.Device.Lists() || known {
		return nil
	}
	hosts, err := cfg.Driver.Hosts(ctx)
	if err != nil {
		return fmt.Errorf("cannot list the nodes it controls: %w", err)
	}
	listed(hosts)
	if !slices.Contains(hosts, target) {
		return fmt.Errorf("%s is not among the %d nodes it lists", target, len(hosts))
	}
	return nil
}

func (a *FenceDevice) check(ctx actor.Context) {
	self, sys, d, lists := ctx.Self(), ctx.ActorSystem(), a.cfg.Driver, a.cfg.Device.Lists()
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
	if pid := a.cfg.Devices[o.Device]; pid != nil {
		if c := a.st.checks[o.Device]; c != nil && !c.Ok {
			a.log.Warn("fencing with a device that failed its last check", "device", o.Device, "target", o.Target, "check", c.Detail)
		}
		ctx.Request(pid, &FenceRequest{Target: o.Target, Action: fence.Reboot})
		return
	}
	a.apply(ctx, a.st.machine.FenceResult(a.now(), o.Target, o.Device, errors.New("no such fencing device running here")))
}

// PlacementDevices describes the fencing devices for the placement
// machine (Config.Devices), in configuration order.
func PlacementDevices(devices []*fence.Device) []placement.FenceDevice {
	var out []placement.FenceDevice
	for _, d := range devices {
		out = append(out, placement.FenceDevice{Name: d.Name, RunOn: d.RunOn, Targets: d.Targets})
	}
	return out
}
