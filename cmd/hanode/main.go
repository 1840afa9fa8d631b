// Command hanode is the hanode cluster manager: the node daemon (hanode
// run), its configuration tools (check, config convert), its status tools
// (status, cl_status) and a self-contained demo. Invoked through a link
// named cl_status it behaves as Heartbeat's cl_status.
//
// Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error
// (cl_status keeps Heartbeat's own codes).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// exitError carries an exit code out of a command. Its message, if any, is
// printed as "hanode: <message>", one line per line of the message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func usageError(err error) error      { return &exitError{code: exitUsage, err: err} }
func failure(err error) error         { return &exitError{code: exitFailure, err: err} }
func exitCode(code int) error         { return &exitError{code: code} }
func usagef(f string, a ...any) error { return usageError(fmt.Errorf(f, a...)) }

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the command line args (args[0] is the program name) and
// returns the exit code.
func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		// No input, however broken, may end in a Go stack trace.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "hanode: internal error: %v\n", r)
			code = exitFailure
		}
	}()
	argv := args[1:]
	switch filepath.Base(args[0]) {
	case "cl_status":
		argv = append([]string{"cl_status"}, argv...)
	case "hb_standby":
		argv = append([]string{"standby"}, argv...)
	case "hb_takeover":
		argv = append([]string{"takeover"}, argv...)
	}
	root := newRootCommand(stdout, stderr)
	root.SetArgs(argv)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// Cobra's own errors: unknown command or flag, wrong arguments.
		ee = &exitError{code: exitUsage, err: err}
	}
	if ee.err != nil {
		for _, line := range strings.Split(ee.err.Error(), "\n") {
			fmt.Fprintf(stderr, "hanode: %s\n", line)
		}
	}
	return ee.code
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "hanode",
		Short: "High-availability cluster manager, compatible with Heartbeat's /etc/ha.d",
		Long: `hanode keeps services running on a cluster of Linux machines. Nodes send
authenticated heartbeats to each other over UDP and serial links; when a
node stops answering for deadtime, the others declare it dead, fence it
when a fencing device is configured, and start its resource groups (a
virtual IP, a filesystem, a service) on another node. hanode reads a
Heartbeat /etc/ha.d unchanged, or its own protobuf text configuration
(/etc/hanode/cluster.textproto).`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%v (see '%s --help')", err, c.CommandPath())
	})
	root.AddCommand(
		newRunCommand(),
		newCheckCommand(),
		newConfigCommand(),
		newStatusCommand(),
		newClStatusCommand(),
		newNoteCommand(),
		newNotesCommand(),
		newEventsCommand(),
		newTraceCommand(),
		newPlacementCommand(false),
		newPlacementCommand(true),
		newFencedCommand(),
		newDemoCommand(),
		newDemoServiceCommand(),
		newGenDocsCommand(),
		newVersionCommand(),
	)
	for _, c := range extraCommands {
		root.AddCommand(c())
	}
	return root
}

// extraCommands are the commands of special builds (gen-man, in the build
// tagged hanode_genman: see genman.go).
var extraCommands []func() *cobra.Command
