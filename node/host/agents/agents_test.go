package agents

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

func testDirs(t *testing.T) Dirs {
	t.Helper()
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return Dirs{HaDir: filepath.Join(abs, "ha.d"), InitD: filepath.Join(abs, "init.d"), OCFRoot: DefaultDirs.OCFRoot}
}

func hb(name string, args ...string) *messages.Resource {
	return &messages.Resource{Agent: &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: name, Args: args}}}
}

func run(t *testing.T, a *Agent, action Action) Result {
	t.Helper()
	return a.Run(context.Background(), action, 5*time.Second)
}

func TestHeartbeatClassScript(t *testing.T) {
	state := filepath.Join(t.TempDir(), "svc.state")
	a, err := Resolve(hb("Svc", state), testDirs(t), Env{Local: "node1"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Class != Heartbeat || a.ID != "Svc::"+state {
		t.Fatalf("resolved %+v", a)
	}
	if r := run(t, a, Monitor); r.Outcome != Stopped {
		t.Fatalf("before start: %s (%q)", r.Summary(), r.Output)
	}
	if r := run(t, a, Start); r.Outcome != Succeeded {
		t.Fatalf("start: %s", r.Summary())
	}
	if b, _ := os.ReadFile(state); string(b) != "node1\n" {
		t.Fatalf("HA_CURHOST not passed: %q", b)
	}
	if r := run(t, a, Monitor); r.Outcome != Running {
		t.Fatalf("after start: %s (%q)", r.Summary(), r.Output)
	}
	if r := run(t, a, Stop); r.Outcome != Succeeded {
		t.Fatalf("stop: %s", r.Summary())
	}
	// Stopping a stopped resource succeeds.
	if r := run(t, a, Stop); r.Outcome != Succeeded {
		t.Fatalf("second stop: %s", r.Summary())
	}
}

func TestHeartbeatStatusIsReadFromOutput(t *testing.T) {
	for out, want := range map[string]Outcome{
		"":                                  Stopped,
		"IPaddr2 is running":                Running,
		"INFO: IPaddr2 Running OK":          Running,
		"INFO: IPaddr2 Resource is stopped": Stopped,
		"apache is NOT running":             Stopped,
		"httpd not running":                 Stopped,
		"ok":                                Stopped,
		"status: OK":                        Running,
	} {
		if got := heartbeatStatus(out); got != want {
			t.Errorf("%q: %v, want %v", out, got, want)
		}
	}
}

// saysNotRunning is Heartbeat's regular expression written out: the same
// answers as the expression, on outputs made of its pieces.
func TestSaysNotRunningIsTheExpression(t *testing.T) {
	re := regexp.MustCompile(`(?i)not\s.*running`)
	pieces := []string{"not", "NoT", "no", "n", "t", " ", "\t", "\n", "\r", "\f", "\v", "running", "RUNNING", "runnin", "g", "x", "é", "\xff"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := rng.IntN(12); n > 0; n-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		if got, want := saysNotRunning(s), re.MatchString(s); got != want {
			t.Fatalf("%q: %v, the expression says %v", s, got, want)
		}
	}
}

func TestLSBScript(t *testing.T) {
	state := filepath.Join(t.TempDir(), "lsb.state")
	a, err := Resolve(hb("lsbsvc"), testDirs(t), Env{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Class != LSB {
		t.Fatalf("class %v", a.Class)
	}
	a.Env = append(a.Env, "LSBSVC_STATE="+state)
	for _, step := range []struct {
		action Action
		want   Outcome
	}{{Monitor, Stopped}, {Start, Succeeded}, {Monitor, Running}, {Stop, Succeeded}, {Monitor, Stopped}} {
		if r := run(t, a, step.action); r.Outcome != step.want {
			t.Fatalf("%s: %s, want %v", step.action, r.Summary(), step.want)
		}
	}
}

func TestOCFAgent(t *testing.T) {
	dummy := filepath.Join(DefaultDirs.OCFRoot, "resource.d/heartbeat/Dummy")
	if _, err := os.Stat(dummy); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("Debian's resource-agents is missing (apt-get install resource-agents)")
		}
		t.Skip("needs Debian's resource-agents (apt-get install resource-agents)")
	}
	state := filepath.Join(t.TempDir(), "dummy.state")
	r := &messages.Resource{Id: "dummy 1", Agent: &messages.Resource_Ocf{Ocf: &messages.OcfAgent{
		Provider: "heartbeat", Type: "Dummy", Params: map[string]string{"state": state},
	}}}
	a, err := Resolve(r, DefaultDirs, Env{})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		action Action
		want   Outcome
	}{{Monitor, Stopped}, {Start, Succeeded}, {Monitor, Running}, {Stop, Succeeded}, {Monitor, Stopped}} {
		if res := run(t, a, step.action); res.Outcome != step.want {
			t.Fatalf("%s: %s, want %v\n%s", step.action, res.Summary(), step.want, res.Output)
		}
	}
	if !strings.Contains(strings.Join(a.Env, " "), "OCF_RESOURCE_INSTANCE=dummy_1") {
		t.Fatal("instance name not passed")
	}
}

// TestTimeoutKillsTheProcessGroup: a hung agent is killed at its timeout,
// together with the children it started.
func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	a, err := Resolve(hb("Hang", pidFile), testDirs(t), Env{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := a.Run(context.Background(), Start, 300*time.Millisecond)
	if r.Outcome != TimedOut {
		t.Fatalf("hung start: %s", r.Summary())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("hung agent held the run for %v", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		// A killed child is reaped by init; wait for it to be gone.
		if time.Now().After(deadline) {
			t.Fatalf("the agent's child %d survived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFailureAndMissingScripts(t *testing.T) {
	a, err := Resolve(hb("Broken"), testDirs(t), Env{})
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, a, Start)
	if r.Outcome != Failed || r.ExitCode != 1 || !strings.Contains(r.Summary(), "disk on fire") {
		t.Fatalf("broken start: %s", r.Summary())
	}
	if _, err := Resolve(hb("NoSuchScript"), testDirs(t), Env{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing script: %v", err)
	}
	ocf := &messages.Resource{Agent: &messages.Resource_Ocf{Ocf: &messages.OcfAgent{Provider: "nobody", Type: "Nothing"}}}
	if _, err := Resolve(ocf, testDirs(t), Env{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing OCF agent: %v", err)
	}
}

// TestDebianResourceScriptsResolve: Debian's own resource.d wrappers are
// found as Heartbeat-class scripts.
func TestDebianResourceScriptsResolve(t *testing.T) {
	if _, err := os.Stat("/etc/ha.d/resource.d/IPaddr2"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("Debian's heartbeat resource scripts are missing (apt-get install heartbeat)")
		}
		t.Skip("needs Debian's heartbeat package for /etc/ha.d/resource.d")
	}
	a, err := Resolve(hb("IPaddr2", "10.201.0.100/24/eth0"), DefaultDirs, Env{Local: "node1"})
	if err != nil || a.Class != Heartbeat || a.Path != "/etc/ha.d/resource.d/IPaddr2" {
		t.Fatalf("%+v %v", a, err)
	}
}

// An agent that leaves a daemon holding its output open is done when it
// exits, not when the daemon closes the output.
func TestRunEndsWhenAgentExitsDespiteDaemonHoldingOutput(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "daemon.pid")
	a, err := Resolve(hb("Daemon", pidFile), testDirs(t), Env{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	r := a.Run(context.Background(), Start, 10*time.Second)
	if r.Outcome != Succeeded || !strings.Contains(r.Output, "Daemon started") {
		t.Fatalf("start: %s %q", r.Summary(), r.Output)
	}
	// The daemon lives 30s; a run that waited for its output to close
	// would take that long (or a fixed grace period).
	if r.Duration > 450*time.Millisecond {
		t.Fatalf("run took %v: it waited for the daemon's copy of the output", r.Duration)
	}
}
