package config

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// FileOwner is the uid owning a file, when the platform says.
func FileOwner(st fs.FileInfo) (uid int, ok bool) {
	if sys, isStat := st.Sys().(*syscall.Stat_t); isStat {
		return int(sys.Uid), true
	}
	return 0, false
}

// CheckTrusted refuses a file that someone other than root or this user
// could change: owned by another user, or writable by group or others.
// Such files decide what runs as root (resource agents, respawn programs,
// fence commands) and which frames are believed (keys); Heartbeat only
// checked that authkeys is not readable by others.
func CheckTrusted(path string, st fs.FileInfo) error {
	if uid, ok := FileOwner(st); ok && uid != 0 && uid != os.Geteuid() {
		return fmt.Errorf("owned by uid %d, not by root or this user (uid %d): anyone who is uid %d could change what hanode runs as root; chown root %s", uid, os.Geteuid(), uid, path)
	}
	if perm := st.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("writable by group or others (mode %04o): anyone who can write it could change what hanode runs as root or believes; chmod go-w %s", perm, path)
	}
	return nil
}

// TrustIssue says why a file someone other than root or this user could
// change is not to be trusted ("" when it is fine), for warnings about the
// files hanode accepts anyway (ha.cf and haresources, whose modes
// Heartbeat never checked).
func TrustIssue(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return ""
	}
	if err := CheckTrusted(path, st); err != nil {
		return err.Error()
	}
	return ""
}
