//go:build hanode_cpuprofile

package main

// A build for finding where time goes (go build -tags hanode_cpuprofile):
// with HANODE_CPU_DIR set, the node profiles its CPU for
// HANODE_CPU_FOR (default 30s) after HANODE_CPU_AFTER (default 60s) and
// writes cpu-PID.pprof there.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"
)

func init() {
	dir := os.Getenv("HANODE_CPU_DIR")
	if dir == "" {
		return
	}
	after, err := time.ParseDuration(os.Getenv("HANODE_CPU_AFTER"))
	if err != nil || after < 0 {
		after = time.Minute
	}
	span, err := time.ParseDuration(os.Getenv("HANODE_CPU_FOR"))
	if err != nil || span <= 0 {
		span = 30 * time.Second
	}
	go func() {
		time.Sleep(after)
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d.pprof", os.Getpid())))
		if err != nil {
			return
		}
		defer f.Close()
		if pprof.StartCPUProfile(f) != nil {
			return
		}
		time.Sleep(span)
		pprof.StopCPUProfile()
	}()
}
