package hacf

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/machine/addrspec"
)

// ipShorthand is Heartbeat's isip(): a resource that starts with four
// dot-separated numbers is IPaddr's argument (IPv4 only, quirk Q4).
var ipShorthand = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(/.*)?$`)

// resourceName is what may name a resource script: a file name in
// /etc/ha.d/resource.d or /etc/init.d.
var resourceName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+@-]*$`)

// word is a token of haresources and the line it is on.
type word struct {
	text string
	line int
}

// ParseHaresources reads haresources into l: one resource group per
// logical line (a trailing backslash continues it), `node resource...`,
// resources `name::arg1::arg2` or a bare IPv4 address for IPaddr;
// `hanode-address::ip/cidr/nic/brd` is hanode's built-in address.
func ParseHaresources(l *config.Loaded, file string, data []byte) config.Errors {
	lines, errs := splitLines(file, data)
	groupNames := map[string]int{}
	var words []word
	flush := func() {
		if len(words) == 0 {
			return
		}
		errs = append(errs, group(l, file, words, groupNames)...)
		words = nil
	}
	for _, ln := range lines {
		text := ln.text
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimRight(text, " \t\f\v")
		cont := strings.HasSuffix(text, "\\")
		text = strings.TrimSuffix(text, "\\")
		for _, f := range strings.Fields(text) {
			words = append(words, word{text: f, line: ln.num})
		}
		if !cont {
			flush()
		}
	}
	flush()
	return errs
}

// group turns the words of one logical line into a resource group.
func group(l *config.Loaded, file string, words []word, names map[string]int) config.Errors {
	var errs config.Errors
	errf := func(line int, format string, args ...any) {
		errs = append(errs, &config.Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	node := words[0]
	if len(words) == 1 {
		errf(node.line, "resource group of node %q lists no resources", node.text)
		return errs
	}
	if strings.Contains(node.text, "::") || ipShorthand.MatchString(node.text) {
		errf(node.line, "%q is not a node name: a resource group starts with its preferred node", node.text)
		return errs
	}
	gi := len(l.Cluster.Groups)
	g := &messages.ResourceGroup{Name: words[1].text, PreferredNode: strings.ToLower(node.text)}
	if prev, dup := names[g.Name]; dup {
		errf(words[1].line, "resource %q already starts the group on line %d: the first resource names its group and must be unique", g.Name, prev)
		return errs
	}
	names[g.Name] = words[1].line
	for _, w := range words[1:] {
		r, err := resource(w.text)
		if err != nil {
			errf(w.line, "%v", err)
			continue
		}
		l.Sources[fmt.Sprintf("groups[%d].resources[%d]", gi, len(g.Resources))] = config.Pos{File: file, Line: w.line}
		g.Resources = append(g.Resources, r)
	}
	if len(errs) > 0 {
		return errs
	}
	l.Sources[fmt.Sprintf("groups[%d]", gi)] = config.Pos{File: file, Line: node.line}
	l.Sources[fmt.Sprintf("groups[%d].preferred_node", gi)] = config.Pos{File: file, Line: node.line}
	l.Cluster.Groups = append(l.Cluster.Groups, g)
	return nil
}

// resource reads one resource token.
func resource(tok string) (*messages.Resource, error) {
	if ipShorthand.MatchString(tok) {
		return &messages.Resource{Agent: &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: "IPaddr", Args: []string{tok}}}}, nil
	}
	parts := strings.Split(tok, "::")
	name := parts[0]
	switch {
	case name == "":
		return nil, fmt.Errorf("resource %q has no script name before '::'", tok)
	case !resourceName.MatchString(name):
		return nil, fmt.Errorf("resource %q: %q is not a script name (a file in /etc/ha.d/resource.d or /etc/init.d)", tok, name)
	case name == addrspec.HaresourcesName:
		// hanode's built-in address, not a script.
		a, err := addrspec.FromScript(name, parts[1:])
		if err != nil {
			return nil, fmt.Errorf("resource %q: %v", tok, err)
		}
		return &messages.Resource{Agent: &messages.Resource_Address{Address: a}}, nil
	}
	return &messages.Resource{Agent: &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: name, Args: parts[1:]}}}, nil
}
