package hacf

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/ops/logging"
)

// cfParser reads ha.cf. Directives take effect in order: a medium uses the
// udpport (or baud) in effect on its line, as in Heartbeat.
type cfParser struct {
	l    *config.Loaded
	c    *messages.Cluster
	file string
	errs config.Errors
	num  int // current line

	udpPort    uint32 // in effect on the current line
	baud       uint32
	linkPort   map[int]uint32 // link index -> udp port in effect on its line
	linkBaud   map[int]uint32
	ucastLinks map[string]int // "dev port" -> link index
	seenNodes  map[string]bool
	// niceGlobal is Heartbeat's nice_failback global: set by
	// auto_failback on|off, cleared by auto_failback legacy. It alone
	// decides what a nice_failback line means (config.c,
	// set_nice_failback).
	niceGlobal bool
}

// optionHandler applies one option of an option directive.
type optionHandler func(p *cfParser, directive, value string)

// lineHandler parses a whole-line directive from its arguments.
type lineHandler func(p *cfParser, directive string, args []string)

// ignored are directives Heartbeat acts on and hanode does not need:
// accepted, so that an existing ha.cf runs unchanged, with a warning (and
// a difference) naming them. instead says, in a few words, what hanode
// does instead; check checks the value's syntax.
var ignored = map[string]struct {
	instead string
	check   func(string) error
}{
	"memreserve":              {"hanode preallocates nothing; the Go runtime allocates as needed (with realtime on, locked as it is first used)", uintCheck},
	"coredumps":               {"hanode leaves core dumps to the system's settings (ulimit -c, kernel.core_pattern)", boolCheck},
	"coreroot":                {"hanode leaves core dumps to the system's settings (ulimit -c, kernel.core_pattern)", nil},
	"msgfmt":                  {"hanode sends its own authenticated frames (it does not talk to Heartbeat nodes)", oneOf("classic", "netstring")},
	"compression":             {"hanode's frames are small and sent uncompressed", nil},
	"compression_threshold":   {"hanode's frames are small and sent uncompressed", uintCheck},
	"traditional_compression": {"hanode's frames are small and sent uncompressed", boolCheck},
	"use_logd":                {"hanode logs to standard error (the journal) and to logfile, debugfile and logfacility when set, not through ha_logd", boolCheck},
	"conn_logd_time":          {"hanode logs to standard error (the journal) and to logfile, debugfile and logfacility when set, not through ha_logd", timeCheck},
	"syslogmsgfmt":            {"hanode writes its own line format to logfile and debugfile", boolCheck},
	"uuidfrom":                {"hanode identifies nodes by their node names", oneOf("file", "nodename")},
	"normalpoll":              {"hanode waits on its sockets and timers; there is no poll loop to choose", boolCheck},
	"use_apphbd":              {"hanode is watched by systemd (Type=notify with its watchdog), not apphbd", boolCheck},
	"quorum_server":           {"hanode counts quorum itself (a majority of the nodes); quorumd is a Pacemaker feature", nil},
	"hopfudge":                {"hanode sends every frame straight to its peers and forwards none around a serial ring", uintCheck},
	"crm_daemon_dir":          {"a Pacemaker setting; hanode manages the haresources groups itself", nil},
	"crmd_spawns_pengine":     {"a Pacemaker setting; hanode manages the haresources groups itself", nil},
	"record_config_changes":   {"a Pacemaker setting; hanode manages the haresources groups itself", nil},
	"record_pengine_inputs":   {"a Pacemaker setting; hanode manages the haresources groups itself", nil},
	"enable_config_writes":    {"a Pacemaker setting; hanode manages the haresources groups itself", nil},
}

