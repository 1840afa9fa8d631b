package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"slices"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/transports/medium"
)

// Links and media.
//
// A link is an interface (or a serial line); a medium is one way frames
// travel over it: broadcast, unicast to a list of peers, or multicast to a
// group. Heartbeat reads every medium line (bcast, ucast, mcast, and udp,
// its old name of bcast) as a medium of its own, and names it by its
// interface; a node's links are looked up by that name (heartbeat.c
// lookup_iface(), from read_child_dispatch()), so every medium on eth0
// refreshes the one link eth0, and `cl_status hblinkstatus node eth0` is up
// while any of them brings frames. hanode makes that the model rather than
// an accident of a name lookup:
//
//   - the media a configuration names on one interface are one link, named
//     by the interface, as listhblinks and hblinkstatus show it (Heartbeat
//     lists eth0 once per medium, the extra entries never up: nobody
//     relies on that);
//   - the link sends every frame by every one of its media, exactly what
//     Heartbeat's media send (a configuration with bcast and ucast on eth0
//     sends each frame as a broadcast and to each peer);
//   - a frame that arrives by several media of the link counts once
//     (transports.Media drops the copies; the membership's per-link
//     replay window would otherwise take them for replays), and one that
//     arrives by any medium keeps the link up;
//   - the transport opens one receiving socket per local address and port
//     its media need, shared by them, so that Linux never splits unicast
//     datagrams between two sockets of one port (see transports/media.go).
//
// One link per interface keeps what the operator sees (one line per
// interface, up while the interface carries frames) and what the
// membership reasons about (a link of a peer is up or dead on its own)
// the same thing. Separate links per medium would show "eth0" and
// "mcast:eth0" dying together when the cable is pulled, and a medium that
// never worked (a peer address on another network) as a link down for
// ever.
//
// The same medium twice (udp eth0 beside bcast eth0, an mcast line
// repeated) is one medium: Heartbeat would send every frame twice by it.
// Several ucast entries for one socket are one medium with all their
// peers (the ha.cf reader already gathers ucast lines so).
//
// A native configuration may name links. Media with the same name are one
// link (they must be on one interface); media of different links must not
// need the same socket (one device and port): Linux would hand each
// unicast datagram to one of the two sockets only.

// MediumSpec is one medium of a link, with defaults applied.
//
// Medium is typed (package transports/medium): resolving builds it once
// from the configured protobuf medium, with its addresses parsed, its port
// and speed filled in, so that nothing after Resolve switches on the
// protobuf oneof or parses an address again. Several ucast entries for one
// socket are merged into one Ucast holding all their peers; an mcast line
// repeated with another ttl or loop into one Mcast with the larger.
type MediumSpec struct {
	Medium medium.Medium
	// Field is the configuration entry ("links[2]"), for messages.
	Field string
}

// Dev is the medium's interface: "" for a serial line or a ucast medium
// not tied to a device.
func (m MediumSpec) Dev() string { return m.Medium.Iface() }

// Port is the medium's UDP port; 0 for a serial line.
func (m MediumSpec) Port() uint16 { return mediumPort(m.Medium) }

func mediumPort(md medium.Medium) uint16 {
	switch x := md.(type) {
	case *medium.Bcast:
		return x.Port
	case *medium.Mcast:
		return x.Port
	case *medium.Ucast:
		return x.Port
	}
	return 0
}

