package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/machine/addrspec"
	"github.com/hanode/hanode/node/machine/resource"
	"github.com/hanode/hanode/transports/medium"
)

// Defaults, as Heartbeat 3.0.6 has them.
const (
	DefaultClusterName    = "linux-ha"
	DefaultUDPPort        = 694
	DefaultBaud           = 19200
	DefaultKeepalive      = time.Second
	DefaultDeadtime       = 30 * time.Second
	DefaultMaxRexmitDelay = 250 * time.Millisecond
	// MaxNodes bounds the member list. Heartbeat's MAXNODE is 100;
	// hanode's work per frame and per join does not grow with the
	// cluster, and the scale bench runs 128 nodes. A node's heartbeat
	// names every peer, so its links must carry that frame too
	// (node.CheckMessageSizes).
	MaxNodes = 256
	// MaxAuthKeys is the number of key ids (Heartbeat's MAXAUTH).
	MaxAuthKeys = 16
)

// Effective is the configuration one node runs with: validated, with every
// default filled in and every duration parsed.
type Effective struct {
	// Cluster is the validated message with names normalised (lower case).
	Cluster *messages.Cluster
	// Local is this node's name.
	Local string
	// Nodes are the member names in configuration order.
	Nodes []string

	Keepalive      time.Duration
	Deadtime       time.Duration
	Warntime       time.Duration
	Initdead       time.Duration
	Deadping       time.Duration
	MaxRexmitDelay time.Duration

	UDPPort uint32
	Baud    uint32
	// Links with their names and ports resolved, in configuration order.
	Links []LinkSpec
	// Groups are the resource groups in configuration order, with their
	// resources' ids and timings resolved.
	Groups []GroupSpec
	// AutoFailback says whether groups return to their preferred node
	// (on, and legacy).
	AutoFailback bool
	// AgentDirs are where resource agents are looked for, defaults filled.
	AgentDirs *messages.AgentDirs
	// Respawn are the programs kept running, with where each was
	// configured.
	Respawn []RespawnSpec
	// PingNodes are the ping nodes, in configuration order.
	PingNodes []PingSpec
	// FenceDevices are the fencing devices, named.
	FenceDevices []FenceSpec
	// Parameters are the Heartbeat parameter values (cl_status hbparameter).
	Parameters map[string]string
	// Warnings found while reading and validating.
	Warnings []Warning
	// Differences from Heartbeat found while reading and validating a
	// Heartbeat configuration (none for a native one).
	Differences []Difference
}

// LinkSpec is one link with defaults applied: an interface (or a serial
// line) and the media that carry frames over it (see links.go).
type LinkSpec struct {
	// Name shown in status; unique among the links.
	Name string
	// Media are the link's media in configuration order, repeats merged:
	// several when a configuration names several media on one interface
	// (bcast eth0, ucast eth0 ...), which are one link, eth0. A serial
	// line is a link of one medium. Never empty after Resolve.
	Media []MediumSpec
}

// PingSpec is a ping node (Heartbeat `ping`, `ping_group`) with its
// addresses parsed.
type PingSpec struct {
	Name string
	// Addresses are IPv4; the node is up while any of them answers.
	Addresses []netip.Addr
}

// GroupSpec is a resource group with defaults applied.
type GroupSpec struct {
	Name      string
	Preferred string
	// Resources are all its resources in configuration order, those kept
	// running on every node (ResourceSpec.Everywhere) included: the
	// node splits them into the part placement moves (Moving) and the
	// part every node keeps running (Everywhere).
	Resources []ResourceSpec
}

// Moving are the resources that run where the group runs, left to right:
// what placement moves. Never empty after Resolve.
func (g GroupSpec) Moving() []ResourceSpec { return g.part(false) }

// Everywhere are the resources kept running on every node, left to right.
func (g GroupSpec) Everywhere() []ResourceSpec { return g.part(true) }

func (g GroupSpec) part(everywhere bool) []ResourceSpec {
	var out []ResourceSpec
	for _, r := range g.Resources {
		if r.Everywhere == everywhere {
			out = append(out, r)
		}
	}
	return out
}

