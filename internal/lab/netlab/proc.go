package netlab

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Proc is a process started on a host.
type Proc struct {
	host *Host
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs bin with args on the host in the background, its output
// appended to logPath. `ip netns exec` enters the namespace and execs bin
// in place, so the PID is bin's own. The process is in its own process
// group (a terminal's Ctrl-C reaches only the program, which then ends it)
// and is killed by the kernel if the program dies without cleaning up.
func (h *Host) Start(name, bin string, args []string, logPath string) (*Proc, error) {
	// Under the lab's lock: a process is either started and listed, so
	// that Close kills it, or refused because the lab is closed.
	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	if h.lab.closed {
		return nil, fmt.Errorf("netlab: start %s on %s: the lab is closed", name, h.ns)
	}
	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("netlab: start %s: %w", name, err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.ns, bin}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := h.lab.spawner.start(cmd); err != nil {
		out.Close()
		return nil, fmt.Errorf("netlab: start %s on %s: %w", name, h.ns, err)
	}
	p := &Proc{host: h, name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	h.lab.procs = append(h.lab.procs, p)
	return p, nil
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Name is the name it was started with.
func (p *Proc) Name() string { return p.name }

// Exited says whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitError is how the process ended (nil: exit code 0, or still running).
func (p *Proc) ExitError() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Kill sends SIGKILL (by PID) and waits at most timeout for the process to
// be gone.
func (p *Proc) Kill(timeout time.Duration) error {
	if p.Exited() {
		return nil
	}
	syscall.Kill(p.PID(), syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("netlab: %s (pid %d) still running %v after SIGKILL", p.name, p.PID(), timeout)
	}
}

// spawner starts every process of a lab from one OS thread that lives as
// long as the lab: Pdeathsig fires when the thread that forked a child
// ends, not the process, so children forked from Go's pool of threads
// could be killed at a random moment. When the lab closes, the thread
// ends, and the kernel kills whatever it started that is somehow left.
type spawner struct {
	reqs chan spawnReq
	done chan struct{}
}

type spawnReq struct {
	cmd  *exec.Cmd
	errc chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), done: make(chan struct{})}
	go func() {
		// Never unlocked: the thread ends with this goroutine.
		runtime.LockOSThread()
		defer close(s.done)
		for r := range s.reqs {
			r.errc <- r.cmd.Start()
		}
	}()
	return s
}

func (s *spawner) start(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	s.reqs <- spawnReq{cmd: cmd, errc: errc}
	return <-errc
}

func (s *spawner) stop() {
	close(s.reqs)
	<-s.done
}
