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
	"github.com/hanode/hanode/node/machine/group"
	"github.com/hanode/hanode/node/machine/placement"
)

// fakeDriver is a fencing device that records what it was asked to do and
// fails with err.
type fakeDriver struct {
	mu     sync.Mutex
	err    error
	fenced []string
	// checkErr is what Check returns.
	checkErr error
}

func (d *fakeDriver) Fence(_ context.Context, target string, action fence.Action) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fenced = append(d.fenced, string(action)+" "+target)
	return d.err
}
func (d *fakeDriver) Check(context.Context) error             { return d.checkErr }
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
		dev := sys.Root.Spawn(actor.PropsFromProducer(NewFenceDevice(FenceDeviceConfig{
			Device: testFenceDevice(t, "pdu"), Driver: drv, Log: slog.New(slog.DiscardHandler)})))
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
	st := NewPlacementState(PlacementStateConfig{Machine: m, Local: "n1", Peers: []string{"n2"}})
	pl := sys.Root.Spawn(actor.PropsFromProducer(NewPlacement(st, PlacementConfig{Messenger: messenger.pid,
		Devices: map[string]*actor.PID{"pdu": pdu.pid, "n3-only": ipmi.pid, "ipmi": ipmi.pid}, Log: slog.New(slog.DiscardHandler)})))

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

// TestFenceDeviceReportsItsChecks: the device actor reports each check to
// its subscribers (placement) as DeviceChecked, and answers a status
// query with it.
func TestFenceDeviceReportsItsChecks(t *testing.T) {
	sys := newTestSystem(t)
	sub := newRecorder(t, sys)
	for _, fail := range []error{nil, errors.New("no answer on the serial line")} {
		dev := sys.Root.Spawn(actor.PropsFromProducer(NewFenceDevice(FenceDeviceConfig{
			Device: testFenceDevice(t, "pdu"), Driver: &fakeDriver{checkErr: fail}, Log: slog.New(slog.DiscardHandler)})))
		sys.Root.Send(dev, &Subscribe{PID: sub.pid})
		got, _ := expectMessage[*DeviceChecked](t, sub, nil)
		if got.Name != "pdu" || got.Ok != (fail == nil) || got.At.IsZero() {
			t.Fatalf("report %+v, want pdu ok=%v", got, fail == nil)
		}
		if fail != nil && got.Detail != fail.Error() {
			t.Fatalf("detail %q, want %q", got.Detail, fail)
		}
		res, err := sys.Root.RequestFuture(dev, &FenceDeviceQuery{}, 5*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := res.(*messages.FenceDeviceState); !ok || s.Name != "pdu" || s.Ok != got.Ok || s.Checked == nil {
			t.Fatalf("status %v", res)
		}
		// A late subscriber gets the last check at once.
		late := newRecorder(t, sys)
		sys.Root.Send(dev, &Subscribe{PID: late.pid})
		if again, _ := expectMessage[*DeviceChecked](t, late, nil); !again.At.Equal(got.At) {
			t.Fatalf("late subscriber got %+v, want %+v", again, got)
		}
		sys.Root.Stop(dev)
	}
}

// TestPlacementKeepsGroupReports: the placement actor keeps the resources
// of each group's last report for status, and feeds a phase change to its
// machine.
func TestPlacementKeepsGroupReports(t *testing.T) {
	sys := newTestSystem(t)
	messenger := newRecorder(t, sys)
	m := placement.New(placement.Config{Local: "n1", Generation: 1, Nodes: []string{"n1"},
		Groups: []placement.GroupSpec{{Name: "web", Preferred: "n1"}}}, time.Now())
	st := NewPlacementState(PlacementStateConfig{Machine: m, Local: "n1"})
	pl := sys.Root.Spawn(actor.PropsFromProducer(NewPlacement(st, PlacementConfig{Messenger: messenger.pid, Log: slog.New(slog.DiscardHandler)})))
	query := func() *messages.GroupStatus {
		t.Helper()
		res, err := sys.Root.RequestFuture(pl, &GroupsQuery{}, 5*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		gs := res.(GroupsStatus)
		if len(gs.Groups) != 1 || gs.Groups[0].Name != "web" {
			t.Fatalf("groups %v", gs.Groups)
		}
		return gs.Groups[0]
	}
	sys.Root.Send(pl, &GroupReported{Group: "web", Report: &group.Report{Phase: messages.GroupPhase_GROUP_PHASE_RUNNING},
		Resources: []*messages.ResourceStatus{{Id: "ip", Up: true}}})
	g := query()
	if len(g.Resources) != 1 || g.Resources[0].Id != "ip" || !g.Resources[0].Up || g.LocalPhase != messages.GroupPhase_GROUP_PHASE_RUNNING {
		t.Fatalf("web after a report: phase %v resources %v", g.LocalPhase, g.Resources)
	}
	// Resources alone: kept, the phase unchanged.
	sys.Root.Send(pl, &GroupReported{Group: "web", Resources: []*messages.ResourceStatus{{Id: "ip", Up: false, LastAction: "monitor"}}})
	g = query()
	if len(g.Resources) != 1 || g.Resources[0].Up || g.Resources[0].LastAction != "monitor" || g.LocalPhase != messages.GroupPhase_GROUP_PHASE_RUNNING {
		t.Fatalf("web after resources: phase %v resources %v", g.LocalPhase, g.Resources)
	}
}
