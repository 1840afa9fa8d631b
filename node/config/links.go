package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
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
type MediumSpec struct {
	// Link is the configured medium. Several ucast entries for one
	// socket are merged into a copy holding all their peers.
	Link *messages.Link
	// Port is the UDP port (bcast, mcast, ucast).
	Port uint32
	// Baud is the line speed (serial).
	Baud uint32
	// Field is the configuration entry ("links[2]"), for messages.
	Field string
}

// Dev is the medium's interface: "" for a serial line or a ucast medium
// not tied to a device.
func (m MediumSpec) Dev() string {
	switch x := m.Link.GetMedium().(type) {
	case *messages.Link_Bcast:
		return x.Bcast.Dev
	case *messages.Link_Mcast:
		return x.Mcast.Dev
	case *messages.Link_Ucast:
		return x.Ucast.Dev
	}
	return ""
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
			r.eff.Links = append(r.eff.Links, LinkSpec{Name: name, Link: m.Link, Port: m.Port, Baud: m.Baud, Media: []MediumSpec{m}})
			continue
		}
		ls := &r.eff.Links[j]
		first := ls.Media[0]
		_, serial := l.GetMedium().(*messages.Link_Serial)
		_, firstSerial := first.Link.GetMedium().(*messages.Link_Serial)
		switch {
		case serial && firstSerial && l.GetSerial().Device == first.Link.GetSerial().Device:
			r.errf(field, "serial %s is configured twice (first at %s): a serial line carries one link", l.GetSerial().Device, r.where(first.Field))
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

// medium validates one configured medium and returns it with its port and
// speed, and the link name it takes by default (its interface, its
// device). ok is false when l has no medium at all.
func (r *resolver) medium(field string, l *messages.Link) (m MediumSpec, defName string, ok bool) {
	m = MediumSpec{Link: l, Port: r.eff.UDPPort, Baud: r.eff.Baud, Field: field}
	switch x := l.GetMedium().(type) {
	case *messages.Link_Bcast:
		defName = x.Bcast.Dev
		if !validIfName(x.Bcast.Dev) {
			r.errf(field+".bcast.dev", "bcast: invalid interface name %q", x.Bcast.Dev)
		}
		if x.Bcast.Port != nil {
			m.Port = *x.Bcast.Port
		}
	case *messages.Link_Mcast:
		mc := x.Mcast
		defName = mc.Dev
		if !validIfName(mc.Dev) {
			r.errf(field+".mcast.dev", "mcast: invalid interface name %q", mc.Dev)
		}
		if a, err := netip.ParseAddr(mc.Group); err != nil || !a.Is4() || !a.IsMulticast() {
			r.errf(field+".mcast.group", "mcast: %q is not an IPv4 multicast group (224.0.0.0 - 239.255.255.255)", mc.Group)
		}
		m.Port = mc.Port
		if mc.Ttl < 1 || mc.Ttl > 255 {
			r.errf(field+".mcast.ttl", "mcast: ttl %d is out of range 1..255", mc.Ttl)
		}
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
		for j, p := range u.Peers {
			if a, err := netip.ParseAddr(p); err != nil || !a.Is4() {
				r.errf(fmt.Sprintf("%s.ucast.peers[%d]", field, j), "ucast: %q is not an IPv4 address", p)
			}
		}
		if u.Bind != "" {
			if a, err := netip.ParseAddr(u.Bind); err != nil || !a.Is4() {
				r.errf(field+".ucast.bind", "ucast: bind address %q is not an IPv4 address", u.Bind)
			}
		}
		if u.Port != nil {
			m.Port = *u.Port
		}
	case *messages.Link_Serial:
		s := x.Serial
		defName = s.Device
		if s.Device == "" || !filepath.IsAbs(s.Device) {
			r.errf(field+".serial.device", "serial: device %q must be an absolute path", s.Device)
		}
		if s.Baud != nil {
			m.Baud = *s.Baud
			if !ValidBaud(*s.Baud) {
				r.errf(field+".serial.baud", "serial: baud rate %d is not a supported speed (%s)", *s.Baud, baudList())
			}
		}
		return m, defName, true
	default:
		r.errf(field, "link has no medium (bcast, mcast, ucast or serial)")
		return m, "", false
	}
	if !validPort(m.Port) {
		r.errf(field, "%s: port %d is out of range 1..65535", MediumName(l), m.Port)
	}
	return m, defName, true
}

// addMedium adds m to a link on its interface: as a medium of its own, or
// into the medium it repeats.
func (r *resolver) addMedium(ls *LinkSpec, m MediumSpec) {
	for k := range ls.Media {
		have := &ls.Media[k]
		if have.Port != m.Port {
			continue
		}
		switch a := have.Link.GetMedium().(type) {
		case *messages.Link_Bcast:
			if m.Link.GetBcast() == nil {
				continue
			}
			r.notice(m.Field, "bcast", "bcast %s repeats bcast %s (%s): one medium, every frame is broadcast once (Heartbeat broadcasts it once per line)",
				a.Bcast.Dev, a.Bcast.Dev, r.ref(have.Field, m.Field))
			return
		case *messages.Link_Mcast:
			b := m.Link.GetMcast()
			if b == nil || b.Group != a.Mcast.Group {
				continue
			}
			msg := fmt.Sprintf("mcast %s %s %d repeats %s: one medium, every frame is sent to the group once (Heartbeat sends it once per line)",
				b.Dev, b.Group, m.Port, r.ref(have.Field, m.Field))
			if b.Ttl != a.Mcast.Ttl || b.Loop != a.Mcast.Loop {
				merged := proto.Clone(have.Link).(*messages.Link)
				merged.GetMcast().Ttl = max(a.Mcast.Ttl, b.Ttl)
				merged.GetMcast().Loop = a.Mcast.Loop || b.Loop
				have.Link = merged
				msg += fmt.Sprintf(", with ttl %d and loop %d (the larger of the two lines)", merged.GetMcast().Ttl, boolInt(merged.GetMcast().Loop))
			}
			r.notice(m.Field, "mcast", "%s", msg)
			return
		case *messages.Link_Ucast:
			b := m.Link.GetUcast()
			if b == nil || b.Bind != a.Ucast.Bind {
				continue
			}
			// One socket, one medium: the peers of both entries.
			merged := proto.Clone(have.Link).(*messages.Link)
			u := merged.GetUcast()
			for _, p := range b.Peers {
				if containsString(u.Peers, p) {
					r.warnf(m.Field, "ucast %s %s is listed twice (first at %s)", devOrAny(b.Dev), p, r.where(have.Field))
					continue
				}
				u.Peers = append(u.Peers, p)
			}
			have.Link = merged
			r.warnf(m.Field, "ucast %s %s joins the ucast medium of %s: one medium, frames go to %s", devOrAny(b.Dev), strings.Join(b.Peers, " "), r.where(have.Field), strings.Join(u.Peers, ", "))
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
	r.notice(ls.Media[0].Field, MediumName(ls.Media[1].Link),
		"%s share one link %s: frames go out %s; a frame that arrives by several counts once, and cl_status lists %s once (Heartbeat: once per medium)",
		joinAnd(parts), ls.Name, joinAnd(outs), ls.Name)
}

// mediumText writes a medium as its configuration line reads.
func (r *resolver) mediumText(m MediumSpec) string {
	port := ""
	if m.Port != r.eff.UDPPort {
		port = " port " + strconv.Itoa(int(m.Port))
	}
	switch x := m.Link.GetMedium().(type) {
	case *messages.Link_Bcast:
		return "bcast " + x.Bcast.Dev + port
	case *messages.Link_Ucast:
		return "ucast " + devOrAny(x.Ucast.Dev) + " " + strings.Join(x.Ucast.Peers, " ") + port
	case *messages.Link_Mcast:
		return fmt.Sprintf("mcast %s %s %d", x.Mcast.Dev, x.Mcast.Group, m.Port)
	}
	return describeMedium(m)
}

// sendText says where a medium sends each frame.
func (r *resolver) sendText(m MediumSpec) string {
	switch x := m.Link.GetMedium().(type) {
	case *messages.Link_Bcast:
		if m.Port != r.eff.UDPPort {
			return fmt.Sprintf("as broadcast to port %d", m.Port)
		}
		return "as broadcast"
	case *messages.Link_Ucast:
		return "to " + strings.Join(x.Ucast.Peers, ", ")
	case *messages.Link_Mcast:
		return "to " + x.Mcast.Group
	}
	return "?"
}

// describeMedium names a medium for an error: its kind and interface or
// device.
func describeMedium(m MediumSpec) string {
	if s := m.Link.GetSerial(); s != nil {
		return "serial " + s.Device
	}
	return MediumName(m.Link) + " " + devOrAny(m.Dev())
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
		addr   string // bind address; "" is every address
		device string // serial device
	}
	var socks []sock
	for i, ls := range r.eff.Links {
		for _, m := range ls.Media {
			s := sock{link: i, m: m, dev: m.Dev()}
			switch x := m.Link.GetMedium().(type) {
			case *messages.Link_Bcast:
				s.kind = "udp"
			case *messages.Link_Ucast:
				s.kind, s.addr = "udp", x.Ucast.Bind
			case *messages.Link_Mcast:
				s.kind = "udp"
			case *messages.Link_Serial:
				s.kind, s.device = "serial", x.Serial.Device
			}
			socks = append(socks, s)
		}
	}
	overlap := func(a, b string) bool { return a == "" || b == "" || a == b }
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
				clash = a.m.Port == b.m.Port && overlap(a.dev, b.dev) && overlap(a.addr, b.addr)
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
				describeMedium(b.m), lb, describeMedium(a.m), la, r.where(a.m.Field), devOrAny(overlapDev(a.dev, b.dev)), b.m.Port)
		}
	}
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

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// joinAnd joins "a", "b" and "c" as "a, b and c".
func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
