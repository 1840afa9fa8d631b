package agents

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
	"github.com/hanode/hanode/messages"
)

func address(a *messages.AddressAgent) *messages.Resource {
	return &messages.Resource{Agent: &messages.Resource_Address{Address: a}}
}

// The built-in address resolves to an agent of its own class, with no
// program; a bad parameter is an error naming the resource and field.
func TestBuiltinAddressResolves(t *testing.T) {
	a, err := Resolve(address(&messages.AddressAgent{Ip: "10.201.0.100", CidrNetmask: "24"}), testDirs(t), Env{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Class != Builtin || a.Class.String() != "builtin" || a.Path != BuiltinAddress || a.ID != "hanode-address::10.201.0.100/24" {
		t.Errorf("agent %+v", a)
	}
	_, err = Resolve(address(&messages.AddressAgent{Ip: "10.201.0.100", CidrNetmask: "40"}), testDirs(t), Env{})
	if err == nil || !strings.Contains(err.Error(), `hanode-address::10.201.0.100/40: cidr_netmask: "40"`) {
		t.Errorf("bad netmask: %v", err)
	}
}

// Agent.Run runs the built-in address: start, monitor, stop on a test
// host, with OCF's exit statuses.
func TestBuiltinAddressRuns(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 1})
	h := lab.Host(1)
	// One announcement: none is left to a background goroutine, which
	// would not run in the host's namespace.
	one := uint32(1)
	a, err := Resolve(address(&messages.AddressAgent{Ip: "10.201.0.100", ArpCount: &one}), testDirs(t), Env{})
	if err != nil {
		t.Fatal(err)
	}
	// What it logs goes to the node's logger, given once the node starts.
	var logged strings.Builder
	a.UseLog(slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})))
	for _, step := range []struct {
		action Action
		want   Outcome
		code   int
	}{{Monitor, Stopped, 7}, {Start, Succeeded, 0}, {Monitor, Running, 0}, {Stop, Succeeded, 0}, {Monitor, Stopped, 7}} {
		done := make(chan Result, 1)
		if err := h.InNetns(func() { done <- a.Run(context.Background(), step.action, 5*time.Second) }); err != nil {
			t.Fatal(err)
		}
		if res := <-done; res.Outcome != step.want || res.ExitCode != step.code {
			t.Fatalf("%s: %s, exit %d (%s), want %s, exit %d", step.action, res.Outcome, res.ExitCode, res.Output, step.want, step.code)
		}
	}
	if out := logged.String(); !strings.Contains(out, "address added") || !strings.Contains(out, "resource=hanode-address::10.201.0.100") {
		t.Fatalf("the built-in address did not log to the logger it was given:\n%s", out)
	}
}