func boolCheck(s string) error { _, err := ParseBool(s); return err }
func uintCheck(s string) error { _, err := parseUint(s, 0, 1<<31); return err }
func timeCheck(s string) error { _, err := ParseTime(s); return err }
func oneOf(words ...string) func(string) error {
	return func(s string) error {
		for _, w := range words {
			if s == w {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", s, strings.Join(words, ", "))
	}
}

var optionDirectives = map[string]optionHandler{
	"node":             (*cfParser).node,
	"keepalive":        (*cfParser).timing,
	"deadtime":         (*cfParser).timing,
	"warntime":         (*cfParser).timing,
	"initdead":         (*cfParser).timing,
	"deadping":         (*cfParser).timing,
	"max_rexmit_delay": (*cfParser).maxRexmitDelay,
	"udpport":          (*cfParser).udpport,
	"baud":             (*cfParser).baudRate,
	"cluster":          (*cfParser).cluster,
	"auto_failback":    (*cfParser).autoFailback,
	"nice_failback":    (*cfParser).niceFailback,
	"logfile":          (*cfParser).logging,
	"debugfile":        (*cfParser).logging,
	"logfacility":      (*cfParser).logging,
	"debug":            (*cfParser).logging,
	"log_badpack":      (*cfParser).logging,
	"watchdog":         (*cfParser).watchdog,
	"hbgenmethod":      (*cfParser).genMethod,
	"autojoin":         (*cfParser).autojoin,
	"pacemaker":        (*cfParser).pacemaker,
	"crm":              (*cfParser).pacemaker,
	"env":              (*cfParser).env,
	"realtime":         (*cfParser).realtime, // realtime.go
	"rtprio":           (*cfParser).rtprio,
	// hanode's own directives, named hanode_*: Heartbeat refuses them
	// (Illegal directive), so each is recorded as a difference.
	"hanode_native_addresses": (*cfParser).nativeAddresses,
}

var lineDirectives = map[string]lineHandler{
	"bcast":        (*cfParser).bcast,
	"udp":          (*cfParser).bcast,
	"mcast":        (*cfParser).mcast,
	"ucast":        (*cfParser).ucast,
	"serial":       (*cfParser).serial,
	"ping":         (*cfParser).ping,
	"ping_group":   (*cfParser).pingGroup,
	"stonith":      (*cfParser).stonith,
	"stonith_host": (*cfParser).stonithHost,
	"respawn":      (*cfParser).respawn,
	"failfast":     (*cfParser).respawn,
	"apiauth":      (*cfParser).apiauth,
	"mcast6":       (*cfParser).mcast6, // ipv6.go
	"ucast6":       (*cfParser).ucast6,
	"ping6":        (*cfParser).ping6,
	"hbaping":      (*cfParser).neverSupported,
	"rds":          (*cfParser).neverSupported,
	"tipc":         (*cfParser).neverSupported,
	// hanode's own, as the hanode_* option directives above (everywhere.go).
	"hanode_everywhere": (*cfParser).everywhere,
}

// ParseHaCf reads ha.cf into l.
func ParseHaCf(l *config.Loaded, file string, data []byte) config.Errors {
	p := &cfParser{
		l: l, c: l.Cluster, file: file,
		udpPort: config.DefaultUDPPort, baud: config.DefaultBaud,
		linkPort: map[int]uint32{}, linkBaud: map[int]uint32{},
		ucastLinks: map[string]int{}, seenNodes: map[string]bool{},
	}
	lines, errs := splitLines(file, data)
	// A file for Pacemaker mode is not hanode's to run: say that alone,
	// before anything else is read (or resolved).
	for _, ln := range lines {
		directive, args := splitDirective(ln.text)
		if (directive == "crm" || directive == "pacemaker") && len(args) > 0 {
			p.num = ln.num
			if p.pacemaker(directive, args[0]); len(p.errs) > 0 {
				return p.errs
			}
		}
	}
	p.errs = errs
	for _, ln := range lines {
		p.num = ln.num
		p.line(ln.text)
	}
	p.finish()
	return p.errs
}

// splitDirective cuts a line of ha.cf into its directive and options,
// dropping a comment.
func splitDirective(text string) (string, []string) {
	if i := strings.IndexByte(text, '#'); i >= 0 {
		text = text[:i]
	}
	text = strings.TrimSpace(text)
	directive, rest := text, ""
	if i := strings.IndexAny(text, " \t\f\v"); i >= 0 {
		directive, rest = text[:i], text[i+1:]
	}
	return directive, splitOptions(rest)
}

// pacemakerRefused says whether errs is the refusal of a Pacemaker-mode
// ha.cf, after which nothing else is worth reading.
func pacemakerRefused(errs config.Errors) bool {
	return len(errs) == 1 && strings.HasSuffix(errs[0].Msg, pacemakerRefusal)
}

const pacemakerRefusal = "hanode manages resources from haresources; Pacemaker (crm) mode is not supported"

func (p *cfParser) errf(format string, args ...any) {
	p.errs = append(p.errs, &config.Error{File: p.file, Line: p.num, Msg: fmt.Sprintf(format, args...)})
}

func (p *cfParser) warnf(format string, args ...any) {
	p.l.Warnings = append(p.l.Warnings, config.Warning{Pos: p.pos(), Msg: fmt.Sprintf(format, args...)})
}

func (p *cfParser) pos() config.Pos { return config.Pos{File: p.file, Line: p.num} }

// at records that field was written on the current line.
func (p *cfParser) at(field string) { p.l.Sources[field] = p.pos() }

// splitOptions cuts a line into words at white space and commas.
func splitOptions(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == ',' || r == '\t' || r == '\r' || r == '\f' || r == '\v'
	})
}

