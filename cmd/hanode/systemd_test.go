package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSystemdNotify runs the binary as systemd would run a Type=notify
// unit with WatchdogSec: NOTIFY_SOCKET names a datagram socket the test
// listens on. The node says READY=1 once running, pets the watchdog
// (WATCHDOG=1) while healthy, and says STOPPING=1 on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	dir := t.TempDir()
	sockPath := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := freeLoopbackPort(t)
	cfg := writeNative(t, strings.Replace(goodNative, `links { ucast {`, fmt.Sprintf("udp_port: %d\nlinks { ucast {", port), 1))
	cmd := exec.Command(hanodeBin, "run", "--config", cfg, "--name", "n1", "--state-dir", t.TempDir(), "--socket", filepath.Join(dir, "s"))
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath, "WATCHDOG_USEC=200000")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("hanode output:\n%s", out)
		}
	}()
	// read returns the next notification, within timeout.
	read := func(timeout time.Duration) string {
		t.Helper()
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(timeout))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification within %v: %v", timeout, err)
		}
		return string(buf[:n])
	}
	if first := read(10 * time.Second); !strings.HasPrefix(first, "READY=1\nSTATUS=node n1 of cluster t") {
		t.Fatalf("first notification %q", first)
	}
	pets := 0
	for pets < 3 {
		if m := read(2 * time.Second); m == "WATCHDOG=1" {
			pets++
		} else {
			t.Fatalf("unexpected notification %q", m)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	for {
		m := read(5 * time.Second)
		if strings.HasPrefix(m, "STOPPING=1") {
			break
		}
		if m != "WATCHDOG=1" {
			t.Fatalf("unexpected notification %q", m)
		}
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}

// TestMakeInstall installs into a staging directory: the binary, the
// links that make it cl_status, hb_standby and hb_takeover, the systemd
// unit (Type=notify, with a watchdog) and the example configuration.
func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("make is missing (apt-get install make)")
		}
		t.Skip("make is missing (apt-get install make)")
	}
	dest := t.TempDir()
	out, err := exec.Command("make", "-C", "../..", "install", "DESTDIR="+dest).CombinedOutput()
	if err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, tool := range []string{"cl_status", "hb_standby", "hb_takeover"} {
		target, err := os.Readlink(filepath.Join(dest, "usr/bin", tool))
		if err != nil || target != "../sbin/hanode" {
			t.Errorf("%s: link to %q, %v", tool, target, err)
		}
	}
	if st, err := os.Stat(filepath.Join(dest, "usr/sbin/hanode")); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("binary: %v %v", st, err)
	}
	unit, err := os.ReadFile(filepath.Join(dest, "lib/systemd/system/hanode.service"))
	if err != nil || !strings.Contains(string(unit), "Type=notify") || !strings.Contains(string(unit), "WatchdogSec=") ||
		!strings.Contains(string(unit), "KillMode=process") {
		t.Fatalf("unit: %v\n%s", err, unit)
	}
	if _, err := os.Stat(filepath.Join(dest, "usr/share/doc/hanode/examples/cluster.textproto")); err != nil {
		t.Fatal(err)
	}
	// Called through the installed link, the binary is hb_standby.
	cmd := exec.Command(filepath.Join(dest, "usr/bin/hb_standby"), "sideways")
	if out, err := cmd.CombinedOutput(); err == nil || string(out) != "usage: hb_standby [all|foreign|local|failback]\n" {
		t.Fatalf("installed hb_standby: %v %q", err, out)
	}
}
