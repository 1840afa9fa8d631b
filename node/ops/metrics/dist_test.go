package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/need"
	"github.com/hanode/hanode/messages"
)

// The alerting rules, their unit tests and the Grafana dashboard shipped in
// dist/ name hanode's metrics by hand: these tests tie them to what New
// really exports, so that renaming a metric or a label breaks them here
// rather than in a silent alert or an empty panel at a user's.

var (
	rulesFile     = filepath.Join("..", "..", "..", "dist", "prometheus", "hanode.rules.yml")
	rulesTestFile = filepath.Join("..", "..", "..", "dist", "prometheus", "hanode.rules.test.yml")
	dashboardFile = filepath.Join("..", "..", "..", "dist", "grafana", "hanode.json")
)

// TestPrometheusRules checks the alerting rules and runs their unit tests
// (each alert firing, and not firing on blips, ping nodes, several
// observers of one fact) with promtool.
func TestPrometheusRules(t *testing.T) {
	promtool := need.Command(t, "promtool", "prometheus")
	dir := filepath.Dir(rulesFile)
	out := runPromtool(t, promtool, dir, "check", "rules", filepath.Base(rulesFile))
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: no SUCCESS:\n%s", out)
	}
	// rule_files in the test file are relative to it: run from its dir.
	out = runPromtool(t, promtool, dir, "test", "rules", filepath.Base(rulesTestFile))
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: no SUCCESS:\n%s", out)
	}
	t.Logf("promtool test rules %s:\n%s", filepath.Base(rulesTestFile), out)
}