func (p *cfParser) line(text string) {
	if i := strings.IndexByte(text, '#'); i >= 0 {
		text = text[:i]
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	directive := text
	rest := ""
	if i := strings.IndexAny(text, " \t\f\v"); i >= 0 {
		directive, rest = text[:i], text[i+1:]
	}
	args := splitOptions(rest)
	if h, ok := lineDirectives[directive]; ok {
		h(p, directive, args)
		return
	}
	if ig, ok := ignored[directive]; ok {
		if len(args) == 0 {
			p.errf("%s: missing value", directive)
			return
		}
		for _, a := range args {
			if ig.check == nil {
				break
			}
			if err := ig.check(a); err != nil {
				p.errf("%s: %v", directive, err)
				return
			}
		}
		p.l.Parameters[directive] = strings.Join(args, " ")
		p.l.WarnDiffer(p.pos(), config.DiffIgnored, directive, "%s: ignored: %s", directive, ig.instead)
		return
	}
	h, ok := optionDirectives[directive]
	if !ok {
		p.errf("unknown directive %q", directive)
		return
	}
	if len(args) == 0 {
		p.errf("%s: missing value", directive)
		return
	}
	if directive != "node" && directive != "env" && len(args) > 1 {
		p.errf("%s: expects one value, not %d (%s)", directive, len(args), strings.Join(args, " "))
		return
	}
	for _, a := range args {
		h(p, directive, a)
	}
	if directive != "node" && directive != "env" {
		p.l.Parameters[directive] = args[0]
	}
}

func (p *cfParser) node(_, name string) {
	n := strings.ToLower(name)
	if p.seenNodes[n] {
		p.errf("node: %q is listed twice", name)
		return
	}
	p.seenNodes[n] = true
	if len(p.c.Nodes) == 0 {
		p.at("nodes")
	}
	p.at(fmt.Sprintf("nodes[%d]", len(p.c.Nodes)))
	p.c.Nodes = append(p.c.Nodes, &messages.Node{Name: n})
	p.l.Parameters["node"] = strings.TrimSpace(p.l.Parameters["node"] + " " + n)
}

func (p *cfParser) timing(directive, value string) {
	d, err := ParseTime(value)
	if err != nil {
		p.errf("%s: %v", directive, err)
		return
	}
	if d <= 0 {
		p.errf("%s: %q is not a positive time", directive, value)
		return
	}
	if p.c.Timing == nil {
		p.c.Timing = &messages.Timing{}
	}
	s := durationString(d)
	switch directive {
	case "keepalive":
		p.c.Timing.Keepalive = s
	case "deadtime":
		p.c.Timing.Deadtime = s
	case "warntime":
		p.c.Timing.Warntime = s
	case "initdead":
		p.c.Timing.Initdead = s
	case "deadping":
		p.c.Timing.Deadping = s
	}
	p.at("timing." + directive)
}

func (p *cfParser) maxRexmitDelay(directive, value string) {
	ms, err := parseUint(value, 1, 3600_000)
	if err != nil {
		p.errf("%s: %v (milliseconds)", directive, err)
		return
	}
	if p.c.Timing == nil {
		p.c.Timing = &messages.Timing{}
	}
	p.c.Timing.MaxRexmitDelay = fmt.Sprintf("%dms", ms)
	p.at("timing.max_rexmit_delay")
}

func (p *cfParser) udpport(directive, value string) {
	v, err := parseUint(value, 1, 65535)
	if err != nil {
		p.errf("%s: %v", directive, err)
		return
	}
	p.udpPort = uint32(v)
	p.c.UdpPort = proto.Uint32(uint32(v))
	p.at("udp_port")
}

func (p *cfParser) baudRate(directive, value string) {
	v, err := parseUint(value, 1, 1<<31)
	if err != nil || !config.ValidBaud(uint32(v)) {
		p.errf("%s: %q is not a supported speed (9600, 19200, 38400, 57600, 115200, 230400, 460800)", directive, value)
		return
	}
	p.baud = uint32(v)
	p.c.Baud = proto.Uint32(uint32(v))
	p.at("baud")
}

func (p *cfParser) cluster(_, value string) {
	p.c.Name = value
	p.at("name")
}

func (p *cfParser) autoFailback(directive, value string) {
	var a messages.AutoFailback
	if strings.EqualFold(value, "legacy") {
		a = messages.AutoFailback_AUTO_FAILBACK_LEGACY
	} else if on, err := ParseBool(value); err != nil {
		p.errf("%s: %q is not on, off or legacy", directive, value)
		return
	} else if on {
		a = messages.AutoFailback_AUTO_FAILBACK_ON
	} else {
		a = messages.AutoFailback_AUTO_FAILBACK_OFF
	}
	// set_auto_failback: on and off set Heartbeat's nice_failback
	// global, legacy clears it.
	p.niceGlobal = a != messages.AutoFailback_AUTO_FAILBACK_LEGACY
	p.c.AutoFailback = a
	p.at("auto_failback")
}

// niceFailback reads the obsolete nice_failback exactly as Heartbeat 3.0.6
// does (config.c, set_nice_failback; quirk Q6), so that a file runs as it
// did: the value only has to be a boolean and is otherwise unused; what
// decides is Heartbeat's nice_failback global, set by an earlier
// auto_failback on|off. After one, the line means auto_failback off
// ("'nice_failback on' has been changed to 'auto_failback off'");
// otherwise it means legacy ("strictly interpreted as 'auto_failback
// legacy'"). A later auto_failback line wins either way.
func (p *cfParser) niceFailback(directive, value string) {
	if _, err := ParseBool(value); err != nil {
		p.errf("%s: %v", directive, err)
		return
	}
	if p.niceGlobal {
		p.c.AutoFailback = messages.AutoFailback_AUTO_FAILBACK_OFF
		p.l.WarnDiffer(p.pos(), config.DiffQuirk, directive, "nice_failback %s: runs as auto_failback off, as in Heartbeat (after auto_failback on or off, nice_failback means off whatever its value); remove it and set auto_failback", value)
	} else {
		p.c.AutoFailback = messages.AutoFailback_AUTO_FAILBACK_LEGACY
		p.l.WarnDiffer(p.pos(), config.DiffQuirk, directive, "nice_failback %s: runs as auto_failback legacy, as in Heartbeat (without an earlier auto_failback on or off, nice_failback means legacy whatever its value); remove it and set auto_failback", value)
	}
	// cl_status hbparameter -p auto_failback reports what runs.
	delete(p.l.Parameters, "auto_failback")
	p.at("auto_failback")
}

func (p *cfParser) logging(directive, value string) {
	if p.c.Logging == nil {
		p.c.Logging = &messages.Logging{}
	}
	lg := p.c.Logging
	switch directive {
	case "logfile", "debugfile":
		if !filepath.IsAbs(value) {
			p.errf("%s: %q must be an absolute path", directive, value)
			return
		}
		if directive == "logfile" {
			lg.File = value
			p.at("logging.file")
		} else {
			lg.DebugFile = value
			p.at("logging.debug_file")
		}
	case "logfacility":
		if _, ok := logging.Facilities[value]; !ok && value != "none" {
			p.errf("logfacility: %q is not a syslog facility (daemon, local0 .. local7, ... or none)", value)
			return
		}
		lg.Facility = value
		p.at("logging.facility")
	case "debug":
		v, err := parseUint(value, 0, 255)
		if err != nil {
			p.errf("debug: %v", err)
			return
		}
		lg.Debug = uint32(v)
		p.at("logging.debug")
	case "log_badpack":
		on, err := ParseBool(value)
		if err != nil {
			p.errf("log_badpack: %v", err)
			return
		}
		lg.LogBadPackets = proto.Bool(on)
		p.at("logging.log_bad_packets")
	}
}

func (p *cfParser) watchdog(directive, value string) {
	if !filepath.IsAbs(value) {
		p.errf("%s: %q must be an absolute device path", directive, value)
		return
	}
	p.c.Watchdog = &messages.Watchdog{Device: value}
	p.at("watchdog")
}

// nativeAddresses is `hanode_native_addresses on|off`: IPaddr and IPaddr2
// resources run as the built-in address resource (native_addresses).
func (p *cfParser) nativeAddresses(directive, value string) {
	on, err := ParseBool(value)
	if err != nil {
		p.errf("%s: %v", directive, err)
		return
	}
	p.c.NativeAddresses = on
	p.at("native_addresses")
	p.l.Differ(p.pos(), config.DiffAccepted, directive, "%s: hanode's own directive, which Heartbeat refuses (Illegal directive): remove it before running Heartbeat on this directory again", directive)
}

func (p *cfParser) genMethod(directive, value string) {
	switch value {
	case "file":
		p.c.GenerationMethod = messages.GenerationMethod_GENERATION_METHOD_FILE
	case "time":
		p.c.GenerationMethod = messages.GenerationMethod_GENERATION_METHOD_TIME
	default:
		p.errf("%s: %q is not file or time", directive, value)
		return
	}
	p.at("generation_method")
}

func (p *cfParser) autojoin(directive, value string) {
	switch value {
	case "none":
		p.c.Autojoin = messages.Autojoin_AUTOJOIN_NONE
	case "other":
		p.c.Autojoin = messages.Autojoin_AUTOJOIN_OTHER
	case "any":
		p.c.Autojoin = messages.Autojoin_AUTOJOIN_ANY
	default:
		p.errf("%s: %q is not none, other or any", directive, value)
		return
	}
	p.at("autojoin")
}

func (p *cfParser) pacemaker(directive, value string) {
	if on, err := ParseBool(value); err == nil && !on {
		return
	}
	p.errf("%s %s: %s", directive, value, pacemakerRefusal)
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (p *cfParser) env(directive, value string) {
	name, val, ok := strings.Cut(value, "=")
	if !ok || !envName.MatchString(name) {
		p.errf("%s: %q is not NAME=value", directive, value)
		return
	}
	if p.c.Env == nil {
		p.c.Env = map[string]string{}
	}
	p.c.Env[name] = val
	p.at("env")
}

// addLink appends a link and records where it was written and the port and
// speed in effect there.
func (p *cfParser) addLink(l *messages.Link) int {
	i := len(p.c.Links)
	p.c.Links = append(p.c.Links, l)
	p.at(fmt.Sprintf("links[%d]", i))
	if len(p.c.Links) == 1 {
		p.at("links")
	}
	p.linkPort[i] = p.udpPort
	p.linkBaud[i] = p.baud
	return i
}

func (p *cfParser) bcast(directive string, args []string) {
	if directive == "udp" {
		// config.c (DIRTYALIASKLUDGE): "directive 'udp' replaced by
		// 'bcast'". Beside a bcast line on the same interface it is the
		// same medium again; Resolve merges the two and says so.
		p.warnf("udp is Heartbeat's old name of bcast: read as bcast")
	}
	if len(args) == 0 {
		p.errf("%s: missing interface name", directive)
		return
	}
	for _, dev := range args {
		if !validDev(dev) {
			p.errf("%s: %q is not an interface name", directive, dev)
			continue
		}
		p.addLink(&messages.Link{Medium: &messages.Link_Bcast{Bcast: &messages.Bcast{Dev: dev}}})
	}
}

func validDev(s string) bool {
	return s != "" && len(s) <= 15 && !strings.ContainsAny(s, "/:")
}

func (p *cfParser) mcast(directive string, args []string) {
	if len(args) != 5 {
		p.errf("mcast: expects 5 values (dev group port ttl loop), not %d", len(args))
		return
	}
	dev, group := args[0], args[1]
	if !validDev(dev) {
		p.errf("mcast: %q is not an interface name", dev)
		return
	}
	if a, err := netip.ParseAddr(group); err != nil || !a.Is4() || !a.IsMulticast() {
		p.errf("mcast: %q is not an IPv4 multicast group (224.0.0.0 - 239.255.255.255)", group)
		return
	}
	port, err := parseUint(args[2], 1, 65535)
	if err != nil {
		p.errf("mcast: port %v", err)
		return
	}
	ttl, err := parseUint(args[3], 1, 255)
	if err != nil {
		p.errf("mcast: ttl %v", err)
		return
	}
	loop, err := parseUint(args[4], 0, 1)
	if err != nil {
		p.errf("mcast: loop %v", err)
		return
	}
	p.addLink(&messages.Link{Medium: &messages.Link_Mcast{Mcast: &messages.Mcast{
		Dev: dev, Group: group, Port: uint32(port), Ttl: uint32(ttl), Loop: loop == 1,
	}}})
}

// ucast gathers the `ucast dev peer` lines of one interface (and port) into
// one link, so that each interface shows as one link.
func (p *cfParser) ucast(_ string, args []string) {
	if len(args) != 2 {
		p.errf("ucast: expects an interface and a peer address (ucast eth0 192.168.1.2), not %d values", len(args))
		return
	}
	dev, peer := args[0], args[1]
	if !validDev(dev) {
		p.errf("ucast: %q is not an interface name", dev)
		return
	}
	peer, ok := p.hostAddress("ucast", "ucast", peer)
	if !ok {
		return
	}
	p.addUcastPeer("ucast", dev, peer)
}

// addUcastPeer adds a peer to the ucast medium of dev and the udpport in
// effect: ucast and ucast6 lines of one interface are one medium, with
// peers of both families (transports opens a socket of each).
func (p *cfParser) addUcastPeer(directive, dev, peer string) {
	key := dev + " " + strconv.Itoa(int(p.udpPort))
	i, ok := p.ucastLinks[key]
	if !ok {
		i = p.addLink(&messages.Link{Medium: &messages.Link_Ucast{Ucast: &messages.Ucast{Dev: dev}}})
		p.ucastLinks[key] = i
	}
	u := p.c.Links[i].GetUcast()
	for _, x := range u.Peers {
		if x == peer {
			p.warnf("%s: %s %s is listed twice", directive, dev, peer)
			return
		}
	}
	p.at(fmt.Sprintf("links[%d].ucast.peers[%d]", i, len(u.Peers)))
	u.Peers = append(u.Peers, peer)
}

func (p *cfParser) serial(directive string, args []string) {
	if len(args) == 0 {
		p.errf("serial: missing device")
		return
	}
	for _, dev := range args {
		if !filepath.IsAbs(dev) {
			p.errf("serial: %q must be an absolute device path", dev)
			continue
		}
		p.addLink(&messages.Link{Medium: &messages.Link_Serial{Serial: &messages.Serial{Device: dev}}})
	}
}

func (p *cfParser) ping(_ string, args []string) {
	if len(args) == 0 {
		p.errf("ping: missing address")
		return
	}
	for _, a := range args {
		addr, ok := p.hostAddress("ping", "ping", a)
		if !ok {
			continue
		}
		// The ping node is named as written, in lower case as Heartbeat
		// names nodes (config.c add_node).
		p.at(fmt.Sprintf("ping_nodes[%d]", len(p.c.PingNodes)))
		p.c.PingNodes = append(p.c.PingNodes, &messages.PingNode{Name: strings.ToLower(a), Addresses: []string{addr}})
	}
}

func (p *cfParser) pingGroup(_ string, args []string) {
	if len(args) < 2 {
		p.errf("ping_group: expects a name and at least one address")
		return
	}
	g := &messages.PingNode{Name: args[0]}
	for _, a := range args[1:] {
		var addr string
		var ok bool
		if ip, err := netip.ParseAddr(a); err == nil && ip.Is6() {
			// hanode's: Heartbeat's ping_group is IPv4 only.
			if addr, ok = p.pingTarget6("ping_group "+args[0], a); ok && !strings.Contains(addr, "%") {
				p.l.Differ(p.pos(), config.DiffAccepted, "ping_group", "ping_group %s %s: an IPv6 member, which Heartbeat's ping_group refuses (IPv4 only; ping6 nodes are IPv6)", args[0], a)
			}
		} else {
			addr, ok = p.hostAddress("ping_group", "ping_group "+args[0], a)
		}
		if !ok {
			// Heartbeat 3.0.6 logs a member that does not resolve and
			// runs the group without it (ping_group.c tests the result
			// against < 0, which HA_FAIL is not); a name that cannot
			// resolve is a mistake worth stopping for.
			return
		}
		g.Addresses = append(g.Addresses, addr)
	}
	p.at(fmt.Sprintf("ping_nodes[%d]", len(p.c.PingNodes)))
	p.c.PingNodes = append(p.c.PingNodes, g)
}

func (p *cfParser) stonith(_ string, args []string) {
	if len(args) != 2 {
		p.errf("stonith: expects a device type and its configuration file (stonith baytech /etc/ha.d/conf/stonith.baytech)")
		return
	}
	if !filepath.IsAbs(args[1]) {
		p.errf("stonith: configuration file %q must be an absolute path", args[1])
		return
	}
	p.addFence(&messages.FenceDevice{Kind: &messages.FenceDevice_Stonith{Stonith: &messages.StonithPlugin{Type: args[0], ConfigFile: args[1]}}})
}

func (p *cfParser) stonithHost(_ string, args []string) {
	if len(args) < 2 {
		p.errf("stonith_host: expects hostfrom, a device type and its parameters")
		return
	}
	d := &messages.FenceDevice{Kind: &messages.FenceDevice_Stonith{Stonith: &messages.StonithPlugin{Type: args[1], Params: args[2:]}}}
	if args[0] != "*" {
		d.RunOn = []string{strings.ToLower(args[0])}
	}
	p.addFence(d)
}

func (p *cfParser) addFence(d *messages.FenceDevice) {
	d.Name = fmt.Sprintf("stonith-%d", len(p.c.FenceDevices)+1)
	p.at(fmt.Sprintf("fence_devices[%d]", len(p.c.FenceDevices)))
	p.c.FenceDevices = append(p.c.FenceDevices, d)
}

func (p *cfParser) respawn(directive string, args []string) {
	if len(args) < 2 {
		p.errf("%s: expects a user and an absolute program path (%s hacluster /usr/lib/heartbeat/ipfail)", directive, directive)
		return
	}
	if !filepath.IsAbs(args[1]) {
		p.errf("%s: program %q must be an absolute path", directive, args[1])
		return
	}
	p.at(fmt.Sprintf("respawn[%d]", len(p.c.Respawn)))
	p.c.Respawn = append(p.c.Respawn, &messages.Respawn{User: args[0], Path: args[1], Args: args[2:], Failfast: directive == "failfast"})
}

func (p *cfParser) apiauth(_ string, args []string) {
	if len(args) < 2 {
		p.errf("apiauth: expects a client name and uid=... or gid=...")
		return
	}
	p.l.WarnDiffer(p.pos(), config.DiffIgnored, "apiauth", "apiauth: ignored: hanode has no client API; its control socket is for root (hanode status, cl_status, hb_standby)")
}

func (p *cfParser) neverSupported(directive string, _ []string) {
	p.errf("%s is not supported by hanode", directive)
}

// finish applies Heartbeat's ordering rule: a medium declared before udpport
// or baud keeps the value in effect on its line.
func (p *cfParser) finish() {
	for i, l := range p.c.Links {
		switch m := l.Medium.(type) {
		case *messages.Link_Bcast:
			if port := p.linkPort[i]; port != p.udpPort {
				m.Bcast.Port = proto.Uint32(port)
				p.linkWarn(i, "bcast declared before udpport uses port %d, as in Heartbeat", port)
			}
		case *messages.Link_Ucast:
			if port := p.linkPort[i]; port != p.udpPort {
				m.Ucast.Port = proto.Uint32(port)
				p.linkWarn(i, "ucast declared before udpport uses port %d, as in Heartbeat", port)
			}
		case *messages.Link_Serial:
			if b := p.linkBaud[i]; b != p.baud {
				m.Serial.Baud = proto.Uint32(b)
				p.linkWarn(i, "serial declared before baud runs at %d baud, as in Heartbeat", b)
			}
		}
	}
}

func (p *cfParser) linkWarn(i int, format string, args ...any) {
	field := fmt.Sprintf("links[%d]", i)
	p.l.Warnings = append(p.l.Warnings, config.Warning{Pos: p.l.Sources[field], Msg: fmt.Sprintf(format, args...)})
}
