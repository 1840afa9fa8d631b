package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// heartbeatDir writes an /etc/ha.d of the given files, mode 0600.
func heartbeatDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const pingHaCf = `keepalive 1
deadtime 10
deadping 20
memreserve 6500
ucast lo localhost
auto_failback on
nice_failback on
ping 10.0.0.254
ping_group routers 10.0.0.252 10.0.0.253
respawn hacluster /usr/lib/heartbeat/ipfail
node n1 n2
`

// TestCheckListsPingNodesAndDifferences: check lists the ping nodes (ping,
// ping_group with its members, deadping), says what auto_failback runs
// as, and ends with the differences from Heartbeat, each printed once
// (not again among the warnings).
func TestCheckListsPingNodesAndDifferences(t *testing.T) {
	dir := heartbeatDir(t, map[string]string{"ha.cf": pingHaCf, "authkeys": "auth1\n1 sha1 secret\n"})
	code, out, errOut := runCLI("check", "--hacf", dir, "--name", "n1")
	if code != 0 {
		t.Fatalf("check: exit %d %s", code, errOut)
	}
	cf := filepath.Join(dir, "ha.cf")
	for _, want := range []string{
		"link lo: ucast on lo to 127.0.0.1, port 694\n",
		"auto_failback: off\n",
		"ping nodes: 2, dead after deadping 20s\n",
		"ping node 10.0.0.254: 10.0.0.254\n",
		"ping node routers: 10.0.0.252, 10.0.0.253 (a group: up while any of them answers)\n",
		"differences from Heartbeat:\n",
		"  ignored: " + cf + ":4: memreserve: ignored: hanode preallocates nothing",
		"  resolved: " + cf + ":5: ucast localhost: resolved to 127.0.0.1 when read, as Heartbeat does",
		"  quirk: " + cf + ":7: nice_failback on: runs as auto_failback off, as in Heartbeat",
		"  ignored: " + cf + ":10: respawn /usr/lib/heartbeat/ipfail: ignored: ipfail is built into hanode",
		"  quirk: " + filepath.Join(dir, "authkeys") + ":1: auth1 read as auth 1, as Heartbeat does",
		"  accepted: " + filepath.Join(dir, "haresources") + ": no haresources file: Heartbeat 3.0.6 refuses to start without one",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "warning: "+cf+":4: memreserve") || strings.Contains(out, "warning: "+cf+":7:") {
		t.Errorf("a difference is printed twice:\n%s", out)
	}
	differences := out[strings.Index(out, "differences from Heartbeat:"):]
	if i, j := strings.Index(differences, cf+":7:"), strings.Index(differences, cf+":10:"); i < 0 || j < 0 || i > j {
		t.Errorf("differences are not in line order:\n%s", differences)
	}
}

// TestConvertDropsBuiltinRespawn: config convert does not carry over the
// respawn line of ipfail (built into hanode), says so in its header, and
// the converted file checks to the same summary.
func TestConvertDropsBuiltinRespawn(t *testing.T) {
	dir := heartbeatDir(t, map[string]string{"ha.cf": pingHaCf + "respawn root /bin/true\n", "authkeys": "auth 1\n1 sha1 secret\n"})
	code, native, errOut := runCLI("config", "convert", dir)
	if code != 0 {
		t.Fatalf("convert: exit %d %s", code, errOut)
	}
	if !strings.Contains(native, "# note: respawn /usr/lib/heartbeat/ipfail dropped: ipfail is built into hanode") ||
		strings.Contains(native, `path: "/usr/lib/heartbeat/ipfail"`) || !strings.Contains(native, `path: "/bin/true"`) {
		t.Fatalf("converted:\n%s", native)
	}
	file := filepath.Join(t.TempDir(), "cluster.textproto")
	os.WriteFile(file, []byte(native), 0o600)
	code, nativeOut, errOut := runCLI("check", "--config", file, "--name", "n1")
	if code != 0 {
		t.Fatalf("check of the converted file: exit %d %s\n%s", code, errOut, native)
	}
	_, out, _ := runCLI("check", "--hacf", dir, "--name", "n1")
	if a, b := strings.Join(comparableSummary(out), "\n"), strings.Join(comparableSummary(nativeOut), "\n"); a != b || !strings.Contains(a, "respawn: /bin/true as root") {
		t.Fatalf("summaries differ:\n--- ha.d\n%s\n--- converted\n%s", a, b)
	}
	if strings.Contains(nativeOut, "differences from Heartbeat") {
		t.Fatalf("a native configuration has no differences from Heartbeat:\n%s", nativeOut)
	}
}
