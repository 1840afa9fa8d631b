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
	"github.com/hanode/hanode/node/host/procrun"
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

// Controls says whether the device can fence target by its configured
// targets; a device without a list may. A STONITH plugin (Lists) may
// still not list target among its hosts (Hosts).
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

// Lists says whether the device names the nodes it controls at run time
// (Hosts): a STONITH plugin does; the other kinds control their
// configured targets.
func (d *Device) Lists() bool {
	_, ok := d.kind.Kind.(*messages.FenceDevice_Stonith)
	return ok
}

// Fence powers target off (or resets it).
func (d *Device) Fence(ctx context.Context, target string, action Action) error {
	switch k := d.kind.Kind.(type) {
	case *messages.FenceDevice_Stonith:
		verb := "reset"
		if action == Off {
			verb = "off"
		}
		return d.run(ctx, d.StonithBin, d.stonithArgs(k.Stonith, "-T", verb, target), "")
	case *messages.FenceDevice_FenceAgent:
		return d.run(ctx, k.FenceAgent.Agent, nil, agentInput(k.FenceAgent, string(action), target))
	case *messages.FenceDevice_Script:
		return d.run(ctx, k.Script.Path, append(append([]string(nil), k.Script.Args...), string(action), target), "")
	}
	return errors.New("no device kind")
}

// Check asks the device whether it works (STONITH -S, fence agent
// monitor, script monitor).
func (d *Device) Check(ctx context.Context) error {
	switch k := d.kind.Kind.(type) {
	case *messages.FenceDevice_Stonith:
		return d.run(ctx, d.StonithBin, d.stonithArgs(k.Stonith, "-S"), "")
	case *messages.FenceDevice_FenceAgent:
		return d.run(ctx, k.FenceAgent.Agent, nil, agentInput(k.FenceAgent, "monitor", ""))
	case *messages.FenceDevice_Script:
		return d.run(ctx, k.Script.Path, append(append([]string(nil), k.Script.Args...), "monitor"), "")
	}
	return errors.New("no device kind")
}

// Hosts lists the nodes a STONITH plugin controls (-l); nil for the other
// kinds. The list is read from standard output alone, as cluster-glue's
// stonith prints it (names separated by newlines or blanks), and whole:
// warnings on standard error are not host names, and a plugin listing
// hundreds of VMs must not lose the first ones. A list too long to keep
// whole is an error, not a shorter list.
func (d *Device) Hosts(ctx context.Context) ([]string, error) {
	k, ok := d.kind.Kind.(*messages.FenceDevice_Stonith)
	if !ok {
		return nil, nil
	}
	r, err := d.exec(ctx, d.StonithBin, d.stonithArgs(k.Stonith, "-l"), "", true)
	if err != nil {
		return nil, err
	}
	if r.StdoutTruncated {
		return nil, fmt.Errorf("%s -l: host list longer than %d bytes", d.StonithBin, procrun.MaxStdout)
	}
	hosts := []string{}
	for _, f := range strings.Fields(r.Stdout) {
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

// run runs a device program; a non-zero exit is an error carrying the
// last line of its output.
func (d *Device) run(ctx context.Context, bin string, args []string, stdin string) error {
	_, err := d.exec(ctx, bin, args, stdin, false)
	return err
}

// exec runs a device program, its standard output apart when
// separateStdout (then the error's message is the last line of standard
// error, or of standard output when standard error says nothing).
func (d *Device) exec(ctx context.Context, bin string, args []string, stdin string, separateStdout bool) (procrun.Result, error) {
	r := procrun.Run(ctx, procrun.Spec{
		Path: bin, Args: args, Stdin: stdin, Timeout: d.Timeout, SeparateStdout: separateStdout,
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "LC_ALL=C"},
	})
	switch {
	case r.Err != nil:
		return r, fmt.Errorf("%s: %w", bin, r.Err)
	case r.ExitCode != 0:
		msg := procrun.LastLine(r.Output)
		if msg == "" && separateStdout {
			msg = procrun.LastLine(r.Stdout)
		}
		if msg != "" {
			return r, fmt.Errorf("%s: exit %d: %s", bin, r.ExitCode, msg)
		}
		return r, fmt.Errorf("%s: exit %d", bin, r.ExitCode)
	}
	return r, nil
}