// TestDashboardQueriesParse gives every PromQL expression of the dashboard
// (panel targets, annotations, variable queries) to promtool, as recording
// rules with Grafana's variables replaced by plausible values: a syntax
// error in a panel would otherwise only show in Grafana.
func TestDashboardQueriesParse(t *testing.T) {
	promtool := need.Command(t, "promtool", "prometheus")
	exprs := dashboardExprs(t, loadDashboard(t))
	vars := map[string]string{"job": "hanode", "instance": ".+", "__rate_interval": "1m", "__interval": "1m", "__range": "1h"}
	varRe := regexp.MustCompile(`\$\{?(\w+)\}?`)
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`)
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		// A variable query is label_values(SELECTOR, LABEL): check it as the
		// equivalent PromQL.
		if m := labelValues.FindStringSubmatch(e.expr); m != nil {
			e.expr = fmt.Sprintf("count by (%s) (%s)", m[2], m[1])
		}
		var unknown []string
		expr := varRe.ReplaceAllStringFunc(e.expr, func(v string) string {
			name := varRe.FindStringSubmatch(v)[1]
			if val, ok := vars[name]; ok {
				return val
			}
			unknown = append(unknown, v)
			return v
		})
		if len(unknown) > 0 {
			t.Errorf("%s: unknown variables %v in %s", e.where, unknown, e.expr)
		}
		q, _ := json.Marshal(expr) // JSON strings are YAML strings
		fmt.Fprintf(&b, "      - record: dashboard:expr_%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runPromtool(t, promtool, "", "check", "rules", path)
	want := fmt.Sprintf("SUCCESS: %d rules found", len(exprs))
	if !strings.Contains(out, want) {
		t.Fatalf("promtool check rules on the dashboard's expressions: want %q:\n%s\n%s", want, out, b.String())
	}
}

// TestDistMetricsExist checks that every metric, and every label, named in
// the rules, their tests and the dashboard is one hanode exports, and that
// the dashboard shows every hanode metric.
func TestDistMetricsExist(t *testing.T) {
	fams := exportedFamilies(t)

	rules := readFile(t, rulesFile)
	tests := readFile(t, rulesTestFile)
	d := loadDashboard(t)
	var dashText []string
	walkStrings(d, func(s string) { dashText = append(dashText, s) })

	checkNames(t, "hanode.rules.yml", []string{rules}, fams, true)
	// The tests' series carry made-up peers and groups: label names only.
	checkNames(t, "hanode.rules.test.yml", []string{tests}, fams, false)
	shown := checkNames(t, "hanode.json", dashText, fams, true)

	for name := range fams {
		if strings.HasPrefix(name, ns+"_") && !shown[name] {
			t.Errorf("hanode.json shows no panel of %s: give it one (dist/grafana/hanode.json)", name)
		}
	}
	// Each alert of the issue is there.
	for _, a := range []string{"HanodeNodeDead", "HanodeLinkDown", "HanodeGroupRunningNowhere", "HanodeGroupUnmanaged",
		"HanodeFencingFailed", "HanodeQuorumLost", "HanodeLateHeartbeatsRising"} {
		if !strings.Contains(rules, "- alert: "+a+"\n") {
			t.Errorf("hanode.rules.yml has no alert %s", a)
		}
		if !strings.Contains(tests, "alertname: "+a+"\n") {
			t.Errorf("hanode.rules.test.yml does not test %s", a)
		}
	}
}

// TestDashboardPanels checks that the dashboard parses, that every panel
// queries the templated data source and has a query, and that it can be
// imported anywhere: no data source uid of one installation.
func TestDashboardPanels(t *testing.T) {
	d := loadDashboard(t)
	if v, _ := d["schemaVersion"].(float64); v < 36 {
		t.Errorf("schemaVersion %v: want 36 or later (Grafana 9+)", d["schemaVersion"])
	}
	vars := map[string]string{}
	for _, v := range asList(asMap(d["templating"])["list"]) {
		m := asMap(v)
		vars[fmt.Sprint(m["name"])] = fmt.Sprint(m["type"])
	}
	for name, typ := range map[string]string{"datasource": "datasource", "job": "query", "instance": "query"} {
		if vars[name] != typ {
			t.Errorf("variable %s: type %q, want %q", name, vars[name], typ)
		}
	}
	ids := map[float64]string{}
	n := 0
	var check func(list []any)
	check = func(list []any) {
		for _, p := range list {
			pm := asMap(p)
			title := fmt.Sprint(pm["title"])
			id, _ := pm["id"].(float64)
			if other, dup := ids[id]; dup {
				t.Errorf("panel %q: id %v already used by %q", title, id, other)
			}
			ids[id] = title
			if pm["gridPos"] == nil {
				t.Errorf("panel %q: no gridPos", title)
			}
			if pm["type"] == "row" {
				check(asList(pm["panels"]))
				continue
			}
			n++
			if !isTemplatedDS(pm["datasource"]) {
				t.Errorf("panel %q: datasource %v, want the ${datasource} variable", title, pm["datasource"])
			}
			targets := asList(pm["targets"])
			if len(targets) == 0 {
				t.Errorf("panel %q: no target", title)
			}
			for _, tg := range targets {
				tm := asMap(tg)
				if strings.TrimSpace(fmt.Sprint(tm["expr"])) == "" || tm["expr"] == nil {
					t.Errorf("panel %q: target %v has no expr", title, tm["refId"])
				}
				if !isTemplatedDS(tm["datasource"]) {
					t.Errorf("panel %q: target %v: datasource %v, want the ${datasource} variable", title, tm["refId"], tm["datasource"])
				}
			}
		}
	}
	check(asList(d["panels"]))
	if n < 10 {
		t.Errorf("%d panels, want the dashboard's panels (10 or more)", n)
	}
}

func isTemplatedDS(v any) bool {
	m := asMap(v)
	return m["type"] == "prometheus" && m["uid"] == "${datasource}"
}

// fam is a metric family as scraped: its type, and the values each label
// takes.
type fam struct {
	name, typ string
	labels    map[string]map[string]bool
}

// scrape reads m's /metrics in the text format.
func scrape(t *testing.T, m *Metrics) map[string]*fam {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, body)
	}
	fams := map[string]*fam{}
	var cur *fam
	for _, line := range strings.Split(string(body), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			cur = &fam{name: f[2], typ: f[3], labels: map[string]map[string]bool{}}
			fams[cur.name] = cur
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cur == nil || !strings.HasPrefix(line, cur.name) {
			t.Fatalf("/metrics: series outside its family: %q", line)
		}
		if i, j := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}'); i >= 0 && j > i {
			for _, lv := range labelRe.FindAllStringSubmatch(line[i+1:j], -1) {
				if lv[1] == "le" || lv[1] == "quantile" {
					continue // a bucket's, not the family's
				}
				if cur.labels[lv[1]] == nil {
					cur.labels[lv[1]] = map[string]bool{}
				}
				cur.labels[lv[1]][lv[2]] = true
			}
		}
	}
	return fams
}

var labelRe = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// exportedFamilies returns the families a busy node exports: a Metrics
// whose status has live, dead and ping members, a dead link, groups,
// rejected frames, fencing, and whose counters have all counted, so that
// every series a rule or panel may name exists.
func exportedFamilies(t *testing.T) map[string]*fam {
	t.Helper()
	link := func(name string, up bool) *messages.LinkState {
		st := messages.LinkStatus_LINK_STATUS_DEAD
		if up {
			st = messages.LinkStatus_LINK_STATUS_UP
		}
		return &messages.LinkState{Name: name, Status: st}
	}
	status := &messages.ClusterStatus{
		Cluster:   "prod",
		LocalNode: "alpha",
		Nodes: []*messages.NodeState{
			{Name: "alpha", Type: messages.NodeType_NODE_TYPE_NORMAL, Status: messages.NodeStatus_NODE_STATUS_ACTIVE, Local: true,
				Links: []*messages.LinkState{link("eth0", true), link("eth1", true)}},
			{Name: "bravo", Type: messages.NodeType_NODE_TYPE_NORMAL, Status: messages.NodeStatus_NODE_STATUS_ACTIVE,
				Links: []*messages.LinkState{link("eth0", true), link("eth1", false)}},
			{Name: "charlie", Type: messages.NodeType_NODE_TYPE_NORMAL, Status: messages.NodeStatus_NODE_STATUS_DEAD,
				Links: []*messages.LinkState{link("eth0", false), link("eth1", false)}},
			{Name: "gw", Type: messages.NodeType_NODE_TYPE_PING, Status: messages.NodeStatus_NODE_STATUS_PING},
		},
		Groups: []*messages.GroupStatus{
			{Name: "web", RunningOn: []string{"alpha"}, LocalPhase: messages.GroupPhase_GROUP_PHASE_RUNNING},
			{Name: "db", RunningOn: []string{"alpha"}, LocalPhase: messages.GroupPhase_GROUP_PHASE_UNMANAGED},
			{Name: "mail", LocalPhase: messages.GroupPhase_GROUP_PHASE_STOPPED},
		},
		RejectedFrames: map[string]uint64{"bad mac": 3, "replay": 1},
		FramesReceived: 1000,
		NoQuorum:       false,
		Unfenced:       []*messages.FenceState{{Node: "charlie", Reason: "died holding [db]", Attempts: 2}},
		FenceDevices:   []*messages.FenceDeviceState{{Name: "ipmi", Ok: true}, {Name: "pdu", Ok: false}},
	}
	m := New(func(context.Context) (*messages.ClusterStatus, error) { return status, nil })
	m.HeartbeatSent()
	m.FrameSent("eth0")
	m.HeartbeatReceived("bravo", "eth0")
	m.Late("bravo")
	m.RanLate("deadline", 60*time.Millisecond)
	m.ResourceOp("web", "ip", "start", "ok", 200*time.Millisecond)
	m.GroupMoved("web", "charlie", "died", 1200*time.Millisecond)
	m.FenceOp("ipmi", "charlie", errors.New("no answer"))
	m.FenceOp("ipmi", "charlie", nil)

	fams := scrape(t, m)
	// A family the status collector or a counter failed to produce would
	// make every check below vacuous for it.
	for _, name := range []string{"hanode_peer_up", "hanode_peer_status", "hanode_link_up", "hanode_group_phase",
		"hanode_group_running_nodes", "hanode_quorum", "hanode_nodes_to_fence", "hanode_fence_device_ok",
		"hanode_fence_operations_total", "hanode_heartbeats_late_total", "hanode_ran_late_seconds",
		"process_resident_memory_bytes", "go_goroutines"} {
		if fams[name] == nil {
			t.Fatalf("the representative node exports no %s", name)
		}
	}
	return fams
}

var (
	// Metric names: hanode's own, and the Go and process collectors'.
	metricRe = regexp.MustCompile(`\b(?:hanode|go|process)_[a-zA-Z0-9_]*[a-zA-Z0-9]`)
	// A selector and its matchers.
	selectorRe = regexp.MustCompile(`\b((?:hanode|go|process)_[a-zA-Z0-9_]*[a-zA-Z0-9])\{([^}]*)\}`)
	matcherRe  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	// Labels of aggregations and vector matching.
	groupingRe = regexp.MustCompile(`\b(?:by|without|ignoring|on)\s*\(([^()]*)\)`)
)

// Labels a scrape adds to every series, and that of histogram buckets.
var targetLabels = map[string]bool{"instance": true, "job": true}

// checkNames checks the metric names, selector labels and grouping labels
// in texts against fams, and label values too when values is set (not for
// made-up test series). It returns the families named.
func checkNames(t *testing.T, file string, texts []string, fams map[string]*fam, values bool) map[string]bool {
	t.Helper()
	named := map[string]bool{}
	allLabels := map[string]bool{"le": true}
	for l := range targetLabels {
		allLabels[l] = true
	}
	for _, f := range fams {
		for l := range f.labels {
			allLabels[l] = true
		}
	}
	for _, text := range texts {
		for _, name := range metricRe.FindAllString(text, -1) {
			f, _ := family(fams, name)
			if f == nil {
				t.Errorf("%s: %s is not a metric hanode exports", file, name)
				continue
			}
			named[f.name] = true
		}
		for _, sel := range selectorRe.FindAllStringSubmatch(text, -1) {
			f, bucket := family(fams, sel[1])
			if f == nil {
				continue // reported above
			}
			for _, mt := range matcherRe.FindAllStringSubmatch(sel[2], -1) {
				label, op, value := mt[1], mt[2], mt[3]
				if targetLabels[label] || (bucket && label == "le") {
					continue
				}
				vals, ok := f.labels[label]
				if !ok {
					t.Errorf("%s: %s has no label %s (in %s)", file, f.name, label, sel[0])
					continue
				}
				if values && op == "=" && !strings.Contains(value, "$") && !vals[value] {
					t.Errorf("%s: %s never has %s=%q (in %s); it has %v", file, f.name, label, value, sel[0], keys(vals))
				}
			}
		}
		for _, g := range groupingRe.FindAllStringSubmatch(text, -1) {
			for _, l := range strings.Split(g[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !allLabels[l] {
					t.Errorf("%s: no hanode metric has a label %s (in %s)", file, l, g[0])
				}
			}
		}
	}
	return named
}

// family returns the family of a series name, and whether the name is a
// histogram's bucket series.
func family(fams map[string]*fam, name string) (*fam, bool) {
	if f := fams[name]; f != nil {
		return f, false
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if f := fams[base]; ok && f != nil && (f.typ == "histogram" || f.typ == "summary") {
			return f, suffix == "_bucket"
		}
	}
	return nil, false
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type dashExpr struct{ where, expr string }

// dashboardExprs returns the PromQL of the dashboard: panel targets,
// annotation queries and the variables' queries.
func dashboardExprs(t *testing.T, d map[string]any) []dashExpr {
	t.Helper()
	var out []dashExpr
	var panels func(list []any)
	panels = func(list []any) {
		for _, p := range list {
			pm := asMap(p)
			panels(asList(pm["panels"]))
			for _, tg := range asList(pm["targets"]) {
				if e, ok := asMap(tg)["expr"].(string); ok {
					out = append(out, dashExpr{fmt.Sprintf("panel %q", pm["title"]), e})
				}
			}
		}
	}
	panels(asList(d["panels"]))
	for _, a := range asList(asMap(d["annotations"])["list"]) {
		if e, ok := asMap(a)["expr"].(string); ok {
			out = append(out, dashExpr{fmt.Sprintf("annotation %q", asMap(a)["name"]), e})
		}
	}
	for _, v := range asList(asMap(d["templating"])["list"]) {
		vm := asMap(v)
		if vm["type"] != "query" {
			continue
		}
		q, ok := vm["query"].(string)
		if !ok {
			q, _ = asMap(vm["query"])["query"].(string)
		}
		out = append(out, dashExpr{fmt.Sprintf("variable %q", vm["name"]), q})
	}
	if len(out) == 0 {
		t.Fatal("hanode.json: no expressions")
	}
	return out
}

func loadDashboard(t *testing.T) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal([]byte(readFile(t, dashboardFile)), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

func walkStrings(v any, f func(string)) {
	switch v := v.(type) {
	case string:
		f(v)
	case []any:
		for _, e := range v {
			walkStrings(e, f)
		}
	case map[string]any:
		for _, e := range v {
			walkStrings(e, f)
		}
	}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runPromtool runs promtool, bounded, and fails the test with its output
// if it fails.
func runPromtool(t *testing.T, promtool, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}
