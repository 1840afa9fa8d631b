package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts"
)

// TestRealtimeNode runs hanode with `realtime on` and `rtprio 3` on a test
// host: every thread of hanode runs SCHED_RR at 3 with its memory locked
// and one CPU left out of its Go scheduler, while its resource agent and
// its respawned program run SCHED_OTHER at nice 0 with nothing locked, as
// Heartbeat sets its children back to normal time.
func TestRealtimeNode(t *testing.T) {
	lab := testhosts.New(t, testhosts.Options{Hosts: 1})
	h := lab.Host(1)
	dir := h.TempDir()
	ha, out := filepath.Join(dir, "ha.d"), filepath.Join(dir, "out")
	for _, d := range []string{filepath.Join(ha, "resource.d"), out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Each writes what the kernel says of its scheduling and locked
	// memory; the respawned program then exits 100 (not restarted).
	agent := fmt.Sprintf(`#!/bin/sh
case "$1" in
start) cat /proc/self/sched /proc/self/status > %[1]s/agent.tmp && mv %[1]s/agent.tmp %[1]s/agent && touch %[1]s/running ;;
stop) rm -f %[1]s/running ;;
status) if [ -e %[1]s/running ]; then echo running; else echo stopped; fi ;;
esac
exit 0
`, out)
	respawned := fmt.Sprintf("#!/bin/sh\ncat /proc/self/sched /proc/self/status > %[1]s/respawn.tmp && mv %[1]s/respawn.tmp %[1]s/respawn\nexit 100\n", out)
	files := []struct {
		name, text string
		mode       os.FileMode
	}{
		{"ha.cf", fmt.Sprintf("logfacility none\nkeepalive 100ms\ndeadtime 1\ninitdead 2\nudpport 694\nbcast eth0\nrealtime on\nrtprio 3\nrespawn root %s\nauto_failback on\nnode node1\n",
			filepath.Join(ha, "respawned")), 0o644},
		{"haresources", "node1 rtprobe\n", 0o644},
		{"authkeys", "auth 1\n1 sha1 " + testKey + "\n", 0o600},
		{"resource.d/rtprobe", agent, 0o755},
		{"respawned", respawned, 0o755},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(ha, f.name), []byte(f.text), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	p := h.Start("node1", hanodeBin, "run", "--hacf", ha, "--name", "node1",
		"--state-dir", filepath.Join(dir, "state"), "--socket", filepath.Join(dir, "hanode.sock"))
	testhosts.WaitFor(t, 30*time.Second, 20*time.Millisecond, "the agent and the respawned program run", func() (bool, string) {
		_, errA := os.Stat(filepath.Join(out, "agent"))
		_, errR := os.Stat(filepath.Join(out, "respawn"))
		return errA == nil && errR == nil, fmt.Sprintf("agent: %v, respawned: %v; log:\n%s", errA, errR, p.Tail(20))
	})

	for _, child := range []string{"agent", "respawn"} {
		b, err := os.ReadFile(filepath.Join(out, child))
		if err != nil {
			t.Fatal(err)
		}
		policy, prio, locked := kernelField(string(b), "policy"), kernelField(string(b), "prio"), kernelField(string(b), "VmLck")
		if policy != 0 || prio != 120 || locked != 0 {
			t.Errorf("%s: policy %d, kernel prio %d, VmLck %d kB; want SCHED_OTHER (0) at nice 0 (120), nothing locked", child, policy, prio, locked)
		}
	}
	pid := p.PID()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/sched", pid, task.Name()))
		if err != nil {
			continue // the thread ended
		}
		// The kernel's prio of a real-time task is 99 - rtprio.
		if policy, prio := kernelField(string(b), "policy"), kernelField(string(b), "prio"); policy != 2 || prio != 99-3 {
			t.Errorf("hanode thread %s: policy %d, kernel prio %d; want SCHED_RR (2) at rtprio 3 (96)", task.Name(), policy, prio)
		}
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	if kernelField(string(status), "VmLck") == 0 {
		t.Errorf("hanode's memory is not locked")
	}
	log := p.Output()
	wants := []string{`msg="real-time scheduling: every thread SCHED_RR; programs started at normal priority" priority=3`, `msg="memory locked: `}
	if runtime.NumCPU() > 1 && os.Getenv("GOMAXPROCS") == "" {
		wants = append(wants, fmt.Sprintf(`msg="Go processors lowered to leave a CPU to the rest of the machine" gomaxprocs=%d`, runtime.NumCPU()-1))
	}
	for _, want := range wants {
		if !strings.Contains(log, want) {
			t.Errorf("no %q in the log:\n%s", want, log)
		}
	}
	t.Logf("%d threads SCHED_RR/3, %d kB locked; agent and respawned program SCHED_OTHER", len(tasks), kernelField(string(status), "VmLck"))
}

// kernelField reads a number from /proc/PID/sched ("name : N") or
// /proc/PID/status ("Name:\tN kB") text; -1 when absent.
func kernelField(text, name string) int {
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != name {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB")); err == nil {
			return n
		}
	}
	return -1
}

// TestRealtimeDirectives: realtime and rtprio are carried out, not
// ignored: hanode check lists no difference for them, config convert says
// how to keep them (the native configuration has no such field), and
// a priority out of range is refused, by ha.cf and by the flag.
func TestRealtimeDirectives(t *testing.T) {
	dir := t.TempDir()
	cf := "keepalive 1\ndeadtime 10\nudpport 694\nucast lo 127.0.0.1\nrealtime on\nrtprio 5\nauto_failback on\nnode n1 n2\n"
	for name, text := range map[string]string{"ha.cf": cf, "haresources": "", "authkeys": "auth 1\n1 sha1 secret\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := runCLI("check", "--hacf", dir, "--name", "n1")
	if code != 0 || strings.Contains(out+errOut, "realtime") || strings.Contains(out+errOut, "rtprio") {
		t.Errorf("check: exit %d, realtime or rtprio mentioned:\n%s%s", code, out, errOut)
	}
	code, native, errOut := runCLI("config", "convert", dir)
	if code != 0 || !strings.Contains(native, "# note: realtime on is not part of the native configuration: run hanode with --realtime --rtprio 5") {
		t.Errorf("convert: exit %d %s\n%s", code, errOut, native)
	}

	os.WriteFile(filepath.Join(dir, "ha.cf"), []byte(strings.Replace(cf, "rtprio 5", "rtprio 0", 1)), 0o600)
	code, _, errOut = runCLI("check", "--hacf", dir, "--name", "n1")
	if code == 0 || !strings.Contains(errOut, `ha.cf:6: rtprio: "0" is not a real-time priority from 1 to 99`) {
		t.Errorf("check with rtprio 0: exit %d %s", code, errOut)
	}
	// Refused before anything starts.
	os.WriteFile(filepath.Join(dir, "ha.cf"), []byte(cf), 0o600)
	code, _, errOut = runCLI("run", "--hacf", dir, "--name", "n1", "--rtprio", "100", "--socket", "", "--state-dir", t.TempDir())
	if code != 2 || !strings.Contains(errOut, "real-time priority 100: not between 1 and 99") {
		t.Errorf("run --rtprio 100: exit %d %s", code, errOut)
	}
}
