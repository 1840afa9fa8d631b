package actors

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/sys/unix"
)

// WatchdogConfig describes the watchdog actor.
type WatchdogConfig struct {
	// Device is the watchdog device (/dev/watchdog).
	Device string
	// Interval between pets (the keepalive).
	Interval time.Duration
	// Timeout is asked of the device: it resets the machine when not
	// petted for that long (the deadtime: by then the peers take over).
	Timeout time.Duration
	// Node is asked whether the node is healthy before each pet.
	Node *actor.PID
	Log  *slog.Logger
}

// HealthQuery asks the node actor whether the node works: its keepalive
// ticks and its membership actor answers. It answers *Health.
type HealthQuery struct{}

// Health answers HealthQuery.
type Health struct {
	OK     bool
	Reason string
}

type watchdogTick struct{}

// Watchdog is the actor that keeps a hardware or software watchdog quiet
// while the node is healthy: every interval it asks the node actor, and
// pets the device only on a healthy answer in time. A hung node stops
// petting, and the watchdog resets the machine, so that its peers'
// assumption of its death is safe. A clean stop disarms it (magic close:
// 'V' before closing), so that it does not reset a machine whose node was
// stopped on purpose.
type Watchdog struct {
	cfg    WatchdogConfig
	dev    *os.File
	ticker *Ticker
	unwell bool
}

// NewWatchdog returns a producer of watchdog actors.
func NewWatchdog(cfg WatchdogConfig) actor.Producer {
	return func() actor.Actor { return &Watchdog{cfg: cfg} }
}

// Receive handles the actor's messages.
func (a *Watchdog) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		dev, err := os.OpenFile(a.cfg.Device, os.O_WRONLY, 0)
		if err != nil {
			panic(fmt.Errorf("watchdog %s: %w", a.cfg.Device, err))
		}
		a.dev = dev
		a.setTimeout()
		a.pet()
		a.ticker = Every(ctx.ActorSystem(), a.cfg.Interval, ctx.Self(), &watchdogTick{})
		a.cfg.Log.Info("watchdog armed", "device", a.cfg.Device, "timeout", a.cfg.Timeout)
	case *actor.Restarting:
		// Not disarmed: a restarted actor opens it again at once, and a
		// watchdog that stays armed is the safe side.
		a.ticker.Stop()
		if a.dev != nil {
			a.dev.Close()
		}
	case *actor.Stopping:
		a.ticker.Stop()
		a.disarm()
	case *watchdogTick:
		f := ctx.RequestFuture(a.cfg.Node, &HealthQuery{}, a.cfg.Interval)
		ctx.ReenterAfter(f, func(res any, err error) {
			h, ok := res.(*Health)
			switch {
			case err == nil && ok && h.OK:
				if a.unwell {
					a.cfg.Log.Info("node healthy again: petting the watchdog")
				}
				a.unwell = false
				a.pet()
			case !a.unwell:
				a.unwell = true
				reason := fmt.Sprint(err)
				if ok {
					reason = h.Reason
				}
				a.cfg.Log.Error("node unhealthy: not petting the watchdog", "reason", reason, "resets_in", a.cfg.Timeout)
			}
		})
	}
}

// pet writes one byte: any write restarts the countdown.
func (a *Watchdog) pet() {
	if _, err := a.dev.Write([]byte{0}); err != nil {
		a.cfg.Log.Error("cannot pet the watchdog", "device", a.cfg.Device, "err", err)
	}
}

// disarm is the magic close: 'V', then close.
func (a *Watchdog) disarm() {
	if a.dev == nil {
		return
	}
	if _, err := a.dev.Write([]byte("V")); err != nil {
		a.cfg.Log.Error("watchdog magic close failed: it may reset the machine", "err", err)
	}
	a.dev.Close()
	a.dev = nil
	a.cfg.Log.Info("watchdog disarmed", "device", a.cfg.Device)
}

// setTimeout asks the device for the timeout; a device without the ioctl
// (or one that refuses it) keeps its own, which is logged.
func (a *Watchdog) setTimeout() {
	secs := int((a.cfg.Timeout + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	err := unix.IoctlSetPointerInt(int(a.dev.Fd()), unix.WDIOC_SETTIMEOUT, secs)
	switch {
	case err == nil:
	case errors.Is(err, syscall.ENOTTY), errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.EOPNOTSUPP):
		a.cfg.Log.Warn("watchdog keeps its own timeout", "device", a.cfg.Device, "wanted", secs, "err", err)
	default:
		a.cfg.Log.Warn("cannot set the watchdog timeout", "device", a.cfg.Device, "err", err)
	}
}
