package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/hanode/hanode/internal/lab/demo"
	htmldom "github.com/hanode/hanode/internal/lab/dom"
	"github.com/hanode/hanode/internal/lab/need"
	"github.com/hanode/hanode/internal/lab/probe"
	"github.com/hanode/hanode/messages"
)

// screenshotEnv names where TestWebViewInBrowser saves its screenshot of
// the page after the failover (relative paths from the repository root);
// unset, it saves none, so that running the tests leaves docs/ alone.
const screenshotEnv = "HANODE_WEB_SCREENSHOT"

// TestWebViewInBrowser runs three real nodes serving --metrics, with the
// demo group preferring node1, and loads the web view in headless
// Chromium: before a crash it shows three nodes active, their links up and
// the group on node1, where it should run; after node1 is SIGKILLed it
// shows, on the page of the survivor that took the group, node1 dead with
// its link dead, the group on the survivor, and on the timeline node1's
// death, the move, and the gap written as the node measured it.
func TestWebViewInBrowser(t *testing.T) {
	chromium := need.Command(t, "chromium", "chromium")
	c, ctx := startDemoCluster(t, demo.Options{Nodes: 3, Service: true, Metrics: true})
	p, err := probe.New(c.ServiceAddr, 5*time.Millisecond, 50*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	nodes := c.Nodes()
	n1, n2 := nodes[0], nodes[1]
	if _, ok := p.WaitServedBy(ctx, "node1", time.Time{}); !ok {
		t.Fatal("node1 never served")
	}
	// node2 sees the group on node1 before the page is asked.
	if _, err := n2.WaitStatus(ctx, func(s *messages.ClusterStatus) bool {
		g := groupStatus(s, "demo")
		return g != nil && strings.Join(g.RunningOn, ",") == "node1"
	}); err != nil {
		t.Fatal(err)
	}

	before := browse(t, chromium, webURL(n2), "")
	for _, n := range nodes {
		row := before.find(t, "tr", "data-node", n.Name)
		if st := htmldom.Attr(row, "data-status"); st != "active" || !strings.HasPrefix(before.textOf(t, row, "td", "class", "status status-active"), "active") {
			t.Errorf("before: %s shows %q, want active", n.Name, st)
		}
		if link := htmldom.Find(row, "span", "data-link", "lo"); link == nil || htmldom.Text(link) != "lo up" {
			t.Errorf("before: %s's link lo is not shown up", n.Name)
		}
	}
	g := before.find(t, "tr", "data-group", "demo")
	if runs, should, pref := before.textOf(t, g, "td", "class", "runs-on ok"), before.textOf(t, g, "td", "class", "should-run-on"), htmldom.Attr(g, "data-preferred"); runs != "node1" || should != "node1" || pref != "node1" {
		t.Errorf("before: demo runs on %q, should run on %q, prefers %q; want node1 for all", runs, should, pref)
	}
	if q := before.find(t, "p", "id", "quorum"); htmldom.Attr(q, "data-quorum") != "yes" || !strings.Contains(htmldom.Text(q), "3 of 3 members up") {
		t.Errorf("before: quorum shows %q", htmldom.Text(q))
	}
	// The page refreshed by itself while the browser ran it.
	if live := before.find(t, "p", "id", "live"); htmldom.Attr(live, "data-state") != "live" || atoi(htmldom.Attr(live, "data-refreshes")) < 2 {
		t.Errorf("before: the page did not refresh live: %q refreshes, %q", htmldom.Attr(live, "data-refreshes"), htmldom.Text(live))
	}

	crash, err := c.Crash(n1)
	if err != nil {
		t.Fatal(err)
	}
	// Wait (bounded) until a survivor serves, then until it reports the
	// group running: its timeline then has the move.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var holder *demo.Node
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for holder == nil {
		if s := p.Last(); s.At.After(crash) {
			for _, n := range nodes[1:] {
				if n.Name == s.Answer {
					holder = n
				}
			}
		}
		if holder != nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no survivor served the group within 30s of the crash (last answer %+v)", p.Last())
		case <-tick.C:
		}
	}
	if _, err := holder.WaitStatus(ctx, func(s *messages.ClusterStatus) bool {
		g := groupStatus(s, "demo")
		return g != nil && g.LocalPhase == messages.GroupPhase_GROUP_PHASE_RUNNING
	}); err != nil {
		t.Fatal(err)
	}
	evs, err := holder.Client().Events(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var moved *messages.ClusterEvent
	for _, ev := range evs {
		if ev.Kind == messages.EventKind_EVENT_KIND_GROUP_MOVED && ev.Group == "demo" {
			moved = ev
		}
	}
	if moved == nil {
		t.Fatalf("%s recorded no move of demo", holder.Name)
	}

	shot := os.Getenv(screenshotEnv)
	if shot != "" && !filepath.IsAbs(shot) {
		shot = filepath.Join("..", "..", shot)
	}
	after := browse(t, chromium, webURL(holder), shot)
	row := after.find(t, "tr", "data-node", "node1")
	if st := htmldom.Attr(row, "data-status"); st != "dead" || !strings.HasPrefix(after.textOf(t, row, "td", "class", "status status-dead"), "dead") {
		t.Errorf("after: node1 shows %q, want dead", st)
	}
	if link := htmldom.Find(row, "span", "data-link", "lo"); link == nil || htmldom.Text(link) != "lo dead" {
		t.Errorf("after: node1's link is not shown dead")
	}
	for _, n := range nodes[1:] {
		if st := htmldom.Attr(after.find(t, "tr", "data-node", n.Name), "data-status"); st != "active" {
			t.Errorf("after: %s shows %q, want active", n.Name, st)
		}
	}
	g = after.find(t, "tr", "data-group", "demo")
	if runs, should := htmldom.Attr(g, "data-runs-on"), after.textOf(t, g, "td", "class", "should-run-on"); runs != holder.Name || htmldom.Text(htmldom.Find(g, "td", "class", "runs-on ok")) != holder.Name || should != holder.Name {
		t.Errorf("after: demo runs on %q, should run on %q; want %s", runs, should, holder.Name)
	}
	if q := after.find(t, "p", "id", "quorum"); htmldom.Attr(q, "data-quorum") != "yes" || !strings.Contains(htmldom.Text(q), "2 of 3 members up") {
		t.Errorf("after: quorum shows %q", htmldom.Text(q))
	}
	// The timeline: the group's row has node1's death, the move to the
	// holder, and the gap written as the holder measured it.
	grow := after.find(t, "g", "data-group", "demo")
	if htmldom.Find(grow, "g", "class", "mark death") == nil || htmldom.Attr(htmldom.Find(grow, "g", "class", "mark death"), "data-node") != "node1" {
		t.Error("after: no death of node1 marked on demo's row")
	}
	if mv := htmldom.Find(grow, "g", "class", "mark move"); mv == nil || htmldom.Attr(mv, "data-from") != "node1" || htmldom.Attr(mv, "data-to") != holder.Name ||
		!strings.Contains(htmldom.Text(mv), "→ "+holder.Name+" (from node1, died)") {
		t.Errorf("after: no move from node1 to %s marked on demo's row", holder.Name)
	}
	fo := htmldom.Find(grow, "g", "class", "failover")
	if fo == nil {
		t.Fatalf("after: no failover gap on demo's row")
	}
	gapMs, want := atoi(htmldom.Attr(fo, "data-gap-ms")), moved.GetGap().AsDuration()
	label := htmldom.Text(htmldom.Find(fo, "text", "class", "gap-label"))
	m := regexp.MustCompile(`^([0-9.]+)(ms|s) without demo$`).FindStringSubmatch(label)
	if m == nil || htmldom.Attr(fo, "data-from") != "node1" || htmldom.Attr(fo, "data-to") != holder.Name {
		t.Fatalf("after: gap written %q (from %q to %q)", label, htmldom.Attr(fo, "data-from"), htmldom.Attr(fo, "data-to"))
	}
	written, _ := strconv.ParseFloat(m[1], 64)
	if m[2] == "s" {
		written *= 1000
	}
	if d := time.Duration(written * float64(time.Millisecond)); d-want > 5*time.Millisecond || want-d > 5*time.Millisecond || (time.Duration(gapMs)*time.Millisecond-want).Abs() > time.Millisecond {
		t.Errorf("after: gap written %q (%dms), the node measured %v", label, gapMs, want)
	}
	if want < 400*time.Millisecond || want > 5*time.Second {
		t.Errorf("gap %v, want about deadtime plus the stop budget", want)
	}
	t.Logf("the page of %s shows the move from node1 with %q on the timeline", holder.Name, label)

	measureWebView(t, chromium, webURL(holder), after)
}

// measureWebView logs what loading the page costs: its size and the
// status document's, the server's time to answer, and the browser's own
// timing of the load (Navigation Timing, and when the first data was
// drawn), for the closing note.
func measureWebView(t *testing.T, chromium, url string, page *dom) {
	t.Helper()
	fetch := func(u string) (int, time.Duration, time.Duration) {
		start := time.Now()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		first := time.Since(start)
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", u, resp.StatusCode, err)
		}
		return len(b), first, time.Since(start)
	}
	pageBytes, pageFirst, pageAll := fetch(url)
	statusBytes, statusFirst, statusAll := fetch(url + "api/v1/status")
	eventsBytes, _, eventsAll := fetch(url + "api/v1/events")
	// The metrics are still served beside the page.
	if n, _, _ := fetch(url + "metrics"); n == 0 {
		t.Error("no metrics beside the web view")
	}
	t.Logf("sizes: / %d bytes (first byte %v, all %v); /api/v1/status %d bytes (first byte %v, all %v); /api/v1/events %d bytes (%v)",
		pageBytes, pageFirst, pageAll, statusBytes, statusFirst, statusAll, eventsBytes, eventsAll)
	perf := page.find(t, "footer", "id", "perf")
	t.Logf("browser (Navigation Timing): response end %sms, DOMContentLoaded %sms, first data drawn %sms, page %s bytes",
		htmldom.Attr(perf, "data-response-end-ms"), htmldom.Attr(perf, "data-dom-content-loaded-ms"), htmldom.Attr(perf, "data-first-data-ms"), htmldom.Attr(perf, "data-page-bytes"))
	// The wall-clock time of a whole browser run that loads the page and
	// waits for its first data, browser start included.
	start := time.Now()
	browse(t, chromium, url, "")
	t.Logf("a headless Chromium run loading the page and drawing its data: %v", time.Since(start).Round(time.Millisecond))
}

