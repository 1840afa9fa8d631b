package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hanode/hanode/internal/cli/statusview"
	"github.com/hanode/hanode/node/ops/control"
)

// socketEnv names the control socket for the commands that talk to a node,
// where a flag is not available (cl_status invoked through its link).
const socketEnv = "HANODE_SOCKET"

func defaultSocket() string {
	if s := os.Getenv(socketEnv); s != "" {
		return s
	}
	return control.DefaultSocket
}

func newStatusCommand() *cobra.Command {
	var socket string
	var asJSON, watch bool
	var interval time.Duration
	var count int
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster as this node sees it",
		Long: `Show the cluster as this node sees it: nodes and their links, resource
groups (where each runs and should run, each resource's last operation),
fencing, recent events. --watch redraws it every --interval until Ctrl-C
(on a terminal the screen is cleared; otherwise the views follow each
other); --count stops after that many views.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client := &control.Client{Path: socket}
			out := cmd.OutOrStdout()
			show := func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				s, err := client.Status(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return statusview.JSON(out, s)
				}
				escapeStrings(s.ProtoReflect())
				statusview.Table(out, s)
				// What the node could not gather (an actor that did not
				// answer): the view above lacks it.
				for _, e := range s.Errors {
					fmt.Fprintf(out, "warning: %s\n", e)
				}
				return nil
			}
			if !watch {
				if err := show(); err != nil {
					return failure(err)
				}
				return nil
			}
			if interval <= 0 {
				return usagef("--interval %v: must be positive", interval)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			clear := isTerminal(out)
			for i := 0; count == 0 || i < count; i++ {
				if clear {
					fmt.Fprint(out, "\033[H\033[2J")
				} else if i > 0 {
					fmt.Fprintln(out, "----")
				}
				if err := show(); err != nil {
					// The node may be restarting: say so and keep watching.
					fmt.Fprintf(out, "%s: %v\n", time.Now().Format("15:04:05"), err)
				}
				if count > 0 && i == count-1 {
					break
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(interval):
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&socket, "socket", defaultSocket(), "control socket `PATH` of the node (env "+socketEnv+")")
	c.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON (protojson of hanode.v1.ClusterStatus)")
	c.Flags().BoolVarP(&watch, "watch", "w", false, "redraw the status every --interval until Ctrl-C")
	c.Flags().DurationVar(&interval, "interval", time.Second, "time between views with --watch")
	c.Flags().IntVar(&count, "count", 0, "with --watch, stop after `N` views")
	return c
}

// isTerminal says whether w is a terminal (the screen may be cleared).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