// ResourceSpec is one resource with defaults applied.
type ResourceSpec struct {
	// ID is unique in the cluster: the configured id, else the
	// haresources spelling (IPaddr2::10.0.0.1/24) or ocf:provider:type.
	ID       string
	Resource *messages.Resource
	// Where names the line (or field) that configured it, for errors
	// found later (a missing script).
	Where string
	// MonitorInterval is 0 when checks are disabled.
	MonitorInterval time.Duration
	MonitorTimeout  time.Duration
	StartTimeout    time.Duration
	StopTimeout     time.Duration
	// Everywhere: kept running on every node, whatever node runs the
	// group (Resource.everywhere).
	Everywhere bool
}

// FenceSpec is a fencing device.
type FenceSpec struct {
	*messages.FenceDevice
	// Where names the line (or field) that configured it.
	Where string
}

// RespawnSpec is a program the node keeps running.
type RespawnSpec struct {
	*messages.Respawn
	// Where names the line (or field) that configured it.
	Where string
}

// Resource timing defaults.
const (
	DefaultMonitorInterval = 10 * time.Second
	DefaultMonitorTimeout  = 20 * time.Second
	DefaultStartTimeout    = 60 * time.Second
	DefaultStopTimeout     = 60 * time.Second
)

// Kind names the link's first medium: "bcast", "mcast", "ucast" or
// "serial".
func (s LinkSpec) Kind() string { return s.Media[0].Medium.Kind() }

// Serial is the link's serial line, nil for a network link.
func (s LinkSpec) Serial() *medium.Serial {
	sl, _ := s.Media[0].Medium.(*medium.Serial)
	return sl
}

// Mediums are the typed media of the link, what transports.Open opens.
func (s LinkSpec) Mediums() []medium.Medium {
	out := make([]medium.Medium, len(s.Media))
	for i, m := range s.Media {
		out[i] = m.Medium
	}
	return out
}

// Resolve validates l for the node named local and returns the effective
// configuration. All problems are returned together as Errors, each naming
// its file and line or field. local may be empty to validate without a node
// (hanode check without --name uses the host name instead).
func Resolve(l *Loaded, local string) (*Effective, error) {
	r := &resolver{l: l, eff: &Effective{Cluster: proto.Clone(l.Cluster).(*messages.Cluster)}}
	r.eff.Warnings = append(r.eff.Warnings, l.Warnings...)
	r.eff.Differences = append(r.eff.Differences, l.Differences...)
	c := r.eff.Cluster
	if len(c.Nodes) == 0 && len(c.Links) == 0 && (c.Autojoin == messages.Autojoin_AUTOJOIN_UNSPECIFIED || c.Autojoin == messages.Autojoin_AUTOJOIN_NONE) {
		// Debian's example ha.cf as shipped: one line says it all, rather
		// than one per thing missing.
		return nil, Errors{l.Errorf("nodes", "no nodes and no heartbeat media defined: nothing is configured (node lines and a bcast, mcast, ucast or serial line are needed)")}
	}
	if c.Name == "" {
		c.Name = DefaultClusterName
	} else if err := checkName(c.Name); err != "" {
		r.errf("name", "cluster name %q %s", c.Name, err)
	}
	r.nodes(local)
	r.timing()
	r.ports()
	r.links()
	r.auth()
	r.groups()
	r.pingNodes()
	r.respawn()
	r.fenceDevices()
	r.unsupported()
	r.parameters()
	if len(r.errs) > 0 {
		return nil, r.errs
	}
	return r.eff, nil
}

type resolver struct {
	l    *Loaded
	eff  *Effective
	errs Errors
	// notices are the merges of media links() reports (links.go).
	notices []mediaNotice
}

func (r *resolver) errf(field, format string, args ...any) {
	r.errs = append(r.errs, r.l.Errorf(field, format, args...))
}

func (r *resolver) warnf(field, format string, args ...any) {
	w := Warning{Field: field, Msg: fmt.Sprintf(format, args...)}
	if pos, ok := r.l.lookup(field); ok {
		w.Pos = pos
	} else if r.l.Format == FormatNative {
		w.Pos = Pos{File: r.l.Origin}
	} else if f, ok := r.l.Files["ha.cf"]; ok {
		w.Pos = Pos{File: f}
	}
	r.eff.Warnings = append(r.eff.Warnings, w)
}

