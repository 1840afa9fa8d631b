package packaging

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/need"
)

// repo is the repository's root, where make deb runs.
const repo = "../.."

// The installed paths the tests look at.
const (
	installedBin  = "/usr/sbin/hanode"
	installedUnit = "/lib/systemd/system/hanode.service"
	compatBin     = "/usr/lib/hanode/bin"
)

// heartbeatNames are the paths Debian's heartbeat 3.0.6 installs under the
// names hanode shares with it: the package must ship none of them, or dpkg
// would refuse it beside heartbeat (or, with a diversion, take them away
// from heartbeat's own scripts).
var heartbeatNames = []string{
	"usr/bin/cl_status",
	"usr/share/man/man1/cl_status.1.gz",
	"usr/share/man/man1/hb_standby.1.gz",
	"usr/share/man/man1/hb_takeover.1.gz",
	"usr/share/heartbeat/hb_standby",
	"usr/share/heartbeat/hb_takeover",
}

var (
	buildOnce sync.Once
	builtDeb  string
	buildErr  error
)

// deb builds the package once for all the tests (make deb into a
// temporary directory) and returns its path.
func deb(t *testing.T) string {
	t.Helper()
	need.Command(t, "make", "make")
	need.Command(t, "dpkg-deb", "dpkg")
	buildOnce.Do(func() {
		// Not t.TempDir: the package outlives the test that built it.
		out, err := os.MkdirTemp("", "hanode-deb-")
		if err != nil {
			buildErr = err
			return
		}
		if b, err := exec.Command("make", "-C", repo, "--no-print-directory", "deb", "DEB_OUT="+out).CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("make deb: %v\n%s", err, b)
			return
		}
		debs, _ := filepath.Glob(filepath.Join(out, "hanode_*.deb"))
		if len(debs) != 1 {
			buildErr = fmt.Errorf("make deb made %d packages in %s, want 1", len(debs), out)
			return
		}
		builtDeb = debs[0]
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtDeb
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDeb != "" {
		os.RemoveAll(filepath.Dir(builtDeb))
	}
	os.Exit(code)
}

// run runs a command and returns its combined output, failing the test
// when it does not exit 0.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDebContents: the package holds what make install puts in place,
// with the compatibility names out of heartbeat's way, and says what it
// is in its control file.
func TestDebContents(t *testing.T) {
	p := deb(t)
	// Each line: mode owner/group size date time path [-> target].
	entries := map[string]string{} // path -> mode, or "link:target"
	for _, line := range strings.Split(strings.TrimSpace(run(t, "dpkg-deb", "--contents", p)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb --contents: unexpected line %q", line)
		}
		path := strings.TrimSuffix(strings.TrimPrefix(f[5], "./"), "/")
		if f[1] != "root/root" {
			t.Errorf("%s belongs to %s, want root/root", path, f[1])
		}
		if len(f) == 8 && f[6] == "->" {
			entries[path] = "link:" + f[7]
		} else {
			entries[path] = f[0]
		}
	}
	want := map[string]string{
		"usr/sbin/hanode":                   "-rwxr-xr-x",
		"etc/hanode":                        "drwxr-xr-x",
		"lib/systemd/system/hanode.service": "-rw-r--r--",
		"usr/share/doc/hanode/examples/cluster.textproto": "-rw-r--r--",
		"usr/share/doc/hanode/copyright":                  "-rw-r--r--",
		"usr/share/doc/hanode/changelog.Debian.gz":        "-rw-r--r--",
		"usr/share/man/man8/hanode.8.gz":                  "-rw-r--r--",
		"usr/share/man/man8/hanode-run.8.gz":              "-rw-r--r--",
		"usr/share/man/man8/hanode-cl_status.8.gz":        "-rw-r--r--",
		"usr/lib/hanode/man/man1/cl_status.1.gz":          "-rw-r--r--",
		"usr/lib/hanode/man/man1/hb_standby.1.gz":         "-rw-r--r--",
		"usr/lib/hanode/man/man1/hb_takeover.1.gz":        "-rw-r--r--",
		"usr/share/bash-completion/completions/hanode":    "-rw-r--r--",
		"usr/share/zsh/vendor-completions/_hanode":        "-rw-r--r--",
		"usr/share/fish/vendor_completions.d/hanode.fish": "-rw-r--r--",
		"usr/share/lintian/overrides/hanode":              "-rw-r--r--",
		"usr/lib/hanode/bin/cl_status":                    "link:../../../sbin/hanode",
		"usr/lib/hanode/bin/hb_standby":                   "link:../../../sbin/hanode",
		"usr/lib/hanode/bin/hb_takeover":                  "link:../../../sbin/hanode",
	}
	for path, mode := range want {
		if got, ok := entries[path]; !ok {
			t.Errorf("%s is not in the package", path)
		} else if got != mode {
			t.Errorf("%s: %s, want %s", path, got, mode)
		}
	}
	for _, path := range heartbeatNames {
		if _, ok := entries[path]; ok {
			t.Errorf("%s is in the package: it is heartbeat's", path)
		}
	}
	// Every manual page is compressed (Debian policy 12.1) and every
	// command of the tree has one: as many hanode-*.8 as docs-check
	// compares in dist/man.
	committed, _ := filepath.Glob(filepath.Join(repo, "dist/man/man8/*.8"))
	var pages int
	for path := range entries {
		if strings.HasPrefix(path, "usr/share/man/") && strings.Count(path, "/") == 4 {
			if !strings.HasSuffix(path, ".gz") {
				t.Errorf("%s: manual page not compressed", path)
			}
			pages++
		}
	}
	if len(committed) == 0 || pages != len(committed) {
		t.Errorf("%d manual pages in section 8, dist/man/man8 has %d", pages, len(committed))
	}

	fields := run(t, "dpkg-deb", "--field", p, "Package", "Version", "Architecture", "Depends", "Recommends", "Conflicts", "Breaks", "Replaces", "Description")
	arch := strings.TrimSpace(run(t, "dpkg", "--print-architecture"))
	for _, w := range []string{"Package: hanode\n", "Architecture: " + arch + "\n", "Recommends: resource-agents\n", "/usr/lib/hanode/bin"} {
		if !strings.Contains(fields, w) {
			t.Errorf("control file lacks %q:\n%s", w, fields)
		}
	}
	// Nothing in the control file may keep heartbeat out or remove it.
	for _, f := range []string{"Conflicts:", "Breaks:", "Replaces:"} {
		if strings.Contains(fields, f) {
			t.Errorf("control file has %s: the package must install beside heartbeat:\n%s", f, fields)
		}
	}
	version := strings.TrimSpace(run(t, "dpkg-deb", "--field", p, "Version"))
	if out, err := exec.Command("dpkg", "--validate-version", version).CombinedOutput(); err != nil {
		t.Errorf("Version %q is not a Debian version: %s", version, out)
	}
	if !strings.Contains(version, "-") {
		t.Errorf("Version %q has no Debian revision: changelog.Debian.gz is for non-native packages", version)
	}

	// The unit as packaged: no start without a configuration, and the
	// resources' processes survive a stop or restart of the node.
	dir := t.TempDir()
	run(t, "dpkg-deb", "--extract", p, dir)
	unit, err := os.ReadFile(filepath.Join(dir, installedUnit))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"KillMode=process\n", "ConditionPathExists=|/etc/hanode/cluster.textproto\n", "ConditionPathExists=|/etc/ha.d/ha.cf\n"} {
		if !bytes.Contains(unit, []byte(w)) {
			t.Errorf("packaged unit lacks %q", strings.TrimSpace(w))
		}
	}
	// The packaged binary is the one make install builds: it runs and
	// says its commit.
	out := run(t, filepath.Join(dir, installedBin), "version")
	if commit := gitCommit(t); !strings.HasPrefix(out, "hanode ") || !strings.Contains(out, "commit "+commit) {
		t.Errorf("packaged hanode version: %q, want commit %s", out, commit)
	}
}

