package actors

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/host/fence"
	"github.com/hanode/hanode/node/machine/placement"
)

// fakeDriver is a fencing device that records what it was asked to do and
// fails with err.
type fakeDriver struct {
	mu     sync.Mutex
	err    error
	fenced []string
}

func (d *fakeDriver) Fence(_ context.Context, target string, action fence.Action) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fenced = append(d.fenced, string(action)+" "+target)
	return d.err
}
func (d *fakeDriver) Check(context.Context) error             { return nil }
func (d *fakeDriver) Hosts(context.Context) ([]string, error) { return nil, nil }

func testFenceDevice(t *testing.T, name string, targets ...string) *fence.Device {
	t.Helper()
	d, err := fence.New(&messages.FenceDevice{Name: name, Kind: &messages.FenceDevice_Script{Script: &messages.FenceScript{Path: "/bin/true"}}})
	if err != nil {
		t.Fatal(err)
	}
	d.Targets = targets
	return d
}

// TestFenceDeviceCarriesOutAnOrder: the device actor fences the target it
// is asked to with its driver and answers the asker with the outcome.
func TestFenceDeviceCarriesOutAnOrder(t *testing.T) {
	sys := newTestSystem(t)
	asker := newRecorder(t, sys)
	for _, fail := range []error{nil, errors.New("outlet stuck")} {
		drv := &fakeDriver{err: fail}
		st := &FenceDeviceState{Device: testFenceDevice(t, "pdu"), Driver: drv}
		dev := sys.Root.Spawn(actor.PropsFromProducer(NewFenceDevice(st, slog.New(slog.DiscardHandler))))
		sys.Root.RequestWithCustomSender(dev, &FenceRequest{Target: "n2", Action: fence.Reboot}, asker.pid)
		out, _ := expectMessage[*FenceOutcome](t, asker, nil)
		if out.Target != "n2" || out.Device != "pdu" || !errors.Is(out.Err, fail) {
			t.Fatalf("outcome %+v, want n2 by pdu with error %v", out, fail)
		}
		drv.mu.Lock()
		if !slices.Equal(drv.fenced, []string{"reboot n2"}) {
			t.Fatalf("driver asked %v", drv.fenced)
		}
		drv.mu.Unlock()
		sys.Root.Stop(dev)
	}
}

// TestPlacementCarriesOutFencingOrders: the placement actor sends each
// fencing order of its machine to the device it names, and gives the
// outcome back to the machine, which orders the next device and, once
// one succeeds, tells the cluster.
func TestPlacementCarriesOutFencingOrders(t *testing.T) {
	sys := newTestSystem(t)
	messenger, pdu, ipmi := newRecorder(t, sys), newRecorder(t, sys), newRecorder(t, sys)
	m := placement.New(placement.Config{Local: "n1", Generation: 1, Nodes: []string{"n1", "n2"},
		Groups:  []placement.GroupSpec{{Name: "web", Preferred: "n1"}},
		Devices: []placement.FenceDevice{{Name: "pdu"}, {Name: "n3-only", Targets: []string{"n3"}}, {Name: "ipmi"}}}, time.Now())
	st := NewPlacementState(m, []string{"n2"}, nil)
	st.Local = "n1"
	st.Devices = []*FenceDeviceState{
		{Device: testFenceDevice(t, "pdu"), PID: pdu.pid},
		{Device: testFenceDevice(t, "n3-only", "n3"), PID: ipmi.pid},
		{Device: testFenceDevice(t, "ipmi"), PID: ipmi.pid},
	}
	pl := sys.Root.Spawn(actor.PropsFromProducer(NewPlacement(st, messenger.pid, slog.New(slog.DiscardHandler))))

	// n2 never heard, given up on: it may run web, so it is fenced first.
	sys.Root.Send(pl, &messages.MembershipEvent{Time: timestamppb.Now(), Kind: messages.MembershipEventKind_MEMBERSHIP_EVENT_KIND_NODE_STATUS,
		Node: "n2", Status: messages.NodeStatus_NODE_STATUS_DEAD})
	req, from := expectMessage[*FenceRequest](t, pdu, nil)
	if req.Target != "n2" || req.Action != fence.Reboot || !from.Equal(pl) {
		t.Fatalf("request %+v from %v", req, from)
	}
	sys.Root.Send(pl, &FenceOutcome{Target: "n2", Device: "pdu", Err: errors.New("outlet stuck")})
	if req, _ := expectMessage[*FenceRequest](t, ipmi, nil); req.Target != "n2" {
		t.Fatalf("request to ipmi %+v", req)
	}
	sys.Root.Send(pl, &FenceOutcome{Target: "n2", Device: "ipmi"})
	expectMessage(t, messenger, func(s *SendCluster) bool {
		f := s.Message.GetNodeFenced()
		return f != nil && f.Node == "n2" && f.Device == "ipmi" && f.FencedBy == "n1"
	})
	expectSilence[*FenceRequest](t, pdu, 50*time.Millisecond)
}
