package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/hanode/hanode/internal/lab/testhosts/hacluster"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/demo"
)

// hanodeBin is the hanode binary built once for the tests that run it as a
// real process.
var hanodeBin string

func TestMain(m *testing.M) {
	if os.Getenv("HANODE_NET_HELPER") != "" {
		// This binary runs as a network helper inside a test host; it
		// needs no hanode binary.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "hanode-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hanodeBin = filepath.Join(dir, "hanode")
	// The test scripts' state files live in this run's own directory.
	hacluster.StateDir = filepath.Join(dir, "state")
	build := exec.Command("go", "build", "-o", hanodeBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hanode:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runCLI runs the command in-process and returns its exit code and output.
func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(append([]string{"hanode"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI("version")
	if code != 0 || !strings.HasPrefix(out, "hanode ") || !strings.Contains(out, "go1.") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"nosuchcommand"},
		{"run", "--nosuchflag"},
		{"check", "--config", "a", "--hacf", "b"},
		{"config", "convert"},
		{"run", "--metrics", ":9100", "--config", "/nonexistent"},
		{"run", "--trace", "a", "b"},
	} {
		code, _, errOut := runCLI(args...)
		if code != 2 || !strings.HasPrefix(errOut, "hanode: ") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// writeNative writes a native configuration; secret files must be 0600.
func writeNative(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cluster.textproto")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodNative = `
name: "t"
nodes { name: "n1" }
nodes { name: "n2" }
timing { keepalive: "100ms" deadtime: "1s" initdead: "10s" }
links { ucast { bind: "127.0.0.1" peers: ["127.0.0.1", "127.0.0.2"] } }
auth { active_key: 1 keys { id: 1 method: AUTH_METHOD_SHA256 secret: "k" } }
`

func TestCheck(t *testing.T) {
	p := writeNative(t, goodNative)
	code, out, errOut := runCLI("check", "--config", p, "--name", "n1")
	if code != 0 || !strings.Contains(out, "valid") || !strings.Contains(out, "n1, n2") {
		t.Fatalf("check: %d %q %q", code, out, errOut)
	}
	bad := writeNative(t, strings.Replace(goodNative, `deadtime: "1s"`, `deadtime: "150ms"`, 1))
	code, _, errOut = runCLI("check", "--config", bad)
	if code != 2 || !strings.Contains(errOut, bad+": timing.deadtime: deadtime (150ms) must be more than twice the keepalive (100ms)") {
		t.Fatalf("bad deadtime: %d %q", code, errOut)
	}
	syntax := writeNative(t, "name: \"t\"\nnodes { nmae: \"n1\" }\n")
	code, _, errOut = runCLI("check", "--config", syntax)
	if code != 2 || !strings.Contains(errOut, syntax+":2: ") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("syntax error: %d %q", code, errOut)
	}
	open := filepath.Join(t.TempDir(), "open.textproto")
	os.WriteFile(open, []byte(goodNative), 0o644)
	code, _, errOut = runCLI("check", "--config", open)
	if code != 2 || !strings.Contains(errOut, "chmod 600") {
		t.Fatalf("world-readable secrets: %d %q", code, errOut)
	}
	code, _, errOut = runCLI("check", "--config", "/nonexistent/cluster.textproto")
	if code != 2 || !strings.Contains(errOut, "/nonexistent/cluster.textproto: cannot read configuration") {
		t.Fatalf("missing file: %d %q", code, errOut)
	}
}

// TestMediumThatCannotWorkStopsTheStart: an interface without a broadcast
// address is a clear error at start, not a silent link.
func TestMediumThatCannotWorkStopsTheStart(t *testing.T) {
	p := writeNative(t, strings.Replace(goodNative, `links { ucast { bind: "127.0.0.1" peers: ["127.0.0.1", "127.0.0.2"] } }`, `links { bcast { dev: "lo" } }`, 1))
	code, _, errOut := runCLI("run", "--config", p, "--name", "n1", "--state-dir", t.TempDir(), "--socket", filepath.Join(t.TempDir(), "s"))
	if code != 1 || errOut != "hanode: link lo (bcast): lo does not broadcast (loopback or point-to-point): no IPv4 broadcast address\n" {
		t.Fatalf("exit %d: %q", code, errOut)
	}
}

func TestStatusWhenNotRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	code, _, errOut := runCLI("status", "--socket", sock)
	if code != 1 || !strings.Contains(errOut, "not running") {
		t.Fatalf("status: %d %q", code, errOut)
	}
	// cl_status hbstatus answers "stopped" with exit 1, as Heartbeat's.
	code, out, _ := runCLI("cl_status", "--socket", sock, "hbstatus")
	if code != 1 || out != "Heartbeat is stopped on this machine.\n" {
		t.Fatalf("hbstatus: %d %q", code, out)
	}
}

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes for a few seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, hanodeBin, "demo").CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{"every node sees every node active", "answered by node1", "SIGKILL node1 and its service",
		"node2 declares node1 dead", "node3 declares node1 dead", "answered by node2", "the failover gap",
		"answered by node1 again", "the clean hand-over gap", "done"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("demo took %v", d)
	}
}

// proc is a hanode process started by a test, killed by PID at cleanup.
type proc struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), out: &bytes.Buffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("output of %v:\n%s", args, p.out.String())
		}
	})
	return p
}

// waitCLI runs hanode with args until its output satisfies ok, within
// timeout.
func waitCLI(t *testing.T, timeout time.Duration, ok func(code int, out string) bool, args ...string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var code int
	var out string
	for time.Now().Before(deadline) {
		code, out, _ = runCLI(args...)
		if ok(code, out) {
			return code, out
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%v: last exit %d output %q, not what was waited for within %v", args, code, out, timeout)
	return 0, ""
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	port, err := demo.FreeUDPPort(2)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestRunStatusClStatusAndCleanStop runs two real nodes on loopback and
// drives them with status, cl_status (through a link named cl_status) and
// SIGTERM.
func TestRunStatusClStatusAndCleanStop(t *testing.T) {
	dir := t.TempDir()
	port := freeLoopbackPort(t)
	socks := map[string]string{}
	var procs []*proc
	for i, name := range []string{"n1", "n2"} {
		addr := fmt.Sprintf("127.0.0.%d", i+1)
		cfg := strings.Replace(goodNative, `bind: "127.0.0.1"`, fmt.Sprintf("bind: %q", addr), 1) + fmt.Sprintf("udp_port: %d\n", port)
		p := filepath.Join(dir, name+".textproto")
		os.WriteFile(p, []byte(cfg), 0o600)
		socks[name] = filepath.Join(dir, name+".sock")
		// Both spellings of --trace: n1 --trace=FILE, n2 --trace FILE.
		trace := []string{"--trace=" + filepath.Join(dir, name+".trace")}
		if name == "n2" {
			trace = []string{"--trace", filepath.Join(dir, name+".trace")}
		}
		procs = append(procs, startProc(t, hanodeBin, append([]string{"run", "--config", p, "--name", name,
			"--state-dir", filepath.Join(dir, name+"-state"), "--socket", socks[name]}, trace...)...))
	}
	waitCLI(t, 10*time.Second, func(code int, out string) bool { return code == 0 && out == "active\n" },
		"cl_status", "--socket", socks["n1"], "nodestatus", "n2")
	code, out, _ := runCLI("status", "--socket", socks["n1"])
	if code != 0 || !strings.Contains(out, "n2") || !strings.Contains(out, "active") {
		t.Fatalf("status: %d %q", code, out)
	}
	code, out, _ = runCLI("status", "--json", "--socket", socks["n1"])
	if code != 0 || !strings.Contains(out, `"local_node": "n1"`) {
		t.Fatalf("status --json: %d %q", code, out)
	}

	// --trace=FILE and --trace FILE: one JSON line per delivered message.
	for _, name := range []string{"n1", "n2"} {
		trace, err := os.ReadFile(filepath.Join(dir, name+".trace"))
		if err != nil || !bytes.Contains(trace, []byte(`"receiver":"node/membership","sender":"node/link-ucast","type":"*actors.FrameReceived"`)) {
			t.Fatalf("%s trace file: %v\n%.2000s", name, err, trace)
		}
	}

	// The binary called through a link named cl_status is cl_status.
	link := filepath.Join(dir, "cl_status")
	if err := os.Symlink(hanodeBin, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link, "listnodes")
	cmd.Env = append(os.Environ(), "HANODE_SOCKET="+socks["n2"])
	got, err := cmd.Output()
	if err != nil || string(got) != "n2\nn1\n" { // Heartbeat's order: backwards
		t.Fatalf("cl_status link listnodes: %v %q", err, got)
	}

	// SIGTERM: clean exit 0, socket removed, the peer sees it dead at once.
	procs[1].cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-procs[1].done:
		procs[1].done <- err // for the cleanup
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, procs[1].out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if _, err := os.Stat(socks["n2"]); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
	code, out = waitCLI(t, 900*time.Millisecond, func(code int, out string) bool { return out == "dead\n" },
		"cl_status", "--socket", socks["n1"], "nodestatus", "n2")
	if code != 1 {
		t.Fatalf("nodestatus of a dead node exits %d", code)
	}
}

// TestCheckResources: hanode check resolves every resource script as
// Heartbeat does at start, and names the haresources line of one it cannot
// find; run refuses to start on it.
func TestCheckResources(t *testing.T) {
	dir := haDirWithIPaddr2(t, map[string]string{
		"ha.cf":       "keepalive 1\ndeadtime 10\nudpport 694\nucast lo 127.0.0.1\nauto_failback off\nnode n1 n2\n",
		"haresources": "n1 IPaddr2::10.201.0.100/24/eth0 \\\n   nosuchscript::arg\n",
		"authkeys":    "auth 1\n1 sha1 secret\n",
	})
	code, _, errOut := runCLI("check", "--hacf", dir, "--name", "n1")
	want := filepath.Join(dir, "haresources") + `:2: nosuchscript::arg: cannot locate resource script "nosuchscript"`
	if code != 2 || !strings.HasPrefix(errOut, "hanode: "+want) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("missing script: exit %d %q, want %q", code, errOut, want)
	}
	code, _, errOut = runCLI("run", "--hacf", dir, "--name", "n1", "--state-dir", t.TempDir(), "--socket", filepath.Join(t.TempDir(), "s"))
	if code != 2 || !strings.Contains(errOut, want) {
		t.Fatalf("run with a missing script: exit %d %q", code, errOut)
	}
	os.WriteFile(filepath.Join(dir, "haresources"), []byte("n1 IPaddr2::10.201.0.100/24/eth0\n"), 0o600)
	code, out, errOut := runCLI("check", "--hacf", dir, "--name", "n1")
	if _, err := os.Stat("/etc/ha.d/resource.d/IPaddr2"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("Debian's heartbeat package is not installed (apt-get install heartbeat)")
		}
		t.Skip("Debian's heartbeat package is not installed (apt-get install heartbeat)")
	}
	if code != 0 || !strings.Contains(out, "group IPaddr2::10.201.0.100/24/eth0 on n1: IPaddr2::10.201.0.100/24/eth0 (heartbeat "+filepath.Join(dir, "resource.d", "IPaddr2")+")") {
		t.Fatalf("check: %d %q %q", code, out, errOut)
	}
}

// TestCheckFencing: Heartbeat's stonith_host becomes a cluster-glue
// device driven by the stonith command; a fence agent that does not exist
// is an error naming its field.
func TestCheckFencing(t *testing.T) {
	if _, err := exec.LookPath("stonith"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("stonith missing (apt-get install cluster-glue)")
		}
		t.Skip("stonith missing (apt-get install cluster-glue)")
	}
	dir := t.TempDir()
	files := map[string]string{
		"ha.cf":       "keepalive 1\ndeadtime 10\nudpport 694\nucast lo 127.0.0.1\nauto_failback off\nstonith_host * null node1 node2\nnode node1 node2\n",
		"haresources": "",
		"authkeys":    "auth 1\n1 sha1 secret\n",
	}
	for name, text := range files {
		os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600)
	}
	code, out, errOut := runCLI("check", "--hacf", dir, "--name", "node1")
	if code != 0 || !strings.Contains(out, "fence device stonith-1: stonith") {
		t.Fatalf("check: %d %q %q", code, out, errOut)
	}
	partial := writeNative(t, goodNative+`fence_devices { name: "ipmi2" fence_agent { agent: "/bin/true" targets: "n2" } }`+"\n")
	code, out, errOut = runCLI("check", "--config", partial, "--name", "n1")
	if code != 0 || !strings.Contains(out, "warning: no fencing device can fence n1: if it dies, its groups stay stopped until an operator confirms it is off (hanode fenced n1)") {
		t.Fatalf("partial fencing: %d %q %q", code, out, errOut)
	}
	native := writeNative(t, goodNative+`fence_devices { name: "ipmi" fence_agent { agent: "fence_nosuchagent" } }`+"\n")
	code, _, errOut = runCLI("check", "--config", native, "--name", "n1")
	if code != 2 || !strings.Contains(errOut, native+": fence_devices[0]: fence device ipmi: cannot run fence_nosuchagent: executable file not found in $PATH") {
		t.Fatalf("missing agent: %d %q", code, errOut)
	}
}

// TestCheckSaysWhatAPartitionWaitCosts: three nodes, quorum, no fencing:
// check says how long a lost node's group waits before it moves (its
// stop budget); with two nodes it says nothing of the kind.
func TestCheckSaysWhatAPartitionWaitCosts(t *testing.T) {
	files := map[string]string{
		"ha.cf":       "keepalive 1\ndeadtime 10\nudpport 694\nucast lo 127.0.0.1\nnode n1 n2 n3\n",
		"haresources": "n1 IPaddr2::10.201.0.100/24/eth0\n",
		"authkeys":    "auth 1\n1 sha1 secret\n",
	}
	dir := haDirWithIPaddr2(t, files)
	code, out, errOut := runCLI("check", "--hacf", dir, "--name", "n1")
	want := "note: no fencing: when the node running group IPaddr2::10.201.0.100/24/eth0 is lost (dead or cut off), the others run it only after its stop budget, 1m0s"
	if code != 0 || !strings.Contains(out, want) {
		t.Fatalf("check: exit %d, want %q in:\n%s%s", code, want, out, errOut)
	}
	os.WriteFile(filepath.Join(dir, "ha.cf"), []byte(strings.Replace(files["ha.cf"], "node n1 n2 n3", "node n1 n2", 1)), 0o600)
	if _, out, _ := runCLI("check", "--hacf", dir, "--name", "n1"); strings.Contains(out, "stop budget") {
		t.Fatalf("two nodes have no partition wait:\n%s", out)
	}
}

// haDirWithIPaddr2 writes an /etc/ha.d of the given files (mode 0600), with
// Debian's IPaddr2 script in its resource.d.
func haDirWithIPaddr2(t *testing.T, files map[string]string) string {
	t.Helper()
	if _, err := os.Stat("/etc/ha.d/resource.d/IPaddr2"); err != nil {
		msg := "Heartbeat's IPaddr2 script is missing: /etc/ha.d/resource.d/IPaddr2 (apt-get install heartbeat)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: this test must run; .ci/run installs it)")
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "resource.d"), 0o755)
	os.Symlink("/etc/ha.d/resource.d/IPaddr2", filepath.Join(dir, "resource.d", "IPaddr2"))
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
