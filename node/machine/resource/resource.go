// Package resource names what is done to a resource and what came of it:
// the vocabulary shared by the group state machine (node/machine/group),
// which decides, and the agents that carry it out (node/host/agents). It
// is pure (messages and the standard library), so that the machine does
// not import the package that runs programs.
package resource

import (
	"fmt"
	"strings"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/addrspec"
)

// Action is what an agent is asked to do.
type Action string

const (
	Start Action = "start"
	Stop  Action = "stop"
	// Monitor asks whether the resource runs: `status` for Heartbeat and
	// LSB scripts, `monitor` for OCF agents.
	Monitor Action = "monitor"
)

// Outcome is what a run of an agent means.
type Outcome int

const (
	// Succeeded: start or stop did its job.
	Succeeded Outcome = iota
	// Running: monitor found the resource running.
	Running
	// Stopped: monitor found the resource cleanly stopped.
	Stopped
	// Failed: the agent reported an error (or, for monitor, a failed
	// resource).
	Failed
	// TimedOut: the agent did not finish within its timeout and was killed
	// with its process group.
	TimedOut
)

func (o Outcome) String() string {
	return [...]string{"succeeded", "running", "stopped", "failed", "timed out"}[o]
}

// Result is one run of an agent.
type Result struct {
	Action   Action
	Outcome  Outcome
	ExitCode int
	// Output is the end of what the agent printed (stdout and stderr).
	Output   string
	Duration time.Duration
	// Err says why the agent could not run at all.
	Err error
}

// Summary is a one-line description of r.
func (r Result) Summary() string {
	s := fmt.Sprintf("%s %s (exit %d, %v)", r.Action, r.Outcome, r.ExitCode, r.Duration.Round(time.Millisecond))
	if r.Err != nil {
		s += ": " + r.Err.Error()
	} else if last := LastLine(r.Output); last != "" && r.Outcome == Failed {
		s += ": " + last
	}
	return s
}

// LastLine is the last non-empty line of s.
func LastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// ID names a resource: its configured id, else its haresources spelling
// (name::arg1::arg2), ocf:provider:type, or hanode-address::ip/cidr/nic
// for the built-in address.
func ID(r *messages.Resource) string {
	if r.Id != "" {
		return r.Id
	}
	switch a := r.Agent.(type) {
	case *messages.Resource_Heartbeat:
		return strings.Join(append([]string{a.Heartbeat.Name}, a.Heartbeat.Args...), "::")
	case *messages.Resource_Ocf:
		return "ocf:" + a.Ocf.Provider + ":" + a.Ocf.Type
	case *messages.Resource_Address:
		return addrspec.HaresourcesName + "::" + addrspec.Positional(a.Address)
	}
	return "?"
}

// IsAddress says whether r configures a virtual IP address: the built-in
// address resource, or an IPaddr, IPaddr2 or IPv6addr script or OCF
// agent. An address is what a group moves; it cannot be kept running on
// every node (Resource.everywhere).
func IsAddress(r *messages.Resource) bool {
	switch a := r.GetAgent().(type) {
	case *messages.Resource_Address:
		return true
	case *messages.Resource_Heartbeat:
		return addressAgents[a.Heartbeat.GetName()]
	case *messages.Resource_Ocf:
		return addressAgents[a.Ocf.GetType()]
	}
	return false
}

// addressAgents are the scripts and OCF agents of virtual addresses.
var addressAgents = map[string]bool{addrspec.IPaddr: true, addrspec.IPaddr2: true, "IPv6addr": true}