func (r *resolver) links() {
	c := r.eff.Cluster
	if len(c.Links) == 0 {
		r.errf("links", "no heartbeat media defined")
	}
	byName := map[string]int{}
	for i, l := range c.Links {
		field := fmt.Sprintf("links[%d]", i)
		m, defName, ok := r.medium(field, l)
		if !ok {
			continue
		}
		name := l.Name
		if name == "" {
			name = defName
		}
		j, seen := byName[name]
		if !seen {
			byName[name] = len(r.eff.Links)
			r.eff.Links = append(r.eff.Links, LinkSpec{Name: name, Media: []MediumSpec{m}})
			continue
		}
		ls := &r.eff.Links[j]
		first := ls.Media[0]
		s, serial := m.Medium.(*medium.Serial)
		fs, firstSerial := first.Medium.(*medium.Serial)
		switch {
		case serial && firstSerial && s.Device == fs.Device:
			r.errf(field, "serial %s is configured twice (first at %s): a serial line carries one link", s.Device, r.where(first.Field))
		case serial || firstSerial || m.Dev() != first.Dev():
			if l.Name != "" {
				field += ".name"
			}
			r.errf(field, "link name %q is already used by %s (%s): the media of a link share one interface", name, r.where(first.Field), describeMedium(first))
		default:
			r.addMedium(ls, m)
		}
	}
	r.socketConflicts()
	for i := range r.eff.Links {
		if len(r.eff.Links[i].Media) > 1 {
			r.mergeNotice(&r.eff.Links[i])
		}
	}
	// In the order of the lines they are about.
	sort.SliceStable(r.notices, func(i, j int) bool { return r.fieldLine(r.notices[i].field) < r.fieldLine(r.notices[j].field) })
	for _, n := range r.notices {
		r.warnDiffer(n.field, DiffMerged, n.directive, "%s", n.msg)
	}
	r.notices = nil
}

// mediaNotice is a merge of media, said once Resolve has seen them all.
type mediaNotice struct{ field, directive, msg string }

func (r *resolver) notice(field, directive, format string, args ...any) {
	r.notices = append(r.notices, mediaNotice{field, directive, fmt.Sprintf(format, args...)})
}

// fieldLine is the line field was written on, 0 when unknown.
func (r *resolver) fieldLine(field string) int {
	p, _ := r.l.lookup(field)
	return p.Line
}

