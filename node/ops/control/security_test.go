package control

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

// serveCounting serves a status answer and counts the requests answered;
// requestTimeout, when not 0, replaces the package's.
func serveCounting(t *testing.T, path string, requestTimeout time.Duration) (*Server, *atomic.Int64) {
	t.Helper()
	s, err := Listen(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if requestTimeout != 0 {
		s.requestTimeout = requestTimeout
	}
	var answered atomic.Int64
	go s.Serve(func(context.Context, *messages.ControlRequest) *messages.ControlResponse {
		answered.Add(1)
		return &messages.ControlResponse{Response: &messages.ControlResponse_Status{Status: &messages.ClusterStatus{LocalNode: "node1"}}}
	})
	t.Cleanup(func() { s.Close() })
	return s, &answered
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Item 7: --socket naming the wrong file must not delete it.
func TestListenLeavesWhatIsNotASocketAlone(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	if err := os.WriteFile(target, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A stale socket behind a symbolic link: the link is still not ours.
	stale := filepath.Join(dir, "stale.sock")
	s, err := Listen(stale, quiet())
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	for _, c := range []struct {
		name, kind string
		make       func(path string) error
	}{
		{"file", "a regular file", func(p string) error { return os.WriteFile(p, []byte("keep me"), 0o644) }},
		{"dir", "a directory", func(p string) error {
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(p, "inside"), []byte("keep me"), 0o644)
		}},
		{"symlink", "a symbolic link", func(p string) error { return os.Symlink(target, p) }},
		{"symlink-to-socket", "a symbolic link", func(p string) error { return os.Symlink(stale, p) }},
		{"fifo", "a named pipe", func(p string) error { return syscall.Mkfifo(p, 0o600) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name)
			if err := c.make(path); err != nil {
				t.Fatal(err)
			}
			before, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Listen(path, quiet())
			want := "control socket " + path + ": " + c.kind + " is there, not a socket; not removing it"
			if err == nil || err.Error() != want {
				t.Fatalf("Listen: %v, want %q", err, want)
			}
			after, err := os.Lstat(path)
			if err != nil || !os.SameFile(before, after) || after.Mode() != before.Mode() {
				t.Fatalf("%s changed: %v %v", path, after, err)
			}
		})
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "keep me" {
		t.Fatalf("link target: %q %v", b, err)
	}
	if fi, err := os.Lstat(stale); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("the socket behind the link: %v %v", fi, err)
	}
	// Nothing of the private directories is left behind.
	if m, _ := filepath.Glob(filepath.Join(dir, ".hanode-*")); len(m) != 0 {
		t.Fatalf("left behind: %v", m)
	}
}

// Item 7: a node that stops must not remove the socket of the node that
// took its path after it.
func TestCloseLeavesASuccessorsSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hanode.sock")
	first, err := Listen(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	first.ln.Close() // crashed: its file is stale
	serveCounting(t, path, 0)
	first.Close() // its listener is closed already: the error says so
	if _, err := (&Client{Path: path}).Status(context.Background()); err != nil {
		t.Fatal("the successor lost its socket:", err)
	}
}

// Item 12: the socket is bound where only this process may reach it and
// appears at its path with mode 0600 already.
func TestSocketIsNeverReachableWithALooseMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hanode.sock")
	var checked bool
	afterBind = func(private, final string) {
		checked = true
		// The socket has bind's mode now: nobody else may reach it.
		if _, err := os.Lstat(final); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists before its mode is set: %v", final, err)
		}
		fi, err := os.Stat(filepath.Dir(private))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != 0o700 || int(st.Uid) != os.Geteuid() {
			t.Errorf("private directory %v owned by %d", fi.Mode(), st.Uid)
		}
	}
	t.Cleanup(func() { afterBind = nil })
	serveCounting(t, path, 0)
	if !checked {
		t.Fatal("the socket was not bound in a private directory")
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v %v, want socket 0600", fi, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".hanode-*")); len(m) != 0 {
		t.Fatalf("private directory left: %v", m)
	}
}

