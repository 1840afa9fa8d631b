package node

import (
	"errors"
	"fmt"
	"os/exec"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/actors"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/host/fence"
)

// ResolveFence builds the drivers of the fencing devices and checks that
// their programs exist (cluster-glue's stonith, the fence agent, the
// script). Errors name the line or field that configured the device.
func ResolveFence(cfg *config.Effective) ([]*fence.Device, error) {
	var errs []error
	var out []*fence.Device
	for _, spec := range cfg.FenceDevices {
		d, err := fence.New(spec.FenceDevice)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", spec.Where, err))
			continue
		}
		if _, err := exec.LookPath(d.Program()); err != nil {
			errs = append(errs, fmt.Errorf("%s: fence device %s: cannot run %s: %v", spec.Where, d.Name, d.Program(), unwrapExec(err)))
			continue
		}
		out = append(out, d)
	}
	return out, errors.Join(errs...)
}

// Unfenceable lists the nodes no device can fence by its configured
// targets (STONITH plugins, which list their hosts at run time, count as
// able): when one of them dies, fencing it fails, and the groups it held
// stay stopped until an operator confirms it is off (UnfenceableWarning).
// Without any device, nothing is fenced and the list is empty.
func Unfenceable(cfg *config.Effective, devices []*fence.Device) []string {
	if len(devices) == 0 {
		return nil
	}
	var out []string
	for _, n := range cfg.Nodes {
		covered := false
		for _, d := range devices {
			covered = covered || d.Controls(n)
		}
		if !covered {
			out = append(out, n)
		}
	}
	return out
}

// UnfenceableWarning says what follows for a node listed by Unfenceable.
func UnfenceableWarning(n string) string {
	return fmt.Sprintf("no fencing device can fence %s: if it dies, its groups stay stopped until an operator confirms it is off (hanode fenced %s)", n, n)
}

func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// fencers are the nodes that may use at least one device.
func fencers(cfg *config.Effective, devices []*fence.Device) []string {
	var out []string
	for _, n := range cfg.Nodes {
		for _, d := range devices {
			if d.UsableFrom(n) {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// startFenceDevices spawns one actor per fencing device, before the
// placement actor, which is given their PIDs.
func (a *nodeActor) startFenceDevices(ctx actor.Context) {
	a.fenceDevices = nil
	for _, fc := range a.rt.fenceDevices {
		pid := a.spawn(ctx, actors.KindFenceDevice, actors.NewFenceDevice(fc), "fence-"+unsafeActorName.ReplaceAllString(fc.Device.Name, "_"))
		a.fenceDevices = append(a.fenceDevices, actors.FenceDeviceSource{Name: fc.Device.Name, PID: pid})
	}
}
