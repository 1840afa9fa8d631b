package hacf

import (
	"fmt"

	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/machine/addrspec"
	rsc "github.com/hanode/hanode/node/machine/resource"
)

// everywhere is `hanode_everywhere NAME...`: the resources named (as
// haresources spells them: `httpd`, `apache::/etc/apache2/apache2.conf`)
// are kept running on every node, and only the rest of their group moves
// (Resource.everywhere). haresources stays as Heartbeat reads it; the
// names are matched once it is read (markEverywhere).
func (p *cfParser) everywhere(directive string, args []string) {
	if len(args) == 0 {
		p.errf("%s: missing resource name (as haresources spells it: %s httpd)", directive, directive)
		return
	}
	for _, name := range args {
		for _, prev := range p.l.Everywhere {
			if prev.Name == name {
				p.warnf("%s: %s is named twice (first on line %d)", directive, name, prev.Pos.Line)
			}
		}
		p.l.Everywhere = append(p.l.Everywhere, config.NameAt{Name: name, Pos: p.pos()})
	}
	p.l.Differ(p.pos(), config.DiffAccepted, directive, "%s: hanode's own directive, which Heartbeat refuses (Illegal directive): remove it before running Heartbeat on this directory again (its resources then run only where their group runs)", directive)
}

// markEverywhere marks the resources hanode_everywhere names, once ha.cf
// and haresources are read: every resource of that spelling, whatever its
// group. A name that matches none, or an address (which is what moves),
// is an error at the ha.cf line that names it.
func markEverywhere(l *config.Loaded) config.Errors {
	var errs config.Errors
	for _, n := range l.Everywhere {
		id := n.Name
		if ipShorthand.MatchString(id) {
			// haresources' bare address is IPaddr's argument.
			id = addrspec.IPaddr + "::" + id
		}
		found := false
		for _, g := range l.Cluster.Groups {
			for _, r := range g.Resources {
				if rsc.ID(r) != id {
					continue
				}
				found = true
				if rsc.IsAddress(r) {
					errs = append(errs, &config.Error{File: n.Pos.File, Line: n.Pos.Line,
						Msg: fmt.Sprintf("hanode_everywhere: %s is an address: it is what moves with its group, it cannot run on every node", n.Name)})
					continue
				}
				r.Everywhere = true
			}
		}
		if !found {
			errs = append(errs, &config.Error{File: n.Pos.File, Line: n.Pos.Line,
				Msg: fmt.Sprintf("hanode_everywhere: no resource %s in haresources (name it as haresources spells it, arguments included: name::arg1::arg2)", n.Name)})
		}
	}
	l.Everywhere = nil
	return errs
}
