// Package pacemaker writes a hanode configuration as a Pacemaker CIB
// (and the corosync.conf that goes with it), for clusters moving on from
// Heartbeat R1 to Corosync and Pacemaker, as Heartbeat's haresources2cib.py
// did for Heartbeat 2.
//
// The input is the resolved configuration (config.Effective) that hanode
// check and hanode run build, from a Heartbeat /etc/ha.d or a native file
// alike; the output is a complete CIB for Pacemaker 2.1 (validate-with
// pacemaker-3.0), written with encoding/xml:
//
//   - one primitive per resource, by class: an OCF agent as configured; a
//     haresources script that Debian's heartbeat package ships in
//     resource.d as a wrapper of an OCF agent (IPaddr, IPaddr2,
//     Filesystem, MailTo...) as that agent, with the parameters the
//     wrapper gives it; another resource.d script as class heartbeat, its
//     arguments as instance attributes "1", "2"...; an init script as
//     class lsb; hanode's built-in address as ocf:heartbeat:IPaddr2;
//   - one group per resource group (haresources line), in start order, and
//     a clone for each resource kept running on every node;
//   - a location constraint preferring each group's preferred node, and
//     resource-stickiness from auto_failback;
//   - the fencing devices as stonith primitives, kept on the nodes that
//     may use them, and stonith-enabled;
//   - ping nodes as a clone of ocf:pacemaker:ping and a location rule per
//     group, hanode's built-in ipfail;
//   - cluster properties from what Pacemaker has (cluster-name,
//     no-quorum-policy, dc-deadtime from initdead), and the timing that
//     belongs to Corosync in a comment and in Corosync's own file.
//
// What has no place in Pacemaker is either an error naming its line (a
// resource or device Pacemaker cannot run as hanode does) or, when only
// some behaviour is lost, a warning naming its line, with the CIB still
// written (docs/migration.md lists both). The package is pure: where a
// script is found, a STONITH plugin's parameter names and a stonith
// configuration file come from the caller (Options).
package pacemaker

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/machine/addrspec"
)

// Schema is the CIB schema the output validates with: that of Pacemaker
// 2.0, which every Pacemaker 2.x reads (and upgrades).
const Schema = "pacemaker-3.0"

// Scores and stickiness. A group prefers its preferred node by
// PreferredScore. auto_failback on gives resources no stickiness, so a
// group goes back to its preferred node as soon as it can run there;
// auto_failback off gives each resource StickyOff, more than the
// preference even for a group of one, so a group stays where it runs
// until that node fails or an operator moves it.
const (
	PreferredScore = 100
	StickyOn       = 0
	StickyOff      = 200
)

// Failure handling as hanode does it: a failed check restarts the
// resource in place; MigrationThreshold failures within FailureTimeout
// move the group away.
const (
	MigrationThreshold = 3
	FailureTimeout     = "10min"
)

// Where Pacemaker looks for agents: it has no setting for them, so a
// configuration that looks elsewhere (agent_dirs) is warned about.
const (
	pacemakerHaDir   = "/etc/ha.d"
	pacemakerInitD   = "/etc/init.d"
	pacemakerOCFRoot = "/usr/lib/ocf"
	fenceAgentDir    = "/usr/sbin"
)

// Script says where hanode finds the script of a haresources entry.
type Script int

const (
	// ResourceD is HA_DIR/resource.d/NAME, called with Heartbeat's
	// convention (`NAME args... start|stop|status`).
	ResourceD Script = iota
	// InitD is an init script, /etc/init.d/NAME (LSB).
	InitD
)

// Options are what the export needs from the machine.
type Options struct {
	// Origin is the file or directory the configuration came from, and
	// Generator what wrote the export ("hanode 1.4 (commit ...)"), for
	// the header comments.
	Origin, Generator string
	// Locate says where hanode finds the script of a resource with a
	// Heartbeat agent, as hanode run finds it: resource.d first, then
	// init.d; an error (naming the resource's line) when neither has it.
	// nil: resource.d for the scripts Debian's heartbeat package installs
	// there, init.d for any other.
	Locate func(r config.ResourceSpec) (Script, error)
	// StonithNames returns a cluster-glue STONITH plugin's parameter
	// names in order (`stonith -n -t TYPE`), ok false when it cannot
	// tell; nil or not ok: the table of Debian's cluster-glue plugins.
	StonithNames func(typ string) (names []string, ok bool)
	// ReadFile reads a `stonith TYPE FILE` line's configuration file,
	// whose parameters go into the CIB. nil: such a line is an error.
	ReadFile func(path string) ([]byte, error)
	// Loaded is the configuration as read, whose line numbers name the
	// place of a warning about a field (a ping_group line); nil: the
	// field is named.
	Loaded *config.Loaded
}