// Item 12: even with the socket's mode loosened, a user other than root
// and the node's own is refused by its credentials, and its request never
// reaches the node.
func TestOtherUserIsRefusedByPeerCredentials(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root to run a client as another user (CI runs as root)")
		}
		t.Skip("needs root to run a client as another user")
	}
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "hanode.sock")
	_, answered := serveCounting(t, path, 0)
	// As an administrator's mistake or an attacker's race would leave it.
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "client.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestCredentialClientHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "HANODE_TEST_CRED_SOCKET="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	want := fmt.Sprintf("refused: permission denied: uid 65534 may not use the control socket (root or uid %d only)", os.Geteuid())
	if err != nil || !strings.Contains(string(out), want) {
		t.Fatalf("%v: %s", err, out)
	}
	if n := answered.Load(); n != 0 {
		t.Fatalf("%d requests of the other user answered", n)
	}
	// Root still is.
	if _, err := (&Client{Path: path}).Status(context.Background()); err != nil || answered.Load() != 1 {
		t.Fatalf("root refused: %v", err)
	}
}

func TestCredentialClientHelper(t *testing.T) {
	path := os.Getenv("HANODE_TEST_CRED_SOCKET")
	if path == "" {
		t.Skip("helper process of TestOtherUserIsRefusedByPeerCredentials")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := (&Client{Path: path}).Status(ctx)
	if err == nil {
		t.Fatalf("answered: %v", s)
	}
	fmt.Println("refused:", err)
}

// hostile connects and sends a header announcing n bytes, then 5 bytes.
func hostile(t *testing.T, path string, n uint32) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	msg := binary.BigEndian.AppendUint32(nil, n)
	if _, err := c.Write(append(msg, 1, 2, 3, 4, 5)); err != nil {
		t.Fatal(err)
	}
	return c
}

// heap reports the heap in use and all bytes ever allocated, after a GC.
func heap() (inuse, total uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.TotalAlloc
}

const mib = 1 << 20

// Item 8: 60 clients announcing 16 MiB and sending 5 bytes each, then 60
// announcing the most a request may be and stalling. The node's memory
// grows by what arrives, not by what is announced; at most MaxClients
// connections are served and the others, after waiting a moment for a
// slot, are told the socket is busy; a normal request is served while the
// first 60 are connected (they are refused at their header, freeing their
// slots at once), refused as busy while the stalled ones hold every slot,
// and served once they go.
func TestHostileLengthsAndClientsCostLittle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hanode.sock")
	// The stalled clients hold their slots for the test.
	s, answered := serveCounting(t, path, time.Minute)
	client := &Client{Path: path}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	inuse0, total0 := heap()
	// Announcing more than a request may be: refused at the header.
	var big []*net.UnixConn
	for range 60 {
		big = append(big, hostile(t, path, MaxMessage))
	}
	if _, err := client.Status(ctx); err != nil {
		t.Fatal("normal request beside 60 hostile clients:", err)
	}
	for _, c := range big {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the node kept a connection announcing %d bytes", MaxMessage)
		}
	}
	waitFor(t, 5*time.Second, "slots free", func() bool { return len(s.slots) == 0 })
	inuse1, total1 := heap()

	// Announcing a request it may be, sending 5 bytes of it, and waiting.
	var stalled []*net.UnixConn
	for range 60 {
		stalled = append(stalled, hostile(t, path, MaxRequest))
	}
	// The first MaxClients are served (held), the others told why not.
	var busy atomic.Int64
	var wg sync.WaitGroup
	for _, c := range stalled {
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(admitWait + 2*time.Second))
			var resp messages.ControlResponse
			if Read(c, &resp) == nil && strings.HasPrefix(resp.Error, "control socket busy: ") {
				busy.Add(1)
			}
		})
	}
	wg.Wait()
	if n := busy.Load(); n != 60-MaxClients || len(s.slots) != MaxClients || len(s.waiting) != 0 {
		t.Fatalf("%d refused as busy, %d served, %d waiting, want %d, %d and 0", n, len(s.slots), len(s.waiting), 60-MaxClients, MaxClients)
	}
	_, err := client.Status(ctx)
	want := fmt.Sprintf("control socket busy: %d clients connected; try again", MaxClients)
	if err == nil || err.Error() != want {
		t.Fatalf("request while every slot is held: %v, want %q", err, want)
	}
	inuse2, total2 := heap()
	for _, c := range stalled {
		c.Close()
	}
	waitFor(t, 5*time.Second, "slots free after the stalled clients went", func() bool { return len(s.slots) == 0 })
	if _, err := client.Status(ctx); err != nil {
		t.Fatal("normal request after the stalled clients went:", err)
	}
	inuse3, total3 := heap()
	t.Logf("heap in use: before %.1f MiB, with 60 announcing 16 MiB %.1f MiB, with 60 stalled %.1f MiB, after %.1f MiB",
		float64(inuse0)/mib, float64(inuse1)/mib, float64(inuse2)/mib, float64(inuse3)/mib)
	t.Logf("allocated: %.1f MiB by the 60 announcing 16 MiB, %.1f MiB by the 60 stalled, %.1f MiB in all",
		float64(total1-total0)/mib, float64(total2-total1)/mib, float64(total3-total0)/mib)
	if d := total3 - total0; d > 32*mib {
		t.Fatalf("the node allocated %.1f MiB for 120 hostile clients", float64(d)/mib)
	}
	if inuse3 > inuse0+8*mib {
		t.Fatalf("heap in use grew from %.1f to %.1f MiB", float64(inuse0)/mib, float64(inuse3)/mib)
	}
	if n := answered.Load(); n != 2 {
		t.Fatalf("%d requests answered, want the 2 normal ones", n)
	}
}

