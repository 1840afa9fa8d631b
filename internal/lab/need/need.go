// Package need lets a test say which program of which Debian package it
// runs. Outside CI a missing program skips the test with a message naming
// the package; with CI=true it fails it, because .ci/run installs every
// package the tests need and a test that silently skipped there would
// prove nothing.
package need

import (
	"os"
	"os/exec"
	"testing"
)

// Command returns the path of program, or ends the test: skipped outside
// CI, failed in CI. pkg is the Debian package that provides it.
func Command(t testing.TB, program, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	Missing(t, program+" is missing (apt-get install "+pkg+")")
	return ""
}

// Root ends the test unless it runs as root.
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root: "+why)
	}
}

// Missing ends the test for what is missing: skipped outside CI, failed
// with CI=true.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(what + " (CI=true: this test must run; .ci/run installs what it needs)")
	}
	t.Skip(what)
}