// medium validates one configured medium and returns it typed, with its
// port and speed, and the link name it takes by default (its interface,
// its device). ok is false when l has no medium at all. An invalid address
// is reported and left zero: Resolve fails anyway.
func (r *resolver) medium(field string, l *messages.Link) (m MediumSpec, defName string, ok bool) {
	m = MediumSpec{Field: field}
	port := r.eff.UDPPort
	switch x := l.GetMedium().(type) {
	case *messages.Link_Bcast:
		defName = x.Bcast.Dev
		if !validIfName(x.Bcast.Dev) {
			r.errf(field+".bcast.dev", "bcast: invalid interface name %q", x.Bcast.Dev)
		}
		if x.Bcast.Port != nil {
			port = *x.Bcast.Port
		}
		m.Medium = &medium.Bcast{Dev: x.Bcast.Dev, Port: uint16(port)}
	case *messages.Link_Mcast:
		mc := x.Mcast
		defName = mc.Dev
		if !validIfName(mc.Dev) {
			r.errf(field+".mcast.dev", "mcast: invalid interface name %q", mc.Dev)
		}
		group, err := netip.ParseAddr(mc.Group)
		switch {
		case err == nil && group.Is6() && !group.Is4In6():
			if problem := Group6Problem(group); problem != "" {
				r.errf(field+".mcast.group", "mcast: IPv6 group %q %s", mc.Group, problem)
			}
		case err != nil || !group.Is4() || !group.IsMulticast():
			r.errf(field+".mcast.group", "mcast: %q is not an IPv4 multicast group (224.0.0.0 - 239.255.255.255) or an IPv6 one (ff12::/16, ...)", mc.Group)
		}
		port = mc.Port
		if mc.Ttl < 1 || mc.Ttl > 255 {
			what := "ttl"
			if group.Is6() {
				what = "ttl (the hop limit of an IPv6 group)"
			}
			r.errf(field+".mcast.ttl", "mcast: %s %d is out of range 1..255", what, mc.Ttl)
		}
		m.Medium = &medium.Mcast{Dev: mc.Dev, Group: group, Port: uint16(port), TTL: int(mc.Ttl), Loop: mc.Loop}
	case *messages.Link_Ucast:
		u := x.Ucast
		defName = u.Dev
		if u.Dev != "" && !validIfName(u.Dev) {
			r.errf(field+".ucast.dev", "ucast: invalid interface name %q", u.Dev)
		}
		if u.Dev == "" {
			defName = "ucast"
		}
		if len(u.Peers) == 0 {
			r.errf(field+".ucast.peers", "ucast: no peer address")
		}
		typed := &medium.Ucast{Dev: u.Dev}
		if u.Bind != "" {
			a, err := netip.ParseAddr(u.Bind)
			if err == nil && a.Is6() {
				var problem string
				if a, problem = Peer6Problem(a, u.Dev); problem != "" {
					r.errf(field+".ucast.bind", "ucast: bind address %q %s", u.Bind, problem)
				}
			} else if err != nil || !a.Is4() {
				r.errf(field+".ucast.bind", "ucast: bind address %q is not an IPv4 or IPv6 address", u.Bind)
			}
			typed.Bind = a
		}
		for j, p := range u.Peers {
			pf := fmt.Sprintf("%s.ucast.peers[%d]", field, j)
			a, err := netip.ParseAddr(p)
			switch {
			case err != nil:
				r.errf(pf, "ucast: %q is not an IPv4 or IPv6 address", p)
			case a.Is6():
				var problem string
				if a, problem = Peer6Problem(a, u.Dev); problem != "" {
					r.errf(pf, "ucast: peer %q %s", p, problem)
				}
			}
			// One socket per family: bound to an address, it reaches
			// peers of that address's family only.
			if err == nil && typed.Bind.IsValid() && a.Is4() != typed.Bind.Is4() {
				r.errf(pf, "ucast: peer %q is not of the family of the bind address %s", p, typed.Bind)
			}
			typed.Peers = append(typed.Peers, a)
		}
		if u.Port != nil {
			port = *u.Port
		}
		typed.Port = uint16(port)
		m.Medium = typed
	case *messages.Link_Serial:
		s := x.Serial
		defName = s.Device
		if s.Device == "" || !filepath.IsAbs(s.Device) {
			r.errf(field+".serial.device", "serial: device %q must be an absolute path", s.Device)
		}
		baud := r.eff.Baud
		if s.Baud != nil {
			baud = *s.Baud
			if !ValidBaud(*s.Baud) {
				r.errf(field+".serial.baud", "serial: baud rate %d is not a supported speed (%s)", *s.Baud, baudList())
			}
		}
		m.Medium = &medium.Serial{Device: s.Device, Baud: int(baud)}
		return m, defName, true
	default:
		r.errf(field, "link has no medium (bcast, mcast, ucast or serial)")
		return m, "", false
	}
	if !validPort(port) {
		r.errf(field, "%s: port %d is out of range 1..65535", m.Medium.Kind(), port)
	}
	return m, defName, true
}

