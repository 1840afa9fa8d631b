package pacemaker

import (
	"encoding/xml"
	"fmt"
	"strings"
	"unicode"
)

// The elements of the CIB this package writes, in the pacemaker-3.x
// schema's names. Slices of any hold elements of several kinds whose
// order matters (resources, constraints); each kind carries its own
// XMLName.

type cibDoc struct {
	XMLName      xml.Name    `xml:"cib"`
	ValidateWith string      `xml:"validate-with,attr"`
	AdminEpoch   int         `xml:"admin_epoch,attr"`
	Epoch        int         `xml:"epoch,attr"`
	NumUpdates   int         `xml:"num_updates,attr"`
	Comment      xml.Comment `xml:",comment"`
	Config       cibConfig   `xml:"configuration"`
	Status       struct{}    `xml:"status"`
}

type cibConfig struct {
	CrmConfig   crmConfig   `xml:"crm_config"`
	Nodes       nodes       `xml:"nodes"`
	Resources   elements    `xml:"resources"`
	Constraints elements    `xml:"constraints"`
	RscDefaults rscDefaults `xml:"rsc_defaults"`
}

type crmConfig struct {
	Sets []nvset `xml:"cluster_property_set"`
}

type nodes struct {
	Nodes []node `xml:"node"`
}

type node struct {
	ID    string `xml:"id,attr"`
	Uname string `xml:"uname,attr"`
	Type  string `xml:"type,attr"`
}

type elements struct {
	Items []any
}

type rscDefaults struct {
	Meta []nvset `xml:"meta_attributes"`
}

// nvset is a cluster_property_set, instance_attributes or
// meta_attributes: the element name comes from the field that holds it.
type nvset struct {
	ID    string   `xml:"id,attr"`
	Pairs []nvpair `xml:"nvpair"`
}

type nvpair struct {
	ID    string `xml:"id,attr"`
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type primitive struct {
	XMLName  xml.Name    `xml:"primitive"`
	ID       string      `xml:"id,attr"`
	Class    string      `xml:"class,attr"`
	Provider string      `xml:"provider,attr,omitempty"`
	Type     string      `xml:"type,attr"`
	Comment  xml.Comment `xml:",comment"`
	Instance []nvset     `xml:"instance_attributes"`
	Ops      *operations `xml:"operations"`
}

type operations struct {
	Ops []op `xml:"op"`
}

type op struct {
	ID       string `xml:"id,attr"`
	Name     string `xml:"name,attr"`
	Interval string `xml:"interval,attr"`
	Timeout  string `xml:"timeout,attr"`
}

type group struct {
	XMLName    xml.Name    `xml:"group"`
	ID         string      `xml:"id,attr"`
	Comment    xml.Comment `xml:",comment"`
	Primitives []primitive `xml:"primitive"`
}

type clone struct {
	XMLName   xml.Name    `xml:"clone"`
	ID        string      `xml:"id,attr"`
	Comment   xml.Comment `xml:",comment"`
	Primitive primitive   `xml:"primitive"`
}

type rscLocation struct {
	XMLName xml.Name `xml:"rsc_location"`
	ID      string   `xml:"id,attr"`
	Rsc     string   `xml:"rsc,attr"`
	Node    string   `xml:"node,attr,omitempty"`
	Score   string   `xml:"score,attr,omitempty"`
	Rules   []rule   `xml:"rule"`
}

type rule struct {
	ID             string       `xml:"id,attr"`
	Score          string       `xml:"score,attr,omitempty"`
	ScoreAttribute string       `xml:"score-attribute,attr,omitempty"`
	BooleanOp      string       `xml:"boolean-op,attr,omitempty"`
	Expressions    []expression `xml:"expression"`
}

type expression struct {
	ID        string `xml:"id,attr"`
	Attribute string `xml:"attribute,attr"`
	Operation string `xml:"operation,attr"`
	Value     string `xml:"value,attr,omitempty"`
}

type rscOrder struct {
	XMLName xml.Name `xml:"rsc_order"`
	ID      string   `xml:"id,attr"`
	Kind    string   `xml:"kind,attr"`
	First   string   `xml:"first,attr"`
	Then    string   `xml:"then,attr"`
}

// ids hands out XML IDs: each is unique in the document (the schema
// types them xsd:ID across the whole CIB) and a valid NCName. A wanted
// id already taken gets -2, -3... so that a collision cannot happen,
// whatever the configuration names; ids are handed out in document
// order, so the same configuration always gets the same ids.
type ids struct {
	used map[string]bool
}

func newIDs() *ids { return &ids{used: map[string]bool{}} }

// take returns a fresh id made from want (see sanitize).
func (s *ids) take(want string) string {
	base := sanitize(want)
	id := base
	for n := 2; s.used[id]; n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	s.used[id] = true
	return id
}

// maxIDBase bounds an id made from a resource's text (a Filesystem
// entry with its mount options), for ids people can read.
const maxIDBase = 64

// sanitize makes an NCName of s: letters, digits and '_' are kept, '-'
// too except at the start; every other run of characters becomes one '_'
// ("IPaddr::10.0.0.1" → IPaddr_10_0_0_1); no '_' at either end; a name
// that would start with a digit, or be empty, starts with '_'.
func sanitize(s string) string {
	var b strings.Builder
	pending := false
	for _, r := range s {
		ok := r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || (r == '-' && b.Len() > 0))
		if !ok {
			pending = b.Len() > 0
			continue
		}
		if r == '_' {
			pending = b.Len() > 0
			continue
		}
		if pending {
			b.WriteByte('_')
			pending = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > maxIDBase {
		out = strings.TrimRight(out[:maxIDBase], "_-")
	}
	if out == "" || (out[0] >= '0' && out[0] <= '9') {
		out = "_" + out
	}
	return out
}

// comment makes text safe inside an XML comment, which may not hold
// "--" nor end with "-".
func comment(text string) xml.Comment {
	for strings.Contains(text, "--") {
		text = strings.ReplaceAll(text, "--", "- -")
	}
	if strings.HasSuffix(text, "-") {
		text += " "
	}
	return xml.Comment(text)
}
