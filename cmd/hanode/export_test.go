package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hanode/hanode/internal/lab/need"
)

// crmVerify runs Pacemaker's crm_verify on a CIB file with -V and returns
// its exit code and output; "" for a clean CIB.
func crmVerify(t *testing.T, bin, file string) (int, string) {
	t.Helper()
	out, err := exec.Command(bin, "-V", "--xml-file", file).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("crm_verify: %v", err)
	}
	return 0, string(out)
}

// exportAndVerify exports the configuration at src (a directory or a
// native file) as a CIB and runs crm_verify on it: "" when the export
// succeeds and crm_verify accepts it without a warning, else why not;
// and the export's warnings.
func exportAndVerify(t *testing.T, crm, src string) (string, string) {
	t.Helper()
	code, cib, errOut := runCLI("config", "export", "--pacemaker", src)
	if code != 0 {
		return "export exits " + strconv.Itoa(code) + ": " + strings.TrimSpace(errOut), errOut
	}
	for _, ln := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if ln != "" && !strings.HasPrefix(ln, "hanode: warning: ") {
			t.Errorf("export: stderr line is not a warning: %q", ln)
		}
	}
	file := filepath.Join(t.TempDir(), "cib.xml")
	if err := os.WriteFile(file, []byte(cib), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := crmVerify(t, crm, file); code != 0 || strings.TrimSpace(out) != "" {
		return "crm_verify exits " + strconv.Itoa(code) + ": " + strings.TrimSpace(out), errOut
	}
	return "", errOut
}