// webURL is the web view of a node: beside its metrics.
func webURL(n *demo.Node) string { return strings.TrimSuffix(n.MetricsURL, "metrics") }

func groupStatus(s *messages.ClusterStatus, name string) *messages.GroupStatus {
	for _, g := range s.GetGroups() {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// dom is the document Chromium had built once the page's script ran.
type dom struct {
	root *html.Node
	raw  string
}

// browse loads url in headless Chromium, lets the page run for a few
// seconds of its time (it polls the node every second), and returns the
// DOM it then shows; with shot set it also saves a screenshot there. The
// browser runs in its own process group, killed by its PID when the run
// ends or takes too long.
func browse(t *testing.T, chromium, url, shot string) *dom {
	t.Helper()
	args := []string{"--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=4000", "--hide-scrollbars", "--window-size=1280,1000"}
	if os.Geteuid() == 0 {
		args = append(args, "--no-sandbox") // Chromium refuses to run as root with its sandbox.
	}
	run := func(extra ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var out, errOut bytes.Buffer
		cmd := exec.CommandContext(ctx, chromium, append(append(append([]string{}, args...), extra...), url)...)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		err := cmd.Run()
		if cmd.Process != nil {
			// What the browser left of its own (helpers) goes with it.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", extra, err, tail(errOut.String(), 2000))
		}
		return out.String()
	}
	raw := run("--dump-dom")
	root, err := html.Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	d := &dom{root: root, raw: raw}
	if body := htmldom.Find(root, "body", "data-ready", "yes"); body == nil {
		t.Fatalf("the page never showed the node's data:\n%s", tail(raw, 4000))
	}
	if shot != "" {
		if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
			t.Fatal(err)
		}
		abs, err := filepath.Abs(shot)
		if err != nil {
			t.Fatal(err)
		}
		run("--screenshot=" + abs)
		if fi, err := os.Stat(abs); err != nil || fi.Size() == 0 {
			t.Fatalf("no screenshot at %s: %v", abs, err)
		}
		t.Logf("screenshot saved to %s", abs)
	}
	return d
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// find returns the first element tag whose attribute key is val, or ends
// the test showing the page.
func (d *dom) find(t *testing.T, tag, key, val string) *html.Node {
	t.Helper()
	n := htmldom.Find(d.root, tag, key, val)
	if n == nil {
		t.Fatalf("the page shows no <%s %s=%q>:\n%s", tag, key, val, tail(d.raw, 6000))
	}
	return n
}

// textOf is the text of the element tag with key=val under n.
func (d *dom) textOf(t *testing.T, n *html.Node, tag, key, val string) string {
	t.Helper()
	c := htmldom.Find(n, tag, key, val)
	if c == nil {
		t.Fatalf("no <%s %s=%q> in %s", tag, key, val, htmldom.Text(n))
	}
	return htmldom.Text(c)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
