// Package agents runs resource agents the way Heartbeat does, so that the
// scripts people already have keep working: Heartbeat resource scripts
// (/etc/ha.d/resource.d/NAME args... start|stop|status, status read from
// what they print), LSB init scripts (/etc/init.d/NAME start|stop|status,
// LSB exit codes) and OCF resource agents
// ($OCF_ROOT/resource.d/PROVIDER/TYPE start|stop|monitor, OCF_RESKEY_*
// parameters, OCF exit codes). hanode's built-in address resource
// (node/host/vip) is resolved here too, so that every resource runs
// through an Agent.
//
// Every run has a timeout; a run that exceeds it is killed with its whole
// process group, so a hung script cannot hold a group forever.
package agents

import (
	"context"
	"errors"
	"fmt"
	"github.com/hanode/hanode/node/machine/resource"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/host/procrun"
	"github.com/hanode/hanode/node/host/vip"
	"github.com/hanode/hanode/node/machine/addrspec"
)

// Class is the calling convention of an agent.
type Class int

const (
	// Heartbeat is a resource.d script: `script args... start|stop|status`;
	// the status is read from standard output, its exit code ignored.
	Heartbeat Class = iota
	// LSB is an init script: exit codes per the LSB (status 0 running, 3
	// stopped).
	LSB
	// OCF is an OCF resource agent: parameters in OCF_RESKEY_*, monitor
	// exits 0 running, 7 not running.
	OCF
	// Builtin is a resource hanode runs itself, in-process (the address
	// resource), with OCF's exit statuses.
	Builtin
)

func (c Class) String() string {
	return [...]string{"heartbeat", "lsb", "ocf", "builtin"}[c]
}

// Dirs are where agents are looked for.
type Dirs struct {
	// HaDir is Heartbeat's configuration directory (/etc/ha.d); its
	// resource.d holds the resource scripts.
	HaDir   string
	InitD   string
	OCFRoot string
}

// DefaultDirs are Debian's.
var DefaultDirs = Dirs{HaDir: "/etc/ha.d", InitD: "/etc/init.d", OCFRoot: "/usr/lib/ocf"}

// Agent is a resolved, runnable resource agent.
type Agent struct {
	// ID names the resource in logs and status: "IPaddr2::10.0.0.1/24".
	ID    string
	Class Class
	// Path is the executable; for a Builtin agent, the resource's kind.
	Path string
	// Args come before the action (Heartbeat class).
	Args []string
	// Env is the agent's whole environment.
	Env []string
	// builtin runs a Builtin agent.
	builtin interface {
		Run(ctx context.Context, action Action, timeout time.Duration) Result
	}
}

// The vocabulary of resource operations lives in the pure package
// node/machine/resource (the group machine decides with it); these names
// keep the agents' API whole.
type (
	Action  = resource.Action
	Outcome = resource.Outcome
	Result  = resource.Result
)

const (
	Start     = resource.Start
	Stop      = resource.Stop
	Monitor   = resource.Monitor
	Succeeded = resource.Succeeded
	Running   = resource.Running
	Stopped   = resource.Stopped
	Failed    = resource.Failed
	TimedOut  = resource.TimedOut
)

// BuiltinAddress is the Path of the built-in address resource's agents:
// they run no program (hanode check lists them as "builtin address").
const BuiltinAddress = "address"

// ErrNotFound means no script or agent of that name exists.
var ErrNotFound = errors.New("cannot locate resource script")

// Env is the environment Heartbeat gives its scripts.
type Env struct {
	// Local is this node's name (HA_CURHOST).
	Local string
	// LogFile, DebugFile and LogFacility are passed as HA_LOGFILE,
	// HA_DEBUGLOG and HA_LOGFACILITY.
	LogFile, DebugFile, LogFacility string
	// Debug is HA_DEBUG.
	Debug int
	// Alone is true when no other node is active (HA_DONTASK=yes).
	Alone bool
}

// basePath is the PATH scripts run with: Heartbeat's and the system's.
const basePath = "/usr/lib/heartbeat:/usr/share/heartbeat:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Vars is the environment of agents (and respawned programs).
func (e Env) Vars(dirs Dirs) []string {
	v := []string{
		"PATH=" + basePath,
		"LANG=C", "LC_ALL=C",
		"HA_CURHOST=" + e.Local,
		"HA_DIR=" + dirs.HaDir,
		"HA_FUNCS=" + filepath.Join(dirs.HaDir, "shellfuncs"),
		"HA_RESOURCEDIR=" + filepath.Join(dirs.HaDir, "resource.d"),
		"HA_NICEFAILBACK=yes",
		"HA_LOGD=no",
		"HA_DEBUG=" + fmt.Sprint(e.Debug),
		"HA_debug=" + fmt.Sprint(e.Debug),
		"HA_LOGFILE=" + e.LogFile,
		"HA_DEBUGLOG=" + e.DebugFile,
		"HA_LOGFACILITY=" + e.LogFacility,
		"OCF_ROOT=" + dirs.OCFRoot,
	}
	if e.Alone {
		v = append(v, "HA_DONTASK=yes")
	}
	return v
}

