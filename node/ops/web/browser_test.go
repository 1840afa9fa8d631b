package web

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/internal/lab/dom"
	"github.com/hanode/hanode/internal/lab/need"
	"github.com/hanode/hanode/messages"
)

// TestPageDrawsFencingAndQuorum loads the page in headless Chromium over
// a made-up partition that the real-cluster test (cmd/hanode
// TestWebViewInBrowser) does not reach: no quorum, a node to fence, a
// failed fencing device, a node fenced, a ping node, a group running
// nowhere and one on two nodes, fencing and quorum on the timeline.
func TestPageDrawsFencingAndQuorum(t *testing.T) {
	chromium := need.Command(t, "chromium", "chromium")
	at := func(s float64) *timestamppb.Timestamp {
		return timestamppb.New(t0.Add(time.Duration(s * float64(time.Second))))
	}
	s := &messages.ClusterStatus{
		Cluster: "lab", LocalNode: "node3", Generation: 9, Version: "dev", Started: at(0), Now: at(60),
		Keepalive: durationpb.New(time.Second), Deadtime: durationpb.New(5 * time.Second), NoQuorum: true,
		Nodes: []*messages.NodeState{
			{Name: "node1", Type: messages.NodeType_NODE_TYPE_NORMAL, Status: messages.NodeStatus_NODE_STATUS_DEAD, Since: at(30),
				Links: []*messages.LinkState{{Name: "eth0", Status: messages.LinkStatus_LINK_STATUS_DEAD}, {Name: "eth1", Status: messages.LinkStatus_LINK_STATUS_DEAD}}},
			{Name: "node2", Type: messages.NodeType_NODE_TYPE_NORMAL, Status: messages.NodeStatus_NODE_STATUS_DEAD, Since: at(31)},
			{Name: "node3", Type: messages.NodeType_NODE_TYPE_NORMAL, Status: messages.NodeStatus_NODE_STATUS_ACTIVE, Local: true,
				Links: []*messages.LinkState{{Name: "eth0", Status: messages.LinkStatus_LINK_STATUS_UP}}},
			{Name: "gw", Type: messages.NodeType_NODE_TYPE_PING, Status: messages.NodeStatus_NODE_STATUS_PING, Addresses: []string{"10.0.0.1"}, AnsweredBy: "10.0.0.1"},
		},
		Groups: []*messages.GroupStatus{
			{Name: "web", PreferredNode: "node1", LocalPhase: messages.GroupPhase_GROUP_PHASE_STOPPED},
			{Name: "db", PreferredNode: "node2", DesiredNode: "node3", RunningOn: []string{"node2", "node3"}, LocalPhase: messages.GroupPhase_GROUP_PHASE_RUNNING,
				BannedOn: []string{"node1"}, Resources: []*messages.ResourceStatus{{Id: "pgsql", Up: true, LastAction: "start", LastOutcome: "succeeded", LastAt: at(50)}}},
		},
		Unfenced:      []*messages.FenceState{{Node: "node1", Reason: "died holding [web]", Since: at(30), Attempts: 2, LastFailure: "timeout", FencingHere: true}},
		FenceDevices:  []*messages.FenceDeviceState{{Name: "ipmi", Ok: false, Checked: at(55), Detail: "no answer"}, {Name: "pdu", Ok: true, Checked: at(56)}},
		Fenced:        []*messages.FenceRecord{{Node: "node2", FencedBy: "node3", Device: "pdu", Time: at(40)}},
		SelfStopWaits: []*messages.SelfStopWait{{Node: "node4", Groups: []string{"web"}, Until: at(70)}},
		Errors:        []string{"placement did not answer"},
	}
	evs := []*messages.ClusterEvent{
		{Time: at(1), Kind: messages.EventKind_EVENT_KIND_GROUP, Group: "web", Summary: "web: starting on node1"},
		{Time: at(30), Kind: messages.EventKind_EVENT_KIND_MEMBERSHIP, Node: "node1", Summary: "node1 dead: no heartbeat on eth0, eth1 for 5s"},
		{Time: at(30), Kind: messages.EventKind_EVENT_KIND_FENCING, Summary: "node1 died holding [web]: it must be fenced before they run elsewhere"},
		{Time: at(31), Kind: messages.EventKind_EVENT_KIND_QUORUM, Summary: "no quorum: only 1 of 3 nodes hear each other: stop"},
		{Time: at(40), Kind: messages.EventKind_EVENT_KIND_FENCING, Summary: "node2 fenced by node3 (device pdu)"},
		{Time: at(45), Kind: messages.EventKind_EVENT_KIND_GROUP_MOVED, Node: "node3", Group: "db", Gap: durationpb.New(2500 * time.Millisecond),
			Summary: "db moved from node2 (fenced) to node3: running here 2.5s after node2's last heartbeat", Reason: "node2 fenced"},
	}
	srv := httptest.NewServer(New(func(context.Context) (*messages.ClusterStatus, error) { return s, nil },
		func(int) []*messages.ClusterEvent { return evs }, nil))
	defer srv.Close()

	doc := loadPage(t, chromium, srv.URL+"/")
	if q := dom.Find(doc, "p", "id", "quorum"); dom.Attr(q, "data-quorum") != "no" || !strings.HasPrefix(dom.Text(q), "NO QUORUM: 1 of 3 members up") {
		t.Errorf("quorum shows %q", dom.Text(q))
	}
	if u := dom.Find(doc, "p", "data-node", "node1"); !strings.Contains(dom.Text(u), "TO FENCE: node1 (died holding [web])") || !strings.Contains(dom.Text(u), "2 failed attempt(s), last: timeout") {
		t.Errorf("node to fence shows %q", dom.Text(u))
	}
	if d := dom.Find(doc, "li", "data-device", "ipmi"); !strings.Contains(dom.Text(d), "FAILED its check") || !strings.Contains(dom.Text(d), "no answer") {
		t.Errorf("failed device shows %q", dom.Text(d))
	}
	if d := dom.Find(doc, "li", "data-device", "pdu"); !strings.HasPrefix(dom.Text(d), "pdu: ok") {
		t.Errorf("device shows %q", dom.Text(d))
	}
	if f := dom.Find(doc, "p", "data-node", "node2"); !strings.HasPrefix(dom.Text(f), "Fenced: node2 by node3 with pdu") {
		t.Errorf("fenced node shows %q", dom.Text(f))
	}
	if p := dom.Find(doc, "p", "id", "problem"); !strings.Contains(dom.Text(p), "placement did not answer") {
		t.Errorf("partial status shows %q", dom.Text(p))
	}
	if g := dom.Find(doc, "tr", "data-group", "web"); dom.Attr(g, "data-runs-on") != "" || dom.Text(dom.Find(g, "td", "class", "runs-on bad")) != "nowhere" ||
		dom.Text(dom.Find(g, "td", "class", "should-run-on")) != "(nowhere)" {
		t.Errorf("web shows %q", dom.Text(g))
	}
	if g := dom.Find(doc, "tr", "data-group", "db"); dom.Attr(g, "data-runs-on") != "node2,node3" || !strings.Contains(dom.Text(g), "kept off node1") {
		t.Errorf("db shows %q", dom.Text(g))
	}
	if p := dom.Find(doc, "tr", "data-node", "gw"); dom.Attr(p, "data-status") != "ping" || !strings.Contains(dom.Text(p), "echo 10.0.0.1") {
		t.Errorf("ping node shows %q", dom.Text(p))
	}
	cluster := dom.Find(doc, "g", "class", "row cluster-row")
	if dom.Find(cluster, "g", "class", "mark fence") == nil || dom.Find(cluster, "g", "class", "mark quorum") == nil || dom.Find(cluster, "g", "class", "mark death") == nil {
		t.Error("the cluster row lacks a fencing, quorum or death mark")
	}
	if !strings.Contains(dom.Text(cluster), "node2 fenced by node3 (device pdu)") || !strings.Contains(dom.Text(cluster), "quorum lost") {
		t.Errorf("the cluster row's labels: %q", dom.Text(cluster))
	}
	web := dom.Find(doc, "g", "data-group", "web")
	if h := dom.Find(web, "rect", "data-node", "node1"); h == nil || dom.Find(web, "g", "class", "mark death") == nil || dom.Find(web, "g", "class", "mark fence") == nil {
		t.Error("web's row lacks node1 holding it, its death or the fencing it waits for")
	}
	// web lost its holder at node1's death and runs nowhere yet: the gap
	// so far is written.
	if open := dom.Find(web, "g", "class", "failover open"); dom.Attr(open, "data-from") != "node1" || dom.Text(open) != "30.0s without web so far" {
		t.Errorf("web's open gap: %q from %q", dom.Text(open), dom.Attr(open, "data-from"))
	}
	// node1's segment ends at its death (a title is the rectangle's only
	// child).
	if title, want := dom.Text(dom.Find(dom.Find(web, "rect", "data-node", "node1"), "title", "", "")), "to "+t0.Add(30*time.Second).Local().Format("15:04:05.000"); !strings.HasSuffix(title, want) {
		t.Errorf("node1 holds web %q, want until its death (%s)", title, want)
	}
	db := dom.Find(doc, "g", "data-group", "db")
	if gap := dom.Find(db, "g", "class", "failover"); dom.Attr(gap, "data-gap-ms") != "2500" || dom.Text(gap) != "2.5s without db" {
		t.Errorf("db's gap: %q (%s ms)", dom.Text(gap), dom.Attr(gap, "data-gap-ms"))
	}
	// node2 held db before the move, since before anything this node
	// recorded of db.
	if title := dom.Text(dom.Find(dom.Find(db, "rect", "data-node", "node2"), "title", "", "")); !strings.Contains(title, "since before this node") {
		t.Errorf("node2's holding of db before the move: %q", title)
	}
	if mv := dom.Find(db, "g", "class", "mark move"); dom.Text(mv) != "→ node3 (from node2, fenced)" {
		t.Errorf("db's move: %q", dom.Text(mv))
	}
}

// loadPage loads url in headless Chromium, lets the page run for a few
// seconds of its own time, and parses the DOM it then shows. The browser
// runs in its own process group, killed by its PID when the run ends or
// takes too long.
func loadPage(t *testing.T, chromium, url string) *html.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"--headless", "--disable-gpu", "--no-first-run", "--disable-extensions", "--user-data-dir=" + t.TempDir(),
		"--virtual-time-budget=3000", "--window-size=1280,1000", "--enable-logging=stderr", "--dump-dom", url}
	if os.Geteuid() == 0 {
		args = append(args, "--no-sandbox") // Chromium refuses to run as root with its sandbox.
	}
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, chromium, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, errOut.String())
	}
	raw := out.String()
	doc, err := html.Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if dom.Find(doc, "body", "data-ready", "yes") == nil {
		t.Fatalf("the page never drew the data:\n%s\n%s", raw, errOut.String())
	}
	return doc
}
