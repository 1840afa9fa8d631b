package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hanode/hanode/internal/lab/scale"
)

// scaleBench runs issue 13's scale bench (internal/lab/scale): N nodes on
// test hosts, each with a group, started one per interval; it prints a
// table and a one-line summary and writes a CSV of samples and a PNG plot
// of RSS and cluster messages over time. SIGINT or SIGTERM stop it early
// and clean up (every node killed by PID, every namespace deleted), its
// files written with what was measured.
func scaleBench(args []string) error {
	fs := flag.NewFlagSet("scale", flag.ExitOnError)
	var o scale.Options
	fs.IntVar(&o.Nodes, "nodes", 16, "number of nodes, each on a test host of its own")
	fs.StringVar(&o.Medium, "medium", "bcast", "bcast or ucast (every node listing every node)")
	fs.DurationVar(&o.Keepalive, "keepalive", time.Second, "keepalive")
	fs.DurationVar(&o.Deadtime, "deadtime", 10*time.Second, "deadtime")
	fs.DurationVar(&o.Initdead, "initdead", 0, "initdead (default: twice deadtime, as Heartbeat recommends)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Minute, "how long to watch the cluster after it formed")
	fs.DurationVar(&o.StartInterval, "start-interval", 100*time.Millisecond, "time between two node starts")
	fs.DurationVar(&o.Sample, "sample", 5*time.Second, "time between two samples while watching")
	fs.DurationVar(&o.FormationTimeout, "formation-timeout", 0, "how long after the last start to wait for a stable view (default: 3 x initdead + 10s)")
	fs.StringVar(&o.Resource, "resource", scale.ResourceIPaddr2, "each group's resource: ipaddr2 (Debian's IPaddr2 on 10.201.200.N/16), ipaddr2-native (the same line run by hanode's built-in address) or script (a state file)")
	fs.StringVar(&o.Out, "out", "", "directory for the CSV files and the PNG (default: $TMPDIR/hanode-scale)")
	fs.StringVar(&o.Work, "work", "", "directory for the nodes' configurations, state and logs (default: a temporary one, removed)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the nodes' configurations, state and logs")
	minFree := fs.Uint64("min-free-mib", 4096, "stop early when the machine's available memory falls under this many MiB")
	bin := fs.String("hanode", "", "hanode binary (default: next to this program)")
	quiet := fs.Bool("q", false, "no progress lines on standard error")
	fs.Parse(args)
	exe, err := hanodeBinary(*bin)
	if err != nil {
		return err
	}
	o.Hanode = exe
	o.MinFreeMemory = *minFree << 20
	if !*quiet {
		o.Progress = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := scale.Run(ctx, o)
	if r != nil {
		r.Report(os.Stdout)
	}
	if err != nil {
		return err
	}
	if r.Aborted != "" {
		return errors.New("scale: stopped early: " + r.Aborted)
	}
	return nil
}