func gitCommit(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "-C", repo, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestDebLintian: lintian finds nothing beyond the tags
// dist/debian/lintian-overrides lists and explains.
func TestDebLintian(t *testing.T) {
	p := deb(t)
	lintian := need.Command(t, "lintian", "lintian")
	cmd := exec.Command(lintian, "--fail-on", "error,warning,info", "--display-info", p)
	out, err := cmd.CombinedOutput()
	var tags []string
	for _, line := range strings.Split(string(out), "\n") {
		// lintian warns on stderr when it runs as root; that is no tag.
		if regexp.MustCompile(`^[EWIPX]: `).MatchString(line) {
			tags = append(tags, line)
		}
	}
	if err != nil || len(tags) > 0 {
		t.Fatalf("lintian: %v\n%s", err, strings.Join(tags, "\n"))
	}
}

// TestDebMaintainerScripts runs the package's maintainer scripts as dpkg
// would on a machine that runs systemd, with systemctl,
// deb-systemd-invoke and deb-systemd-helper replaced by stubs that record
// their calls: installing starts and enables nothing, upgrading stops,
// starts and restarts nothing, removing stops the node. A private mount
// namespace gives the scripts a /run/systemd/system (the sign that
// systemd runs) without touching this machine's /run.
func TestDebMaintainerScripts(t *testing.T) {
	p := deb(t)
	need.Root(t, "mounts a tmpfs on /run in a private mount namespace")
	unshare := need.Command(t, "unshare", "util-linux")
	scripts := t.TempDir()
	run(t, "dpkg-deb", "--control", p, scripts)
	stubs := t.TempDir()
	const stub = `#!/bin/sh
echo "$(basename "$0") $*" >> "$STUB_LOG"
case "$*" in
"debian-installed "*) exit "$STUB_DEBIAN_INSTALLED" ;;
"--quiet was-enabled "*) exit "$STUB_WAS_ENABLED" ;;
esac
exit 0
`
	for _, name := range []string{"systemctl", "deb-systemd-invoke", "deb-systemd-helper"} {
		if err := os.WriteFile(filepath.Join(stubs, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Any of these verbs handed to systemctl or deb-systemd-invoke starts,
	// stops or restarts the node.
	lifecycle := regexp.MustCompile(`^(systemctl|deb-systemd-invoke) .*\b(start|stop|restart|try-restart|reload-or-restart|condrestart|kill|enable --now)\b`)
	for _, tc := range []struct {
		name       string
		args       []string
		installed  bool // the unit was installed by an earlier version (deb-systemd-helper debian-installed)
		wasEnabled bool
		want       []string // calls that must be made
		mayStop    bool
	}{
		{name: "first installation", args: []string{"postinst", "configure", ""}},
		{name: "upgrade of a disabled node", args: []string{"postinst", "configure", "0.0~git1-1"}, installed: true},
		{name: "upgrade of an enabled node", args: []string{"postinst", "configure", "0.0~git1-1"}, installed: true, wasEnabled: true,
			want: []string{"deb-systemd-helper enable hanode.service"}},
		{name: "prerm before upgrade", args: []string{"prerm", "upgrade", "9.9-1"}, installed: true, wasEnabled: true},
		{name: "postrm after upgrade", args: []string{"postrm", "upgrade", "9.9-1"}, installed: true, wasEnabled: true},
		{name: "removal", args: []string{"prerm", "remove"}, installed: true, wasEnabled: true,
			want: []string{"deb-systemd-invoke stop hanode.service"}, mayStop: true},
		{name: "purge", args: []string{"postrm", "purge"}, installed: true,
			want: []string{"deb-systemd-helper purge hanode.service"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "calls")
			script := filepath.Join(scripts, tc.args[0])
			cmd := exec.Command(unshare, "--mount", "--propagation", "private", "/bin/sh", "-c",
				`mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && exec /bin/sh "$@"`,
				"sh", script)
			cmd.Args = append(cmd.Args, tc.args[1:]...)
			cmd.Env = append(os.Environ(),
				"PATH="+stubs+":"+os.Getenv("PATH"),
				"STUB_LOG="+log,
				"STUB_DEBIAN_INSTALLED="+exitStatus(tc.installed),
				"STUB_WAS_ENABLED="+exitStatus(tc.wasEnabled),
				"DPKG_ROOT=",
			)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s %v: %v\n%s", tc.args[0], tc.args[1:], err, out)
			}
			b, err := os.ReadFile(log)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			calls := strings.Split(strings.TrimSpace(string(b)), "\n")
			for _, w := range tc.want {
				if !slices.Contains(calls, w) {
					t.Errorf("%s %v did not call %q; calls:\n%s", tc.args[0], tc.args[1:], w, b)
				}
			}
			for _, c := range calls {
				if lifecycle.MatchString(c) && !(tc.mayStop && c == "deb-systemd-invoke stop hanode.service") {
					t.Errorf("%s %v called %q", tc.args[0], tc.args[1:], c)
				}
				if c == "deb-systemd-helper enable hanode.service" && !tc.wasEnabled {
					t.Errorf("%s %v enabled the unit, which was not enabled", tc.args[0], tc.args[1:])
				}
			}
		})
	}
}

func exitStatus(ok bool) string {
	if ok {
		return "0"
	}
	return "1"
}

// TestDebInstall installs the package with dpkg on this machine, beside
// Debian's heartbeat, and purges it at the end: heartbeat's files and its
// cl_status stay as they were, the installed hanode runs, its unit
// verifies, no node starts, the unit is not enabled; an upgrade leaves a
// process of the installed binary running.
func TestDebInstall(t *testing.T) {
	p := deb(t)
	need.Root(t, "installs the package with dpkg on this machine")
	need.Command(t, "dpkg", "dpkg")
	analyze := need.Command(t, "systemd-analyze", "systemd")
	// The point is to install beside heartbeat.
	need.Command(t, "cl_status", "heartbeat")
	if status, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "hanode").Output(); strings.Contains(string(status), " installed") {
		need.Missing(t, "the hanode package is installed on this machine already; the test installs and purges its own")
	}
	heartbeatBefore := heartbeatState(t)
	if running := hanodeProcesses(t); len(running) > 0 {
		t.Fatalf("processes %v run %s before the installation", running, installedBin)
	}

	installed := false
	t.Cleanup(func() {
		if !installed {
			return
		}
		if out, err := exec.Command("dpkg", "--purge", "hanode").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge hanode: %v\n%s", err, out)
		}
		for _, path := range []string{installedBin, installedUnit, compatBin, "/etc/hanode"} {
			if _, err := os.Lstat(path); err == nil {
				t.Errorf("%s is left after purge", path)
			}
		}
		if after := heartbeatState(t); after != heartbeatBefore {
			t.Errorf("heartbeat changed after purging hanode:\nbefore: %s\nafter:  %s", heartbeatBefore, after)
		}
	})
	installed = true
	run(t, "dpkg", "--install", p)

	if after := heartbeatState(t); after != heartbeatBefore {
		t.Errorf("heartbeat changed by installing hanode:\nbefore: %s\nafter:  %s", heartbeatBefore, after)
	}
	out := run(t, installedBin, "version")
	if commit := gitCommit(t); !strings.Contains(out, "commit "+commit) {
		t.Errorf("installed hanode version: %q, want commit %s", out, commit)
	}
	// Through its installed link the binary is hb_standby.
	if out, err := exec.Command(filepath.Join(compatBin, "hb_standby"), "sideways").CombinedOutput(); err == nil ||
		string(out) != "usage: hb_standby [all|foreign|local|failback]\n" {
		t.Errorf("installed hb_standby: %v %q", err, out)
	}
	// Offline verification of the installed unit: syntax, the ExecStart
	// binary, the dependencies.
	if out, err := exec.Command(analyze, "verify", installedUnit).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze verify %s: %v\n%s", installedUnit, err, out)
	} else if len(out) > 0 {
		t.Logf("systemd-analyze verify: %s", out)
	}
	if links, _ := filepath.Glob("/etc/systemd/system/*/hanode.service"); len(links) > 0 {
		t.Errorf("installation enabled the unit: %v", links)
	}
	if running := hanodeProcesses(t); len(running) > 0 {
		t.Errorf("installation started hanode: processes %v", running)
	}
	// With hanode's directory first in PATH, man finds hanode's
	// cl_status(1) beside it (man-db looks for ../man next to each PATH
	// entry); otherwise heartbeat's.
	if man, err := exec.LookPath("man"); err == nil {
		cmd := exec.Command(man, "-w", "cl_status")
		cmd.Env = append(os.Environ(), "PATH="+compatBin+":"+os.Getenv("PATH"), "MANPATH=")
		if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != "/usr/lib/hanode/man/man1/cl_status.1.gz" {
			t.Errorf("man -w cl_status with %s in PATH: %v %q", compatBin, err, out)
		}
	}

	// Upgrade, under a process of the installed binary. It stands for a
	// running node: what the upgrade must not stop (a real node under
	// systemd is TestDebMaintainerScripts' case).
	proc := startInstalled(t)
	upgraded := repack(t, p)
	run(t, "dpkg", "--install", upgraded)
	if v := run(t, "dpkg-query", "-W", "-f=${Version}", "hanode"); v != strings.TrimSpace(run(t, "dpkg-deb", "--field", upgraded, "Version")) {
		t.Errorf("after the upgrade dpkg has version %q installed", v)
	}
	if err := proc.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the upgrade ended process %d of the installed binary: %v", proc.Process.Pid, err)
	} else if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", proc.Process.Pid)); exe != installedBin+" (deleted)" {
		t.Errorf("process %d runs %q after the upgrade, want the replaced %s", proc.Process.Pid, exe, installedBin)
	}
	if running := hanodeProcesses(t); !slices.Equal(running, []int{proc.Process.Pid}) {
		t.Errorf("after the upgrade processes %v run hanode, want only the test's %d", running, proc.Process.Pid)
	}
	if after := heartbeatState(t); after != heartbeatBefore {
		t.Errorf("heartbeat changed by upgrading hanode:\nbefore: %s\nafter:  %s", heartbeatBefore, after)
	}
}

