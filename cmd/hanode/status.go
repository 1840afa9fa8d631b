package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/spf13/cobra"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/clstatus"
	"github.com/hanode/hanode/node/control"
	"github.com/hanode/hanode/node/statusview"
	"github.com/hanode/hanode/node/version"
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

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			cmd.Println(version.String())
		},
	}
}

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

// escapeControls escapes the control characters of s (and bytes that are
// not UTF-8) as Go does in quoted strings (\n, \x1b, \u0085), leaving the
// rest as is: text from the network, printed for a terminal, can neither
// forge a line nor send escape sequences, and stays readable.
func escapeControls(s string) string {
	clean := utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// escapeStrings applies escapeControls to every string field of m, at any
// depth: a status or an event carries names and reasons that peers sent.
func escapeStrings(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				if fd.Kind() == protoreflect.StringKind {
					l.Set(i, protoreflect.ValueOfString(escapeControls(l.Get(i).String())))
				} else if fd.Message() != nil {
					escapeStrings(l.Get(i).Message())
				}
			}
		case fd.IsMap():
			mp := v.Map()
			var keys []protoreflect.MapKey
			mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k)
				return true
			})
			for _, k := range keys {
				val := mp.Get(k)
				if fd.MapValue().Kind() == protoreflect.StringKind {
					val = protoreflect.ValueOfString(escapeControls(val.String()))
				} else if fd.MapValue().Message() != nil {
					escapeStrings(val.Message())
				}
				mp.Clear(k)
				nk := k
				if fd.MapKey().Kind() == protoreflect.StringKind {
					nk = protoreflect.ValueOfString(escapeControls(k.String())).MapKey()
				}
				mp.Set(nk, val)
			}
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(escapeControls(v.String())))
		case fd.Message() != nil:
			escapeStrings(v.Message())
		}
		return true
	})
}
