package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hanode/hanode/internal/cli/clstatus"
	"github.com/hanode/hanode/node/ops/control"
)

// newPlacementCommand is hanode standby or hanode takeover: Heartbeat's
// hb_standby and hb_takeover, which the binary also becomes through links
// of those names.
func newPlacementCommand(takeover bool) *cobra.Command {
	var socket string
	var wait time.Duration
	use, short, long := "standby", "Give resource groups away from this node (hb_standby)",
		`Move the selected resource groups away from this node, to the node the
placement rules pick among the others, and keep them away until a takeover
or until this node restarts. all (the default): every group; local: the
groups that prefer this node; foreign or failback: those that prefer another.`
	tool := "hb_standby"
	if takeover {
		use, short, long = "takeover", "Bring resource groups to this node (hb_takeover)",
			`Move the selected resource groups to this node and keep them here while it
is up. all (the default): every group; local: the groups that prefer this
node; foreign or failback: those that prefer another. Unlike Heartbeat's
hb_takeover, failback selects only the foreign groups.`
		tool = "hb_takeover"
	}
	c := &cobra.Command{
		Use:   use + " [all|local|foreign|failback]",
		Short: short,
		Long:  long,
		RunE: func(cmd *cobra.Command, args []string) error {
			selection := "all"
			if len(args) > 1 || (len(args) == 1 && !validSelection(args[0])) {
				// As hb_standby: usage on standard output, exit 1.
				cmd.Printf("usage: %s [all|foreign|local|failback]\n", tool)
				return exitCode(exitFailure)
			}
			if len(args) == 1 {
				selection = args[0]
			}
			client := &control.Client{Path: socket}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			groups, err := client.Placement(ctx, takeover, selection)
			if err != nil {
				return failure(err)
			}
			verb := "Going standby"
			if takeover {
				verb = "Taking over"
			}
			if len(groups) == 0 {
				cmd.Printf("%s [%s]: no resource group selected.\n", verb, selection)
				return nil
			}
			cmd.Printf("%s [%s]: %s.\n", verb, selection, strings.Join(groups, ", "))
			if wait > 0 {
				return waitStable(client, wait)
			}
			return nil
		},
	}
	c.Flags().StringVar(&socket, "socket", defaultSocket(), "control socket `PATH` of the node (env "+socketEnv+")")
	c.Flags().DurationVar(&wait, "wait", 0, "wait up to `DURATION` until no group moves any more")
	return c
}

func validSelection(s string) bool {
	switch s {
	case "all", "local", "foreign", "failback":
		return true
	}
	return false
}

// waitStable polls until every group runs where it should on every node's
// view this node has: nothing starting, stopping or claimed, and each group
// running on its desired node alone.
func waitStable(client *control.Client, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := client.Status(ctx)
		cancel()
		if err != nil {
			return failure(err)
		}
		stable := clstatus.ResourcesHeld(s) != "transition"
		for _, g := range s.Groups {
			if g.DesiredNode != "" && (len(g.RunningOn) != 1 || g.RunningOn[0] != g.DesiredNode) {
				stable = false
			}
		}
		if stable {
			return nil
		}
		if time.Now().After(deadline) {
			return failure(fmt.Errorf("groups still moving after %v", limit))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newFencedCommand is hanode fenced NODE: the operator's word that a node
// waiting to be fenced is off.
func newFencedCommand() *cobra.Command {
	var socket string
	c := &cobra.Command{
		Use:   "fenced NODE",
		Short: "Confirm that a node waiting to be fenced is off, so that its groups move",
		Long: `When fencing a dead node keeps failing (hanode status shows "TO FENCE"),
its groups stay stopped: hanode never takes over from a node that may still
run them. Once you have made sure the node is off (powered down by hand,
its network cut), confirm it here: every node is told, as if a fencing
device had done it, and the groups move. Confirming a node that still runs
its groups risks running them twice.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			was, err := (&control.Client{Path: socket}).ConfirmFenced(ctx, args[0])
			if err != nil {
				return failure(err)
			}
			if !was {
				return failure(fmt.Errorf("%s is not waiting to be fenced", args[0]))
			}
			cmd.Printf("%s confirmed off: its groups may move.\n", args[0])
			return nil
		},
	}
	c.Flags().StringVar(&socket, "socket", defaultSocket(), "control socket `PATH` of the node (env "+socketEnv+")")
	return c
}
