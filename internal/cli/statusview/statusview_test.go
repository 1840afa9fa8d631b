package statusview

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/messages"
)

func sample() *messages.ClusterStatus {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.Local)
	ts := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(t0.Add(d)) }
	up := messages.LinkStatus_LINK_STATUS_UP
	dead := messages.LinkStatus_LINK_STATUS_DEAD
	normal := messages.NodeType_NODE_TYPE_NORMAL
	return &messages.ClusterStatus{
		Cluster: "demo", LocalNode: "node1", Generation: 3, Version: "1.0.0",
		Started: ts(0), Now: ts(72 * time.Second),
		Keepalive: durationpb.New(100 * time.Millisecond), Warntime: durationpb.New(250 * time.Millisecond),
		Deadtime: durationpb.New(500 * time.Millisecond), Initdead: durationpb.New(2 * time.Second),
		Nodes: []*messages.NodeState{
			{Name: "node1", Type: normal, Status: messages.NodeStatus_NODE_STATUS_ACTIVE, Local: true, Generation: 3,
				Links: []*messages.LinkState{{Name: "eth0", Status: up}}},
			{Name: "node2", Type: normal, Status: messages.NodeStatus_NODE_STATUS_ACTIVE, Generation: 5, Late: true, HearsUs: true,
				Messages:  &messages.MessageStream{Last: 12, Missing: 3},
				LastHeard: ts(72*time.Second - 260*time.Millisecond), Links: []*messages.LinkState{{Name: "eth0", Status: up}}},
			{Name: "node3", Type: normal, Status: messages.NodeStatus_NODE_STATUS_DEAD, Generation: 2,
				LastHeard: ts(60 * time.Second), Links: []*messages.LinkState{{Name: "eth0", Status: dead}}},
			{Name: "node4", Type: normal, Status: messages.NodeStatus_NODE_STATUS_INIT,
				Links: []*messages.LinkState{{Name: "eth0", Status: dead}}},
		},
		RecentEvents: []*messages.MembershipEvent{
			{Time: ts(60*time.Second + 500*time.Millisecond), Reason: "node3 dead: no heartbeat on eth0 for 500ms"},
		},
		RejectedFrames: map[string]uint64{"replayed sequence": 1, "bad mac": 3},
	}
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	Table(&b, sample())
	want := `cluster demo, node node1 (generation 3), hanode 1.0.0, up 1m12s
keepalive 100ms, warntime 250ms, deadtime 500ms, initdead 2s

NODE     TYPE    STATUS         GEN  LAST HEARD  MSGS            LINKS
node1 *  normal  active         3    -           -               eth0:up
node2    normal  active (late)  5    260ms ago   12 (3 missing)  eth0:up
node3    normal  dead           2    12s ago     -               eth0:dead
node4    normal  init           -    -           -               eth0:dead

Recent events:
  12:01:00.500  node3 dead: no heartbeat on eth0 for 500ms

Rejected frames: bad mac 3, replayed sequence 1
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, sample()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes(), []byte(`  "local_node": "node1",`)) {
		t.Fatalf("not proto names: %s", b.String())
	}
	back := &messages.ClusterStatus{}
	if err := protojson.Unmarshal(b.Bytes(), back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(back, sample()) {
		t.Fatal("JSON does not round-trip")
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                      "0s",
		350 * time.Millisecond:            "350ms",
		1234 * time.Millisecond:           "1.2s",
		192 * time.Second:                 "3m12s",
		2*time.Hour + 5*time.Minute + 3e9: "2h5m",
		26 * time.Hour:                    "26h0m",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestTableGroups(t *testing.T) {
	s := sample()
	s.RecentEvents, s.RejectedFrames = nil, nil
	s.Nodes = s.Nodes[:1]
	t0 := s.GetNow().AsTime()
	s.Groups = []*messages.GroupStatus{
		{Name: "IPaddr2::10.201.0.100/24/eth0", PreferredNode: "node1", DesiredNode: "node1", RunningOn: []string{"node1"},
			LocalPhase: messages.GroupPhase_GROUP_PHASE_RUNNING, Resources: []*messages.ResourceStatus{
				{Id: "IPaddr2::10.201.0.100/24/eth0", Up: true, LastAction: "monitor", LastOutcome: "running",
					LastDuration: durationpb.New(31 * time.Millisecond), LastAt: timestamppb.New(t0.Add(-2 * time.Second))},
				{Id: "httpd", Up: true, LastAction: "start", LastOutcome: "succeeded",
					LastDuration: durationpb.New(5 * time.Millisecond), LastAt: timestamppb.New(t0.Add(-time.Minute))},
			}},
		{Name: "db", PreferredNode: "node2", LocalPhase: messages.GroupPhase_GROUP_PHASE_STOPPED, BannedOn: []string{"node1"},
			LastFailure: "pgsql: start failed (exit 1)", Resources: []*messages.ResourceStatus{{Id: "pgsql"}},
			Everywhere: []*messages.ResourceStatus{{Id: "pgbouncer", Up: true, LastAction: "monitor", LastOutcome: "running",
				LastDuration: durationpb.New(4 * time.Millisecond), LastAt: timestamppb.New(t0.Add(-3 * time.Second))}}},
	}
	var b bytes.Buffer
	Table(&b, s)
	want := `cluster demo, node node1 (generation 3), hanode 1.0.0, up 1m12s
