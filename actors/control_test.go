package actors

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/ops/control"
)

// controlBeside runs a control actor on a socket under a stand-in for the
// node actor that is also its messenger: it answers NotesQuery with notes
// and counts the notes it is asked to send.
func controlBeside(t *testing.T, notes []*messages.ReceivedNote) (*control.Client, *atomic.Int64) {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	t.Cleanup(sys.Shutdown)
	path := filepath.Join(t.TempDir(), "hanode.sock")
	ready := make(chan error, 1)
	var sent atomic.Int64
	node := actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started:
			ctx.SpawnNamed(actor.PropsFromProducer(NewControl(ControlConfig{Socket: path, Log: quiet, Messenger: ctx.Self(),
				Ready: func(err error) { ready <- err }})), "control")
		case *NotesQuery:
			ctx.Respond(&messages.NotesResponse{Notes: notes})
		case *SendNote:
			sent.Add(1)
			ctx.Respond(&messages.NoteSent{MessageSequence: 1})
		}
	})
	pid, err := sys.Root.SpawnNamed(node, "node")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Root.StopFuture(pid).Wait() })
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("control socket not listening within 5s")
	}
	return &control.Client{Path: path}, &sent
}

// Item 9: a note longer than MaxNote is refused by the node itself, even
// from a client that does not check, and one of MaxNote bytes is sent.
func TestControlRefusesOversizeNote(t *testing.T) {
	client, sent := controlBeside(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := &messages.ControlRequest{Request: &messages.ControlRequest_SendNote{SendNote: &messages.SendNoteRequest{Text: strings.Repeat("x", 5000)}}}
	_, err := client.Do(ctx, req)
	if want := "note of 5000 bytes exceeds the limit of 4096 bytes"; err == nil || err.Error() != want {
		t.Fatalf("oversize note: %v, want %q", err, want)
	}
	if n := sent.Load(); n != 0 {
		t.Fatalf("%d oversize notes sent", n)
	}
	if _, err := client.SendNote(ctx, strings.Repeat("x", control.MaxNote)); err != nil || sent.Load() != 1 {
		t.Fatalf("note of the most bytes: %v", err)
	}
}

// Item 9: however many and however long the notes peers sent (2000 of 10
// KiB, 20 MB: more than a response may be), hanode notes gets an answer:
// the newest notes within notesBudget, each cut to MaxNote, and the count
// of those left out. The messenger's notes are not changed.
func TestNotesAnswerIsBounded(t *testing.T) {
	var notes []*messages.ReceivedNote
	long := strings.Repeat("é", 5*1024) // 10 KiB, two bytes a character
	for i := range 2000 {
		notes = append(notes, &messages.ReceivedNote{Sender: "n2", MessageSequence: uint64(i + 1), Text: long})
	}
	notes = append(notes, &messages.ReceivedNote{Sender: "n2", MessageSequence: 2001, Text: "short"})
	client, _ := controlBeside(t, notes)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := client.NotesAnswer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Notes
	if len(got) == 0 || uint64(len(got))+resp.Dropped != 2001 || resp.Dropped == 0 {
		t.Fatalf("%d notes and %d dropped, of 2001", len(got), resp.Dropped)
	}
	if size := proto.Size(resp); size > notesBudget+16 {
		t.Fatalf("answer of %d bytes, budget %d", size, notesBudget)
	}
	if last := got[len(got)-1]; last.MessageSequence != 2001 || last.Text != "short" {
		t.Fatalf("newest note %d %q", last.MessageSequence, last.Text)
	}
	if first := got[0]; first.MessageSequence != resp.Dropped+1 {
		t.Fatalf("oldest kept %d after %d dropped", first.MessageSequence, resp.Dropped)
	}
	for _, n := range got[:len(got)-1] {
		if len(n.Text) > control.MaxNote || !strings.HasSuffix(n.Text, fmt.Sprintf(" [cut: %d bytes]", len(long))) || !utf8.ValidString(n.Text) {
			t.Fatalf("note %d: %d bytes, ends %q", n.MessageSequence, len(n.Text), n.Text[max(0, len(n.Text)-30):])
		}
	}
	for _, n := range notes[:2000] {
		if n.Text != long {
			t.Fatalf("the messenger's note %d was changed", n.MessageSequence)
		}
	}
	t.Logf("%d notes in %d bytes, %d older left out", len(got), proto.Size(resp), resp.Dropped)
}
