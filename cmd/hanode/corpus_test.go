package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/config/hacf"
)

// The corpus of real /etc/ha.d directories lives next to the repository
// (../shared/corpus/hacf-wild); it is data from other projects and is never
// copied into this one. HANODE_CORPUS names another place.
const corpusRel = "shared/corpus/hacf-wild"

// corpusDir finds the corpus: $HANODE_CORPUS, else the first directory
// holding shared/corpus/hacf-wild walking up from the test's directory. In
// CI a missing corpus fails the test; elsewhere it is skipped.
func corpusDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("HANODE_CORPUS"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		c := filepath.Join(d, corpusRel)
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	msg := fmt.Sprintf("the Heartbeat corpus (%s) is not found above %s; set HANODE_CORPUS to its directory", corpusRel, wd)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// corpusExpect is a corpus directory's EXPECT file: verdict, where, why
// and the readings that must hold (auto_failback: off).
type corpusExpect struct {
	verdict, where, why string
	readings            map[string]string
}

func readExpect(path string) (corpusExpect, error) {
	e := corpusExpect{readings: map[string]string{}}
	data, err := os.ReadFile(path)
	if err != nil {
		return e, err
	}
	for _, ln := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(ln, ":")
		if !ok || strings.ContainsAny(k, " \t") {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "verdict":
			e.verdict = v
		case "where":
			e.where = v
		case "why":
			e.why = v
		case "note":
		default:
			e.readings[k] = v
		}
	}
	if e.verdict != "accept" && e.verdict != "reject" {
		return e, fmt.Errorf("%s: verdict %q is neither accept nor reject", path, e.verdict)
	}
	return e, nil
}

// firstNode is the first name of the first node line of ha.cf, or "".
func firstNode(hacfPath string) string {
	f, err := os.Open(hacfPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ln, _, _ := strings.Cut(sc.Text(), "#")
		w := strings.FieldsFunc(ln, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == '\r' })
		if len(w) >= 2 && w[0] == "node" {
			return w[1]
		}
	}
	return ""
}

// debianResourceD is where Debian's heartbeat package installs the
// resource.d scripts.
const debianResourceD = "/etc/ha.d/resource.d"

