package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func serve(t *testing.T, path string) *Server {
	t.Helper()
	s, err := Listen(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(func(_ context.Context, req *messages.ControlRequest) *messages.ControlResponse {
		switch r := req.Request.(type) {
		case *messages.ControlRequest_Status:
			return &messages.ControlResponse{Response: &messages.ControlResponse_Status{Status: &messages.ClusterStatus{LocalNode: "node1"}}}
		case *messages.ControlRequest_Parameter:
			return &messages.ControlResponse{Response: &messages.ControlResponse_Parameter{Parameter: &messages.ParameterResponse{Name: r.Parameter.Name, Value: "2", Set: true}}}
		}
		return &messages.ControlResponse{Error: "unknown request"}
	})
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRequestsAndSocketMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "hanode.sock")
	serve(t, path)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want socket 0600", st.Mode())
	}
	c := &Client{Path: path}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.Status(ctx)
	if err != nil || s.LocalNode != "node1" {
		t.Fatalf("status %v %v", s, err)
	}
	p, err := c.Parameter(ctx, "keepalive")
	if err != nil || p.Value != "2" || !p.Set {
		t.Fatalf("parameter %v %v", p, err)
	}
	if _, err := c.Do(ctx, &messages.ControlRequest{}); err == nil || err.Error() != "unknown request" {
		t.Fatalf("empty request: %v", err)
	}
}

func TestNotRunning(t *testing.T) {
	c := &Client{Path: filepath.Join(t.TempDir(), "none.sock")}
	_, err := c.Status(context.Background())
	if !errors.Is(err, ErrNotRunning) {
		t.Fatalf("got %v", err)
	}
}

// TestPermissionIsNotNotRunning: a user who may not use the socket is told
// so, not that the node is down.
func TestPermissionIsNotNotRunning(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root to run a client as another user (CI runs as root)")
		}
		t.Skip("needs root to run a client as another user")
	}
	dir := t.TempDir()
	// Let nobody reach the socket file (its own mode still refuses it).
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "hanode.sock")
	serve(t, path)
	// A client as nobody, in a child process: a copy of this test binary
	// where nobody may run it.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "client.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestPermissionClientHelper$")
	cmd.Env = append(os.Environ(), "HANODE_TEST_SOCKET="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "permission denied: "+path+" is root-only") {
		t.Fatalf("%v: %s", err, out)
	}
}

func TestPermissionClientHelper(t *testing.T) {
	path := os.Getenv("HANODE_TEST_SOCKET")
	if path == "" {
		t.Skip("helper process of TestPermissionIsNotNotRunning")
	}
	_, err := (&Client{Path: path}).Status(context.Background())
	if !errors.Is(err, ErrPermission) {
		t.Fatalf("error %v is not ErrPermission", err)
	}
	fmt.Println(err)
}

func TestLiveSocketIsNotTakenOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hanode.sock")
	serve(t, path)
	if _, err := Listen(path, quiet()); !errors.Is(err, ErrInUse) {
		t.Fatalf("second listener: %v", err)
	}
}

func TestStaleSocketIsReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hanode.sock")
	s, err := Listen(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	// Simulate a crash: the listener goes away but the file stays.
	s.ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal("socket file gone:", err)
	}
	serve(t, path)
}

func TestCloseRemovesSocketAndEndsConnections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hanode.sock")
	s, err := Listen(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		s.Serve(func(context.Context, *messages.ControlRequest) *messages.ControlResponse { return nil })
		close(served)
	}()
	// A client that connects and says nothing must not hold Close up.
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	done := make(chan error)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked by an idle connection")
	}
	<-served
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("socket file left: %v", err)
	}
}

func TestReadRefusesOversizeAndTruncated(t *testing.T) {
	var m messages.ControlRequest
	if err := Read(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff}), &m); err == nil {
		t.Fatal("oversize accepted")
	}
	if err := Read(bytes.NewReader([]byte{0, 0, 0, 9, 1, 2}), &m); err == nil {
		t.Fatal("truncated accepted")
	}
	if err := Read(bytes.NewReader([]byte{0, 0, 0, 2, 0xff, 0xff}), &m); err == nil {
		t.Fatal("garbage accepted")
	}
}

// timeoutError is what a dial that ran out of time returns.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// TestStaleSocketCheckTriesAgainWhenItRanOutOfTime: a node starting on a
// machine so loaded that its check of a socket left by an earlier run
// times out (it did not get to try in time: a connection nobody listens
// for is refused at once) tries again with more time, and replaces the
// stale socket once the connection is refused. A check that times out
// every time still refuses to start, as before, saying why.
func TestStaleSocketCheckTriesAgainWhenItRanOutOfTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hanode.sock")
	s, err := Listen(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close() // a crash: the file stays, nobody listens
	real := dialStaleCheck
	t.Cleanup(func() { dialStaleCheck = real })
	var timeouts []time.Duration
	dialStaleCheck = func(path string, timeout time.Duration) (net.Conn, error) {
		if len(timeouts) < staleChecks-1 {
			timeouts = append(timeouts, timeout)
			return nil, &net.OpError{Op: "dial", Net: "unix", Err: timeoutError{}}
		}
		return real(path, timeout)
	}
	serve(t, path)
	if want := []time.Duration{staleCheckTimeout, 2 * staleCheckTimeout}; !slices.Equal(timeouts, want) {
		t.Fatalf("checks that timed out had %v, want %v", timeouts, want)
	}

	path = filepath.Join(t.TempDir(), "hanode.sock")
	if s, err = Listen(path, quiet()); err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	tries := 0
	dialStaleCheck = func(string, time.Duration) (net.Conn, error) {
		tries++
		return nil, &net.OpError{Op: "dial", Net: "unix", Err: timeoutError{}}
	}
	_, err = Listen(path, quiet())
	if err == nil || !strings.Contains(err.Error(), "cannot tell whether a node answers there: i/o timeout") || tries != staleChecks {
		t.Fatalf("every check timing out: %v after %d tries, want a refusal after %d", err, tries, staleChecks)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("the socket was removed though nobody could tell it was stale: %v", err)
	}
}
