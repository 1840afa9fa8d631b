package hacf

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
)

// Tests of the rules Heartbeat 3.0.6 applies that a real /etc/ha.d relies
// on (issue 11): host names resolved when read, `auth1`, nice_failback
// after auto_failback, warntime not below deadtime, ignored directives.

// fakeHosts makes ha.cf's host names resolve from hosts for the test (an
// empty list: the name does not exist).
func fakeHosts(t *testing.T, hosts map[string][]string) {
	t.Helper()
	saved := lookupIPv4
	t.Cleanup(func() { lookupIPv4 = saved })
	lookupIPv4 = func(host string) ([]netip.Addr, error) {
		list, ok := hosts[host]
		if !ok {
			return nil, errors.New("no such host")
		}
		var out []netip.Addr
		for _, a := range list {
			out = append(out, netip.MustParseAddr(a))
		}
		return out, nil
	}
}

func differences(l *config.Loaded, kind config.DifferenceKind) []string {
	var out []string
	for _, d := range l.Differences {
		if d.Kind == kind {
			out = append(out, d.String())
		}
	}
	return out
}

// TestHostNamesResolvedWhenRead: ucast, ping and ping_group take host
// names, resolved to their first IPv4 address when the line is read, as
// Heartbeat's plugins do with gethostbyname(); the ping node keeps the
// name (in lower case). Each resolution is a difference naming its line.
func TestHostNamesResolvedWhenRead(t *testing.T) {
	fakeHosts(t, map[string][]string{
		"peer.example":    {"10.0.0.2", "10.0.0.3"},
		"Gateway":         {"::ffff:192.168.1.1"},
		"router2":         {"192.168.1.2"},
		"v6only.example":  {"fe80::1"},
		"no-ipv4.example": {},
	})
	l, errs := parse(t, "node a b\nucast eth0 peer.example\nping Gateway 10.0.0.254\nping_group routers router2 10.0.0.253\n", "", minimalKeys)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := l.Cluster.Links[0].GetUcast().Peers; len(got) != 1 || got[0] != "10.0.0.2" {
		t.Errorf("ucast peer %v, want the first address 10.0.0.2", got)
	}
	pn := l.Cluster.PingNodes
	if len(pn) != 3 || pn[0].Name != "gateway" || pn[0].Addresses[0] != "192.168.1.1" || pn[1].Name != "10.0.0.254" ||
		pn[2].Name != "routers" || strings.Join(pn[2].Addresses, " ") != "192.168.1.2 10.0.0.253" {
		t.Errorf("ping nodes %v", pn)
	}
	got := strings.Join(differences(l, config.DiffResolved), "\n")
	for _, want := range []string{
		"resolved: ha.cf:2: ucast peer.example: resolved to 10.0.0.2 when read",
		"resolved: ha.cf:3: ping Gateway: resolved to 192.168.1.1",
		"resolved: ha.cf:4: ping_group routers router2: resolved to 192.168.1.2",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no difference %q in:\n%s", want, got)
		}
	}
	if _, err := config.Resolve(l, "a"); err != nil {
		t.Fatalf("resolved names must validate: %v", err)
	}

	for _, c := range []struct{ cf, want string }{
		{"node a\nucast eth0 nowhere.example\n", `ha.cf:2: ucast: cannot resolve host name "nowhere.example": no such host`},
		{"ping 10.0.0.1 nowhere\n", `ha.cf:1: ping: cannot resolve host name "nowhere": no such host`},
		{"ping_group g 10.0.0.1 nowhere\n", `ha.cf:1: ping_group g: cannot resolve host name "nowhere"`},
		{"ping v6only.example\n", `ha.cf:1: ping: cannot resolve host name "v6only.example": no IPv4 address`},
		{"ping no-ipv4.example\n", `ha.cf:1: ping: cannot resolve host name "no-ipv4.example": no IPv4 address`},
		{"ucast eth0 10.0.0.300\n", `ha.cf:1: ucast: "10.0.0.300" is not an IPv4 address`},
		{"ucast eth0 host/name\n", `ha.cf:1: ucast: "host/name" is neither an IPv4 address nor a host name`},
		{"ping fe80::1\n", `ha.cf:1: ping: "fe80::1" is an IPv6 address: write it on a ping6 line (ping6 ... fe80::1)`},
	} {
		_, errs := parse(t, c.cf, "", "")
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), c.want) {
			t.Errorf("%q: %v, want one error %q", c.cf, errs, c.want)
		}
	}
}

// TestHostNamesWithTheSystemResolver: localhost resolves offline (from
// /etc/hosts), and a name under the reserved .invalid never does, at once.
func TestHostNamesWithTheSystemResolver(t *testing.T) {
	l, errs := parse(t, "node a\nucast lo localhost\nping localhost\n", "", "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := l.Cluster.Links[0].GetUcast().Peers; len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("localhost resolved to %v, want 127.0.0.1", got)
	}
	_, errs = parse(t, "node a\nucast lo gateway.invalid\n", "", "")
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), `ha.cf:2: ucast: cannot resolve host name "gateway.invalid": no such host`) {
		t.Fatalf("gateway.invalid: %v", errs)
	}
}

