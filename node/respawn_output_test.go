package node

import (
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/respawn"
)

// TestRespawnedProgramSurvivesALongLine: a failfast program prints a
// 1 MiB line, then goes on printing short ones. It is not killed (by
// SIGPIPE, had its output's reader stopped at the long line), so the
// machine is not rebooted; the long line is logged cut, the next ones
// whole.
func TestRespawnedProgramSurvivesALongLine(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prog := filepath.Join(dir, "prog")
	body := `#!/bin/sh
echo $$ > "$1/pid"
head -c 1048576 /dev/zero | tr '\0' x
echo
i=0
while [ $i -lt 6000 ]; do echo "tick $i"; i=$((i+1)); sleep 0.05; done
`
	if err := os.WriteFile(prog, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	c, addrs := loopbackCluster(t, 1, "100ms", "500ms")
	c.Respawn = []*messages.Respawn{{User: me.Username, Path: prog, Args: []string{dir}, Failfast: true}}
	logs := &syncBuffer{}
	rebooted := make(chan struct{}, 1)
	startNode(t, nodeConfig(t, c, addrs, 1), Options{
		Log:    slog.New(slog.NewTextHandler(logs, nil)),
		Reboot: func() error { rebooted <- struct{}{}; return nil },
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), `line="tick 3"`) {
		select {
		case <-rebooted:
			t.Fatalf("rebooted: the program died\n%s", tailOf(logs.String(), 2000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no output after the long line within 20s\n%s", tailOf(logs.String(), 2000))
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := logs.String()
	if !strings.Contains(out, strings.Repeat("x", respawn.MaxLine)+"… (truncated, 1048576 bytes)") ||
		strings.Contains(out, strings.Repeat("x", respawn.MaxLine+1)) {
		t.Fatalf("the long line is not logged cut to %d bytes", respawn.MaxLine)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "pid"))
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || syscall.Kill(pid, 0) != nil || strings.Contains(out, "program exited") {
		t.Fatalf("the program (%q) is not running", b)
	}
	select {
	case <-rebooted:
		t.Fatal("rebooted")
	default:
	}
}

func tailOf(s string, n int) string { return s[max(0, len(s)-n):] }
