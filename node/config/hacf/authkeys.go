package hacf

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
)

var methods = map[string]messages.AuthMethod{
	"crc":    messages.AuthMethod_AUTH_METHOD_CRC,
	"md5":    messages.AuthMethod_AUTH_METHOD_MD5,
	"sha1":   messages.AuthMethod_AUTH_METHOD_SHA1,
	"sha256": messages.AuthMethod_AUTH_METHOD_SHA256,
}

// ParseAuthkeys reads authkeys into l: exactly one `auth N` line naming the
// key that signs, and `N method [key]` lines, N from 0 to 15. Every listed
// key is accepted on receive. Secrets never appear in errors.
func ParseAuthkeys(l *config.Loaded, file string, data []byte) config.Errors {
	lines, errs := splitLines(file, data)
	errf := func(n int, format string, args ...any) {
		errs = append(errs, &config.Error{File: file, Line: n, Msg: fmt.Sprintf(format, args...)})
	}
	a := &messages.Auth{}
	ids := map[uint32]int{}
	authLine := 0
	authSeen := false              // an auth line, even a broken one
	mentioned := map[uint32]bool{} // ids on key lines, even broken ones
	for _, ln := range lines {
		f := fieldsWithoutComment(ln.text)
		if len(f) == 0 {
			continue
		}
		if strings.HasPrefix(strings.ToLower(f[0]), "auth") {
			// Even a broken auth line is one: no "no auth line" after it.
			authSeen = true
			num, trailing, spaced, err := scanAuth(strings.Join(f, " "))
			switch {
			case err != nil:
				errf(ln.num, "%v", err)
			case authLine > 0:
				errf(ln.num, "a second auth line (the first is line %d): exactly one key signs", authLine)
			default:
				id, err := parseUint(num, 0, config.MaxAuthKeys-1)
				if err != nil {
					errf(ln.num, "auth: key %v", err)
					continue
				}
				pos := config.Pos{File: file, Line: ln.num}
				if !spaced {
					l.Differ(pos, config.DiffQuirk, "auth", "%s read as auth %d, as Heartbeat does", f[0], id)
				}
				if trailing != "" {
					l.Warnings = append(l.Warnings, config.Warning{Pos: pos, Msg: fmt.Sprintf("auth %d: %q after the key number is ignored, as Heartbeat ignores it", id, trailing)})
				}
				authLine = ln.num
				a.ActiveKey = proto.Uint32(uint32(id))
				l.Sources["auth.active_key"] = pos
			}
			continue
		}
		id, err := parseUint(f[0], 0, config.MaxAuthKeys-1)
		if err != nil {
			errf(ln.num, "expected `auth N` or `N method [key]`: key number %v", err)
			continue
		}
		mentioned[uint32(id)] = true
		if len(f) < 2 {
			errf(ln.num, "key %d: missing method (crc, md5, sha1 or sha256)", id)
			continue
		}
		m, ok := methods[strings.ToLower(f[1])]
		if !ok {
			errf(ln.num, "key %d: unknown method %q (crc, md5, sha1 or sha256)", id, f[1])
			continue
		}
		k := &messages.AuthKey{Id: uint32(id), Method: m}
		switch {
		case len(f) > 3:
			errf(ln.num, "key %d: the key must be one word without spaces", id)
			continue
		case m == messages.AuthMethod_AUTH_METHOD_CRC && len(f) == 3:
			errf(ln.num, "key %d: crc does not use a key", id)
			continue
		case m != messages.AuthMethod_AUTH_METHOD_CRC && len(f) < 3:
			errf(ln.num, "key %d: %s requires a key", id, f[1])
			continue
		case len(f) == 3:
			k.Secret = f[2]
		}
		if prev, dup := ids[k.Id]; dup {
			errf(ln.num, "key %d is already defined on line %d", id, prev)
			continue
		}
		ids[k.Id] = ln.num
		l.Sources[fmt.Sprintf("auth.keys[%d]", len(a.Keys))] = config.Pos{File: file, Line: ln.num}
		if len(a.Keys) == 0 {
			l.Sources["auth"] = config.Pos{File: file, Line: ln.num}
		}
		a.Keys = append(a.Keys, k)
	}
	if !authSeen {
		errs = append(errs, &config.Error{File: file, Msg: "no `auth N` line: say which key signs (auth 1)"})
	} else if authLine > 0 && !mentioned[a.GetActiveKey()] {
		errf(authLine, "auth %d: key %d is not defined in this file", a.GetActiveKey(), a.GetActiveKey())
	}
	if len(errs) == 0 {
		l.Cluster.Auth = a
	}
	return errs
}

// scanAuth reads an auth line as Heartbeat's sscanf(line, "auth %d")
// does (auth.c, parse_authfile): the word auth, in lower case, then
// optional white space (so `auth1` is `auth 1`), then a number, optionally
// signed; what follows the number is ignored, and returned as trailing.
// spaced says whether white space separated auth and the number.
func scanAuth(s string) (num, trailing string, spaced bool, err error) {
	rest, ok := strings.CutPrefix(s, "auth")
	if !ok {
		return "", "", false, fmt.Errorf("%q: the auth line is written in lower case (auth 1)", s)
	}
	trimmed := strings.TrimLeft(rest, " \t")
	spaced = len(trimmed) < len(rest)
	end := 0
	if end < len(trimmed) && (trimmed[0] == '+' || trimmed[0] == '-') {
		end++
	}
	digits := end
	for end < len(trimmed) && trimmed[end] >= '0' && trimmed[end] <= '9' {
		end++
	}
	if end == digits {
		return "", "", spaced, fmt.Errorf("auth: expects a key number (auth 1), not %q", s)
	}
	return strings.TrimPrefix(trimmed[:end], "+"), strings.TrimSpace(trimmed[end:]), spaced, nil
}

// fieldsWithoutComment splits a line into words, dropping a comment: a
// word starting with '#' and all after it. A '#' inside a word belongs to
// it, so that keys may hold '#' as in Heartbeat.
func fieldsWithoutComment(s string) []string {
	f := strings.Fields(s)
	for i, w := range f {
		if strings.HasPrefix(w, "#") {
			return f[:i]
		}
	}
	return f
}
