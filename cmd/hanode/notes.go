package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hanode/hanode/node/ops/control"
)

func newNoteCommand() *cobra.Command {
	var socket string
	c := &cobra.Command{
		Use:   "note TEXT...",
		Short: "Send a note to every node's log, delivered once and in order",
		Long: `Send a line of text to every node of the cluster, which logs it and lists it
in 'hanode notes'. Notes travel as reliable cluster messages: numbered,
retransmitted when lost, delivered once and in order.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			text := strings.Join(args, " ")
			if err := control.CheckNote(text); err != nil {
				return usageError(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			sent, err := (&control.Client{Path: socket}).SendNote(ctx, text)
			if err != nil {
				return failure(err)
			}
			cmd.Printf("note %d sent\n", sent.MessageSequence)
			return nil
		},
	}
	c.Flags().StringVar(&socket, "socket", defaultSocket(), "control socket `PATH` of the node (env "+socketEnv+")")
	return c
}

func newNotesCommand() *cobra.Command {
	var socket string
	c := &cobra.Command{
		Use:   "notes",
		Short: "List the notes this node received",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			notes, err := (&control.Client{Path: socket}).NotesAnswer(ctx)
			if err != nil {
				return failure(err)
			}
			if notes.Dropped > 0 {
				cmd.Printf("... %d older notes not shown (the answer is bounded)\n", notes.Dropped)
			}
			// Sender and text come from the network: a newline or an
			// escape sequence in them must not forge a line or drive the
			// terminal.
			for _, n := range notes.Notes {
				cmd.Printf("%s  %s#%d  %s\n", n.Time.AsTime().Local().Format("2006-01-02 15:04:05.000"),
					escapeControls(n.Sender), n.MessageSequence, escapeControls(n.Text))
			}
			return nil
		},
	}
	c.Flags().StringVar(&socket, "socket", defaultSocket(), "control socket `PATH` of the node (env "+socketEnv+")")
	return c
}
