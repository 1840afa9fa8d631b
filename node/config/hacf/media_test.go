package hacf

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/transports/medium"
)

func resolveCf(t *testing.T, cf string) *config.Effective {
	t.Helper()
	l, errs := parse(t, cf, "", minimalKeys)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	eff, err := config.Resolve(l, "a")
	if err != nil {
		t.Fatal(err)
	}
	return eff
}

// media writes a link's media one per line: "bcast eth0 694".
func media(ls config.LinkSpec) string {
	var out []string
	for _, m := range ls.Media {
		switch x := m.Medium.(type) {
		case *medium.Bcast:
			out = append(out, fmt.Sprintf("bcast %s %d", x.Dev, x.Port))
		case *medium.Ucast:
			out = append(out, fmt.Sprintf("ucast %s %d %s", x.Dev, x.Port, medium.JoinAddrs(x.Peers, ",")))
		case *medium.Mcast:
			out = append(out, fmt.Sprintf("mcast %s %s %d ttl %d loop %v", x.Dev, x.Group, x.Port, x.TTL, x.Loop))
		case *medium.Serial:
			out = append(out, "serial "+x.Device)
		}
	}
	return strings.Join(out, "; ")
}

func merged(eff *config.Effective) []string {
	var out []string
	for _, d := range eff.Differences {
		if d.Kind == config.DiffMerged {
			out = append(out, fmt.Sprintf("%s: %s", d.Pos, d.Msg))
		}
	}
	return out
}

