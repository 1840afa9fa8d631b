package node

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/machine/membership"
)

// DefaultStateDir holds what must survive a restart.
const DefaultStateDir = "/var/lib/hanode"

// generationFile is the file in the state directory that holds the last
// generation number (Heartbeat's hb_generation).
const generationFile = "generation"

// NextGeneration returns this start's generation number and stores it in
// dir: one more than the stored one (method FILE), or the current Unix time
// when that is larger (method TIME). Peers use it to tell a restarted node
// from a replayed one, so it must never go back: the file is written
// atomically and synced before the node says anything, and when it is
// missing or unreadable (a first start, a lost or damaged state directory)
// the generation is time-based, as Heartbeat's time method, which is above
// any counted one. note says so, for the log; err is set only when the new
// generation cannot be stored.
func NextGeneration(dir string, method messages.GenerationMethod, now time.Time) (gen uint64, note string, err error) {
	if err := PrepareStateDir(dir); err != nil {
		return 0, "", err
	}
	path := filepath.Join(dir, generationFile)
	timeBased := max(uint64(max(now.Unix(), 0)), 1)
	var next uint64
	data, rerr := os.ReadFile(path)
	switch {
	case rerr == nil:
		last, perr := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if perr != nil {
			next = timeBased
			note = fmt.Sprintf("%s is not a generation number (%q): using the time-based generation %d, which cannot be below an earlier one", path, truncate(strings.TrimSpace(string(data)), 40), next)
			break
		}
		if last == math.MaxUint64 {
			// One more would wrap to 0, below every generation peers
			// have seen: this node could never be heard again.
			return 0, "", fmt.Errorf("%s holds the largest generation number (%d): it cannot grow any further; remove the file (the next start uses the time-based generation; restart the other nodes too, so that they forget the old one)", path, last)
		}
		next = last + 1
		if method == messages.GenerationMethod_GENERATION_METHOD_TIME {
			next = max(next, timeBased)
		}
		if !membership.PlausibleGeneration(next, now) {
			// Peers refuse a generation this far ahead of their clocks
			// (membership.MaxGenerationAhead), so they never heard one:
			// going back to the time-based generation loses nothing.
			note = fmt.Sprintf("%s holds generation %d, further ahead of this clock's time-based generation %d than peers accept (a clock that was far ahead, or a damaged file): using %d", path, last, timeBased, timeBased)
			next = timeBased
		}
	case errors.Is(rerr, fs.ErrNotExist):
		next = timeBased
		note = fmt.Sprintf("no generation stored in %s (a first start, or the state directory was lost): using the time-based generation %d, which cannot be below an earlier one", path, next)
	default:
		next = timeBased
		note = fmt.Sprintf("cannot read %s (%v): using the time-based generation %d, which cannot be below an earlier one", path, rerr, next)
	}
	if err := writeFileAtomic(path, []byte(strconv.FormatUint(next, 10)+"\n")); err != nil {
		return 0, "", fmt.Errorf("store generation: %w", err)
	}
	return next, note, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new content, both on disk.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// PrepareStateDir creates the state directory (mode 0700) or checks the one
// there is: a directory owned by this user (or root) that no one else may
// write. What it holds decides whether this node may be heard (generation)
// and which process groups it kills at start (agents in flight); a
// directory another user can write is someone else's control over both.
func PrepareStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	return CheckStateDir(dir)
}

// CheckStateDir checks an existing state directory (see PrepareStateDir).
func CheckStateDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	return checkOwnedDir(dir, st)
}

// checkOwnedDir refuses a directory that is a symbolic link, is not owned
// by this user or root, or is writable by group or others.
func checkOwnedDir(dir string, st fs.FileInfo) error {
	if st.Mode()&fs.ModeSymlink != 0 {
		if target, err := filepath.EvalSymlinks(dir); err == nil {
			if tst, err := os.Lstat(target); err == nil {
				return checkOwnedDir(target, tst)
			}
		}
		return fmt.Errorf("state directory %s: a symbolic link that does not lead to a directory", dir)
	}
	if !st.IsDir() {
		return fmt.Errorf("state directory %s: not a directory", dir)
	}
	if uid, ok := config.FileOwner(st); ok && uid != 0 && uid != os.Geteuid() {
		return fmt.Errorf("state directory %s is owned by uid %d, not by this user (uid %d) or root: chown it, or choose another --state-dir", dir, uid, os.Geteuid())
	}
	if perm := st.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("state directory %s is writable by group or others (mode %04o): chmod 700 %s", dir, perm, dir)
	}
	return nil
}
