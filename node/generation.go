package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hanode/hanode/messages"
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
// atomically and synced before the node says anything.
func NextGeneration(dir string, method messages.GenerationMethod, now time.Time) (uint64, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("state directory: %w", err)
	}
	path := filepath.Join(dir, generationFile)
	var last uint64
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		last, err = strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: not a generation number (%q): fix or remove it", path, strings.TrimSpace(string(data)))
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return 0, fmt.Errorf("read generation: %w", err)
	}
	next := last + 1
	if method == messages.GenerationMethod_GENERATION_METHOD_TIME {
		if t := uint64(now.Unix()); t > next {
			next = t
		}
	}
	if err := writeFileAtomic(path, []byte(strconv.FormatUint(next, 10)+"\n")); err != nil {
		return 0, fmt.Errorf("store generation: %w", err)
	}
	return next, nil
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
