package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/ops/control"
)

// fakeNode answers the control requests on a socket with what answer
// returns, as a node would.
func fakeNode(t *testing.T, answer func(*messages.ControlRequest) *messages.ControlResponse) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hanode.sock")
	s, err := control.Listen(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(func(_ context.Context, req *messages.ControlRequest) *messages.ControlResponse { return answer(req) })
	t.Cleanup(func() { s.Close() })
	return path
}

// forged is a note that, printed raw, ends its line, prints a line that
// looks like another note and clears the screen.
const forged = "ok\n2024-01-01 00:00:00.000  n1#7  all clear\x1b[2J\x07\u0085 naïve ✓"

// forgedEscaped is how it must print: one line, readable, inert.
const forgedEscaped = `ok\n2024-01-01 00:00:00.000  n1#7  all clear\x1b[2J\a\u0085 naïve ✓`

// hasControls says whether out has a control byte other than a line end.
func hasControls(out string) bool {
	return strings.ContainsFunc(out, func(r rune) bool { return r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)) })
}

// Item 14: a note's text and sender come from the network: hanode notes
// prints each note on one line, its control characters escaped.
func TestNotesEscapeControlCharacters(t *testing.T) {
	sock := fakeNode(t, func(*messages.ControlRequest) *messages.ControlResponse {
		return &messages.ControlResponse{Response: &messages.ControlResponse_Notes{Notes: &messages.NotesResponse{Dropped: 3, Notes: []*messages.ReceivedNote{
			{Time: timestamppb.Now(), Sender: "n2\x1b[8m", MessageSequence: 9, Text: forged},
		}}}}
	})
	code, out, errOut := runCLI("notes", "--socket", sock)
	if code != 0 {
		t.Fatalf("notes: %d %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || lines[0] != "... 3 older notes not shown (the answer is bounded)" ||
		!strings.HasSuffix(lines[1], `  n2\x1b[8m#9  `+forgedEscaped) || hasControls(out) {
		t.Fatalf("notes printed:\n%s", out)
	}
}

// Item 14: the same for everything hanode status and hanode events print:
// a status carries names and reasons that peers sent.
func TestStatusAndEventsEscapeControlCharacters(t *testing.T) {
	evil := "n2\n\x1b[2Jfake"
	ev := &messages.ClusterEvent{Time: timestamppb.Now(), Kind: messages.EventKind_EVENT_KIND_MEMBERSHIP, Summary: "node " + evil + " dead", Reason: "said \r" + evil}
	sock := fakeNode(t, func(req *messages.ControlRequest) *messages.ControlResponse {
		if req.GetEvents() != nil {
			return &messages.ControlResponse{Response: &messages.ControlResponse_Events{Events: &messages.EventsResponse{Events: []*messages.ClusterEvent{ev}}}}
		}
		return &messages.ControlResponse{Response: &messages.ControlResponse_Status{Status: &messages.ClusterStatus{
			Cluster: "c", LocalNode: "n1",
			Nodes:    []*messages.NodeState{{Name: "n1"}, {Name: evil}},
			Groups:   []*messages.GroupStatus{{Name: "web\tx", PreferredNode: evil, RunningOn: []string{evil}}},
			Timeline: []*messages.ClusterEvent{ev},
		}}}
	})
	code, out, errOut := runCLI("status", "--socket", sock)
	if code != 0 || hasControls(out) || !strings.Contains(out, `n2\n\x1b[2Jfake`) || !strings.Contains(out, `web\tx`) || strings.Contains(out, "\nfake") {
		t.Fatalf("status: %d %q\n%s", code, errOut, out)
	}
	code, out, errOut = runCLI("events", "--socket", sock)
	if code != 0 || hasControls(out) || strings.Count(out, "\n") != 2 || !strings.Contains(out, `because: said \rn2\n\x1b[2Jfake`) {
		t.Fatalf("events: %d %q\n%s", code, errOut, out)
	}
	// JSON output is escaped by JSON itself and keeps the real text.
	code, out, _ = runCLI("status", "--json", "--socket", sock)
	if code != 0 || !strings.Contains(out, `"n2\n\u001b[2Jfake"`) {
		t.Fatalf("status --json: %d\n%s", code, out)
	}
}

// Item 9: hanode note refuses a text over the limit, saying the limit,
// before it asks the node.
func TestNoteOverTheLimitIsRefused(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	code, _, errOut := runCLI("note", "--socket", sock, strings.Repeat("x", 4000), strings.Repeat("y", 200))
	if code != 2 || errOut != "hanode: note of 4201 bytes exceeds the limit of 4096 bytes\n" {
		t.Fatalf("note over the limit: %d %q", code, errOut)
	}
	code, _, errOut = runCLI("note", "--socket", sock, strings.Repeat("x", control.MaxNote))
	if code != 1 || !strings.Contains(errOut, "not running") {
		t.Fatalf("note of the most bytes: %d %q", code, errOut)
	}
}

// Item 7: hanode run --socket naming a file that is not a socket fails at
// once, in one line naming the path, and leaves the file alone. So does a
// node whose path is taken by such a file after that check (the node's
// own Listen refuses it too: node/control's tests).
func TestRunRefusesWhatIsNotASocket(t *testing.T) {
	dir := t.TempDir()
	cfg := writeNative(t, goodNative+fmt.Sprintf("udp_port: %d\n", freeLoopbackPort(t)))
	file := filepath.Join(dir, "passwd")
	if err := os.WriteFile(file, []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, kind := range map[string]string{file: "a regular file", dir: "a directory"} {
		code, _, errOut := runCLI("run", "--config", cfg, "--name", "n1", "--state-dir", filepath.Join(dir, "state"), "--socket", path)
		want := "hanode: --socket: control socket " + path + ": " + kind + " is there, not a socket; not removing it\n"
		if code != 2 || errOut != want {
			t.Fatalf("run --socket %s: %d %q, want %q", path, code, errOut, want)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "root:x:0:0\n" {
		t.Fatalf("%s: %q %v", file, b, err)
	}
}

// Items 9 and 14 on a real node: a note with control characters is listed
// on one line, escaped; a note over the limit sent past the command's own
// check is refused by the node; and 300 notes of the most bytes, more
// than an answer holds, still list: the newest, and how many are not.
func TestNotesOnARealNode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	dir := t.TempDir()
	cfg := writeNative(t, goodNative+fmt.Sprintf("udp_port: %d\n", freeLoopbackPort(t)))
	sock := filepath.Join(dir, "n1.sock")
	startProc(t, hanodeBin, "run", "--config", cfg, "--name", "n1", "--state-dir", filepath.Join(dir, "state"), "--socket", sock)
	waitCLI(t, 10*time.Second, func(code int, _ string) bool { return code == 0 }, "notes", "--socket", sock)

	client := &control.Client{Path: sock}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := client.Do(ctx, &messages.ControlRequest{Request: &messages.ControlRequest_SendNote{SendNote: &messages.SendNoteRequest{Text: strings.Repeat("x", 5000)}}})
	if err == nil || err.Error() != "note of 5000 bytes exceeds the limit of 4096 bytes" {
		t.Fatalf("oversize note past the command: %v", err)
	}
	for i := range 300 {
		if _, err := client.SendNote(ctx, fmt.Sprintf("%04d", i)+strings.Repeat("x", control.MaxNote-4)); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, errOut := runCLI("note", "--socket", sock, forged); code != 0 || !strings.HasPrefix(out, "note ") {
		t.Fatalf("note: %d %q %q", code, out, errOut)
	}
	// Each note is delivered here too, by the node's own messenger.
	var out string
	waitCLI(t, 10*time.Second, func(code int, o string) bool {
		out = o
		return code == 0 && strings.HasSuffix(o, forgedEscaped+"\n")
	}, "notes", "--socket", sock)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	m := regexp.MustCompile(`^\.\.\. (\d+) older notes not shown`).FindStringSubmatch(lines[0])
	if m == nil || hasControls(out) {
		t.Fatalf("notes (%d lines) begin %.200q", len(lines), out)
	}
	var dropped int
	fmt.Sscan(m[1], &dropped)
	if dropped+len(lines)-1 != 301 || dropped == 0 {
		t.Fatalf("%d notes shown and %d not, of 301", len(lines)-1, dropped)
	}
	if !strings.Contains(lines[1], fmt.Sprintf("  %04d", dropped)) {
		t.Fatalf("the oldest note shown is not the one after the %d left out: %.80q", dropped, lines[1])
	}
	t.Logf("%d notes shown, %d older not", len(lines)-1, dropped)
}