// Result is an export.
type Result struct {
	// CIB is the CIB document, XML with a header comment.
	CIB []byte
	// Corosync is the corosync.conf that goes with it.
	Corosync []byte
	// Warnings are what Pacemaker or Corosync runs otherwise than hanode,
	// one line each, naming the file and line (or field).
	Warnings []string
}

// Export writes eff as a CIB and a corosync.conf. Everything that cannot
// be represented is returned together as one error, a line each, naming
// the file and line or field.
func Export(eff *config.Effective, opt Options) (*Result, error) {
	b := &builder{eff: eff, opt: opt, ids: newIDs(), groupIDs: map[string]string{}}
	doc := b.build()
	if len(b.errs) > 0 {
		return nil, errors.New(strings.Join(b.errs, "\n"))
	}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("writing the CIB: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	buf.Write(out)
	buf.WriteByte('\n')
	return &Result{CIB: buf.Bytes(), Corosync: b.corosync(), Warnings: b.warnings}, nil
}

type builder struct {
	eff      *config.Effective
	opt      Options
	ids      *ids
	errs     []string
	warnings []string
	// groupIDs maps group names to their ids.
	groupIDs map[string]string
	// heartbeatClass lists the resources exported as class heartbeat.
	heartbeatClass []config.ResourceSpec
	warnedDirs     map[string]bool
}

func (b *builder) errf(where, format string, args ...any) {
	b.errs = append(b.errs, where+": "+fmt.Sprintf(format, args...))
}

func (b *builder) warnf(where, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if where != "" {
		msg = where + ": " + msg
	}
	b.warnings = append(b.warnings, msg)
}

func (b *builder) build() *cibDoc {
	e := b.eff
	doc := &cibDoc{ValidateWith: Schema, Epoch: 1}
	cfg := &doc.Config
	cfg.CrmConfig.Sets = []nvset{b.properties()}
	for i, n := range e.Nodes {
		cfg.Nodes.Nodes = append(cfg.Nodes.Nodes, node{ID: strconv.Itoa(i + 1), Uname: n, Type: "member"})
	}
	for _, g := range e.Groups {
		b.group(cfg, g)
	}
	b.ping(cfg)
	b.fencing(cfg)
	cfg.RscDefaults.Meta = []nvset{b.nvset("rsc-options", []param{
		{"resource-stickiness", strconv.Itoa(b.stickiness())},
		{"migration-threshold", strconv.Itoa(MigrationThreshold)},
		{"failure-timeout", FailureTimeout},
	})}
	b.lossy()
	doc.Comment = comment(b.header())
	return doc
}

// stickiness is each resource's stickiness for auto_failback.
func (b *builder) stickiness() int {
	if b.eff.AutoFailback {
		return StickyOn
	}
	return StickyOff
}

// properties are the cluster options Pacemaker has for this
// configuration.
func (b *builder) properties() nvset {
	e := b.eff
	fencing := "false"
	if len(e.FenceDevices) > 0 {
		fencing = "true"
	}
	return b.nvset("cib-bootstrap-options", []param{
		{"cluster-name", e.Cluster.GetName()},
		{"stonith-enabled", fencing},
		{"no-quorum-policy", noQuorumPolicy(e.Cluster.GetQuorum().GetPolicy())},
		// What initdead waits for at start, Pacemaker's controller waits
		// for before electing a DC without the nodes it has not heard.
		{"dc-deadtime", duration(e.Initdead)},
	})
}

func noQuorumPolicy(p messages.QuorumPolicy) string {
	switch p {
	case messages.QuorumPolicy_QUORUM_POLICY_FREEZE:
		return "freeze"
	case messages.QuorumPolicy_QUORUM_POLICY_IGNORE:
		return "ignore"
	}
	return "stop"
}

// nvset makes a set of name-value pairs whose ids derive from its own.
func (b *builder) nvset(want string, ps []param) nvset {
	s := nvset{ID: b.ids.take(want)}
	for _, p := range ps {
		s.Pairs = append(s.Pairs, nvpair{ID: b.ids.take(s.ID + "-" + p.name), Name: p.name, Value: p.value})
	}
	return s
}

// group writes a resource group: its moving resources as a group, each
// resource kept running everywhere as a clone, and its constraints.
func (b *builder) group(cfg *cibConfig, g config.GroupSpec) {
	type member struct {
		spec config.ResourceSpec
		prim primitive
		ok   bool
	}
	var members []member
	for _, r := range g.Resources {
		p, ok := b.resource(r)
		members = append(members, member{r, p, ok})
	}
	first := members[0].prim.ID
	// A group named after its first resource (haresources' groups, a
	// native group without a name) is group_ and that resource's id.
	gid := ""
	if id := g.Resources[0].ID; g.Name != id && addrspec.IPaddr+"::"+g.Name != id {
		gid = b.ids.take(g.Name)
	} else {
		gid = b.ids.take("group_" + first)
	}
	b.groupIDs[g.Name] = gid
	grp := group{ID: gid, Comment: comment(" resource group " + g.Name + " ")}
	var clones []clone
	for _, m := range members {
		if !m.ok {
			continue
		}
		if m.spec.Everywhere {
			clones = append(clones, clone{ID: b.ids.take(m.prim.ID + "-clone"), Comment: comment(" " + m.spec.ID + ": kept running on every node "), Primitive: m.prim})
			continue
		}
		grp.Primitives = append(grp.Primitives, m.prim)
	}
	if len(grp.Primitives) == 0 {
		return // every moving resource is in error
	}
	cfg.Resources.Items = append(cfg.Resources.Items, grp)
	for _, c := range clones {
		cfg.Resources.Items = append(cfg.Resources.Items, c)
	}
	cfg.Constraints.Items = append(cfg.Constraints.Items, rscLocation{
		ID: b.ids.take("location-" + gid), Rsc: gid, Node: g.Preferred, Score: strconv.Itoa(PreferredScore),
	})
	for _, c := range clones {
		// hanode starts such a resource on a node before that node takes
		// part in running the group; it never stops or moves the group.
		cfg.Constraints.Items = append(cfg.Constraints.Items, rscOrder{
			ID: b.ids.take("order-" + c.ID + "-" + gid), Kind: "Optional", First: c.ID, Then: gid,
		})
	}
}

// resource makes the primitive of one resource; ok false after an error.
func (b *builder) resource(r config.ResourceSpec) (primitive, bool) {
	res := r.Resource
	var p primitive
	var ps []param
	switch a := res.GetAgent().(type) {
	case *messages.Resource_Address:
		p.Class, p.Provider = "ocf", "heartbeat"
		p.Type, ps = addressAgent(a.Address)
		p.ID = b.ids.take(idOf(res, p.Type+"_"+a.Address.GetIp()))
	case *messages.Resource_Ocf:
		p.Class, p.Provider, p.Type = "ocf", a.Ocf.GetProvider(), a.Ocf.GetType()
		names := make([]string, 0, len(a.Ocf.GetParams()))
		for k := range a.Ocf.GetParams() {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			ps = append(ps, param{k, a.Ocf.GetParams()[k]})
		}
		want := p.Type
		if ip := a.Ocf.GetParams()["ip"]; ip != "" {
			want += "_" + ip
		}
		p.ID = b.ids.take(idOf(res, want))
		if b.eff.AgentDirs.GetOcfRoot() != pacemakerOCFRoot {
			b.warnDir(r.Where, "ocf_root", b.eff.AgentDirs.GetOcfRoot(), pacemakerOCFRoot, "OCF agents")
		}
	case *messages.Resource_Heartbeat:
		var ok bool
		if ps, ok = b.script(&p, r, a.Heartbeat); !ok {
			return p, false
		}
		p.ID = b.ids.take(idOf(res, scriptID(a.Heartbeat)))
	default:
		b.errf(r.Where, "resource %s has no agent", r.ID)
		return p, false
	}
	if len(ps) > 0 {
		set := b.nvset(p.ID+"-instance_attributes", ps)
		p.Instance = []nvset{set}
	}
	p.Ops = b.ops(p.ID, r)
	if p.Class == "heartbeat" {
		b.heartbeatClass = append(b.heartbeatClass, r)
	}
	return p, true
}

// idOf is the id wanted for a resource: its configured id, else want. An
// id in haresources' spelling (name::args, given to an entry run as the
// built-in address) is made from the agent, as the entry's would be.
func idOf(r *messages.Resource, want string) string {
	if id := r.GetId(); id != "" && !strings.Contains(id, "::") {
		return id
	}
	return want
}

// scriptID is the id wanted for a haresources entry: the name, and its
// address or first argument (IPaddr::10.0.0.1/24/eth0 → IPaddr_10_0_0_1,
// Filesystem::/dev/drbd0::/data → Filesystem_dev_drbd0).
func scriptID(h *messages.HeartbeatAgent) string {
	if len(h.GetArgs()) == 0 {
		return h.GetName()
	}
	arg := h.GetArgs()[0]
	switch h.GetName() {
	case "IPaddr", "IPaddr2", "IPv6addr", "SendArp":
		arg, _, _ = strings.Cut(arg, "/")
	}
	return h.GetName() + "_" + arg
}

// script exports a haresources entry by where hanode finds its script.
func (b *builder) script(p *primitive, r config.ResourceSpec, h *messages.HeartbeatAgent) ([]param, bool) {
	where := ResourceD
	if b.opt.Locate != nil {
		w, err := b.opt.Locate(r)
		if err != nil {
			b.errs = append(b.errs, err.Error())
			return nil, false
		}
		where = w
	} else if _, ok := wrappers[h.GetName()]; !ok {
		where = InitD
	}
	if where == InitD {
		if len(h.GetArgs()) > 0 {
			b.errf(r.Where, "%s: %s is an init script (%s) called with arguments, which Pacemaker's lsb class cannot pass", r.ID, h.GetName(), path.Join(b.eff.AgentDirs.GetInitD(), h.GetName()))
			return nil, false
		}
		p.Class, p.Type = "lsb", h.GetName()
		if b.eff.AgentDirs.GetInitD() != pacemakerInitD {
			b.warnDir(r.Where, "init_d", b.eff.AgentDirs.GetInitD(), pacemakerInitD, "init scripts")
		}
		return nil, true
	}
	if w, ok := wrappers[h.GetName()]; ok {
		if ps, ok := w(h.GetArgs()); ok {
			p.Class, p.Provider, p.Type = "ocf", "heartbeat", h.GetName()
			p.Comment = comment(" " + r.ID + ": the OCF agent its resource.d script runs ")
			return ps, true
		}
	}
	p.Class, p.Type = "heartbeat", h.GetName()
	var ps []param
	for i, a := range h.GetArgs() {
		ps = append(ps, param{strconv.Itoa(i + 1), a})
	}
	if b.eff.AgentDirs.GetHaDir() != pacemakerHaDir {
		b.warnDir(r.Where, "ha_dir", path.Join(b.eff.AgentDirs.GetHaDir(), "resource.d"), path.Join(pacemakerHaDir, "resource.d"), "heartbeat-class scripts")
	}
	return ps, true
}

// warnDir says once per directory that Pacemaker looks for agents
// elsewhere than this configuration does.
func (b *builder) warnDir(where, field, dir, pcmk, what string) {
	if b.warnedDirs == nil {
		b.warnedDirs = map[string]bool{}
	}
	if b.warnedDirs[field] {
		return
	}
	b.warnedDirs[field] = true
	b.warnf(where, "this configuration finds %s in %s; Pacemaker looks for them in %s only: install them there", what, dir, pcmk)
}

// ops are a resource's operations with hanode's timings.
func (b *builder) ops(id string, r config.ResourceSpec) *operations {
	var ops []op
	if r.MonitorInterval > 0 {
		iv := duration(r.MonitorInterval)
		ops = append(ops, op{ID: b.ids.take(id + "-monitor-interval-" + iv), Name: "monitor", Interval: iv, Timeout: duration(r.MonitorTimeout)})
	}
	ops = append(ops,
		op{ID: b.ids.take(id + "-start-interval-0s"), Name: "start", Interval: "0s", Timeout: duration(r.StartTimeout)},
		op{ID: b.ids.take(id + "-stop-interval-0s"), Name: "stop", Interval: "0s", Timeout: duration(r.StopTimeout)})
	return &operations{Ops: ops}
}

// addressAgent is the agent and parameters of hanode's built-in address:
// IPaddr2's, or IPaddr's for an IPaddr entry run natively (labelled as
// an alias, eth0:N).
func addressAgent(a *messages.AddressAgent) (string, []param) {
	nic, label, _ := strings.Cut(a.GetNic(), ":")
	if a.GetIflabel() != "" {
		label = a.GetIflabel()
	}
	ps := []param{{"ip", a.GetIp()}}
	add := func(name, v string) {
		if v != "" {
			ps = append(ps, param{name, v})
		}
	}
	add("cidr_netmask", a.GetCidrNetmask())
	add("nic", nic)
	if a.GetAliasLabel() {
		if bc := a.GetBroadcast(); bc != "+" {
			add("broadcast", bc)
		}
		if a.ArpCount != nil {
			add("ARP_REPEAT", strconv.Itoa(int(a.GetArpCount())))
		}
		add("ARP_INTERVAL_MS", millis(a.GetArpInterval()))
		return addrspec.IPaddr, ps
	}
	add("iflabel", label)
	add("broadcast", a.GetBroadcast())
	if a.ArpCount != nil {
		add("arp_count", strconv.Itoa(int(a.GetArpCount())))
	}
	add("arp_interval", millis(a.GetArpInterval()))
	if a.GetArpCountRefresh() > 0 {
		add("arp_count_refresh", strconv.Itoa(int(a.GetArpCountRefresh())))
	}
	if a.GetNodad() {
		add("nodad", "true")
	}
	if a.GetNoprefixroute() {
		add("noprefixroute", "true")
	}
	add("preferred_lft", a.GetPreferredLft())
	return addrspec.IPaddr2, ps
}

// millis writes a duration string as IPaddr2's milliseconds, "" for "".
func millis(s string) string {
	if s == "" {
		return ""
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

// duration writes a duration as Pacemaker reads it: whole seconds as
// "30s", else milliseconds ("500ms").
func duration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// ping writes the ping nodes: a clone of ocf:pacemaker:ping on every
// node, whose node attribute pingd counts the addresses the node reaches
// times a multiplier larger than any group's preference and stickiness,
// and a rule per group adding it to each node's score. A group then runs
// on a node that reaches the most ping nodes, as hanode's built-in ipfail
// places it.
func (b *builder) ping(cfg *cibConfig) {
	e := b.eff
	if len(e.PingNodes) == 0 {
		return
	}
	var hosts []string
	seen := map[string]bool{}
	for _, p := range e.PingNodes {
		for _, a := range p.Addresses {
			if s := a.String(); !seen[s] {
				seen[s] = true
				hosts = append(hosts, s)
			}
		}
	}
	largest := 1
	for _, g := range e.Groups {
		largest = max(largest, len(g.Moving()))
	}
	need := PreferredScore + b.stickiness()*largest + 1
	multiplier := (need + 999) / 1000 * 1000
	id := b.ids.take("ping")
	prim := primitive{ID: id, Class: "ocf", Provider: "pacemaker", Type: "ping"}
	prim.Instance = []nvset{b.nvset(id+"-instance_attributes", []param{
		{"host_list", strings.Join(hosts, " ")},
		{"multiplier", strconv.Itoa(multiplier)},
		// deadping: how long a node must reach fewer ping nodes before
		// its groups move.
		{"dampen", duration(e.Deadping)},
	})}
	prim.Ops = &operations{Ops: []op{
		{ID: b.ids.take(id + "-monitor-interval-10s"), Name: "monitor", Interval: "10s", Timeout: "60s"},
		{ID: b.ids.take(id + "-start-interval-0s"), Name: "start", Interval: "0s", Timeout: "60s"},
		{ID: b.ids.take(id + "-stop-interval-0s"), Name: "stop", Interval: "0s", Timeout: "20s"},
	}}
	cfg.Resources.Items = append(cfg.Resources.Items, clone{
		ID: b.ids.take(id + "-clone"), Comment: comment(" ping nodes: the built-in ipfail "), Primitive: prim,
	})
	for _, g := range e.Groups {
		gid, ok := b.groupIDs[g.Name]
		if !ok {
			continue
		}
		lid := b.ids.take("location-" + gid + "-connectivity")
		rid := b.ids.take(lid + "-rule")
		cfg.Constraints.Items = append(cfg.Constraints.Items, rscLocation{ID: lid, Rsc: gid, Rules: []rule{{
			ID: rid, ScoreAttribute: "pingd",
			Expressions: []expression{{ID: b.ids.take(rid + "-expr"), Attribute: "pingd", Operation: "defined"}},
		}}})
	}
}

// fencing writes the fencing devices as stonith primitives, each kept
// off the nodes that may not use it.
func (b *builder) fencing(cfg *cibConfig) {
	for _, d := range b.eff.FenceDevices {
		p := primitive{Class: "stonith"}
		var ps []param
		switch k := d.GetKind().(type) {
		case *messages.FenceDevice_Stonith:
			typ := k.Stonith.GetType()
			p.Type = typ
			names, ok := []string(nil), false
			if b.opt.StonithNames != nil {
				names, ok = b.opt.StonithNames(typ)
			}
			if !ok {
				names, ok = stonithNames[typ]
			}
			if !ok {
				b.errf(d.Where, "fence device %s: unknown STONITH device type %s (stonith -L lists them): its parameters cannot be named", d.GetName(), typ)
				continue
			}
			words := k.Stonith.GetParams()
			if file := k.Stonith.GetConfigFile(); file != "" {
				if b.opt.ReadFile == nil {
					b.errf(d.Where, "fence device %s: its parameters are in %s, which this export cannot read", d.GetName(), file)
					continue
				}
				data, err := b.opt.ReadFile(file)
				if err != nil {
					b.errf(d.Where, "fence device %s: cannot read its parameters from %s: %v", d.GetName(), file, err)
					continue
				}
				words = stonithConfigLine(data)
			}
			var err error
			if ps, err = stonithParams(typ, names, words); err != nil {
				b.errf(d.Where, "fence device %s: %v", d.GetName(), err)
				continue
			}
		case *messages.FenceDevice_FenceAgent:
			agent := k.FenceAgent.GetAgent()
			p.Type = path.Base(agent)
			if strings.Contains(agent, "/") && path.Dir(agent) != fenceAgentDir {
				b.warnf(d.Where, "fence device %s: Pacemaker runs fence agents from %s only: install %s there as %s", d.GetName(), fenceAgentDir, agent, p.Type)
			}
			opts := k.FenceAgent.GetOptions()
			names := make([]string, 0, len(opts))
			for n := range opts {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				ps = append(ps, param{n, opts[n]})
			}
			if t := k.FenceAgent.GetTargets(); len(t) > 0 {
				ps = append(ps, param{"pcmk_host_list", strings.ToLower(strings.Join(t, " "))}, param{"pcmk_host_check", "static-list"})
			}
		case *messages.FenceDevice_Script:
			b.errf(d.Where, "fence device %s: a fencing script (%s) has no Pacemaker class: Pacemaker runs fence agents (fence_*) and cluster-glue STONITH plugins; use one of those", d.GetName(), k.Script.GetPath())
			continue
		default:
			b.errf(d.Where, "fence device %s has no kind", d.GetName())
			continue
		}
		p.ID = b.ids.take(d.GetName())
		if len(ps) > 0 {
			p.Instance = []nvset{b.nvset(p.ID+"-instance_attributes", ps)}
		}
		p.Ops = &operations{Ops: []op{{ID: b.ids.take(p.ID + "-monitor-interval-60s"), Name: "monitor", Interval: "60s", Timeout: "60s"}}}
		cfg.Resources.Items = append(cfg.Resources.Items, p)
		if runOn := usableFrom(d.GetRunOn()); len(runOn) > 0 {
			// stonith_host HOSTFROM: only that node uses the device.
			lid := b.ids.take("location-" + p.ID)
			rid := b.ids.take(lid + "-rule")
			r := rule{ID: rid, Score: "-INFINITY", BooleanOp: "and"}
			for _, n := range runOn {
				r.Expressions = append(r.Expressions, expression{ID: b.ids.take(rid + "-expr"), Attribute: "#uname", Operation: "ne", Value: n})
			}
			cfg.Constraints.Items = append(cfg.Constraints.Items, rscLocation{ID: lid, Rsc: p.ID, Rules: []rule{r}})
		}
	}
}

// usableFrom are the nodes a device may run from, nil for any.
func usableFrom(runOn []string) []string {
	var out []string
	for _, n := range runOn {
		if n == "*" {
			return nil
		}
		out = append(out, strings.ToLower(n))
	}
	return out
}

// lossy lists what the CIB and corosync.conf cannot say, as warnings.
func (b *builder) lossy() {
	e := b.eff
	// One warning per line for the scripts exported as class heartbeat.
	var lines []string
	byLine := map[string][]string{}
	for _, r := range b.heartbeatClass {
		if _, ok := byLine[r.Where]; !ok {
			lines = append(lines, r.Where)
		}
		byLine[r.Where] = append(byLine[r.Where], r.ID)
	}
	for _, where := range lines {
		b.warnf(where, "%s: exported as class heartbeat, which Pacemaker 1.1 runs and Pacemaker 2.0 and later do not (the class went with the Heartbeat stack): give each an OCF agent or an init script before loading the CIB into Pacemaker 2", strings.Join(byLine[where], ", "))
	}
	for _, p := range e.PingNodes {
		if len(p.Addresses) > 1 {
			b.warnf(b.where("ping_nodes", p.Name), "ping_group %s: Pacemaker's ping agent counts each of its %d addresses, where hanode counts the group as one ping node that answers while any of them does", p.Name, len(p.Addresses))
		}
	}
	for _, r := range e.Respawn {
		what := "respawn"
		if r.GetFailfast() {
			what = "failfast"
		}
		b.warnf(r.Where, "%s %s: not exported: Pacemaker keeps no programs running beside its resources; run it as a systemd service (Restart=always)", what, r.GetPath())
	}
	if w := e.Cluster.GetWatchdog(); w.GetDevice() != "" {
		b.warnf(b.where("watchdog", ""), "watchdog %s: not exported: Pacemaker uses a watchdog through sbd", w.GetDevice())
	}
	for _, l := range e.Links {
		if l.Serial() != nil {
			b.warnf(b.where("links", l.Serial().Device), "serial %s: a serial link has no Corosync counterpart: Corosync's links are IP networks", l.Serial().Device)
		}
	}
}

// where names the place of a field for a warning: its file and line
// when Options.Loaded knows them, else the field. A ping node is found by
// its name, a serial link by its device.
func (b *builder) where(field, name string) string {
	switch field {
	case "ping_nodes":
		for i, p := range b.eff.Cluster.GetPingNodes() {
			if p.GetName() == name {
				field = fmt.Sprintf("ping_nodes[%d]", i)
			}
		}
	case "links":
		for i, l := range b.eff.Cluster.GetLinks() {
			if l.GetSerial().GetDevice() == name {
				field = fmt.Sprintf("links[%d]", i)
			}
		}
	}
	if b.opt.Loaded == nil {
		return field
	}
	e := b.opt.Loaded.Errorf(field, "x")
	return strings.TrimSuffix(e.Error(), ": x")
}

// header is the comment at the top of the CIB: where it comes from, and
// where the timing went.
func (b *builder) header() string {
	e := b.eff
	var s strings.Builder
	s.WriteString("\n  Pacemaker CIB")
	if b.opt.Origin != "" {
		s.WriteString(" for " + b.opt.Origin)
	}
	if b.opt.Generator != "" {
		s.WriteString(", exported by " + b.opt.Generator)
	}
	s.WriteString(".\n")
	fmt.Fprintf(&s, "  Timing belongs to Corosync (its corosync.conf is the export's other output):\n")
	fmt.Fprintf(&s, "    deadtime %s  -> totem { token: %d }\n", duration(e.Deadtime), e.Deadtime.Milliseconds())
	fmt.Fprintf(&s, "    keepalive %s, warntime %s -> no counterpart: Corosync passes its token all the time\n", duration(e.Keepalive), duration(e.Warntime))
	fmt.Fprintf(&s, "    initdead %s  -> dc-deadtime here\n", duration(e.Initdead))
	fmt.Fprintf(&s, "  auto_failback %s -> resource-stickiness %d (the preferred node scores %d)\n", autoFailback(e), b.stickiness(), PreferredScore)
	for _, w := range b.warnings {
		s.WriteString("  not carried over: " + w + "\n")
	}
	return s.String()
}

func autoFailback(e *config.Effective) string {
	if e.AutoFailback {
		return "on"
	}
	return "off"
}
