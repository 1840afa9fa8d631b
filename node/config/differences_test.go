package config

import (
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

// TestWarntimeNotBelowDeadtimeIsAccepted: Heartbeat accepts a warntime at
// or above the deadtime (no late heartbeat is then ever logged); so does
// the native format, with a warning and no difference (a native file has
// none).
func TestWarntimeNotBelowDeadtimeIsAccepted(t *testing.T) {
	eff, err := resolveText(t, base+`timing { deadtime: "10s" warntime: "20s" }`, "n1")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, w := range eff.Warnings {
		found = found || strings.Contains(w.String(), "timing.warntime: warntime (20s) is not less than the deadtime (10s): accepted as Heartbeat does")
	}
	if !found || eff.Warntime != 20*time.Second || len(eff.Differences) != 0 {
		t.Fatalf("warnings %v, warntime %v, differences %v", eff.Warnings, eff.Warntime, eff.Differences)
	}
}

// TestAutojoinSaysHeartbeatRefusesItToo: autojoin other|any is refused as
// Heartbeat refuses it beside haresources, and the error says so.
func TestAutojoinSaysHeartbeatRefusesItToo(t *testing.T) {
	_, err := resolveText(t, base+"autojoin: AUTOJOIN_ANY\n", "n1")
	want := `autojoin: autojoin any: refused, as Heartbeat refuses autojoin beside haresources ("R1 style resource management conflicts with autojoin set")`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// TestNothingConfiguredIsOneError: neither nodes nor media (Debian's
// example ha.cf as shipped) is one error, not one per absence.
func TestNothingConfiguredIsOneError(t *testing.T) {
	_, err := resolveText(t, `auth { active_key: 1 keys { id: 1 method: AUTH_METHOD_CRC } }`, "")
	if err == nil || strings.Count(err.Error(), "\n") != 0 || !strings.Contains(err.Error(), "no nodes and no heartbeat media defined") {
		t.Fatalf("got %v", err)
	}
}

// TestBuiltinRespawn: ipfail, whatever its directory, is built in; other
// programs are run.
func TestBuiltinRespawn(t *testing.T) {
	for path, builtin := range map[string]bool{"/usr/lib/heartbeat/ipfail": true, "/usr/lib64/heartbeat/ipfail": true, "/usr/lib/heartbeat/ccm": false, "/usr/bin/ipfail2": false} {
		if got := BuiltinRespawn(&messages.Respawn{Path: path}) != ""; got != builtin {
			t.Errorf("%s: built in %v, want %v", path, got, builtin)
		}
	}
}

// TestDifferencesAreListedOnce: a difference recorded with WarnDiffer is
// both a warning and a difference, and IsDifference tells them apart from
// other warnings; Resolve carries the loaded differences over.
func TestDifferencesAreListedOnce(t *testing.T) {
	l, err := ParseNative("cluster.textproto", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	pos := Pos{File: "ha.cf", Line: 3}
	l.WarnDiffer(pos, DiffIgnored, "realtime", "realtime: ignored: %s", "why")
	l.Differ(pos, DiffResolved, "ucast", "ucast eth0 peer: resolved to 10.0.0.2")
	l.Warnings = append(l.Warnings, Warning{Pos: pos, Msg: "another"})
	eff, err := Resolve(l, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if len(eff.Differences) != 2 || eff.Differences[0].String() != "ignored: ha.cf:3: realtime: ignored: why" {
		t.Fatalf("differences %v", eff.Differences)
	}
	var plain []string
	for _, w := range eff.Warnings {
		if !IsDifference(w, eff.Differences) {
			plain = append(plain, w.Msg)
		}
	}
	if strings.Join(plain, "|") != "another" {
		t.Fatalf("warnings that are not differences: %q", plain)
	}
}
