package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hanode/hanode/internal/cli/clstatus"
	"github.com/hanode/hanode/node/ops/control"
)

// clStatusTimeout is cl_status's overall limit, as Heartbeat's alarm(5).
const clStatusTimeout = 5 * time.Second

func newClStatusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "cl_status SUB-COMMAND [options] [args]",
		Short: "Heartbeat's cl_status: same sub-commands, output and exit codes",
		Long: `Heartbeat's cl_status against this node: hbstatus, listnodes, nodestatus,
nodetype, listhblinks, hblinkstatus, clientstatus, rscstatus, hbparameter.
The node's socket is --socket PATH (first argument) or $` + socketEnv + `.
Run 'hanode cl_status' alone for the list of sub-commands.`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			socket := defaultSocket()
			if len(args) > 0 && (args[0] == "--socket" || strings.HasPrefix(args[0], "--socket=")) {
				if v, ok := strings.CutPrefix(args[0], "--socket="); ok {
					socket, args = v, args[1:]
				} else if len(args) > 1 {
					socket, args = args[1], args[2:]
				} else {
					return exitCode(clstatus.ParameterError)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), clStatusTimeout)
			defer cancel()
			code := clstatus.Run(ctx, args, &control.Client{Path: socket}, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
}