// TestAuthLineAsSscanf: Heartbeat reads the auth line with
// sscanf(line, "auth %d"): white space between auth and the number is
// optional and may be any amount of blanks or tabs; what follows the
// number is ignored (with a warning here). No contradictory "no auth line"
// follows a broken one.
func TestAuthLineAsSscanf(t *testing.T) {
	for text, want := range map[string]uint32{
		"auth1\n1 sha1 k\n":            1,
		"auth  2\n2 sha1 k\n":          2,
		"auth\t3\n3 sha1 k\n":          3,
		"  auth \t 4 # signs\n4 crc\n": 4,
		"auth +5\n5 md5 k\n":           5,
		"auth 06\n6 md5 k\n":           6,
		"auth 7 8\n7 md5 k\n":          7,
	} {
		l, errs := parse(t, "", "", text)
		if len(errs) > 0 || l.Cluster.GetAuth().GetActiveKey() != want {
			t.Errorf("%q: key %d %v, want %d", text, l.Cluster.GetAuth().GetActiveKey(), errs, want)
		}
	}
	l, _ := parse(t, "", "", "auth1\n1 sha1 k\n")
	if got := differences(l, config.DiffQuirk); len(got) != 1 || got[0] != "quirk: authkeys:1: auth1 read as auth 1, as Heartbeat does" {
		t.Errorf("auth1 difference: %q", got)
	}
	l, _ = parse(t, "", "", "auth 7 8\n7 md5 k\n")
	if len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0].String(), `authkeys:1: auth 7: "8" after the key number is ignored`) {
		t.Errorf("trailing text: %v", l.Warnings)
	}
	for text, want := range map[string]string{
		"auth\n1 crc\n":        "authkeys:1: auth: expects a key number (auth 1)",
		"authx\n1 crc\n":       "authkeys:1: auth: expects a key number (auth 1)",
		"auth -1\n1 crc\n":     `authkeys:1: auth: key "-1" is not a number from 0 to 15`,
		"auth16\n1 crc\n":      `authkeys:1: auth: key "16" is not a number from 0 to 15`,
		"Auth 1\n1 crc\n":      `authkeys:1: "Auth 1": the auth line is written in lower case (auth 1)`,
		"AUTH1\n1 sha1 k\n":    `authkeys:1: "AUTH1": the auth line is written in lower case (auth 1)`,
		"auth1\nauth 1\n1 crc": "authkeys:2: a second auth line (the first is line 1)",
	} {
		_, errs := parse(t, "", "", text)
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), want) {
			t.Errorf("%q: %v, want the one error %q", text, errs, want)
		}
	}
}

// TestNiceFailbackAsHeartbeat: Heartbeat 3.0.6's set_nice_failback()
// tests its nice_failback global, which auto_failback on|off sets and
// auto_failback legacy clears, and ignores its own value: after on or off
// the line means off, otherwise legacy; a later auto_failback wins. Each
// nice_failback line says so in a warning naming it.
func TestNiceFailbackAsHeartbeat(t *testing.T) {
	const (
		on     = messages.AutoFailback_AUTO_FAILBACK_ON
		off    = messages.AutoFailback_AUTO_FAILBACK_OFF
		legacy = messages.AutoFailback_AUTO_FAILBACK_LEGACY
	)
	for cf, want := range map[string]messages.AutoFailback{
		"nice_failback on\n":                                       legacy,
		"nice_failback off\n":                                      legacy,
		"nice_failback on\nnice_failback on\n":                     legacy,
		"auto_failback on\nnice_failback on\n":                     off,
		"auto_failback on\nnice_failback off\n":                    off,
		"auto_failback off\nnice_failback on\n":                    off,
		"auto_failback off\nnice_failback off\n":                   off,
		"auto_failback legacy\nnice_failback on\n":                 legacy,
		"auto_failback legacy\nnice_failback off\n":                legacy,
		"nice_failback on\nauto_failback on\n":                     on,
		"nice_failback off\nauto_failback off\n":                   off,
		"nice_failback on\nauto_failback legacy\n":                 legacy,
		"auto_failback on\nnice_failback on\nauto_failback on\n":   on,
		"auto_failback off\nauto_failback legacy\nnice_failback 1": legacy,
		"auto_failback yes\n":                                      on,
		"auto_failback legacy\n":                                   legacy,
	} {
		l, errs := parse(t, cf, "", "")
		if len(errs) > 0 || l.Cluster.AutoFailback != want {
			t.Errorf("%q: %v %v, want %v", cf, l.Cluster.AutoFailback, errs, want)
		}
	}
	l, _ := parse(t, "auto_failback on\nnice_failback on\n", "", "")
	if len(l.Warnings) != 1 || !strings.HasPrefix(l.Warnings[0].String(), "ha.cf:2: nice_failback on: runs as auto_failback off, as in Heartbeat") {
		t.Errorf("warning: %v", l.Warnings)
	}
	if len(differences(l, config.DiffQuirk)) != 1 {
		t.Errorf("no quirk difference: %v", l.Differences)
	}
	eff, err := config.Resolve(func() *config.Loaded {
		l, _ := parse(t, "node a\nucast eth0 10.0.0.2\nauto_failback on\nnice_failback on\n", "", minimalKeys)
		return l
	}(), "a")
	if err != nil || eff.AutoFailback || eff.Parameters["auto_failback"] != "off" {
		t.Errorf("effective auto_failback %v, parameter %q (%v): want off", eff.AutoFailback, eff.Parameters["auto_failback"], err)
	}
	l, _ = parse(t, "nice_failback on\n", "", "")
	if len(l.Warnings) != 1 || !strings.HasPrefix(l.Warnings[0].String(), "ha.cf:1: nice_failback on: runs as auto_failback legacy, as in Heartbeat") {
		t.Errorf("warning: %v", l.Warnings)
	}
}

