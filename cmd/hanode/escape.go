package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// escapeControls escapes the control characters of s (and bytes that are
// not UTF-8) as Go does in quoted strings (\n, \x1b, \u0085), leaving the
// rest as is: text from the network, printed for a terminal, can neither
// forge a line nor send escape sequences, and stays readable.
func escapeControls(s string) string {
	clean := utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// escapeStrings applies escapeControls to every string field of m, at any
// depth: a status or an event carries names and reasons that peers sent.
func escapeStrings(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				if fd.Kind() == protoreflect.StringKind {
					l.Set(i, protoreflect.ValueOfString(escapeControls(l.Get(i).String())))
				} else if fd.Message() != nil {
					escapeStrings(l.Get(i).Message())
				}
			}
		case fd.IsMap():
			mp := v.Map()
			var keys []protoreflect.MapKey
			mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k)
				return true
			})
			for _, k := range keys {
				val := mp.Get(k)
				if fd.MapValue().Kind() == protoreflect.StringKind {
					val = protoreflect.ValueOfString(escapeControls(val.String()))
				} else if fd.MapValue().Message() != nil {
					escapeStrings(val.Message())
				}
				mp.Clear(k)
				nk := k
				if fd.MapKey().Kind() == protoreflect.StringKind {
					nk = protoreflect.ValueOfString(escapeControls(k.String())).MapKey()
				}
				mp.Set(nk, val)
			}
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(escapeControls(v.String())))
		case fd.Message() != nil:
			escapeStrings(v.Message())
		}
		return true
	})
}
