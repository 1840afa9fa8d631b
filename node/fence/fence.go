// Package fence drives fencing (STONITH) devices: it powers a node off, or
// resets it, so that the assumption that it is dead is safe before its
// resource groups start elsewhere. Three kinds of device:
//
//   - cluster-glue STONITH plugins, through Debian's `stonith` command
//     (Heartbeat's `stonith` and `stonith_host` directives): `stonith -t
//     TYPE -p PARAMS -T reset NODE`, `-S` for the device's status, `-l`
//     for the nodes it controls;
//   - fence-agents programs (fence_ipmilan, fence_virsh, ...): options as
//     key=value lines on standard input, action off/reboot/status/monitor,
//     exit code 0 for success;
//   - any executable called as `PATH ARGS... ACTION NODE` (monitor for the
//     device check).
//
// Every run has a timeout that kills its whole process group.
package fence

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/procrun"
)

// Action is what is done to the node fenced.
type Action string

const (
	// Off powers the node off: it stays down until someone acts.
	Off Action = "off"
	// Reboot resets it: it comes back, with a new generation.
	Reboot Action = "reboot"
)

// Device is a configured fencing device.
type Device struct {
	// Name identifies it in logs and status.
	Name string
	// RunOn are the nodes that may use it; empty: any.
	RunOn []string
	// Targets are the nodes it can fence; empty: any (a STONITH plugin
	// is asked with -l when empty).
	Targets []string
	kind    *messages.FenceDevice
	// StonithBin is the `stonith` command.
	StonithBin string
	// Timeout bounds each run.
	Timeout time.Duration
}

// DefaultTimeout bounds a fencing operation.
const DefaultTimeout = 60 * time.Second

// New returns the driver of a configured device.
func New(d *messages.FenceDevice) (*Device, error) {
	dev := &Device{Name: d.Name, kind: d, StonithBin: "stonith", Timeout: DefaultTimeout}
	for _, n := range d.RunOn {
		if n != "*" {
			dev.RunOn = append(dev.RunOn, strings.ToLower(n))
		}
	}
	switch k := d.Kind.(type) {
	case *messages.FenceDevice_Stonith:
		if k.Stonith.Type == "" {
			return nil, fmt.Errorf("fence device %s: no STONITH type", d.Name)
		}
	case *messages.FenceDevice_FenceAgent:
		if k.FenceAgent.Agent == "" {
			return nil, fmt.Errorf("fence device %s: no fence agent", d.Name)
		}
		for _, t := range k.FenceAgent.Targets {
			dev.Targets = append(dev.Targets, strings.ToLower(t))
		}
	case *messages.FenceDevice_Script:
		if k.Script.Path == "" {
			return nil, fmt.Errorf("fence device %s: no script path", d.Name)
		}
	default:
		return nil, fmt.Errorf("fence device %s: no kind (stonith, fence_agent or script)", d.Name)
	}
	return dev, nil
}

// Program is the executable the device runs, for checks at start.
func (d *Device) Program() string {
	switch k := d.kind.Kind.(type) {
	case *messages.FenceDevice_Stonith:
		return d.StonithBin
	case *messages.FenceDevice_FenceAgent:
		return k.FenceAgent.Agent
	case *messages.FenceDevice_Script:
		return k.Script.Path
	}
	return ""
}

// UsableFrom says whether node local may use the device.
func (d *Device) UsableFrom(local string) bool {
	if len(d.RunOn) == 0 {
		return true
	}
	for _, n := range d.RunOn {
		if n == local {
			return true
		}
	}
	return false
}

// Controls says whether the device can fence target, by its configured
// targets; a device without a list may (STONITH plugins are asked by
// Hosts).
func (d *Device) Controls(target string) bool {
	if len(d.Targets) == 0 {
		return true
	}
	for _, t := range d.Targets {
		if t == target {
			return true
		}
	}
	return false
}

// Fence powers target off (or resets it).
func (d *Device) Fence(ctx context.Context, target string, action Action) error {
	switch k := d.kind.Kind.(type) {
	case *messages.FenceDevice_Stonith:
		verb := "reset"
		if action == Off {
			verb = "off"
		}
		_, err := d.run(ctx, d.StonithBin, d.stonithArgs(k.Stonith, "-T", verb, target), "")
		return err
	case *messages.FenceDevice_FenceAgent:
		_, err := d.run(ctx, k.FenceAgent.Agent, nil, agentInput(k.FenceAgent, string(action), target))
		return err
	case *messages.FenceDevice_Script:
		_, err := d.run(ctx, k.Script.Path, append(append([]string(nil), k.Script.Args...), string(action), target), "")
		return err
	}
	return errors.New("no device kind")
}

// Check asks the device whether it works (STONITH -S, fence agent
// monitor, script monitor).
func (d *Device) Check(ctx context.Context) error {
	switch k := d.kind.Kind.(type) {
	case *messages.FenceDevice_Stonith:
		_, err := d.run(ctx, d.StonithBin, d.stonithArgs(k.Stonith, "-S"), "")
		return err
	case *messages.FenceDevice_FenceAgent:
		_, err := d.run(ctx, k.FenceAgent.Agent, nil, agentInput(k.FenceAgent, "monitor", ""))
		return err
	case *messages.FenceDevice_Script:
		_, err := d.run(ctx, k.Script.Path, append(append([]string(nil), k.Script.Args...), "monitor"), "")
		return err
	}
	return errors.New("no device kind")
}

// Hosts lists the nodes a STONITH plugin controls (-l); nil for the other
// kinds.
func (d *Device) Hosts(ctx context.Context) ([]string, error) {
	k, ok := d.kind.Kind.(*messages.FenceDevice_Stonith)
	if !ok {
		return nil, nil
	}
	out, err := d.run(ctx, d.StonithBin, d.stonithArgs(k.Stonith, "-l"), "")
	if err != nil {
		return nil, err
	}
	var hosts []string
	for _, f := range strings.Fields(out) {
		hosts = append(hosts, strings.ToLower(f))
	}
	return hosts, nil
}

func (d *Device) stonithArgs(s *messages.StonithPlugin, tail ...string) []string {
	args := []string{"-t", s.Type}
	if s.ConfigFile != "" {
		args = append(args, "-F", s.ConfigFile)
	} else {
		args = append(args, "-p", strings.Join(s.Params, " "))
	}
	return append(args, tail...)
}

// agentInput is a fence agent's standard input: the action, the node
// (plug, and port for older agents) and the device's options.
func agentInput(a *messages.FenceAgent, action, target string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "action=%s\n", action)
	if target != "" {
		fmt.Fprintf(&b, "plug=%s\nport=%s\n", target, target)
	}
	keys := make([]string, 0, len(a.Options))
	for k := range a.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, a.Options[k])
	}
	return b.String()
}

// run runs a device program and returns its output; a non-zero exit is
// an error carrying the last line of the output.
func (d *Device) run(ctx context.Context, bin string, args []string, stdin string) (string, error) {
	r := procrun.Run(ctx, procrun.Spec{
		Path: bin, Args: args, Stdin: stdin, Timeout: d.Timeout,
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "LC_ALL=C"},
	})
	switch {
	case r.Err != nil:
		return r.Output, fmt.Errorf("%s: %w", bin, r.Err)
	case r.ExitCode != 0:
		if msg := procrun.LastLine(r.Output); msg != "" {
			return r.Output, fmt.Errorf("%s: exit %d: %s", bin, r.ExitCode, msg)
		}
		return r.Output, fmt.Errorf("%s: exit %d", bin, r.ExitCode)
	}
	return r.Output, nil
}
