package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/ops/control"
)

func newTraceCommand() *cobra.Command {
	var socket string
	var actorFilters, typeFilters []string
	var count int
	var asJSON bool
	c := &cobra.Command{
		Use:   "trace",
		Short: "Attach to a running node and stream its actor trace",
		Long: `Stream every message delivered to the node's actors, as they happen:
time, sender, receiver, message type and a short summary. --actor keeps the
messages whose sender or receiver contains the text (membership,
group-web, link-eth0), --type those whose type does (FrameReceived,
GroupCommand); both may be repeated. Ctrl-C detaches; the node is not
disturbed (records a slow reader cannot take are dropped and counted).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			out := cmd.OutOrStdout()
			seen := 0
			err := (&control.Client{Path: socket}).Trace(ctx, actorFilters, typeFilters, func(r *messages.TraceRecord) {
				if r.Dropped > 0 {
					fmt.Fprintf(out, "... %d records dropped (reading too slowly)\n", r.Dropped)
				}
				if asJSON {
					b, _ := protojson.Marshal(r)
					var compact bytes.Buffer
					json.Compact(&compact, b)
					fmt.Fprintln(out, compact.String())
				} else {
					fmt.Fprintf(out, "%s  %s -> %s  %s  %s\n", r.GetTime().AsTime().Local().Format("15:04:05.000000"),
						r.Sender, r.Receiver, r.Type, escapeControls(r.Summary))
				}
				seen++
				if count > 0 && seen >= count {
					cancel()
				}
			})
			if err != nil {
				return failure(err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&socket, "socket", defaultSocket(), "control socket `PATH` of the node (env "+socketEnv+")")
	c.Flags().StringArrayVar(&actorFilters, "actor", nil, "only messages to or from actors whose id contains `TEXT`")
	c.Flags().StringArrayVar(&typeFilters, "type", nil, "only messages whose type contains `TEXT`")
	c.Flags().IntVarP(&count, "count", "n", 0, "stop after `N` records")
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object per line")
	return c
}