// TestWarntimeNotBelowDeadtime: Heartbeat accepts warntime >= deadtime
// (a heartbeat that late marks its node dead, never late); hanode accepts
// it with a warning naming the line, in both formats.
func TestWarntimeNotBelowDeadtime(t *testing.T) {
	for _, cf := range []string{"warntime 40\nnode a\nucast eth0 10.0.0.1\n", "warntime 30\nnode a\nucast eth0 10.0.0.1\n"} {
		l, errs := parse(t, cf, "", minimalKeys)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		eff, err := config.Resolve(l, "a")
		if err != nil {
			t.Fatalf("%q: %v", cf, err)
		}
		var warns []string
		for _, w := range eff.Warnings {
			warns = append(warns, w.String())
		}
		want := "ha.cf:1: warntime (" + strings.Fields(cf)[1] + "s) is not less than the deadtime (30s): accepted as Heartbeat does; no late heartbeat is ever reported"
		if !strings.Contains(strings.Join(warns, "\n"), want) || len(eff.Differences) != 1 || eff.Differences[0].Kind != config.DiffQuirk {
			t.Errorf("%q: warnings %q, differences %v; want %q", cf, warns, eff.Differences, want)
		}
	}
}

// TestIgnoredDirectivesSayWhatInstead: every directive hanode ignores is
// accepted with a one-line warning saying what hanode does instead, and is
// a difference naming the directive.
func TestIgnoredDirectivesSayWhatInstead(t *testing.T) {
	values := map[string]string{"msgfmt": "classic", "uuidfrom": "file", "conn_logd_time": "60", "compression": "zlib", "coreroot": "/var/lib/heartbeat/cores", "quorum_server": "q1"}
	for name, ig := range ignored {
		v := values[name]
		if v == "" {
			v = "1"
		}
		l, errs := parse(t, name+" "+v+"\n", "", "")
		if len(errs) > 0 {
			t.Errorf("%s: %v", name, errs)
			continue
		}
		if len(l.Warnings) != 1 || l.Warnings[0].String() != "ha.cf:1: "+name+": ignored: "+ig.instead || strings.Contains(ig.instead, "\n") || !strings.Contains(ig.instead, "hanode") {
			t.Errorf("%s: warning %v", name, l.Warnings)
		}
		if len(l.Differences) != 1 || l.Differences[0].Kind != config.DiffIgnored || l.Differences[0].Directive != name || !config.IsDifference(l.Warnings[0], l.Differences) {
			t.Errorf("%s: differences %v", name, l.Differences)
		}
	}
	l, _ := parse(t, "apiauth ipfail uid=hacluster\n", "", "")
	if len(l.Differences) != 1 || l.Differences[0].Directive != "apiauth" || !strings.Contains(l.Differences[0].Msg, "apiauth: ignored: hanode has no client API") {
		t.Errorf("apiauth: %v", l.Differences)
	}
}

// TestPacemakerModeIsOneError: a Pacemaker-mode ha.cf is refused with one
// error naming the crm line, whatever else it holds, and nothing in it is
// resolved.
func TestPacemakerModeIsOneError(t *testing.T) {
	fakeHosts(t, nil)
	for _, cf := range []string{
		"node a\nucast eth0 mts-dev.example\nnodee b\ncrm respawn\n",
		"pacemaker on\nkeepalive soon\n",
	} {
		_, errs := parse(t, cf, "", "")
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "Pacemaker (crm) mode is not supported") {
			t.Errorf("%q: %v, want the Pacemaker error alone", cf, errs)
		}
	}
	if _, errs := parse(t, "crm off\nnode a\nucast eth0 10.0.0.1\n", "", ""); len(errs) > 0 {
		t.Errorf("crm off: %v", errs)
	}
}

// TestMissingHaresources: Heartbeat 3.0.6 refuses to start without
// haresources; hanode runs without groups and lists it as a difference.
func TestMissingHaresources(t *testing.T) {
	dir := writeHaDir(t, 0o600)
	os.Remove(filepath.Join(dir, "haresources"))
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := differences(l, config.DiffAccepted); len(got) != 1 || !strings.Contains(got[0], filepath.Join(dir, "haresources")+": no haresources file: Heartbeat 3.0.6 refuses to start without one") {
		t.Errorf("differences: %q", got)
	}
}