// addMedium adds m to a link on its interface: as a medium of its own, or
// into the medium it repeats.
func (r *resolver) addMedium(ls *LinkSpec, m MediumSpec) {
	for k := range ls.Media {
		have := &ls.Media[k]
		if have.Port() != m.Port() {
			continue
		}
		switch a := have.Medium.(type) {
		case *medium.Bcast:
			if _, ok := m.Medium.(*medium.Bcast); !ok {
				continue
			}
			r.notice(m.Field, "bcast", "bcast %s repeats bcast %s (%s): one medium, every frame is broadcast once (Heartbeat broadcasts it once per line)",
				a.Dev, a.Dev, r.ref(have.Field, m.Field))
			return
		case *medium.Mcast:
			b, ok := m.Medium.(*medium.Mcast)
			if !ok || b.Group != a.Group {
				continue
			}
			msg := fmt.Sprintf("mcast %s %s %d repeats %s: one medium, every frame is sent to the group once (Heartbeat sends it once per line)",
				b.Dev, b.Group, b.Port, r.ref(have.Field, m.Field))
			if b.TTL != a.TTL || b.Loop != a.Loop {
				merged := *a
				merged.TTL = max(a.TTL, b.TTL)
				merged.Loop = a.Loop || b.Loop
				have.Medium = &merged
				msg += fmt.Sprintf(", with ttl %d and loop %d (the larger of the two lines)", merged.TTL, boolInt(merged.Loop))
			}
			r.notice(m.Field, "mcast", "%s", msg)
			return
		case *medium.Ucast:
			b, ok := m.Medium.(*medium.Ucast)
			if !ok || b.Bind != a.Bind {
				continue
			}
			// One socket, one medium: the peers of both entries.
			merged := *a
			merged.Peers = slices.Clone(a.Peers)
			for _, p := range b.Peers {
				if slices.Contains(merged.Peers, p) {
					r.warnf(m.Field, "ucast %s %s is listed twice (first at %s)", devOrAny(b.Dev), p, r.where(have.Field))
					continue
				}
				merged.Peers = append(merged.Peers, p)
			}
			have.Medium = &merged
			r.warnf(m.Field, "ucast %s %s joins the ucast medium of %s: one medium, frames go to %s", devOrAny(b.Dev), medium.JoinAddrs(b.Peers, " "), r.where(have.Field), medium.JoinAddrs(merged.Peers, ", "))
			return
		}
	}
	ls.Media = append(ls.Media, m)
}

// mergeNotice says, once per link with several media, what hanode does
// with them: what used to be refused (and what Heartbeat runs as separate
// media) is one link.
func (r *resolver) mergeNotice(ls *LinkSpec) {
	var parts, outs []string
	for _, m := range ls.Media {
		parts = append(parts, fmt.Sprintf("%s (%s)", r.mediumText(m), r.ref(m.Field, ls.Media[0].Field)))
		outs = append(outs, r.sendText(m))
	}
	r.notice(ls.Media[0].Field, ls.Media[1].Medium.Kind(),
		"%s share one link %s: frames go out %s; a frame that arrives by several counts once, and cl_status lists %s once (Heartbeat: once per medium)",
		joinAnd(parts), ls.Name, joinAnd(outs), ls.Name)
}

// mediumText writes a medium as its configuration line reads.
func (r *resolver) mediumText(m MediumSpec) string {
	port := ""
	if uint32(m.Port()) != r.eff.UDPPort {
		port = " port " + strconv.Itoa(int(m.Port()))
	}
	switch x := m.Medium.(type) {
	case *medium.Bcast:
		return "bcast " + x.Dev + port
	case *medium.Ucast:
		return "ucast " + devOrAny(x.Dev) + " " + medium.JoinAddrs(x.Peers, " ") + port
	case *medium.Mcast:
		if x.Group.Is6() {
			return fmt.Sprintf("mcast6 %s %s %d", x.Dev, x.Group, x.Port)
		}
		return fmt.Sprintf("mcast %s %s %d", x.Dev, x.Group, x.Port)
	}
	return describeMedium(m)
}

// sendText says where a medium sends each frame.
func (r *resolver) sendText(m MediumSpec) string {
	switch x := m.Medium.(type) {
	case *medium.Bcast:
		if uint32(x.Port) != r.eff.UDPPort {
			return fmt.Sprintf("as broadcast to port %d", x.Port)
		}
		return "as broadcast"
	case *medium.Ucast:
		return "to " + medium.JoinAddrs(x.Peers, ", ")
	case *medium.Mcast:
		return "to " + x.Group.String()
	}
	return "?"
}

// describeMedium names a medium for an error: its kind and interface or
// device.
func describeMedium(m MediumSpec) string {
	if s, ok := m.Medium.(*medium.Serial); ok {
		return "serial " + s.Device
	}
	return m.Medium.Kind() + " " + devOrAny(m.Dev())
}

