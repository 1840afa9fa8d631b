// Package hacf reads a Linux-HA Heartbeat configuration directory
// (/etc/ha.d: ha.cf, haresources, authkeys) into hanode's Cluster message,
// following Heartbeat 3.0.6's rules (HEARTBEAT.md 1.1 to 1.5): its time
// syntax, booleans, defaults and ordering, and authkeys' mode 600.
//
// Each parser is a function of the file's bytes alone, except that host
// names in ucast, ping and ping_group lines are resolved when read, as
// Heartbeat resolves them; Load reads the three files and checks authkeys'
// permissions. Where hanode reads a file otherwise than Heartbeat 3.0.6
// (an ignored directive, a quirk reproduced, a name resolved), the parsers
// record a config.Difference for hanode check to list. Every problem is a
// *config.Error naming file and line. No input, however broken, makes a
// parser panic (they are fuzzed).
package hacf

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
)

// maxLine bounds one line of any of the files.
const maxLine = 64 << 10

// line is one line of a file, without its newline.
type line struct {
	num  int
	text string
}

// splitLines cuts data into lines (LF or CRLF), refusing NUL bytes and
// overlong lines, which no text configuration holds.
func splitLines(file string, data []byte) ([]line, config.Errors) {
	var errs config.Errors
	if i := bytes.IndexByte(data, 0); i >= 0 {
		n := bytes.Count(data[:i], []byte("\n")) + 1
		return nil, config.Errors{{File: file, Line: n, Msg: "NUL byte: this is not a text file"}}
	}
	raw := strings.Split(string(data), "\n")
	lines := make([]line, 0, len(raw))
	for i, s := range raw {
		if len(s) > maxLine {
			errs = append(errs, &config.Error{File: file, Line: i + 1, Msg: fmt.Sprintf("line longer than %d bytes", maxLine)})
			continue
		}
		if !utf8.ValidString(s) {
			errs = append(errs, &config.Error{File: file, Line: i + 1, Msg: "not valid UTF-8 text"})
			continue
		}
		lines = append(lines, line{num: i + 1, text: strings.TrimSuffix(s, "\r")})
	}
	return lines, errs
}

// Load reads the Heartbeat configuration in dir. ha.cf and authkeys are
// required; a missing haresources means no resource groups. authkeys must
// not be readable by group or others, as Heartbeat requires.
func Load(dir string) (*config.Loaded, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, config.Errors{{File: dir, Msg: fmt.Sprintf("cannot read Heartbeat configuration: %v", unwrap(err))}}
	}
	if !st.IsDir() {
		return nil, config.Errors{{File: dir, Msg: "not a directory (--hacf wants the directory holding ha.cf, haresources and authkeys)"}}
	}
	l := config.NewLoaded(config.FormatHeartbeat, dir)
	var errs config.Errors
	read := func(role string, required bool) []byte {
		path := filepath.Join(dir, role)
		l.Files[role] = path
		data, st, err := config.ReadFile(path)
		if err != nil {
			if !required && os.IsNotExist(err) {
				return nil
			}
			errs = append(errs, &config.Error{File: path, Msg: fmt.Sprintf("cannot read: %v", unwrap(err))})
			return nil
		}
		if role == "authkeys" && st.Mode().Perm()&0o044 != 0 {
			errs = append(errs, &config.Error{File: path, Msg: fmt.Sprintf("bad permissions on keyfile (mode %04o): must not be readable by group or others; chmod 600 %s", st.Mode().Perm(), path)})
			return nil
		}
		if role == "authkeys" {
			if err := config.CheckTrusted(path, st); err != nil {
				errs = append(errs, &config.Error{File: path, Msg: err.Error()})
				return nil
			}
		} else if issue := config.TrustIssue(path); issue != "" {
			// Heartbeat never checked ha.cf or haresources; configurations
			// copied with a loose umask must still run, loudly.
			l.Warnings = append(l.Warnings, config.Warning{Pos: config.Pos{File: path}, Msg: issue})
		}
		return data
	}
	if data := read("ha.cf", true); data != nil {
		errs = append(errs, ParseHaCf(l, l.Files["ha.cf"], data)...)
		if pacemakerRefused(errs) {
			return nil, errs
		}
	}
	if data := read("haresources", false); data != nil {
		errs = append(errs, ParseHaresources(l, l.Files["haresources"], data)...)
	} else if _, err := os.Lstat(l.Files["haresources"]); os.IsNotExist(err) {
		// Heartbeat 3.0.6 stops at "Cannot open resources file"
		// (heartbeat.c CHECK_HA_RESOURCES, config.c parse_ha_resources);
		// a cluster that only watches its members is useful too.
		l.Differ(config.Pos{File: l.Files["haresources"]}, config.DiffAccepted, "haresources", "no haresources file: Heartbeat 3.0.6 refuses to start without one; hanode runs with no resource groups")
	}
	// ha.cf's hanode_everywhere names haresources' resources.
	errs = append(errs, markEverywhere(l)...)
	if data := read("authkeys", true); data != nil {
		errs = append(errs, ParseAuthkeys(l, l.Files["authkeys"], data)...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	// Resource scripts are looked for in this directory's resource.d, as
	// Heartbeat looks in its own /etc/ha.d/resource.d.
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	l.Cluster.AgentDirs = &messages.AgentDirs{HaDir: abs}
	return l, nil
}

// unwrap drops the path of an *os.PathError, which the message already
// names.
func unwrap(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