// TestExportCorpusVerifies exports every configuration of the Heartbeat
// corpus that hanode accepts (EXPECT verdict accept; prepared as
// TestHeartbeatCorpus prepares it) as a Pacemaker CIB and runs
// `crm_verify -V --xml-file` on it: each must export and verify without a
// warning. It logs the figure: N of M accepted configurations.
func TestExportCorpusVerifies(t *testing.T) {
	crm := need.Command(t, "crm_verify", "pacemaker-cli-utils")
	root := corpusDir(t)
	if _, err := os.Stat(debianResourceD); err != nil {
		need.Missing(t, "Debian's heartbeat package is not installed (apt-get install heartbeat): "+debianResourceD+" is missing")
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	accepted, verified, hbClass := 0, 0, 0
	var failed []string
	for _, e := range entries {
		src := filepath.Join(root, e.Name())
		want, err := readExpect(filepath.Join(src, "EXPECT"))
		if err != nil || want.verdict != "accept" {
			continue
		}
		accepted++
		t.Run(e.Name(), func(t *testing.T) {
			why, warnings := exportAndVerify(t, crm, prepareCorpusCopy(t, src))
			if why != "" {
				failed = append(failed, e.Name())
				t.Error(why)
				return
			}
			verified++
			if strings.Contains(warnings, "exported as class heartbeat") {
				hbClass++
			}
		})
	}
	if accepted == 0 {
		t.Fatalf("no accepted configurations in %s", root)
	}
	t.Logf("export --pacemaker: %d of %d accepted corpus configurations give a CIB crm_verify accepts", verified, accepted)
	// Scripts neither Debian's resource.d nor /etc/init.d has here are
	// stubs in resource.d (apache2, mysql, drbddisk...): class heartbeat,
	// which Pacemaker 2 does not run, warned about.
	t.Logf("export --pacemaker: %d of them hold a script exported as class heartbeat (here: the stubs of scripts not installed)", hbClass)
	if len(failed) > 0 {
		t.Logf("export --pacemaker: not verified: %s", strings.Join(failed, " "))
	}
}

// debianHaresources is the example haresources of Debian's heartbeat
// package: every line of it is a comment, the examples among them.
const debianHaresources = "/usr/share/doc/heartbeat/haresources.gz"

// exampleLine is an example resource group in a comment of Debian's
// haresources: "#node resource...", the line naming the syntax excepted.
var exampleLine = regexp.MustCompile(`^#([a-z][a-z0-9.-]*)[ \t]+(\S.*)$`)

// TestExportExamples exports the examples and verifies them with
// crm_verify: dist/cluster.textproto, and each example group of Debian's
// haresources, given to Debian's example ha.cf (the corpus' uncommented
// copy) with its node name replaced by that ha.cf's first node.
func TestExportExamples(t *testing.T) {
	crm := need.Command(t, "crm_verify", "pacemaker-cli-utils")
	t.Run("dist/cluster.textproto", func(t *testing.T) {
		data, err := os.ReadFile("../../dist/cluster.textproto")
		if err != nil {
			t.Fatal(err)
		}
		// Its apache2 is an init script; one that does nothing stands in
		// for it, found where agent_dirs says.
		initd := t.TempDir()
		if err := os.WriteFile(filepath.Join(initd, "apache2"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		data = append(data, []byte("\nagent_dirs { init_d: \""+initd+"\" }\n")...)
		file := filepath.Join(t.TempDir(), "cluster.textproto")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if why, _ := exportAndVerify(t, crm, file); why != "" {
			t.Error(why)
		}
	})
	f, err := os.Open(debianHaresources)
	if err != nil {
		need.Missing(t, "Debian's heartbeat package is not installed (apt-get install heartbeat): "+debianHaresources+" is missing")
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(corpusDir(t), "02-debian-example-uncommented")
	n := 0
	for _, ln := range strings.Split(string(text), "\n") {
		m := exampleLine.FindStringSubmatch(ln)
		if m == nil || m[1] == "node-name" {
			continue
		}
		n++
		t.Run(strings.Join(strings.Fields(m[2]), "_"), func(t *testing.T) {
			dir := prepareExample(t, src, "ken3 "+m[2]+"\n")
			if why, _ := exportAndVerify(t, crm, dir); why != "" {
				t.Error(why)
			}
		})
	}
	if n == 0 {
		t.Fatalf("no example groups found in %s", debianHaresources)
	}
}

// prepareExample is a copy of the corpus directory src with haresources
// replaced, prepared as the corpus test prepares a copy.
func prepareExample(t *testing.T, src, haresources string) string {
	t.Helper()
	tmp := t.TempDir()
	for _, name := range []string{"ha.cf"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "haresources"), []byte(haresources), 0o644); err != nil {
		t.Fatal(err)
	}
	return prepareCorpusCopy(t, tmp)
}

// TestExportBinary runs the built binary's config export on a corpus
// directory: a CIB on standard output, warnings on standard error, exit
// 0; --corosync the corosync.conf; no flag a usage error.
func TestExportBinary(t *testing.T) {
	root := corpusDir(t)
	if _, err := os.Stat(debianResourceD); err != nil {
		need.Missing(t, "Debian's heartbeat package is not installed (apt-get install heartbeat): "+debianResourceD+" is missing")
	}
	dir := prepareCorpusCopy(t, filepath.Join(root, "14-gslin-coscup"))
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		cmd := exec.Command(hanodeBin, args...)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String(), errOut.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, out.String(), errOut.String()
	}
	code, cib, errOut := run("config", "export", "--pacemaker", dir)
	if code != 0 {
		t.Fatalf("export --pacemaker exits %d: %s", code, errOut)
	}
	for _, want := range []string{
		`<?xml version="1.0" encoding="UTF-8"?>`,
		`<cib validate-with="pacemaker-3.0"`,
		`<node id="1" uname="db-drbd-1" type="member">`,
		`class="ocf" provider="heartbeat" type="MailTo"`,
		`name="email" value="me+drbdfailover@gmail.com"`,
		`<primitive id="IPaddr_192_168_50_103" class="ocf" provider="heartbeat" type="IPaddr">`,
		`rsc="group_MailTo_me_drbdfailover_gmail_com" node="db-drbd-1" score="100"`,
	} {
		if !strings.Contains(cib, want) {
			t.Errorf("the CIB lacks %s:\n%s", want, cib)
		}
	}
	if !strings.Contains(errOut, "hanode: warning: "+dir+"/haresources:") || !strings.Contains(errOut, "drbddisk::r0") {
		t.Errorf("no warning naming drbddisk's haresources line (class heartbeat):\n%s", errOut)
	}
	code, conf, errOut := run("config", "export", "--corosync", dir)
	if code != 0 || !strings.Contains(conf, "token: ") || !strings.Contains(conf, "two_node: 1") {
		t.Errorf("export --corosync exits %d: %s\n%s", code, errOut, conf)
	}
	if code, _, errOut := run("config", "export", dir); code != 2 || !strings.Contains(errOut, "--pacemaker or --corosync") {
		t.Errorf("export without a flag exits %d: %s", code, errOut)
	}
}

// TestExportErrorNamesLine: what Pacemaker cannot run is one error naming
// the file and line, exit 2, and no CIB.
func TestExportErrorNamesLine(t *testing.T) {
	if _, err := os.Stat("/etc/init.d"); err != nil {
		t.Skip("no /etc/init.d")
	}
	entries, _ := os.ReadDir("/etc/init.d")
	script := ""
	for _, e := range entries {
		if e.Type().IsRegular() {
			if st, err := os.Stat(filepath.Join("/etc/init.d", e.Name())); err == nil && st.Mode()&0o111 != 0 {
				if _, err := os.Stat(filepath.Join(debianResourceD, e.Name())); err != nil {
					script = e.Name()
					break
				}
			}
		}
	}
	if script == "" {
		t.Skip("no init script in /etc/init.d")
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "ha.cf"), []byte("node a\nnode b\nbcast eth0\nauto_failback on\n"), 0o644)
	os.WriteFile(filepath.Join(src, "haresources"), []byte("a 10.0.0.10\n\na "+script+"::arg\n"), 0o644)
	dir := prepareCorpusCopy(t, src)
	code, out, errOut := runCLI("config", "export", "--pacemaker", dir)
	want := "hanode: " + filepath.Join(dir, "haresources") + ":3: " + script + "::arg: "
	if code != 2 || out != "" || !strings.HasPrefix(errOut, want) || strings.Count(errOut, "\n") != 1 {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 2, no output, one line starting %q", code, out, errOut, want)
	}
}
