package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hanode/hanode/internal/lab/demo"
)

func newDemoCommand() *cobra.Command {
	opts := demo.Options{Nodes: 3, Keepalive: 100 * time.Millisecond, Deadtime: 500 * time.Millisecond}
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run a local 3-node cluster and move a service between its nodes",
		Long: `Start a cluster of real hanode processes on loopback addresses (no root, no
configuration needed) with a resource group: a small service answering on
127.0.0.100 that prefers node1. Wait until every node sees every other
active and node1 serves; crash node1 (SIGKILL of the node and its service)
and show the others declaring it dead and node2 taking the service over,
with the measured detection time and failover gap; stop node2 cleanly and
show node3 taking over at once. Everything is stopped and removed at the
end.`,
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
	c.Flags().BoolVar(&opts.Keep, "keep", false, "keep the working directory (configurations, logs) at the end")
	c.Flags().IntVar(&opts.Nodes, "nodes", opts.Nodes, "number of nodes (3..254)")
	c.Flags().DurationVar(&opts.Keepalive, "keepalive", opts.Keepalive, "heartbeat interval")
	c.Flags().DurationVar(&opts.Deadtime, "deadtime", opts.Deadtime, "silence after which a node is dead")
	return c
}

// newDemoServiceCommand is the service the demo's resource script runs.
func newDemoServiceCommand() *cobra.Command {
	var listen, name, pidFile string
	c := &cobra.Command{
		Use:    "demo-service",
		Short:  "The demo's service: answers every TCP connection with a node name",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listen == "" || name == "" || pidFile == "" {
				return usagef("demo-service needs --listen, --name and --pidfile")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := demo.Serve(ctx, listen, name, pidFile); err != nil {
				return failure(err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&listen, "listen", "", "`ADDR:PORT` to answer on")
	c.Flags().StringVar(&name, "name", "", "the `NAME` to answer with")
	c.Flags().StringVar(&pidFile, "pidfile", "", "`FILE` to write the pid to once listening")
	return c
}
