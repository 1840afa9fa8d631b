package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hanode/hanode/internal/cli/statusview"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/ops/control"
)

func newEventsCommand() *cobra.Command {
	var socket, kind string
	var limit int
	var asJSON bool
	c := &cobra.Command{
		Use:   "events",
		Short: "The node's event timeline: what happened in the cluster, and why",
		Long: `List the recent events this node saw, oldest first: membership changes
(with why a node was declared dead), link changes, placement decisions,
group moves with the time the group ran nowhere, fencing, quorum,
connectivity (ping nodes), failed resource actions and operator requests.
--kind keeps one kind (membership, link, group, group_moved, fencing,
quorum, connectivity, resource, operator).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			evs, err := (&control.Client{Path: socket}).Events(ctx, 0)
			if err != nil {
				return failure(err)
			}
			if kind != "" {
				want, ok := messages.EventKind_value["EVENT_KIND_"+strings.ToUpper(kind)]
				if !ok || want == 0 {
					return usagef("--kind %q: one of membership, link, group, group_moved, fencing, quorum, connectivity, resource, operator", kind)
				}
				kept := evs[:0]
				for _, ev := range evs {
					if int32(ev.Kind) == want {
						kept = append(kept, ev)
					}
				}
				evs = kept
			}
			if limit > 0 && len(evs) > limit {
				evs = evs[len(evs)-limit:]
			}
			if asJSON {
				return statusview.EventsJSON(cmd.OutOrStdout(), evs)
			}
			for _, ev := range evs {
				escapeStrings(ev.ProtoReflect())
			}
			statusview.Events(cmd.OutOrStdout(), evs)
			return nil
		},
	}
	c.Flags().StringVar(&socket, "socket", defaultSocket(), "control socket `PATH` of the node (env "+socketEnv+")")
	c.Flags().StringVar(&kind, "kind", "", "only events of this `KIND`")
	c.Flags().IntVarP(&limit, "limit", "n", 0, "only the last `N` events")
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object per line")
	return c
}