// warnDiffer is warnf for a difference from Heartbeat: a warning (logged
// at start) and, reading a Heartbeat configuration, a difference with the
// same text, which check prints once.
func (r *resolver) warnDiffer(field string, kind DifferenceKind, directive, format string, args ...any) {
	r.warnf(field, format, args...)
	if r.l.Format == FormatHeartbeat {
		w := r.eff.Warnings[len(r.eff.Warnings)-1]
		r.eff.Differences = append(r.eff.Differences, Difference{Pos: w.Pos, Kind: kind, Directive: directive, Msg: w.Msg})
	}
}

// where names a field for a message: its file and line when known, else
// its path.
func (r *resolver) where(field string) string {
	if pos, ok := r.l.lookup(field); ok {
		return pos.String()
	}
	return field
}

// located names a field for an error found after validation (a missing
// script): its file and line when known, else its file and path.
func (r *resolver) located(field string) string {
	if _, ok := r.l.lookup(field); !ok && r.l.Format == FormatNative && r.l.Origin != "" {
		return r.l.Origin + ": " + field
	}
	return r.where(field)
}

// checkName says what is wrong with a node or cluster name, or "".
func checkName(s string) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > 253:
		return "is longer than 253 characters"
	}
	for _, ch := range s {
		if ch <= ' ' || ch == 0x7f || ch == '#' || ch == ',' {
			return "contains a space, control character, '#' or ','"
		}
	}
	return ""
}

func (r *resolver) nodes(local string) {
	c := r.eff.Cluster
	if c.Autojoin == messages.Autojoin_AUTOJOIN_UNSPECIFIED || c.Autojoin == messages.Autojoin_AUTOJOIN_NONE {
		if len(c.Nodes) == 0 {
			r.errf("nodes", "no nodes defined")
		}
	}
	if len(c.Nodes) > MaxNodes {
		r.errf("nodes", "%d nodes defined; at most %d are supported", len(c.Nodes), MaxNodes)
	}
	seen := map[string]bool{}
	for i, n := range c.Nodes {
		field := fmt.Sprintf("nodes[%d]", i)
		if err := checkName(n.Name); err != "" {
			r.errf(field, "node name %q %s", n.Name, err)
			continue
		}
		n.Name = strings.ToLower(n.Name)
		if seen[n.Name] {
			r.errf(field, "node %q is listed twice", n.Name)
			continue
		}
		seen[n.Name] = true
		r.eff.Nodes = append(r.eff.Nodes, n.Name)
	}
	if local != "" {
		local = strings.ToLower(local)
		r.eff.Local = local
		if len(c.Nodes) > 0 && !seen[local] {
			r.errf("nodes", "current node [%s] not in configuration: node names must match --name or `uname -n`", local)
		}
	}
}

// parseDuration reads a native duration string. Heartbeat time syntax has
// already been converted by the hacf reader.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (write it like \"2s\" or \"500ms\")", s)
	}
	return d, nil
}

