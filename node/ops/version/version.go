// Package version identifies the hanode build. Version and Commit are set
// at link time by the Makefile (-ldflags -X); a plain `go build` reports
// the module's build information instead.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by -ldflags "-X github.com/hanode/hanode/node/version.Version=...".
var (
	Version = ""
	Commit  = ""
)

// Get returns the version and commit of this binary.
func Get() (version, commit string) {
	version, commit = Version, Commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && commit == "" && len(s.Value) >= 7 {
				commit = s.Value[:7]
			}
		}
	}
	if version == "" {
		version = "dev"
	}
	if commit == "" {
		commit = "unknown"
	}
	return version, commit
}

// String is the one-line description printed by `hanode version`.
func String() string {
	v, c := Get()
	return fmt.Sprintf("hanode %s (commit %s, %s, %s/%s)", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// Short is the version alone, as status reports it.
func Short() string {
	v, _ := Get()
	return v
}