// heartbeatState is what must not change while hanode is installed,
// upgraded and purged: dpkg's verification of heartbeat's files, and
// heartbeat's cl_status being a file heartbeat owns.
func heartbeatState(t *testing.T) string {
	t.Helper()
	verify, err := exec.Command("dpkg", "--verify", "heartbeat").CombinedOutput()
	owner, _ := exec.Command("dpkg-query", "--search", "/usr/bin/cl_status").CombinedOutput()
	st, serr := os.Lstat("/usr/bin/cl_status")
	mode := "missing"
	if serr == nil {
		mode = st.Mode().String()
	}
	return fmt.Sprintf("verify=%q (%v) owner=%q cl_status=%s", verify, err, strings.TrimSpace(string(owner)), mode)
}

// hanodeProcesses lists the processes running the installed binary.
func hanodeProcesses(t *testing.T) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", d.Name(), "exe"))
		if err == nil && (exe == installedBin || exe == installedBin+" (deleted)") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// startInstalled starts the installed binary as a long-running process
// (the demo's service, on a loopback port) and ends it when the test does.
func startInstalled(t *testing.T) *exec.Cmd {
	t.Helper()
	pidFile := filepath.Join(t.TempDir(), "pid")
	cmd := exec.Command(installedBin, "demo-service", "--listen", "127.0.0.1:0", "--name", "upgrade-test", "--pidfile", pidFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(pidFile); err == nil {
			return cmd
		}
		select {
		case <-done:
			t.Fatalf("%s demo-service exited before listening", installedBin)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s demo-service wrote no pid file in 10s", installedBin)
		}
	}
}

// repack makes the next version of the package: the same files with the
// Debian revision bumped, as an upgrade would bring.
func repack(t *testing.T, p string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pkg")
	run(t, "dpkg-deb", "--raw-extract", p, dir)
	control := filepath.Join(dir, "DEBIAN/control")
	b, err := os.ReadFile(control)
	if err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`(?m)^Version: (.*)$`)
	m := version.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no Version", control)
	}
	next := string(m[1]) + "+upgrade1"
	if err := os.WriteFile(control, version.ReplaceAll(b, []byte("Version: "+next)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(filepath.Dir(dir), "hanode_next.deb")
	// gzip -1: the test's package need not be small, only quick to make.
	run(t, "dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", dir, out)
	if err := exec.Command("dpkg", "--compare-versions", next, "gt", string(m[1])).Run(); err != nil {
		t.Fatalf("%s does not sort after %s", next, m[1])
	}
	return out
}