// FormatMillis writes a duration the way Heartbeat reports parameters.
func FormatMillis(d time.Duration) string {
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

func (r *resolver) timing() {
	t := r.eff.Cluster.Timing
	if t == nil {
		t = &messages.Timing{}
		r.eff.Cluster.Timing = t
	}
	get := func(field, value string, def time.Duration) (time.Duration, bool) {
		if value == "" {
			return def, false
		}
		d, err := parseDuration(value)
		if err != nil {
			r.errf("timing."+field, "%v", err)
			return def, true
		}
		if d <= 0 {
			r.errf("timing."+field, "%s must be positive, not %s", field, value)
			return def, true
		}
		return d, true
	}
	e := r.eff
	var warnSet, initSet, pingSet bool
	e.Keepalive, _ = get("keepalive", t.Keepalive, DefaultKeepalive)
	e.Deadtime, _ = get("deadtime", t.Deadtime, DefaultDeadtime)
	e.Warntime, warnSet = get("warntime", t.Warntime, 0)
	e.Initdead, initSet = get("initdead", t.Initdead, 0)
	e.Deadping, pingSet = get("deadping", t.Deadping, 0)
	e.MaxRexmitDelay, _ = get("max_rexmit_delay", t.MaxRexmitDelay, DefaultMaxRexmitDelay)

	if e.Keepalive < time.Millisecond {
		r.errf("timing.keepalive", "keepalive (%v) must be at least 1ms", e.Keepalive)
	}
	if e.Deadtime <= 2*e.Keepalive {
		r.errf("timing.deadtime", "deadtime (%v) must be more than twice the keepalive (%v)", e.Deadtime, e.Keepalive)
	}
	if !warnSet || e.Warntime == 0 {
		e.Warntime = e.Deadtime / 2
	} else if e.Warntime >= e.Deadtime {
		// Heartbeat accepts it: a heartbeat later than deadtime marks its
		// node dead instead of late (heartbeat.c, HBDoMsg_T_STATUS), so
		// no late heartbeat is ever reported.
		r.warnDiffer("timing.warntime", DiffQuirk, "warntime", "warntime (%v) is not less than the deadtime (%v): accepted as Heartbeat does; no late heartbeat is ever reported (a silent node is dead first)", e.Warntime, e.Deadtime)
	} else if e.Warntime <= e.Keepalive {
		r.warnf("timing.warntime", "warntime (%v) is not more than the keepalive (%v): every heartbeat will be reported late", e.Warntime, e.Keepalive)
	}
	if !initSet || e.Initdead == 0 {
		switch {
		case e.Deadtime > 10*time.Second:
			e.Initdead = e.Deadtime
		case e.Deadtime < 6*time.Second:
			e.Initdead = 12 * time.Second
		default:
			e.Initdead = 2 * e.Deadtime
		}
	}
	if e.Initdead < e.Deadtime {
		r.errf("timing.initdead", "initdead (%v) must not be less than the deadtime (%v)", e.Initdead, e.Deadtime)
	} else if initSet && e.Initdead < 10*time.Second {
		r.warnf("timing.initdead", "initdead (%v) may be too small: it should cover slow network start-up (>= 10s)", e.Initdead)
	}
	if !pingSet || e.Deadping == 0 {
		e.Deadping = e.Deadtime
	} else if e.Deadping <= 2*e.Keepalive {
		r.errf("timing.deadping", "deadping (%v) must be more than twice the keepalive (%v)", e.Deadping, e.Keepalive)
	}
}

func (r *resolver) ports() {
	c := r.eff.Cluster
	r.eff.UDPPort = DefaultUDPPort
	if c.UdpPort != nil {
		if *c.UdpPort == 0 || *c.UdpPort > 65535 {
			r.errf("udp_port", "udp port %d is out of range 1..65535", *c.UdpPort)
		} else {
			r.eff.UDPPort = *c.UdpPort
		}
	}
	r.eff.Baud = DefaultBaud
	if c.Baud != nil {
		if !ValidBaud(*c.Baud) {
			r.errf("baud", "baud rate %d is not a supported speed (%s)", *c.Baud, baudList())
		} else {
			r.eff.Baud = *c.Baud
		}
	}
}

var baudRates = []uint32{9600, 19200, 38400, 57600, 115200, 230400, 460800}

// ValidBaud says whether b is a serial speed hanode can use.
func ValidBaud(b uint32) bool {
	for _, v := range baudRates {
		if v == b {
			return true
		}
	}
	return false
}

func baudList() string {
	s := make([]string, len(baudRates))
	for i, b := range baudRates {
		s[i] = strconv.Itoa(int(b))
	}
	return strings.Join(s, ", ")
}

// validIfName checks a Linux interface name.
func validIfName(s string) bool {
	if s == "" || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	for _, ch := range s {
		if ch <= ' ' || ch == '/' || ch == ':' || ch == 0x7f {
			return false
		}
	}
	return true
}

func validPort(p uint32) bool { return p >= 1 && p <= 65535 }

func (r *resolver) auth() {
	a := r.eff.Cluster.Auth
	if a == nil || len(a.Keys) == 0 {
		r.errf("auth", "no authentication specified: define at least one key (authkeys)")
		return
	}
	ids := map[uint32]bool{}
	for i, k := range a.Keys {
		field := fmt.Sprintf("auth.keys[%d]", i)
		if k.Id >= MaxAuthKeys {
			r.errf(field+".id", "key id %d is out of range 0..%d", k.Id, MaxAuthKeys-1)
		}
		if ids[k.Id] {
			r.errf(field+".id", "key id %d is defined twice", k.Id)
		}
		ids[k.Id] = true
		switch k.Method {
		case messages.AuthMethod_AUTH_METHOD_CRC:
			if k.Secret != "" || k.SecretFile != "" {
				r.errf(field, "auth method crc does not use a key")
			}
		case messages.AuthMethod_AUTH_METHOD_MD5, messages.AuthMethod_AUTH_METHOD_SHA1, messages.AuthMethod_AUTH_METHOD_SHA256:
			if k.Secret == "" {
				r.errf(field, "auth method %s requires a key", MethodName(k.Method))
			}
		default:
			r.errf(field+".method", "key %d has no auth method (crc, md5, sha1 or sha256)", k.Id)
		}
	}
	if a.ActiveKey == nil {
		r.errf("auth.active_key", "no active key: say which key signs frames (authkeys: auth N)")
		return
	}
	if !ids[*a.ActiveKey] {
		r.errf("auth.active_key", "active key %d is not defined", *a.ActiveKey)
		return
	}
	active := messages.AuthMethod_AUTH_METHOD_UNSPECIFIED
	for _, k := range a.Keys {
		if k.Id == *a.ActiveKey {
			active = k.Method
		}
	}
	if active == messages.AuthMethod_AUTH_METHOD_CRC {
		r.warnf("auth.active_key", "frames are signed with crc, which detects corruption but not forgery: use sha256 unless the network is physically secure")
		return
	}
	for i, k := range a.Keys {
		if RefusedKey(k.Method, active) {
			r.warnf(fmt.Sprintf("auth.keys[%d]", i), "key %d (crc) is refused on receive: anyone can compute a crc, so accepting it next to key %d (%s) would let anyone forge frames; remove it (a cluster moving off crc switches every node to the new key together)",
				k.Id, *a.ActiveKey, MethodName(active))
		}
	}
}

// RefusedKey says whether frames signed with a key of method m are refused
// on receive while a key of method active signs: a crc key next to an
// authenticating one (transports/frame enforces it).
func RefusedKey(m, active messages.AuthMethod) bool {
	return m == messages.AuthMethod_AUTH_METHOD_CRC && active != messages.AuthMethod_AUTH_METHOD_CRC
}

// MethodName is the authkeys name of a method: crc, md5, sha1, sha256.
func MethodName(m messages.AuthMethod) string {
	return strings.ToLower(strings.TrimPrefix(m.String(), "AUTH_METHOD_"))
}

func (r *resolver) groups() {
	c := r.eff.Cluster
	known := map[string]bool{}
	for _, n := range r.eff.Nodes {
		known[n] = true
	}
	dirs := proto.Clone(c.GetAgentDirs()).(*messages.AgentDirs)
	if dirs == nil {
		dirs = &messages.AgentDirs{}
	}
	if dirs.HaDir == "" {
		dirs.HaDir = "/etc/ha.d"
	}
	if dirs.InitD == "" {
		dirs.InitD = "/etc/init.d"
	}
	if dirs.OcfRoot == "" {
		dirs.OcfRoot = "/usr/lib/ocf"
	}
	r.eff.AgentDirs = dirs
	switch c.AutoFailback {
	case messages.AutoFailback_AUTO_FAILBACK_OFF:
	case messages.AutoFailback_AUTO_FAILBACK_ON:
		r.eff.AutoFailback = true
	default:
		r.eff.AutoFailback = true
		if len(c.Groups) > 0 {
			r.warnDiffer("auto_failback", DiffChanged, "auto_failback", "auto_failback is legacy (or not set): hanode runs it as on (groups return to their preferred node, hb_standby and ipfail work); set auto_failback on or off")
		}
	}
	groupNames := map[string]string{}
	resourceIDs := map[string]string{}
	for i, g := range c.Groups {
		field := fmt.Sprintf("groups[%d]", i)
		g.PreferredNode = strings.ToLower(g.PreferredNode)
		if !known[g.PreferredNode] {
			r.errf(field+".preferred_node", "resource group's preferred node %q is not a cluster node", g.PreferredNode)
		}
		if len(g.Resources) == 0 {
			r.errf(field+".resources", "resource group %q has no resources", g.Name)
			continue
		}
		spec := GroupSpec{Name: g.Name, Preferred: g.PreferredNode}
		for j, res := range g.Resources {
			rf := fmt.Sprintf("%s.resources[%d]", field, j)
			rs := ResourceSpec{ID: resource.ID(res), Resource: res, Where: r.located(rf)}
			if c.NativeAddresses {
				r.nativeAddress(rf, res, rs.ID)
			}
			switch a := res.Agent.(type) {
			case *messages.Resource_Heartbeat:
				if a.Heartbeat.Name == "" || strings.ContainsAny(a.Heartbeat.Name, "/") {
					r.errf(rf+".heartbeat.name", "resource script name %q is not a file name", a.Heartbeat.Name)
				}
				if a.Heartbeat.Name == ipv6addr {
					if why := ipv6addrSplit(a.Heartbeat.Args); why != "" {
						r.errf(rf, "%s: %s", rs.ID, why)
					}
				}
			case *messages.Resource_Ocf:
				if a.Ocf.Provider == "" || a.Ocf.Type == "" || strings.ContainsAny(a.Ocf.Provider+a.Ocf.Type, "/") {
					r.errf(rf+".ocf", "OCF agent needs a provider and a type without '/' (got %q:%q)", a.Ocf.Provider, a.Ocf.Type)
				}
			case *messages.Resource_Address:
				if _, err := addrspec.Parse(a.Address); err != nil {
					for _, e := range splitErrors(err) {
						r.errf(rf+".address", "%s: %v", rs.ID, e)
					}
				}
			default:
				r.errf(rf, "resource %q has no agent (heartbeat, ocf or address)", rs.ID)
			}
			if res.Everywhere {
				rs.Everywhere = true
				if resource.IsAddress(res) {
					r.errf(rf+".everywhere", "%s: an address cannot be kept running on every node (everywhere): it is what moves with the group", rs.ID)
				}
			}
			if prev, dup := resourceIDs[rs.ID]; dup {
				r.errf(rf, "resource %q is configured twice (first at %s): give one an id", rs.ID, prev)
			}
			resourceIDs[rs.ID] = rs.Where
			dur := func(name, value string, def time.Duration) time.Duration {
				if value == "" {
					return def
				}
				d, err := parseDuration(value)
				if err != nil {
					r.errf(rf+"."+name, "%s: %v", name, err)
					return def
				}
				if d < 0 {
					r.errf(rf+"."+name, "%s must not be negative", name)
					return def
				}
				return d
			}
			rs.MonitorInterval = dur("monitor_interval", res.MonitorInterval, DefaultMonitorInterval)
			rs.MonitorTimeout = dur("monitor_timeout", res.MonitorTimeout, DefaultMonitorTimeout)
			rs.StartTimeout = dur("start_timeout", res.StartTimeout, DefaultStartTimeout)
			rs.StopTimeout = dur("stop_timeout", res.StopTimeout, DefaultStopTimeout)
			for _, t := range []struct {
				name string
				d    time.Duration
			}{{"monitor_timeout", rs.MonitorTimeout}, {"start_timeout", rs.StartTimeout}, {"stop_timeout", rs.StopTimeout}} {
				if t.d == 0 {
					r.errf(rf+"."+t.name, "%s must be positive", t.name)
				}
			}
			spec.Resources = append(spec.Resources, rs)
		}
		if spec.Name == "" {
			spec.Name = spec.Resources[0].ID
		}
		if len(spec.Moving()) == 0 {
			// Placement would move an empty group: nothing for it to do,
			// and every node would claim and run it.
			r.errf(field+".resources", "resource group %q has only resources kept running on every node (everywhere, hanode_everywhere): at least one (its address) must move with the group", spec.Name)
		}
		g.Name = spec.Name
		if prev, dup := groupNames[spec.Name]; dup {
			r.errf(field+".name", "resource group %q is configured twice (first at %s)", spec.Name, prev)
		}
		groupNames[spec.Name] = r.where(field)
		r.eff.Groups = append(r.eff.Groups, spec)
	}
}

// nativeAddress makes res, an IPaddr, IPaddr2 or IPv6addr resource
// (script or OCF agent of provider heartbeat; IPv6addr in ipv6addr.go),
// hanode's built-in address resource, under the same id
// (native_addresses). A parameter the built-in resource does not
// understand is an error naming it, never dropped.
func (r *resolver) nativeAddress(field string, res *messages.Resource, id string) {
	var a *messages.AddressAgent
	var err error
	switch ag := res.Agent.(type) {
	case *messages.Resource_Heartbeat:
		if ag.Heartbeat.Name == ipv6addr {
			a, err = ipv6addrFromScript(ag.Heartbeat.Args)
			break
		}
		if !addrspec.Convertible(ag.Heartbeat.Name) {
			return
		}
		a, err = addrspec.FromScript(ag.Heartbeat.Name, ag.Heartbeat.Args)
	case *messages.Resource_Ocf:
		if ag.Ocf.Provider == "heartbeat" && ag.Ocf.Type == ipv6addr {
			a, err = ipv6addrFromOCF(ag.Ocf.Params)
			break
		}
		if ag.Ocf.Provider != "heartbeat" || !addrspec.Convertible(ag.Ocf.Type) {
			return
		}
		a, err = addrspec.FromOCF(ag.Ocf.Type, ag.Ocf.Params)
	default:
		return
	}
	if err != nil {
		for _, e := range splitErrors(err) {
			r.errf(field, "%s: cannot run as the built-in address resource (native_addresses): %v", id, e)
		}
		return
	}
	res.Id = id
	res.Agent = &messages.Resource_Address{Address: a}
}

// splitErrors lists the errors errors.Join joined, so that each is a line
// of its own.
func splitErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (r *resolver) pingNodes() {
	members := map[string]bool{}
	for _, n := range r.eff.Nodes {
		members[n] = true
	}
	seen := map[string]bool{}
	for i, p := range r.eff.Cluster.PingNodes {
		field := fmt.Sprintf("ping_nodes[%d]", i)
		switch {
		case p.Name == "":
			r.errf(field+".name", "ping node without a name")
		case members[strings.ToLower(p.Name)]:
			r.errf(field+".name", "ping node %q has the name of a cluster node", p.Name)
		case seen[p.Name]:
			r.errf(field+".name", "ping node %q is configured twice", p.Name)
		}
		seen[p.Name] = true
		if len(p.Addresses) == 0 {
			r.errf(field+".addresses", "ping node %q has no address", p.Name)
		}
		spec := PingSpec{Name: p.Name}
		for j, a := range p.Addresses {
			ip, err := netip.ParseAddr(a)
			switch {
			case err != nil:
				r.errf(fmt.Sprintf("%s.addresses[%d]", field, j), "ping: %q is not an IP address", a)
			case ip.Is6():
				// ping6 (Heartbeat), IPv6 members of ping groups.
				var problem string
				if ip, problem = Peer6Problem(ip, ""); problem != "" {
					r.errf(fmt.Sprintf("%s.addresses[%d]", field, j), "ping: %q %s", a, problem)
				}
			}
			spec.Addresses = append(spec.Addresses, ip)
		}
		r.eff.PingNodes = append(r.eff.PingNodes, spec)
	}
}

func (r *resolver) fenceDevices() {
	known := map[string]bool{}
	for _, n := range r.eff.Nodes {
		known[n] = true
	}
	names := map[string]bool{}
	for i, d := range r.eff.Cluster.FenceDevices {
		field := fmt.Sprintf("fence_devices[%d]", i)
		if d.Name == "" {
			d.Name = fmt.Sprintf("fence-%d", i+1)
		}
		if names[d.Name] {
			r.errf(field+".name", "fence device %q is configured twice", d.Name)
		}
		names[d.Name] = true
		for j, n := range d.RunOn {
			if n != "*" && !known[strings.ToLower(n)] {
				r.errf(fmt.Sprintf("%s.run_on[%d]", field, j), "fence device %s: %q is not a cluster node", d.Name, n)
			}
		}
		switch k := d.Kind.(type) {
		case *messages.FenceDevice_Stonith:
			if k.Stonith.Type == "" {
				r.errf(field+".stonith.type", "fence device %s: no STONITH device type", d.Name)
			}
		case *messages.FenceDevice_FenceAgent:
			if k.FenceAgent.Agent == "" {
				r.errf(field+".fence_agent.agent", "fence device %s: no fence agent program", d.Name)
			}
			for j, n := range k.FenceAgent.Targets {
				if !known[strings.ToLower(n)] {
					r.errf(fmt.Sprintf("%s.fence_agent.targets[%d]", field, j), "fence device %s: target %q is not a cluster node", d.Name, n)
				}
			}
		case *messages.FenceDevice_Script:
			if !filepath.IsAbs(k.Script.Path) {
				r.errf(field+".script.path", "fence device %s: script %q is not an absolute path", d.Name, k.Script.Path)
			}
		default:
			r.errf(field, "fence device %s: no kind (stonith, fence_agent or script)", d.Name)
		}
		r.eff.FenceDevices = append(r.eff.FenceDevices, FenceSpec{FenceDevice: d, Where: r.located(field)})
	}
	if len(r.eff.Cluster.Groups) > 0 && len(r.eff.Cluster.FenceDevices) == 0 {
		r.warnf("fence_devices", "no fencing device (stonith): a node that only seems dead may still run its groups: split brain is possible")
	}
}

func (r *resolver) respawn() {
	for i, p := range r.eff.Cluster.Respawn {
		field := fmt.Sprintf("respawn[%d]", i)
		switch {
		case p.User == "":
			r.errf(field+".user", "respawn: no user to run %q as", p.Path)
		case !filepath.IsAbs(p.Path):
			r.errf(field+".path", "respawn: %q is not an absolute path", p.Path)
		}
		if why := BuiltinRespawn(p); why != "" {
			r.warnDiffer(field, DiffIgnored, "respawn", "respawn %s: ignored: %s", p.Path, why)
			continue
		}
		r.eff.Respawn = append(r.eff.Respawn, RespawnSpec{Respawn: p, Where: r.located(field)})
	}
}

// unsupported rejects features this version does not implement yet, so that
// nothing configured is silently ignored.
func (r *resolver) unsupported() {
	c := r.eff.Cluster
	if c.Autojoin == messages.Autojoin_AUTOJOIN_OTHER || c.Autojoin == messages.Autojoin_AUTOJOIN_ANY {
		// Heartbeat 3.0.6 refuses it too outside Pacemaker mode:
		// "R1 style resource management conflicts with autojoin set"
		// (config.c, r1_style_valid).
		r.errf("autojoin", "autojoin %s: refused, as Heartbeat refuses autojoin beside haresources (\"R1 style resource management conflicts with autojoin set\"): list every node with node lines", autojoinName(c.Autojoin))
	}
}

// parameters fills the Heartbeat parameter table (cl_status hbparameter -p)
// from what was written, then from the effective values.
func (r *resolver) parameters() {
	e := r.eff
	p := map[string]string{}
	for k, v := range r.l.Parameters {
		p[k] = v
	}
	set := func(k, v string) {
		if _, ok := p[k]; !ok && v != "" {
			p[k] = v
		}
	}
	set("keepalive", FormatMillis(e.Keepalive))
	set("deadtime", FormatMillis(e.Deadtime))
	set("warntime", FormatMillis(e.Warntime))
	set("initdead", FormatMillis(e.Initdead))
	set("deadping", FormatMillis(e.Deadping))
	set("udpport", strconv.Itoa(int(e.UDPPort)))
	set("baud", strconv.Itoa(int(e.Baud)))
	set("hopfudge", "1")
	set("msgfmt", "classic")
	set("auto_failback", autoFailbackName(e.Cluster.AutoFailback))
	set("debug", strconv.Itoa(int(e.Cluster.GetLogging().GetDebug())))
	set("node", strings.Join(e.Nodes, " "))
	set("cluster", e.Cluster.Name)
	if lg := e.Cluster.Logging; lg != nil {
		set("logfile", lg.File)
		set("debugfile", lg.DebugFile)
		set("logfacility", lg.Facility)
	}
	if w := e.Cluster.Watchdog; w != nil {
		set("watchdog", w.Device)
	}
	e.Parameters = p
}

func autojoinName(a messages.Autojoin) string {
	return strings.ToLower(strings.TrimPrefix(a.String(), "AUTOJOIN_"))
}

func autoFailbackName(a messages.AutoFailback) string {
	switch a {
	case messages.AutoFailback_AUTO_FAILBACK_ON:
		return "on"
	case messages.AutoFailback_AUTO_FAILBACK_OFF:
		return "off"
	}
	return "legacy"
}
