package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hanode/hanode/node/demo"
)

func newDemoCommand() *cobra.Command {
	opts := demo.Options{Nodes: 3, Keepalive: 100 * time.Millisecond, Deadtime: 500 * time.Millisecond}
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run a local 3-node cluster, kill a node and show its detection",
		Long: `Start a cluster of real hanode processes on loopback addresses (no root, no
configuration needed), wait until every node sees every other active, kill
one with SIGKILL, and show the others declaring it dead with the measured
detection time. Everything is stopped and removed at the end.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return failure(err)
			}
			opts.Exe = exe
			if opts.Deadtime <= 2*opts.Keepalive {
				return usagef("--deadtime (%v) must be more than twice --keepalive (%v)", opts.Deadtime, opts.Keepalive)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := demo.Run(ctx, cmd.OutOrStdout(), opts); err != nil {
				return failure(err)
			}
			return nil
		},
	}
	c.Flags().IntVar(&opts.Nodes, "nodes", opts.Nodes, "number of nodes (2..254)")
	c.Flags().DurationVar(&opts.Keepalive, "keepalive", opts.Keepalive, "heartbeat interval")
	c.Flags().DurationVar(&opts.Deadtime, "deadtime", opts.Deadtime, "silence after which a node is dead")
	return c
}
