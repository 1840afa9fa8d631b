package actors

import (
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/node/host/rt"
	"github.com/hanode/hanode/node/machine/respawn"
)

// RespawnSpec is a program hanode keeps running (Heartbeat's respawn).
type RespawnSpec struct {
	// Name identifies it in logs.
	Name string
	Path string
	Args []string
	// Env is its whole environment.
	Env []string
	// Credential runs it as another user; nil for hanode's own.
	Credential *syscall.Credential
	// Failfast reboots the machine when the program dies abnormally
	// (Heartbeat's failfast): killed by a signal, or an exit code other
	// than 0 and 100.
	Failfast bool
	// Reboot restarts the machine; nil uses the reboot system call.
	Reboot func() error
}

// RespawnState is the program's process and restart history. It lives in
// the node, so that a restarted actor neither starts a second copy nor
// forgets how often it restarted.
type RespawnState struct {
	spec   RespawnSpec
	policy *respawn.Policy
	cmd    *exec.Cmd
	// exited is closed when the running process has been reaped.
	exited chan struct{}
	// given up: it asked not to be restarted.
	finished bool
}

// NewRespawnState returns the state of a program not started yet.
func NewRespawnState(spec RespawnSpec) *RespawnState {
	return &RespawnState{spec: spec, policy: respawn.New()}
}

// respawnExited tells the respawn actor that its process ended.
type respawnExited struct {
	pid  int
	code int
}

// Respawn is the actor that keeps one program running.
type Respawn struct {
	st       *RespawnState
	log      *slog.Logger
	deadline *Deadline
	now      func() time.Time
}

// NewRespawn returns a producer of respawn actors sharing st.
func NewRespawn(st *RespawnState, log *slog.Logger) actor.Producer {
	return func() actor.Actor {
		return &Respawn{st: st, log: log.With("respawn", st.spec.Name), now: time.Now}
	}
}

// Receive handles the actor's messages.
func (a *Respawn) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.deadline = NewDeadline(ctx.ActorSystem(), ctx.Self())
		if a.st.cmd == nil && !a.st.finished {
			a.start(ctx)
		}
	case *actor.Restarting:
		// The program keeps running; the next incarnation watches it.
		a.deadline.Stop()
	case *actor.Stopping:
		a.deadline.Stop()
		a.stop()
	case *respawnExited:
		if a.st.cmd == nil || a.st.cmd.Process.Pid != m.pid {
			return
		}
		a.st.cmd = nil
		if a.st.spec.Failfast && m.code != 0 && m.code != respawn.NoRespawnCode {
			a.failfast(m)
			return
		}
		d := a.st.policy.Exited(a.now(), m.code)
		a.log.Warn("program exited", "pid", m.pid, "exit", m.code, "decision", d.Reason)
		if !d.Restart {
			a.st.finished = true
			return
		}
		a.deadline.Arm(a.now(), d.At)
	case *DeadlineReached:
		if a.deadline.Fired(m) && a.st.cmd == nil && !a.st.finished {
			a.start(ctx)
		}
	}
}

func (a *Respawn) start(ctx actor.Context) {
	spec := a.st.spec
	r, w, err := os.Pipe()
	if err != nil {
		a.retryLater(err)
		return
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: spec.Credential}
	// At normal priority even when hanode runs real-time (realtime on).
	err = rt.Start(cmd)
	w.Close()
	if err != nil {
		r.Close()
		a.retryLater(err)
		return
	}
	a.st.policy.Started(a.now())
	a.st.cmd = cmd
	exited := make(chan struct{})
	a.st.exited = exited
	pid := cmd.Process.Pid
	a.log.Info("program started", "pid", pid, "path", spec.Path, "args", spec.Args)
	log := a.log.With("pid", pid)
	go func() {
		// Read to the pipe's end, whatever the program prints: closing
		// it early (at a line too long) would kill the program with
		// SIGPIPE at its next write.
		if err := respawn.Lines(r, respawn.MaxLine, func(l string) { log.Info("program output", "line", l) }); err != nil {
			log.Error("reading the program's output", "err", err)
		}
		r.Close()
	}()
	self, sys := ctx.Self(), ctx.ActorSystem()
	go func() {
		err := cmd.Wait()
		code := 0
		if err != nil {
			code = -1
			if ee, ok := err.(*exec.ExitError); ok && ee.Exited() {
				code = ee.ExitCode()
			}
		}
		close(exited)
		sys.Root.Send(self, &respawnExited{pid: pid, code: code})
	}()
}

// failfast reboots the machine: a program the node cannot live without
// died, and a reboot is the quickest way for the peers to take over
// cleanly (they see the node die and fence it if they can).
func (a *Respawn) failfast(m *respawnExited) {
	a.st.finished = true
	a.log.Error("failfast: program died: rebooting the machine", "pid", m.pid, "exit", m.code)
	reboot := a.st.spec.Reboot
	if reboot == nil {
		reboot = RebootMachine
	}
	if err := reboot(); err != nil {
		a.log.Error("failfast: reboot failed", "err", err)
	}
}

// RebootMachine is Heartbeat's cl_reboot: sync, then restart at once.
func RebootMachine() error {
	syscall.Sync()
	return syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART)
}

// retryLater counts a start that could not even begin as a failed run.
func (a *Respawn) retryLater(err error) {
	a.st.policy.Started(a.now())
	d := a.st.policy.Exited(a.now(), -1)
	at := d.At
	if min := a.now().Add(time.Second); at.Before(min) {
		at = min
	}
	a.log.Error("cannot start program", "err", err, "retry_at", at.Format(time.TimeOnly))
	a.deadline.Arm(a.now(), at)
}

// stopGrace is how long a program has to exit after SIGTERM at shutdown.
const stopGrace = 5 * time.Second

// stop ends the program at shutdown: SIGTERM to its process group, then
// SIGKILL after stopGrace.
func (a *Respawn) stop() {
	cmd := a.st.cmd
	if cmd == nil {
		return
	}
	a.st.finished = true
	pid := cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-a.st.exited:
	case <-time.After(stopGrace):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-a.st.exited
	}
	a.st.cmd = nil
	a.log.Info("program stopped", "pid", pid)
}
