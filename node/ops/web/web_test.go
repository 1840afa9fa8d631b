package web

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/messages"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)

func sampleStatus() *messages.ClusterStatus {
	return &messages.ClusterStatus{
		Cluster: "demo", LocalNode: "node2", Generation: 7, Version: "dev",
		Started: timestamppb.New(t0), Now: timestamppb.New(t0.Add(time.Minute)), Deadtime: durationpb.New(500 * time.Millisecond),
		Nodes: []*messages.NodeState{
			{Name: "node1", Type: messages.NodeType_NODE_TYPE_NORMAL, Status: messages.NodeStatus_NODE_STATUS_DEAD,
				Links: []*messages.LinkState{{Name: "eth0", Status: messages.LinkStatus_LINK_STATUS_DEAD}}},
			{Name: "node2", Type: messages.NodeType_NODE_TYPE_NORMAL, Status: messages.NodeStatus_NODE_STATUS_ACTIVE, Local: true},
		},
		Groups: []*messages.GroupStatus{{Name: "web", PreferredNode: "node1", DesiredNode: "node2", RunningOn: []string{"node2"},
			LocalPhase: messages.GroupPhase_GROUP_PHASE_RUNNING}},
		FenceDevices:   []*messages.FenceDeviceState{{Name: "ipmi", Ok: true, Checked: timestamppb.New(t0)}},
		RejectedFrames: map[string]uint64{"bad mac": 3},
	}
}

func sampleEvents(n int) []*messages.ClusterEvent {
	var evs []*messages.ClusterEvent
	for i := range n {
		evs = append(evs, &messages.ClusterEvent{Time: timestamppb.New(t0.Add(time.Duration(i) * time.Second)),
			Kind: messages.EventKind_EVENT_KIND_GROUP, Group: "web", Summary: fmt.Sprintf("event %d", i)})
	}
	evs[n-1].Kind, evs[n-1].Gap = messages.EventKind_EVENT_KIND_GROUP_MOVED, durationpb.New(1721*time.Millisecond)
	return evs
}

func newServer(t *testing.T, status StatusFunc, events EventsFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(New(status, events, nil))
	t.Cleanup(srv.Close)
	return srv
}

func okStatus(context.Context) (*messages.ClusterStatus, error) { return sampleStatus(), nil }

func get(t *testing.T, u string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestStatusIsProtoJSONThatRoundTrips(t *testing.T) {
	srv := newServer(t, okStatus, func(int) []*messages.ClusterEvent { return nil })
	resp, body := get(t, srv.URL+"/api/v1/status")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	var got messages.ClusterStatus
	if err := protojson.Unmarshal(body, &got); err != nil {
		t.Fatalf("not protojson of a ClusterStatus: %v\n%s", err, body)
	}
	if !proto.Equal(&got, sampleStatus()) {
		t.Fatalf("round trip differs:\n%v\nwant\n%v", &got, sampleStatus())
	}
	// The proto field names, as hanode status --json writes them: the page
	// reads running_on, desired_node, no_quorum.
	if !strings.Contains(string(body), `"running_on"`) || !strings.Contains(string(body), `"desired_node"`) {
		t.Fatalf("not the proto field names: %s", body)
	}
}

func TestStatusFailureIsAnError(t *testing.T) {
	srv := newServer(t, func(context.Context) (*messages.ClusterStatus, error) { return nil, errors.New("no answer") },
		func(int) []*messages.ClusterEvent { return nil })
	resp, body := get(t, srv.URL+"/api/v1/status")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "no answer") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestOversizedAnswerIsRefused(t *testing.T) {
	huge := sampleStatus()
	huge.Cluster = strings.Repeat("x", MaxResponse)
	srv := newServer(t, func(context.Context) (*messages.ClusterStatus, error) { return huge, nil },
		func(int) []*messages.ClusterEvent { return nil })
	resp, body := get(t, srv.URL+"/api/v1/status")
	if resp.StatusCode != http.StatusInternalServerError || len(body) > 1000 {
		t.Fatalf("%d, %d bytes", resp.StatusCode, len(body))
	}
}

func TestEventsAreBoundedAndSelectedBySince(t *testing.T) {
	all := sampleEvents(DefaultEvents + 100)
	srv := newServer(t, okStatus, func(limit int) []*messages.ClusterEvent {
		if limit != 0 {
			t.Errorf("asked for %d events, want all kept (0)", limit)
		}
		return all
	})
	events := func(query string) []*messages.ClusterEvent {
		t.Helper()
		resp, body := get(t, srv.URL+"/api/v1/events"+query)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", query, resp.StatusCode, body)
		}
		var r messages.EventsResponse
		if err := protojson.Unmarshal(body, &r); err != nil {
			t.Fatalf("%s: not protojson of an EventsResponse: %v", query, err)
		}
		return r.Events
	}
	if got := events(""); len(got) != DefaultEvents || !proto.Equal(got[len(got)-1], all[len(all)-1]) {
		t.Fatalf("default: %d events, last %v", len(got), got[len(got)-1])
	}
	if got := events("?limit=3"); len(got) != 3 || got[0].Summary != all[len(all)-3].Summary {
		t.Fatalf("limit 3: %v", got)
	}
	since := all[len(all)-5].Time.AsTime().Format(time.RFC3339Nano)
	got := events("?since=" + url.QueryEscape(since) + "&limit=2000")
	if len(got) != 5 || got[0].Summary != all[len(all)-5].Summary {
		t.Fatalf("since %s: %d events, first %v (the event at since is included)", since, len(got), got)
	}
	if got[4].GetGap().AsDuration() != 1721*time.Millisecond || got[4].Kind != messages.EventKind_EVENT_KIND_GROUP_MOVED {
		t.Fatalf("move lost its gap: %v", got[4])
	}
	for _, bad := range []string{"?limit=0", "?limit=2001", "?limit=x", "?since=yesterday"} {
		if resp, _ := get(t, srv.URL+"/api/v1/events"+bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, resp.StatusCode)
		}
	}
}

