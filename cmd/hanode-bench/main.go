// Command hanode-bench measures hanode on this machine with real processes,
// on loopback (no root needed) or, for scale, on test hosts (root):
//
//	hanode-bench detect [-trials 20] [-keepalive 100ms] [-deadtime 500ms]
//	    SIGKILL a node of a 3-node cluster, again and again, and report how
//	    long after the kill its peers declared it dead.
//	hanode-bench idle [-duration 60s] [-keepalive 1s] [-nodes 3] [-group]
//	    run an idle 3-node cluster (-group: with one resource group) and
//	    report each node's RSS and CPU.
//	hanode-bench flood -kind crc|announce|control [-duration 20s]
//	    flood a node with hostile input and report its RSS and CPU.
//	hanode-bench scale [-nodes 16] [-medium bcast|ucast] [-keepalive 1s]
//	    [-deadtime 10s] [-duration 10m] [-out DIR]
//	    N nodes on test hosts (root, network namespaces), one group each,
//	    started one per 100ms: time to a stable view, false deaths, cluster
//	    messages, CPU and RSS per node; a CSV and a PNG plot in DIR.
//
// Each prints a table and a one-line summary; `make bench` runs them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hanode/hanode/internal/lab/demo"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: hanode-bench detect|idle|flood|scale [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "detect":
		err = detect(os.Args[2:])
	case "idle":
		err = idle(os.Args[2:])
	case "flood":
		err = flood(os.Args[2:])
	case "scale":
		err = scaleBench(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "hanode-bench: unknown benchmark %q (detect, idle, flood, scale)\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hanode-bench:", err)
		os.Exit(1)
	}
}

func hanodeBinary(flagValue string) (string, error) {
	if flagValue != "" {
		return filepath.Abs(flagValue)
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	p := filepath.Join(filepath.Dir(exe), "hanode")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no hanode binary next to %s: build it (make build) or pass -hanode", exe)
	}
	return p, nil
}

func detect(args []string) error {
	fs := flag.NewFlagSet("detect", flag.ExitOnError)
	trials := fs.Int("trials", 20, "number of kills")
	keepalive := fs.Duration("keepalive", 100*time.Millisecond, "keepalive")
	deadtime := fs.Duration("deadtime", 500*time.Millisecond, "deadtime")
	bin := fs.String("hanode", "", "hanode binary (default: next to this program)")
	fs.Parse(args)
	exe, err := hanodeBinary(*bin)
	if err != nil {
		return err
	}
	c, err := demo.New(demo.Options{Exe: exe, Nodes: 3, Keepalive: *keepalive, Deadtime: *deadtime})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.StartAll(); err != nil {
		return err
	}
	nodes := c.Nodes()
	victim := nodes[2]
	fmt.Printf("detection time: SIGKILL of %s -> declared dead by its peers; keepalive %v, deadtime %v, %d trials\n", victim.Name, *keepalive, *deadtime, *trials)
	fmt.Printf("%-6s %10s %10s\n", "trial", nodes[0].Name, nodes[1].Name)
	var samples []time.Duration
	for t := 1; t <= *trials; t++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := c.WaitAllActive(ctx); err != nil {
			cancel()
			return err
		}
		// Kill at a random phase of the heartbeat cycle.
		time.Sleep(time.Duration(t*37%100) * *keepalive / 100)
		killed, err := victim.Kill()
		if err != nil {
			cancel()
			return err
		}
		var row []string
		for _, obs := range nodes[:2] {
			d, err := c.DetectDeath(ctx, obs, victim, killed)
			if err != nil {
				cancel()
				return err
			}
			samples = append(samples, d)
			row = append(row, fmt.Sprintf("%10s", d.Round(time.Millisecond)))
		}
		cancel()
		fmt.Printf("%-6d %s\n", t, strings.Join(row, " "))
		if err := c.Start(2); err != nil {
			return err
		}
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	fmt.Printf("summary: %d samples: min %v, median %v, p90 %v, max %v (deadtime %v)\n", len(samples),
		samples[0].Round(time.Millisecond), samples[len(samples)/2].Round(time.Millisecond),
		samples[len(samples)*9/10].Round(time.Millisecond), samples[len(samples)-1].Round(time.Millisecond), *deadtime)
	return nil
}

func idle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	duration := fs.Duration("duration", 60*time.Second, "measurement time")
	keepalive := fs.Duration("keepalive", time.Second, "keepalive")
	nodes := fs.Int("nodes", 3, "number of nodes")
	group := fs.Bool("group", false, "add the demo's resource group (a small service preferring node1)")
	bin := fs.String("hanode", "", "hanode binary (default: next to this program)")
	fs.Parse(args)
	exe, err := hanodeBinary(*bin)
	if err != nil {
		return err
	}
	c, err := demo.New(demo.Options{Exe: exe, Nodes: *nodes, Keepalive: *keepalive, Deadtime: 5 * *keepalive, Service: *group})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.StartAll(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+20**keepalive)
	defer cancel()
	if err := c.WaitAllActive(ctx); err != nil {
		return err
	}
	members := c.Nodes()
	startCPU := make([]time.Duration, len(members))
	maxRSS := make([]int64, len(members))
	sent0, recv0 := make([]uint64, len(members)), make([]uint64, len(members))
	for i, n := range members {
		if startCPU[i], err = cpuTime(n.PID()); err != nil {
			return err
		}
		s, err := n.Status(ctx)
		if err != nil {
			return err
		}
		sent0[i], recv0[i] = s.FramesSent, s.FramesReceived
	}
	begin := time.Now()
	for time.Since(begin) < *duration {
		time.Sleep(min(time.Second, *duration-time.Since(begin)))
		for i, n := range members {
			if rss, err := rssKiB(n.PID()); err == nil && rss > maxRSS[i] {
				maxRSS[i] = rss
			}
		}
	}
	wall := time.Since(begin)
	groups := 0
	if *group {
		groups = 1
	}
	fmt.Printf("idle %d-node cluster, %d group(s), keepalive %v, measured over %v\n", len(members), groups, *keepalive, wall.Round(time.Second))
	fmt.Printf("%-7s %8s %12s %7s %14s %14s\n", "node", "RSS MiB", "CPU seconds", "CPU %", "frames sent/s", "datagrams in/s")
	var cpuSum, rssSum float64
	for i, n := range members {
		end, err := cpuTime(n.PID())
		if err != nil {
			return err
		}
		s, err := n.Status(context.Background())
		if err != nil {
			return err
		}
		used := end - startCPU[i]
		cpuSum += 100 * used.Seconds() / wall.Seconds()
		rssSum += float64(maxRSS[i]) / 1024
		fmt.Printf("%-7s %8.1f %12.2f %7.2f %14.1f %14.1f\n", n.Name, float64(maxRSS[i])/1024, used.Seconds(), 100*used.Seconds()/wall.Seconds(),
			float64(s.FramesSent-sent0[i])/wall.Seconds(), float64(s.FramesReceived-recv0[i])/wall.Seconds())
	}
	fmt.Printf("summary: %d nodes at keepalive %v: mean RSS %.1f MiB, mean CPU %.2f%% per node\n", len(members), *keepalive, rssSum/float64(len(members)), cpuSum/float64(len(members)))
	return nil
}

// cpuTime is the user+system CPU time of a process (/proc/PID/stat).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// rssKiB is the resident set size of a process (/proc/PID/status VmRSS).
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
