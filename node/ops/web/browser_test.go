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
	if q := find(doc, "p", "id", "quorum"); attr(q, "data-quorum") != "no" || !strings.HasPrefix(text(q), "NO QUORUM: 1 of 3 members up") {
		t.Errorf("quorum shows %q", text(q))
	}
	if u := find(doc, "p", "data-node", "node1"); !strings.Contains(text(u), "TO FENCE: node1 (died holding [web])") || !strings.Contains(text(u), "2 failed attempt(s), last: timeout") {
		t.Errorf("node to fence shows %q", text(u))
	}
	if d := find(doc, "li", "data-device", "ipmi"); !strings.Contains(text(d), "FAILED its check") || !strings.Contains(text(d), "no answer") {
		t.Errorf("failed device shows %q", text(d))
	}
	if d := find(doc, "li", "data-device", "pdu"); !strings.HasPrefix(text(d), "pdu: ok") {
		t.Errorf("device shows %q", text(d))
	}
	if f := find(doc, "p", "data-node", "node2"); !strings.HasPrefix(text(f), "Fenced: node2 by node3 with pdu") {
		t.Errorf("fenced node shows %q", text(f))
	}
	if p := find(doc, "p", "id", "problem"); !strings.Contains(text(p), "placement did not answer") {
		t.Errorf("partial status shows %q", text(p))
	}
	if g := find(doc, "tr", "data-group", "web"); attr(g, "data-runs-on") != "" || text(find(g, "td", "class", "runs-on bad")) != "nowhere" ||
		text(find(g, "td", "class", "should-run-on")) != "(nowhere)" {
		t.Errorf("web shows %q", text(g))
	}
	if g := find(doc, "tr", "data-group", "db"); attr(g, "data-runs-on") != "node2,node3" || !strings.Contains(text(g), "kept off node1") {
		t.Errorf("db shows %q", text(g))
	}
	if p := find(doc, "tr", "data-node", "gw"); attr(p, "data-status") != "ping" || !strings.Contains(text(p), "echo 10.0.0.1") {
		t.Errorf("ping node shows %q", text(p))
	}
	cluster := find(doc, "g", "class", "row cluster-row")
	if find(cluster, "g", "class", "mark fence") == nil || find(cluster, "g", "class", "mark quorum") == nil || find(cluster, "g", "class", "mark death") == nil {
		t.Error("the cluster row lacks a fencing, quorum or death mark")
	}
	if !strings.Contains(text(cluster), "node2 fenced by node3 (device pdu)") || !strings.Contains(text(cluster), "quorum lost") {
		t.Errorf("the cluster row's labels: %q", text(cluster))
	}
	web := find(doc, "g", "data-group", "web")
	if h := find(web, "rect", "data-node", "node1"); h == nil || find(web, "g", "class", "mark death") == nil || find(web, "g", "class", "mark fence") == nil {
		t.Error("web's row lacks node1 holding it, its death or the fencing it waits for")
	}
	// web lost its holder at node1's death and runs nowhere yet: the gap
	// so far is written.
	if open := find(web, "g", "class", "failover open"); attr(open, "data-from") != "node1" || text(open) != "30.0s without web so far" {
		t.Errorf("web's open gap: %q from %q", text(open), attr(open, "data-from"))
	}
	// node1's segment ends at its death (a title is the rectangle's only
	// child).
	if title, want := text(find(find(web, "rect", "data-node", "node1"), "title", "", "")), "to "+t0.Add(30*time.Second).Local().Format("15:04:05.000"); !strings.HasSuffix(title, want) {
		t.Errorf("node1 holds web %q, want until its death (%s)", title, want)
	}
	db := find(doc, "g", "data-group", "db")
	if gap := find(db, "g", "class", "failover"); attr(gap, "data-gap-ms") != "2500" || text(gap) != "2.5s without db" {
		t.Errorf("db's gap: %q (%s ms)", text(gap), attr(gap, "data-gap-ms"))
	}
	// node2 held db before the move, since before anything this node
	// recorded of db.
	if title := text(find(find(db, "rect", "data-node", "node2"), "title", "", "")); !strings.Contains(title, "since before this node") {
		t.Errorf("node2's holding of db before the move: %q", title)
	}
	if mv := find(db, "g", "class", "mark move"); text(mv) != "→ node3 (from node2, fenced)" {
		t.Errorf("db's move: %q", text(mv))
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
	if find(doc, "body", "data-ready", "yes") == nil {
		t.Fatalf("the page never drew the data:\n%s\n%s", raw, errOut.String())
	}
	return doc
}

func find(n *html.Node, tag, key, val string) *html.Node {
	if n == nil {
		return nil
	}
	if n.Type == html.ElementNode && n.Data == tag && attr(n, key) == val {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, tag, key, val); f != nil {
			return f
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// text is what an element shows, without its tooltips (SVG titles).
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode || c.Data != "title" {
				walk(c)
			}
		}
	}
	if n != nil {
		walk(n)
	}
	return strings.TrimSpace(b.String())
}
