package scale

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hanode/hanode/internal/lab/netlab"
)

var errNotStarted = errors.New("not started")

// node is one hanode of the bench on its test host.
type node struct {
	name  string
	index int
	host  *netlab.Host
	// dir holds ha.d, the state directory, the control socket, the log.
	dir, haDir, stateDir, socket, logPath string

	mu      sync.Mutex
	proc    *netlab.Proc
	started time.Time
}

func newNode(workDir string, h *netlab.Host) *node {
	i := h.Index()
	dir := filepath.Join(workDir, nodeName(i))
	return &node{
		name: nodeName(i), index: i, host: h, dir: dir,
		haDir: filepath.Join(dir, "ha.d"), stateDir: filepath.Join(dir, "state"),
		socket: filepath.Join(dir, "hanode.sock"), logPath: filepath.Join(dir, "hanode.log"),
	}
}

// start runs `hanode run` from the node's ha.d on its host.
func (n *node) start(hanode string) error {
	args := []string{"run", "--hacf", n.haDir, "--name", n.name, "--state-dir", n.stateDir,
		"--socket", n.socket, "--reset-command", n.resetCommand()}
	p, err := n.host.Start(n.name, hanode, args, n.logPath)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.proc, n.started = p, time.Now()
	n.mu.Unlock()
	return nil
}

// process is the node's process, nil before it starts.
func (n *node) process() *netlab.Proc {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// startedAt is when the node started (zero before).
func (n *node) startedAt() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.started
}

// resetCommand is what a node does instead of rebooting the machine when
// it must reset itself (it lost quorum and could not stop its group within
// its stop budget): what a reset does to its test host, every process in
// its namespace killed, and a marker saying so.
func (n *node) resetCommand() string {
	ns := n.host.Netns()
	return fmt.Sprintf("touch %s; ip netns pids %s | xargs -r kill -9", shellQuote(n.resetMarker()), ns)
}

func (n *node) resetMarker() string { return filepath.Join(n.dir, "reset") }

// wasReset says whether the node reset its host.
func (n *node) wasReset() bool {
	_, err := os.Stat(n.resetMarker())
	return err == nil
}

// logBytes is the size of the node's log.
func (n *node) logBytes() int64 {
	st, err := os.Stat(n.logPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