// Item 8: a client that does not finish its request in time loses its
// connection and slot, however it trickles its bytes.
func TestSlowClientIsDroppedAtItsDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hanode.sock")
	s, answered := serveCounting(t, path, 300*time.Millisecond)
	silent, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	trickle := hostile(t, path, 100)
	start := time.Now()
	closed := make(chan time.Duration, 2)
	for _, c := range []net.Conn{silent, trickle} {
		go func() {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := c.Read(make([]byte, 1))
			if errors.Is(err, os.ErrDeadlineExceeded) {
				closed <- time.Hour
				return
			}
			closed <- time.Since(start)
		}()
	}
	// One byte every 50ms: each one arrives in time, the request never.
	stop := time.After(3 * time.Second)
	ended := 0
trickling:
	for i := 0; i < 60; i++ {
		select {
		case d := <-closed:
			if d > 2*time.Second {
				t.Fatalf("a slow client was kept %v", d)
			}
			if ended++; ended == 2 {
				break trickling
			}
		case <-stop:
			break trickling
		case <-time.After(50 * time.Millisecond):
			trickle.Write([]byte{0})
		}
	}
	if ended != 2 {
		t.Fatalf("%d of 2 slow clients dropped", ended)
	}
	waitFor(t, 2*time.Second, "slots free", func() bool { return len(s.slots) == 0 })
	if answered.Load() != 0 {
		t.Fatal("a partial request was answered")
	}
}

// Item 8: reading a request allocates about what arrived, never what the
// header announced, and never more than MaxRequest.
func TestReadRequestAllocatesWhatArrives(t *testing.T) {
	for _, n := range []uint32{MaxRequest, MaxMessage, 1<<32 - 1} {
		msg := binary.BigEndian.AppendUint32(nil, n)
		msg = append(msg, 1, 2, 3, 4, 5)
		allocs := allocated(func() {
			var req messages.ControlRequest
			if err := ReadRequest(bytes.NewReader(msg), &req); err == nil {
				t.Fatalf("announced %d, sent 5: accepted", n)
			}
		})
		if allocs > 16<<10 {
			t.Fatalf("announced %d, sent 5: %d bytes allocated", n, allocs)
		}
	}
	// A response may be large, and is read as it arrives too.
	msg := binary.BigEndian.AppendUint32(nil, MaxMessage)
	if allocs := allocated(func() {
		Read(io.MultiReader(bytes.NewReader(msg), bytes.NewReader(make([]byte, 10))), &messages.ControlResponse{})
	}); allocs > 16<<10 {
		t.Fatalf("response announced %d, sent 10: %d bytes allocated", MaxMessage, allocs)
	}
}

// allocated is how many bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Item 8: a request over MaxRequest is refused at its header, and the
// client is told why rather than seeing the connection drop.
func TestOversizeRequestIsToldWhy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hanode.sock")
	_, answered := serveCounting(t, path, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := &messages.ControlRequest{Request: &messages.ControlRequest_SendNote{SendNote: &messages.SendNoteRequest{Text: strings.Repeat("x", 100<<10)}}}
	_, err := (&Client{Path: path}).Do(ctx, req)
	if err == nil || !strings.HasPrefix(err.Error(), "control request: message too large: ") || !strings.HasSuffix(err.Error(), fmt.Sprintf(" bytes, at most %d", MaxRequest)) {
		t.Fatalf("oversize request: %v", err)
	}
	if answered.Load() != 0 {
		t.Fatal("an oversize request was answered")
	}
}
