//go:build hanode_heapdump

package main

// A build for finding where memory goes (go build -tags hanode_heapdump):
// with HANODE_HEAP_DIR set, the node writes a heap profile there every
// HANODE_HEAP_EVERY (default 30s), named by its pid and a count. Kept out
// of the ordinary build: linking runtime/pprof turns heap profiling on,
// which costs every node memory.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"
)

func init() {
	dir := os.Getenv("HANODE_HEAP_DIR")
	if dir == "" {
		return
	}
	every, err := time.ParseDuration(os.Getenv("HANODE_HEAP_EVERY"))
	if err != nil || every <= 0 {
		every = 30 * time.Second
	}
	go func() {
		for i := 0; i < 1000; i++ {
			time.Sleep(every)
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%d-%03d.pprof", os.Getpid(), i)))
			if err != nil {
				return
			}
			pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}()
}