// ref names where field was written, relative to near: "line 12" in the
// same file, else its file and line (or its field path).
func (r *resolver) ref(field, near string) string {
	p, ok := r.l.lookup(field)
	q, _ := r.l.lookup(near)
	if ok && p.Line > 0 && p.File == q.File {
		return "line " + strconv.Itoa(p.Line)
	}
	return r.where(field)
}

// socketConflicts refuses media of different links that need one socket:
// on overlapping devices ("" is every device) and addresses, one port.
// Linux hands a unicast datagram to one such socket only, so one link
// would miss frames meant for it. An mcast medium receives on its port's
// 0.0.0.0 socket (transports: Go cannot bind a group address), so it
// counts as one. Serial lines are one link each. Only a native
// configuration that names links can get here: media on one interface are
// otherwise one link.
func (r *resolver) socketConflicts() {
	type sock struct {
		link   int
		m      MediumSpec
		kind   string // "udp" or "serial"
		dev    string
		addr   netip.Addr // bind address; the zero Addr is every address
		device string     // serial device
		// fams are the socket families the medium binds: 1 IPv4, 2
		// IPv6 (an IPv6 socket is IPv6 only, beside the IPv4 one).
		fams int
	}
	var socks []sock
	for i, ls := range r.eff.Links {
		for _, m := range ls.Media {
			s := sock{link: i, m: m, dev: m.Dev(), kind: "udp", fams: 1}
			switch x := m.Medium.(type) {
			case *medium.Ucast:
				s.addr = x.Bind
				s.fams = 0
				for _, p := range x.Peers {
					s.fams |= family(p)
				}
				if x.Bind.IsValid() {
					s.fams = family(x.Bind)
				}
			case *medium.Mcast:
				s.fams = family(x.Group)
			case *medium.Serial:
				s.kind, s.device = "serial", x.Device
			}
			socks = append(socks, s)
		}
	}
	overlap := func(a, b string) bool { return a == "" || b == "" || a == b }
	overlapAddr := func(a, b netip.Addr) bool { return !a.IsValid() || !b.IsValid() || a == b }
	reported := map[int]bool{}
	for j, b := range socks {
		for _, a := range socks[:j] {
			if a.link == b.link || a.kind != b.kind || reported[b.link] {
				continue
			}
			var clash bool
			switch a.kind {
			case "serial":
				clash = a.device == b.device
			case "udp":
				clash = a.m.Port() == b.m.Port() && a.fams&b.fams != 0 && overlap(a.dev, b.dev) && overlapAddr(a.addr, b.addr)
			}
			if !clash {
				continue
			}
			reported[b.link] = true
			la, lb := r.eff.Links[a.link].Name, r.eff.Links[b.link].Name
			if a.kind == "serial" {
				r.errf(b.m.Field, "serial %s is already used by link %q (%s): a serial line carries one link", b.device, la, r.where(a.m.Field))
				continue
			}
			r.errf(b.m.Field, "%s of link %q and %s of link %q (%s) would receive on one socket (device %s, port %d), and Linux hands each unicast datagram to one socket only: make them one link (the same name) or use another port",
				describeMedium(b.m), lb, describeMedium(a.m), la, r.where(a.m.Field), devOrAny(overlapDev(a.dev, b.dev)), b.m.Port())
		}
	}
}

// family is 1 for an IPv4 address, 2 for an IPv6 one.
func family(a netip.Addr) int {
	if a.Is4() {
		return 1
	}
	return 2
}

func overlapDev(a, b string) string {
	if a == "" {
		return b
	}
	return a
}

func devOrAny(dev string) string {
	if dev == "" {
		return "(any device)"
	}
	return dev
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// joinAnd joins "a", "b" and "c" as "a, b and c".
func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
