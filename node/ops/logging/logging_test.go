package logging

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

func TestFilesAndLevels(t *testing.T) {
	dir := t.TempDir()
	logFile, debugFile := filepath.Join(dir, "ha-log"), filepath.Join(dir, "ha-debug")
	var stderr bytes.Buffer
	level := new(slog.LevelVar)
	log, closeFn, warns, err := New(Options{Stderr: &stderr, Config: &messages.Logging{File: logFile, DebugFile: debugFile}, Level: level})
	if err != nil || len(warns) > 0 {
		t.Fatal(err, warns)
	}
	log.Debug("detail", "k", 1)
	log.Info("hello", "node", "n1")
	level.Set(slog.LevelDebug) // as SIGUSR1 does
	log.Debug("now visible")
	closeFn()
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	if s := read(logFile); !strings.Contains(s, "hello") || strings.Contains(s, "detail") {
		t.Fatalf("logfile: %q", s)
	}
	if s := read(debugFile); !strings.Contains(s, "detail") || !strings.Contains(s, "hello") {
		t.Fatalf("debugfile: %q", s)
	}
	if s := stderr.String(); strings.Contains(s, "msg=detail") || !strings.Contains(s, "now visible") {
		t.Fatalf("stderr: %q", s)
	}
}

func TestDebugLevelFromConfigAndJSON(t *testing.T) {
	var stderr bytes.Buffer
	log, _, _, err := New(Options{Format: "json", Stderr: &stderr, Config: &messages.Logging{Debug: 1}})
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("x")
	if !strings.HasPrefix(stderr.String(), `{"time"`) || !strings.Contains(stderr.String(), `"msg":"x"`) {
		t.Fatalf("json debug: %q", stderr.String())
	}
}

func TestErrors(t *testing.T) {
	if _, _, _, err := New(Options{Format: "xml"}); err == nil {
		t.Fatal("bad format accepted")
	}
	if _, _, _, err := New(Options{Config: &messages.Logging{File: "/nonexistent-dir/x/log"}}); err == nil {
		t.Fatal("unwritable log file accepted")
	}
	if _, _, _, err := New(Options{Config: &messages.Logging{Facility: "local9"}}); err == nil {
		t.Fatal("bad facility accepted")
	}
}

// TestSyslogFacility: with logfacility local7, records reach syslog with
// that facility and their severity (the test is the syslog daemon).
func TestSyslogFacility(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	log, closeFn, warns, err := New(Options{Config: &messages.Logging{Facility: "local7"}, SyslogNetwork: "unixgram", SyslogAddr: sock})
	if err != nil || len(warns) > 0 {
		t.Fatal(err, warns)
	}
	defer closeFn()
	log.Warn("node2 dead", "node", "node2")
	buf := make([]byte, 2048)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	// local7 (23) * 8 + warning (4) = 188.
	if got := string(buf[:n]); !strings.HasPrefix(got, "<188>") || !strings.Contains(got, "hanode") || !strings.Contains(got, "node2 dead") {
		t.Fatalf("syslog got %q", got)
	}
}
