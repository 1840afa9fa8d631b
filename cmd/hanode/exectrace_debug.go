//go:build hanode_exectrace

package main

// A build for finding what wakes a node (go build -tags
// hanode_exectrace): with HANODE_TRACE_DIR set, the node records a Go
// execution trace for HANODE_TRACE_FOR (default 10s) after
// HANODE_TRACE_AFTER (default 60s) and writes trace-PID.out there, for
// go tool trace.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/trace"
	"time"
)

func init() {
	dir := os.Getenv("HANODE_TRACE_DIR")
	if dir == "" {
		return
	}
	after, err := time.ParseDuration(os.Getenv("HANODE_TRACE_AFTER"))
	if err != nil || after < 0 {
		after = time.Minute
	}
	span, err := time.ParseDuration(os.Getenv("HANODE_TRACE_FOR"))
	if err != nil || span <= 0 {
		span = 10 * time.Second
	}
	go func() {
		time.Sleep(after)
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("trace-%d.out", os.Getpid())))
		if err != nil {
			return
		}
		defer f.Close()
		if trace.Start(f) != nil {
			return
		}
		time.Sleep(span)
		trace.Stop()
	}()
}
