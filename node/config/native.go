package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/prototext"

	"github.com/hanode/hanode/messages"
)

// DefaultNativePath is where `hanode run` looks for a native configuration.
const DefaultNativePath = "/etc/hanode/cluster.textproto"

// MaxFileSize bounds every configuration file hanode reads, so that a wrong
// path (a disk image, /dev/zero) gives an error instead of eating memory.
const MaxFileSize = 4 << 20

// ReadFile reads a configuration file of at most MaxFileSize bytes.
func ReadFile(path string) ([]byte, fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("not a regular file")
	}
	if st.Size() > MaxFileSize {
		return nil, nil, fmt.Errorf("file is larger than %d bytes", MaxFileSize)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		return nil, nil, err
	}
	return b.Bytes(), st, nil
}

// protoPos finds "(line 3:14)" in a prototext error.
var protoPos = regexp.MustCompile(`\(line (\d+):(\d+)\)`)

// ParseNative parses a Cluster in protobuf text format. name is used in
// error messages.
func ParseNative(name string, data []byte) (*Loaded, error) {
	l := NewLoaded(FormatNative, name)
	l.Files["config"] = name
	c := &messages.Cluster{}
	if err := prototext.Unmarshal(data, c); err != nil {
		return nil, Errors{nativeSyntaxError(name, data, err)}
	}
	l.Cluster = c
	return l, nil
}

// nativeSyntaxError turns a prototext error into one line naming file:line.
func nativeSyntaxError(name string, data []byte, err error) *Error {
	// protobuf's messages start "proto:" followed by a space or, at random,
	// a non-breaking space (to discourage matching them); drop both.
	const spaces = " \u00a0:"
	msg := strings.TrimLeft(strings.TrimPrefix(err.Error(), "proto:"), spaces)
	line := 0
	if m := protoPos.FindStringSubmatchIndex(msg); m != nil {
		line, _ = strconv.Atoi(msg[m[2]:m[3]])
		col := msg[m[4]:m[5]]
		rest := strings.TrimLeft(msg[m[1]:], spaces)
		head := strings.Trim(msg[:m[0]], spaces)
		if head != "" {
			rest = head + ": " + rest
		}
		msg = fmt.Sprintf("column %s: %s", col, rest)
	} else if strings.Contains(msg, "unexpected EOF") {
		// No position: the file ended inside a block or a string.
		line = bytes.Count(data, []byte("\n")) + 1
		msg = "unexpected end of file: a '{' or '[' is not closed, or a string is not terminated"
	}
	return &Error{File: name, Line: line, Msg: msg}
}

// LoadNative reads the native configuration file at path. Inline secrets
// (auth.keys[].secret) require the file to be unreadable by group and
// others, like Heartbeat's authkeys; secret_file references are read here.
func LoadNative(path string) (*Loaded, error) {
	data, st, err := ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot read configuration: %v", unwrapPathError(err))}}
	}
	l, err := ParseNative(path, data)
	if err != nil {
		return nil, err
	}
	var errs Errors
	if err := CheckTrusted(path, st); err != nil {
		errs = append(errs, &Error{File: path, Msg: err.Error()})
	}
	for i, k := range l.Cluster.GetAuth().GetKeys() {
		field := fmt.Sprintf("auth.keys[%d]", i)
		if k.Secret != "" && st.Mode().Perm()&0o044 != 0 {
			errs = append(errs, &Error{File: path, Field: field + ".secret",
				Msg: fmt.Sprintf("file holds secrets but is readable by group or others (mode %04o): chmod 600 %s", st.Mode().Perm(), path)})
		}
		if k.SecretFile != "" {
			if k.Secret != "" {
				errs = append(errs, &Error{File: path, Field: field, Msg: "set secret or secret_file, not both"})
				continue
			}
			secret, err := ReadSecretFile(k.SecretFile)
			if err != nil {
				errs = append(errs, &Error{File: path, Field: field + ".secret_file", Msg: err.Error()})
				continue
			}
			k.Secret = secret
			k.SecretFile = ""
		}
	}
	return l, errs.Err()
}

// ReadSecretFile reads a key from a file that must not be readable by group
// or others. Surrounding white space is removed.
func ReadSecretFile(path string) (string, error) {
	data, st, err := ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read key file %s: %v", path, unwrapPathError(err))
	}
	if st.Mode().Perm()&0o044 != 0 {
		return "", fmt.Errorf("bad permissions on key file %s (mode %04o): 600 required", path, st.Mode().Perm())
	}
	if err := CheckTrusted(path, st); err != nil {
		return "", fmt.Errorf("key file %s: %v", path, err)
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("key file %s is empty", path)
	}
	return s, nil
}

// unwrapPathError drops the path from *fs.PathError, which the caller
// already names.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// MarshalNative writes c in the native text format, with a header comment.
func MarshalNative(c *messages.Cluster, header string) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
		if line == "" {
			b.WriteString("#\n")
		} else {
			b.WriteString("# " + line + "\n")
		}
	}
	out, _ := prototext.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(c)
	// prototext varies the spacing after a field name on purpose; a file
	// people read and diff should not change with the binary.
	b.Write(fieldSpacing.ReplaceAll(out, []byte("$1: ")))
	return b.Bytes()
}

// fieldSpacing matches the field name that starts a prototext line and the
// spaces after its colon.
var fieldSpacing = regexp.MustCompile(`(?m)^(\s*[A-Za-z_][A-Za-z0-9_]*):[ \t]+`)
