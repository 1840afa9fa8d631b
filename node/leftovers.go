package node

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// agentsFile lists, in the state directory, the process groups of the
// agent runs under way ("PID START" lines, START the process's start time
// in clock ticks since boot, so that a reused PID is never taken for it).
const agentsFile = "agents-in-flight"

// inflightAgents keeps agentsFile up to date: a procrun.Watcher given to
// every agent run. Why: a node killed while an agent starts a resource
// leaves that agent running; the node's next life probes the resource,
// may find it not up yet, and the old start then brings it up behind its
// back (the whole-cluster simulation found this). The next life ends
// those runs first (KillLeftoverAgents).
type inflightAgents struct {
	mu   sync.Mutex
	path string
	log  *slog.Logger
	runs map[int]uint64
}

func newInflightAgents(dir string, log *slog.Logger) *inflightAgents {
	return &inflightAgents{path: filepath.Join(dir, agentsFile), log: log, runs: map[int]uint64{}}
}

// Started records a run's process group.
func (f *inflightAgents) Started(pid int) {
	start, err := processStart(pid)
	if err != nil {
		return // already gone
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs[pid] = start
	f.save()
}

// Ended forgets a run.
func (f *inflightAgents) Ended(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.runs, pid)
	f.save()
}

// save writes the file (no fsync: what it guards against is a crash of
// the process, and the machine's crash ends the runs anyway).
func (f *inflightAgents) save() {
	var b strings.Builder
	for pid, start := range f.runs {
		fmt.Fprintf(&b, "%d %d\n", pid, start)
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		f.log.Warn("cannot record the agent runs under way", "err", err)
		return
	}
	if err := os.Rename(tmp, f.path); err != nil {
		f.log.Warn("cannot record the agent runs under way", "err", err)
	}
}

// processStart is a process's start time in clock ticks since boot
// (/proc/PID/stat, field 22).
func processStart(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(data)
	// The command name, in parentheses, may hold spaces: fields count
	// from the last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is the state (field 3); the start time is field 22.
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	if fields[0] == "Z" {
		return 0, fs.ErrNotExist // exited, not reaped yet
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// KillLeftoverAgents ends the agent runs an earlier life of the node left
// under way (it was killed while they ran): each recorded process group
// whose leader is still the same process is killed, and waited for (at
// most wait in all). It runs before the node probes its resources.
func KillLeftoverAgents(dir string, wait time.Duration, log *slog.Logger) (killed []int, err error) {
	path := filepath.Join(dir, agentsFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent runs of the previous life: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var pid int
		var start uint64
		if _, err := fmt.Sscanf(sc.Text(), "%d %d", &pid, &start); err != nil || pid <= 1 {
			continue
		}
		if now, err := processStart(pid); err != nil || now != start {
			continue // ended, or the PID is another process's now
		}
		if err := syscall.Kill(-pid, syscall.SIGKILL); err == nil {
			killed = append(killed, pid)
			log.Warn("ended an agent run left by the previous life of this node", "pid", pid)
		}
	}
	deadline := time.Now().Add(wait)
	for _, pid := range killed {
		for time.Now().Before(deadline) {
			if _, err := processStart(pid); err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return killed, fmt.Errorf("agent runs of the previous life: %w", err)
	}
	return killed, nil
}