var ipShorthand = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(/.*)?$`)

// haresourcesScripts lists the script names haresources uses (IPaddr for
// the bare-address shorthand).
func haresourcesScripts(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var names []string
	var words []string
	flush := func() {
		for _, w := range words[min(1, len(words)):] {
			if ipShorthand.MatchString(w) {
				names = append(names, "IPaddr")
				continue
			}
			name, _, _ := strings.Cut(w, "::")
			names = append(names, name)
		}
		words = nil
	}
	for _, ln := range strings.Split(string(data), "\n") {
		ln, _, _ = strings.Cut(ln, "#")
		ln = strings.TrimRight(ln, " \t\r")
		cont := strings.HasSuffix(ln, "\\")
		words = append(words, strings.Fields(strings.TrimSuffix(ln, "\\"))...)
		if !cont {
			flush()
		}
	}
	flush()
	return names
}

// prepareCorpusCopy copies a corpus directory as the corpus README says:
// authkeys added (or made 0600), a resource.d of Debian's scripts, and a
// stub for every resource script neither that nor /etc/init.d provides.
func prepareCorpusCopy(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	keys := filepath.Join(dst, "authkeys")
	if _, err := os.Stat(keys); os.IsNotExist(err) {
		os.WriteFile(keys, []byte("auth 1\n1 sha1 SECRET\n"), 0o600)
	}
	if err := os.Chmod(keys, 0o600); err != nil {
		t.Fatal(err)
	}
	rd := filepath.Join(dst, "resource.d")
	if err := os.Mkdir(rd, 0o755); err != nil {
		t.Fatal(err)
	}
	scripts, _ := os.ReadDir(debianResourceD)
	for _, s := range scripts {
		if err := os.Symlink(filepath.Join(debianResourceD, s.Name()), filepath.Join(rd, s.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range haresourcesScripts(filepath.Join(dst, "haresources")) {
		if name == "" || strings.ContainsAny(name, "/") {
			continue // the check names it as an error
		}
		provided := false
		for _, dir := range []string{rd, "/etc/init.d"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				provided = true
			}
		}
		if !provided {
			os.WriteFile(filepath.Join(rd, name), []byte("#!/bin/sh\n# stub for the corpus test\nexit 0\n"), 0o755)
		}
	}
	return dst
}

// comparableSummary keeps the summary lines of check that depend only on
// the configuration, not on its format or origin: the first line (the
// origin), warnings, notes and the indented sections (differences,
// security) go.
func comparableSummary(out string) []string {
	var keep []string
	for i, ln := range strings.Split(out, "\n") {
		switch {
		case i == 0, ln == "", strings.HasPrefix(ln, " "), strings.HasPrefix(ln, "warning: "), strings.HasPrefix(ln, "note: "), strings.HasSuffix(ln, ":") && !strings.Contains(ln, " "):
			continue
		case strings.HasPrefix(ln, "differences from Heartbeat"):
			continue
		}
		keep = append(keep, ln)
	}
	return keep
}

// TestHeartbeatCorpus runs hanode check on every directory of the corpus
// of real Heartbeat configurations and compares with its EXPECT: an
// accepted one checks (with the readings EXPECT names), converts to the
// native format, and the converted file checks with the same summary; a
// rejected one fails with exit 2 and one error naming the file (and line)
// EXPECT names. It ends with the score and the directives hanode ignores
// across the corpus.
func TestHeartbeatCorpus(t *testing.T) {
	root := corpusDir(t)
	if _, err := os.Stat(debianResourceD); err != nil {
		msg := "Debian's heartbeat package is not installed (apt-get install heartbeat): " + debianResourceD + " is missing"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(root, e.Name(), "EXPECT")); err == nil {
				dirs = append(dirs, e.Name())
			}
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("no corpus directories with an EXPECT in %s", root)
	}
	var failed []string
	ran := 0
	for _, name := range dirs {
		if !t.Run(name, func(t *testing.T) { ran++; checkCorpusDir(t, filepath.Join(root, name)) }) {
			failed = append(failed, name)
		}
	}
	t.Logf("corpus: %d of %d as EXPECT says", ran-len(failed), ran)
	if len(failed) > 0 {
		t.Logf("corpus: not as EXPECT says: %s", strings.Join(failed, " "))
	}
	logIgnoredDirectives(t, root, dirs)
}

func checkCorpusDir(t *testing.T, src string) {
	want, err := readExpect(filepath.Join(src, "EXPECT"))
	if err != nil {
		t.Fatal(err)
	}
	dir := prepareCorpusCopy(t, src)
	args := []string{"check", "--hacf", dir}
	node := firstNode(filepath.Join(dir, "ha.cf"))
	if node != "" {
		args = append(args, "--name", node)
	}
	code, out, errOut := runCLI(args...)
	if want.verdict == "reject" {
		where := filepath.Join(dir, want.where)
		first, _, _ := strings.Cut(errOut, "\n")
		switch {
		case code != 2:
			t.Fatalf("EXPECT reject (%s: %s), hanode check exits %d:\n%s%s", want.where, want.why, code, out, errOut)
		case !strings.HasPrefix(first, "hanode: "+where+":") && !strings.HasPrefix(first, "hanode: "+where+" "):
			t.Fatalf("EXPECT reject at %s (%s); the error names another place:\n%s", want.where, want.why, errOut)
		case strings.Count(errOut, "\n") != 1:
			t.Errorf("EXPECT one error line (%s: %s), got:\n%s", want.where, want.why, errOut)
		}
		t.Logf("refused as EXPECT says (%s): %s", want.why, strings.TrimSpace(errOut))
		return
	}
	if code != 0 {
		t.Fatalf("EXPECT accept, hanode check exits %d:\n%s", code, errOut)
	}
	for k, v := range want.readings {
		line := k + ": " + v
		if !strings.Contains("\n"+out, "\n"+line) {
			t.Errorf("EXPECT the reading %q; check printed:\n%s", line, out)
		}
	}
	code, native, errOut := runCLI("config", "convert", dir)
	if code != 0 {
		t.Fatalf("config convert exits %d: %s", code, errOut)
	}
	nativeFile := filepath.Join(t.TempDir(), "cluster.textproto")
	if err := os.WriteFile(nativeFile, []byte(native), 0o600); err != nil {
		t.Fatal(err)
	}
	args = []string{"check", "--config", nativeFile}
	if node != "" {
		args = append(args, "--name", node)
	}
	code, nativeOut, errOut := runCLI(args...)
	if code != 0 {
		t.Fatalf("check of the converted configuration exits %d: %s\n%s", code, errOut, native)
	}
	if a, b := strings.Join(comparableSummary(out), "\n"), strings.Join(comparableSummary(nativeOut), "\n"); a != b {
		t.Errorf("the converted configuration reads otherwise:\n--- ha.d\n%s\n--- converted\n%s", a, b)
	}
}

// logIgnoredDirectives logs which ha.cf directives hanode ignores across
// the corpus and how often each appears. Pacemaker-mode files, which hanode
// refuses at their crm line, are read as if that line were not there.
func logIgnoredDirectives(t *testing.T, root string, dirs []string) {
	all, accepted := map[string]int{}, map[string]int{}
	nAccepted := 0
	for _, name := range dirs {
		want, _ := readExpect(filepath.Join(root, name, "EXPECT"))
		if want.verdict == "accept" {
			nAccepted++
		}
		count := func(directive string) {
			all[directive]++
			if want.verdict == "accept" {
				accepted[directive]++
			}
		}
		path := filepath.Join(root, name, "ha.cf")
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var kept []string
		for _, ln := range strings.Split(string(data), "\n") {
			if w := strings.Fields(ln); len(w) > 0 && (w[0] == "crm" || w[0] == "pacemaker") {
				ln = ""
			}
			kept = append(kept, ln)
		}
		l := config.NewLoaded(config.FormatHeartbeat, filepath.Join(root, name))
		hacf.ParseHaCf(l, path, []byte(strings.Join(kept, "\n")))
		for _, d := range l.Differences {
			if d.Kind == config.DiffIgnored {
				count(d.Directive)
			}
		}
		for _, r := range l.Cluster.Respawn {
			if config.BuiltinRespawn(r) != "" {
				count("respawn " + filepath.Base(r.Path))
			}
		}
	}
	t.Logf("corpus: directives hanode ignores, lines in all %d ha.cf: %s", len(dirs), ignoredTally(all))
	t.Logf("corpus: directives hanode ignores, lines in the %d accepted: %s", nAccepted, ignoredTally(accepted))
}

// ignoredTally lists counts, most frequent first: "apiauth 11, use_logd 9".
func ignoredTally(count map[string]int) string {
	names := make([]string, 0, len(count))
	for n := range count {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if count[names[i]] != count[names[j]] {
			return count[names[i]] > count[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, count[n])
	}
	return strings.Join(parts, ", ")
}