// TestWidelyCopiedMediaBlock: the block found in many real ha.cf files,
// bcast, mcast, ucast and udp all on one interface and port, is one link
// eth0 with three media (udp is bcast again), and each merge is said once
// with its lines.
func TestWidelyCopiedMediaBlock(t *testing.T) {
	eff := resolveCf(t, `udpport        694
bcast  eth0
mcast eth0 225.0.0.1 694 1 0
ucast eth0 10.0.0.12
# What interfaces to heartbeat over?
udp     eth0
bcast eth1
node a b
`)
	var links []string
	for _, ls := range eff.Links {
		links = append(links, ls.Name+": "+media(ls))
	}
	want := []string{
		"eth0: bcast eth0 694; mcast eth0 225.0.0.1 694 ttl 1 loop false; ucast eth0 694 10.0.0.12",
		"eth1: bcast eth1 694",
	}
	if strings.Join(links, "\n") != strings.Join(want, "\n") {
		t.Fatalf("links:\n%s\nwant:\n%s", strings.Join(links, "\n"), strings.Join(want, "\n"))
	}
	if eff.Links[0].Kind() != "bcast" || eff.Links[0].Media[0].Port() != 694 {
		t.Fatal("Kind and Port are not the first medium's")
	}
	wantDiffs := []string{
		"ha.cf:2: bcast eth0 (line 2), mcast eth0 225.0.0.1 694 (line 3) and ucast eth0 10.0.0.12 (line 4) share one link eth0: frames go out as broadcast, to 225.0.0.1 and to 10.0.0.12; a frame that arrives by several counts once, and cl_status lists eth0 once (Heartbeat: once per medium)",
		"ha.cf:6: bcast eth0 repeats bcast eth0 (line 2): one medium, every frame is broadcast once (Heartbeat broadcasts it once per line)",
	}
	if got := merged(eff); strings.Join(got, "\n") != strings.Join(wantDiffs, "\n") {
		t.Fatalf("differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantDiffs, "\n"))
	}
	var warned []string
	for _, w := range eff.Warnings {
		warned = append(warned, w.String())
	}
	all := strings.Join(warned, "\n")
	for _, w := range append(wantDiffs, "ha.cf:6: udp is Heartbeat's old name of bcast: read as bcast") {
		if !strings.Contains(all, w) {
			t.Errorf("no warning %q in:\n%s", w, all)
		}
	}
}

// TestMediaOnOneInterface: what each combination of media lines on one
// interface becomes, and the one notice that says so.
func TestMediaOnOneInterface(t *testing.T) {
	cases := []struct {
		name, cf string
		links    []string // "name: media"
		notices  []string // merged differences
	}{
		{"bcast and ucast", "bcast eth0\nucast eth0 10.0.0.2\nnode a b\n",
			[]string{"eth0: bcast eth0 694; ucast eth0 694 10.0.0.2"},
			[]string{"ha.cf:1: bcast eth0 (line 1) and ucast eth0 10.0.0.2 (line 2) share one link eth0: frames go out as broadcast and to 10.0.0.2; a frame that arrives by several counts once, and cl_status lists eth0 once (Heartbeat: once per medium)"}},
		{"ucast peers around a bcast", "ucast eth1 10.0.0.1\nbcast eth1\nucast eth1 10.0.0.2\nnode a b\n",
			[]string{"eth1: ucast eth1 694 10.0.0.1,10.0.0.2; bcast eth1 694"},
			[]string{"ha.cf:1: ucast eth1 10.0.0.1 10.0.0.2 (line 1) and bcast eth1 (line 2) share one link eth1: frames go out to 10.0.0.1, 10.0.0.2 and as broadcast; a frame that arrives by several counts once, and cl_status lists eth1 once (Heartbeat: once per medium)"}},
		{"udp beside bcast only", "bcast eth0\nudp eth0\nnode a b\n",
			[]string{"eth0: bcast eth0 694"},
			[]string{"ha.cf:2: bcast eth0 repeats bcast eth0 (line 1): one medium, every frame is broadcast once (Heartbeat broadcasts it once per line)"}},
		{"bcast twice on one line", "bcast eth0 eth0\nnode a b\n",
			[]string{"eth0: bcast eth0 694"},
			[]string{"ha.cf:1: bcast eth0 repeats bcast eth0 (line 1): one medium, every frame is broadcast once (Heartbeat broadcasts it once per line)"}},
		{"bcast on two ports", "bcast eth0\nudpport 695\nbcast eth0\nnode a b\n",
			[]string{"eth0: bcast eth0 694; bcast eth0 695"},
			[]string{"ha.cf:1: bcast eth0 port 694 (line 1) and bcast eth0 (line 3) share one link eth0: frames go out as broadcast to port 694 and as broadcast; a frame that arrives by several counts once, and cl_status lists eth0 once (Heartbeat: once per medium)"}},
		{"mcast repeated with a larger ttl", "mcast eth0 225.0.0.1 694 1 0\nmcast eth0 225.0.0.1 694 3 0\nnode a b\n",
			[]string{"eth0: mcast eth0 225.0.0.1 694 ttl 3 loop false"},
			[]string{"ha.cf:2: mcast eth0 225.0.0.1 694 repeats line 1: one medium, every frame is sent to the group once (Heartbeat sends it once per line), with ttl 3 and loop 0 (the larger of the two lines)"}},
		{"two groups", "mcast eth0 225.0.0.1 694 1 0\nmcast eth0 225.0.0.2 694 1 0\nnode a b\n",
			[]string{"eth0: mcast eth0 225.0.0.1 694 ttl 1 loop false; mcast eth0 225.0.0.2 694 ttl 1 loop false"},
			[]string{"ha.cf:1: mcast eth0 225.0.0.1 694 (line 1) and mcast eth0 225.0.0.2 694 (line 2) share one link eth0: frames go out to 225.0.0.1 and to 225.0.0.2; a frame that arrives by several counts once, and cl_status lists eth0 once (Heartbeat: once per medium)"}},
		{"one medium per interface", "bcast eth0\nucast eth1 10.0.0.2\nmcast eth2 225.0.0.1 694 1 0\nserial /dev/ttyS0\nnode a b\n",
			[]string{"eth0: bcast eth0 694", "eth1: ucast eth1 694 10.0.0.2", "eth2: mcast eth2 225.0.0.1 694 ttl 1 loop false", "/dev/ttyS0: serial /dev/ttyS0"},
			nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eff := resolveCf(t, c.cf)
			var links []string
			for _, ls := range eff.Links {
				links = append(links, ls.Name+": "+media(ls))
			}
			if strings.Join(links, "\n") != strings.Join(c.links, "\n") {
				t.Errorf("links:\n%s\nwant:\n%s", strings.Join(links, "\n"), strings.Join(c.links, "\n"))
			}
			if got := merged(eff); strings.Join(got, "\n") != strings.Join(c.notices, "\n") {
				t.Errorf("notices:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.notices, "\n"))
			}
		})
	}
}