func TestReadOnly(t *testing.T) {
	srv := newServer(t, okStatus, func(int) []*messages.ClusterEvent { return nil })
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		for _, p := range []string{"/", "/api/v1/status", "/api/v1/events"} {
			req, _ := http.NewRequest(m, srv.URL+p, strings.NewReader("{}"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, Allow %q", m, p, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	}
	if resp, _ := get(t, srv.URL+"/api/v1/standby"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
}

// TestPageIsSelfContained: the page loads nothing from anywhere else (no
// scheme, no protocol-relative URL, no import), and its policy allows
// exactly its own inline script and style.
func TestPageIsSelfContained(t *testing.T) {
	srv := newServer(t, okStatus, func(int) []*messages.ClusterEvent { return nil })
	resp, body := get(t, srv.URL+"/")
	page := string(body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.HasPrefix(page, "<!doctype html>") {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	for _, s := range []string{"http:", "https:", "@import", "<iframe", "<object", "<embed"} {
		if strings.Contains(strings.ToLower(page), s) {
			t.Errorf("page contains %q", s)
		}
	}
	// Every src, href and url() is relative to this origin, a fragment or
	// data: (the empty favicon).
	refs := regexp.MustCompile(`(?i)(?:src|href|action)\s*=\s*["']?([^"'\s>]*)|url\(\s*["']?([^"')]*)`).FindAllStringSubmatch(page, -1)
	if len(refs) == 0 {
		t.Fatal("found no reference at all: the pattern is wrong")
	}
	for _, m := range refs {
		ref := m[1] + m[2]
		local := strings.HasPrefix(ref, "#") || ref == "data:," || (!strings.HasPrefix(ref, "/") && !strings.Contains(ref, ":") && !strings.HasPrefix(ref, "\\"))
		if !local || strings.HasPrefix(ref, "//") {
			t.Errorf("reference %q leaves the page's origin", ref)
		}
	}
	if strings.Contains(page, "<script src") || strings.Count(page, "<script>") != 1 || strings.Count(page, "<style>") != 1 {
		t.Error("want one inline script and one inline style")
	}

	csp := resp.Header.Get("Content-Security-Policy")
	for _, tag := range []string{"script", "style"} {
		m := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`).FindStringSubmatch(page)
		sum := sha256.Sum256([]byte(m[1]))
		want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if !strings.Contains(csp, tag+"-src "+want+";") {
			t.Errorf("policy %q does not allow the page's %s (%s) alone", csp, tag, want)
		}
	}
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("policy %q allows unsafe sources", csp)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", resp.Header)
	}
	// The page asks only the two documents of this handler, by relative
	// paths (it works behind a proxy's prefix too).
	for _, m := range regexp.MustCompile(`getJSON\('([^']*)'`).FindAllStringSubmatch(page, -1) {
		if m[1] != "api/v1/status" && m[1] != "api/v1/events" {
			t.Errorf("page fetches %q", m[1])
		}
	}
}
