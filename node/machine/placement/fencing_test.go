package placement

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// devicesSim is a two-node sim, web running on n1, whose nodes fence with
// the given devices.
func devicesSim(t *testing.T, devices ...FenceDevice) *sim {
	t.Helper()
	s := newSim(t, 2, true, web)
	for _, name := range s.names {
		s.setMachine(name, Config{Local: name, Nodes: s.names, Groups: []GroupSpec{web}, AutoFailback: true,
			Devices: devices, FenceRetries: 2, FenceRetryDelay: 100 * time.Millisecond})
	}
	s.connectAll()
	s.run(10)
	s.expectWhere("web", "n1")
	return s
}

// outcome gives node by the outcome of its fencing order.
func (s *sim) outcome(by, target, device string, err error) {
	n := s.nodes[by]
	s.apply(n, n.m.FenceResult(s.now, target, device, err))
}

func (s *sim) expectOrders(t *testing.T, want ...string) {
	t.Helper()
	if got := strings.Join(s.orders, "; "); got != strings.Join(want, "; ") {
		t.Fatalf("fencing orders:\n got %s\nwant %s", got, strings.Join(want, "; "))
	}
}

func TestFencingWalksUsableDevicesInOrder(t *testing.T) {
	s := devicesSim(t,
		FenceDevice{Name: "n1-console", RunOn: []string{"n1"}}, // not usable from n2
		FenceDevice{Name: "ipmi-n2", Targets: []string{"n2"}},  // does not control n1
		FenceDevice{Name: "pdu"},
		FenceDevice{Name: "ipmi-n1", Targets: []string{"n1"}},
	)
	s.crash("n1")
	s.run(5)
	s.expectOrders(t, "n2 fences n1 with pdu")
	s.outcome("n2", "n1", "pdu", errors.New("outlet stuck"))
	s.expectOrders(t, "n2 fences n1 with pdu", "n2 fences n1 with ipmi-n1")
	if st := s.nodes["n2"].m.Unfenced(); len(st) != 1 || st[0].Attempts != 0 {
		t.Fatalf("a device failing before the last is no failed attempt: %v", st)
	}
	s.outcome("n2", "n1", "ipmi-n1", nil)
	s.run(10)
	s.expectWhere("web", "n2")
	if f := s.nodes["n2"].m.Fenced(); len(f) != 1 || f[0].Device != "ipmi-n1" {
		t.Fatalf("fencing records: %v", f)
	}
}

func TestEveryDeviceFailingIsOneFailedAttempt(t *testing.T) {
	s := devicesSim(t, FenceDevice{Name: "pdu"}, FenceDevice{Name: "ipmi"})
	s.crash("n1")
	s.run(5)
	s.outcome("n2", "n1", "pdu", errors.New("outlet stuck"))
	s.outcome("n2", "n1", "ipmi", errors.New("bmc unreachable"))
	st := s.nodes["n2"].m.Unfenced()
	if len(st) != 1 || st[0].Attempts != 1 || !strings.Contains(st[0].LastFailure, "pdu: outlet stuck") || !strings.Contains(st[0].LastFailure, "ipmi: bmc unreachable") {
		t.Fatalf("unfenced: %v", st)
	}
	s.run(30) // past the retry delay: the next attempt starts again with the first device
	s.expectOrders(t, "n2 fences n1 with pdu", "n2 fences n1 with ipmi", "n2 fences n1 with pdu")
	s.expectWhere("web", "")
}

func TestNoUsableDeviceIsAFencingFailure(t *testing.T) {
	s := devicesSim(t, FenceDevice{Name: "n1-console", RunOn: []string{"n1"}}, FenceDevice{Name: "ipmi-n2", Targets: []string{"n2"}})
	s.crash("n1")
	s.run(40)
	s.expectOrders(t)
	st := s.nodes["n2"].m.Unfenced()
	if len(st) != 1 || st[0].Attempts < 2 || !strings.Contains(st[0].LastFailure, "no fencing device that n2 may use is configured to fence n1") {
		t.Fatalf("unfenced: %v", st)
	}
	s.expectWhere("web", "")
	if _, was := s.nodes["n2"].m.ConfirmFenced(s.now, "n1"); !was {
		t.Fatal("n1 was not waiting to be fenced")
	}
}

func TestOutcomeOfAnOrderGivenUpIsIgnored(t *testing.T) {
	s := devicesSim(t, FenceDevice{Name: "pdu"}, FenceDevice{Name: "ipmi"})
	s.crash("n1")
	s.run(5)
	n2 := s.nodes["n2"]
	e, was := n2.m.ConfirmFenced(s.now, "n1")
	if !was {
		t.Fatal("n1 was not waiting to be fenced")
	}
	s.apply(n2, e)
	s.run(10)
	s.expectWhere("web", "n2")
	if e := n2.m.FenceResult(s.now, "n1", "pdu", errors.New("late")); len(e.Fence) != 0 || len(e.Log) != 0 {
		t.Fatalf("a late outcome acted on: %+v", e)
	}
	if e := n2.m.FenceResult(s.now, "n1", "ipmi", nil); len(e.Send) != 0 {
		t.Fatalf("an outcome never ordered acted on: %+v", e)
	}
}