// Resolve finds the agent of a configured resource: a Heartbeat agent name
// in resource.d, else in init.d; an OCF agent under OCF_ROOT.
func Resolve(r *messages.Resource, dirs Dirs, env Env) (*Agent, error) {
	base := env.Vars(dirs)
	switch a := r.Agent.(type) {
	case *messages.Resource_Heartbeat:
		h := a.Heartbeat
		id := ID(r)
		if p := filepath.Join(dirs.HaDir, "resource.d", h.Name); executable(p) {
			return &Agent{ID: id, Class: Heartbeat, Path: p, Args: h.Args, Env: base}, nil
		}
		if p := filepath.Join(dirs.InitD, h.Name); executable(p) {
			return &Agent{ID: id, Class: LSB, Path: p, Args: h.Args, Env: base}, nil
		}
		return nil, fmt.Errorf("%s: %w %q in %s or %s", id, ErrNotFound, h.Name,
			filepath.Join(dirs.HaDir, "resource.d"), dirs.InitD)
	case *messages.Resource_Ocf:
		o := a.Ocf
		id := ID(r)
		p := filepath.Join(dirs.OCFRoot, "resource.d", o.Provider, o.Type)
		if !executable(p) {
			return nil, fmt.Errorf("%s: %w: no OCF agent %s", id, ErrNotFound, p)
		}
		env := append(base,
			"OCF_RA_VERSION_MAJOR=1", "OCF_RA_VERSION_MINOR=0",
			"OCF_RESOURCE_INSTANCE="+instance(id),
			"OCF_RESOURCE_TYPE="+o.Type, "OCF_RESOURCE_PROVIDER="+o.Provider)
		keys := make([]string, 0, len(o.Params))
		for k := range o.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			env = append(env, "OCF_RESKEY_"+k+"="+o.Params[k])
		}
		return &Agent{ID: id, Class: OCF, Path: p, Env: env}, nil
	case *messages.Resource_Address:
		id := ID(r)
		spec, err := addrspec.Parse(a.Address)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		return &Agent{ID: id, Class: Builtin, Path: BuiltinAddress, builtin: vip.New(id, spec, vip.Options{})}, nil
	}
	return nil, fmt.Errorf("resource %q has no agent", r.Id)
}

// UseLog sends what an in-process agent (the built-in address) logs to
// log, the node's logger; agents that run a program log nothing
// themselves. Called before the agent first runs.
func (a *Agent) UseLog(log *slog.Logger) {
	if l, ok := a.builtin.(interface{ UseLog(*slog.Logger) }); ok {
		l.UseLog(log)
	}
}

// ID names a resource (see resource.ID).
func ID(r *messages.Resource) string { return resource.ID(r) }

var unsafeInstance = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// instance makes an OCF_RESOURCE_INSTANCE, used by agents in file names.
func instance(id string) string { return unsafeInstance.ReplaceAllString(id, "_") }

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// Run runs action with a timeout. A timeout, or ctx's end, kills the
// agent's whole process group.
func (a *Agent) Run(ctx context.Context, action Action, timeout time.Duration) Result {
	if a.builtin != nil {
		return a.builtin.Run(ctx, action, timeout)
	}
	verb := string(action)
	if action == Monitor && a.Class != OCF {
		verb = "status"
	}
	r := procrun.Run(ctx, procrun.Spec{
		Path: a.Path, Args: append(append([]string(nil), a.Args...), verb),
		Env:     append(a.Env, fmt.Sprintf("OCF_RESKEY_CRM_meta_timeout=%d", timeout.Milliseconds())),
		Timeout: timeout,
	})
	res := Result{Action: action, ExitCode: r.ExitCode, Output: r.Output, Duration: r.Duration, Err: r.Err}
	switch {
	case r.TimedOut:
		res.Outcome = TimedOut
	case r.Err != nil:
		res.Outcome = Failed
	default:
		res.Outcome = interpret(a.Class, action, res.ExitCode, res.Output)
	}
	return res
}

// interpret maps an agent's exit code (and, for Heartbeat status, its
// output) to an outcome.
func interpret(c Class, action Action, code int, output string) Outcome {
	if action != Monitor {
		if code == 0 {
			return Succeeded
		}
		return Failed
	}
	switch c {
	case Heartbeat:
		return heartbeatStatus(output)
	case LSB:
		switch code {
		case 0:
			return Running
		case 3:
			return Stopped
		}
		return Failed
	default: // OCF
		switch code {
		case 0:
			return Running
		case 7:
			return Stopped
		}
		return Failed
	}
}

// heartbeatStatus reads a resource.d script's status output as Heartbeat's
// ResourceManager does: "running" or "OK" means running, unless it says
// "not ... running"; nothing means stopped. The exit code is ignored.
func heartbeatStatus(output string) Outcome {
	switch {
	case saysNotRunning(output):
		return Stopped
	case strings.Contains(strings.ToLower(output), "running"), strings.Contains(output, "OK"):
		return Running
	}
	return Stopped
}

// saysNotRunning is the regular expression (?i)not\s.*running (Heartbeat's
// ResourceManager's "not ... running"): "not" in any case, a space, tab or
// line end, then "running" in any case later on the same line. Written
// out, as the expression's matcher took 32 kB of scratch space (a
// backtracker's bit vector) at every status check and kept one per CPU
// afterwards.
func saysNotRunning(s string) bool {
	for i := 0; i+4 <= len(s); i++ {
		if !strings.EqualFold(s[i:i+3], "not") {
			continue
		}
		switch s[i+3] {
		case ' ', '\t', '\n', '\f', '\r': // \s
		default:
			continue
		}
		rest := s[i+4:]
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 { // . is not a line end
			rest = rest[:nl]
		}
		if containsFoldASCII(rest, "running") {
			return true
		}
	}
	return false
}

// containsFoldASCII says whether s holds word (ASCII letters) in any case.
func containsFoldASCII(s, word string) bool {
	for i := 0; i+len(word) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(word)], word) {
			return true
		}
	}
	return false
}