keepalive 100ms, warntime 250ms, deadtime 500ms, initdead 2s

NODE     TYPE    STATUS  GEN  LAST HEARD  MSGS  LINKS
node1 *  normal  active  3    -           -     eth0:up

GROUP                          PREFERS  RUNS ON  SHOULD RUN ON  HERE     NOTE
IPaddr2::10.201.0.100/24/eth0  node1    node1    node1          running  
db                             node2    -        (nowhere)      stopped  kept off node1; last failure: pgsql: start failed (exit 1)

RESOURCE                       GROUP                          RUNS ON     HERE     LAST OPERATION
IPaddr2::10.201.0.100/24/eth0  IPaddr2::10.201.0.100/24/eth0  node1       running  monitor running (exit 0, 31ms) 2s ago
httpd                          IPaddr2::10.201.0.100/24/eth0  node1       running  start succeeded (exit 0, 5ms) 1m0s ago
pgsql                          db                             -           stopped  -
pgbouncer                      db                             every node  running  monitor running (exit 0, 4ms) 3s ago
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestTableShowsTheTimeline(t *testing.T) {
	s := sample()
	t0 := s.GetNow().AsTime()
	s.Timeline = []*messages.ClusterEvent{
		{Time: timestamppb.New(t0.Add(-time.Second)), Kind: messages.EventKind_EVENT_KIND_MEMBERSHIP, Summary: "node3 dead: no heartbeat on eth0 for 500ms"},
		{Time: timestamppb.New(t0), Kind: messages.EventKind_EVENT_KIND_GROUP_MOVED, Summary: "web moved from node3 (died) to node1: running here 540ms after node3's last heartbeat"},
	}
	var b bytes.Buffer
	Table(&b, s)
	want := "\nRecent events (hanode events for all):\n" +
		"  12:01:11.000  membership    node3 dead: no heartbeat on eth0 for 500ms\n" +
		"  12:01:12.000  group_moved   web moved from node3 (died) to node1: running here 540ms after node3's last heartbeat\n"
	if !strings.Contains(b.String(), want) {
		t.Fatalf("got:\n%s", b.String())
	}
	var evs bytes.Buffer
	Events(&evs, s.Timeline)
	if !strings.Contains(evs.String(), "group_moved   web moved") {
		t.Fatalf("events: %q", evs.String())
	}
}

// TestTableShowsFencingAndWaits: who was fenced, by whom, with which
// device and when; dead nodes whose groups wait for their stop budget; a
// peer that no longer hears this node.
func TestTableShowsFencingAndWaits(t *testing.T) {
	s := sample()
	t0 := s.GetNow().AsTime()
	s.Nodes[1].HearsUs = false
	s.Fenced = []*messages.FenceRecord{{Node: "node3", Generation: 2, FencedBy: "node2", Device: "pdu", Time: timestamppb.New(t0.Add(-1500 * time.Millisecond))}}
	s.SelfStopWaits = []*messages.SelfStopWait{{Node: "node4", Groups: []string{"db", "web"}, Until: timestamppb.New(t0.Add(3 * time.Second))}}
	var b bytes.Buffer
	Table(&b, s)
	for _, want := range []string{
		"node2    normal  active (late) (does not hear us)",
		"Fenced: node3 (generation 2) by node2 with pdu at 12:01:10.500 (1.5s ago)",
		"WAITING: node4 was lost without fencing; db,web move at 12:01:15.000 (in 3s), once it must have stopped them by itself",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in:\n%s", want, b.String())
		}
	}
}
