package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/config/hacf"
	"github.com/hanode/hanode/node/config/pacemaker"
	"github.com/hanode/hanode/node/host/agents"
	"github.com/hanode/hanode/node/ops/version"
)

// newExportCommand is `hanode config export`: the configuration as
// another cluster manager reads it (Pacemaker's CIB, Corosync's file).
func newExportCommand() *cobra.Command {
	var toPacemaker, toCorosync bool
	c := &cobra.Command{
		Use:   "export --pacemaker|--corosync [DIR|FILE]",
		Short: "Print the configuration as a Pacemaker CIB, or its corosync.conf",
		Long: `Read a configuration (a Heartbeat /etc/ha.d directory or a native file;
default: /etc/hanode/cluster.textproto if present, else /etc/ha.d) and print
it for Corosync and Pacemaker, the way on from Heartbeat R1:

  --pacemaker  the CIB (XML, validate-with pacemaker-3.0): a primitive per
               resource by class (an OCF agent; the OCF agent a Heartbeat
               resource.d script wraps, IPaddr2 for hanode's address; other
               resource.d scripts as class heartbeat, which Pacemaker 2
               no longer runs, with a warning; init scripts as lsb),
               a group per resource group, a clone per resource kept on
               every node, the preferred node as a location score,
               auto_failback as resource-stickiness, the fencing devices as
               stonith resources, ping nodes as ocf:pacemaker:ping;
  --corosync   the corosync.conf with the timing (deadtime as the token
               timeout), the nodes with the CIB's ids, and quorum.

Load the CIB with cibadmin --replace --xml-file FILE on a new cluster.
What Pacemaker runs otherwise than hanode is printed on standard error, one
warning a line naming the file and line, and the output is still written;
what it cannot run at all (an init script given arguments, a fencing
script) is an error naming the line, and nothing is written (exit 2).
docs/migration.md has the whole mapping.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if toPacemaker == toCorosync {
				return usagef("say what to export: --pacemaker or --corosync")
			}
			l, err := loadExportArg(args)
			if err != nil {
				return configError(err)
			}
			eff, err := config.Resolve(l, "")
			if err != nil {
				return configError(err)
			}
			res, err := pacemaker.Export(eff, exportOptions(l, eff))
			if err != nil {
				return configError(err)
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "hanode: warning: %s\n", w)
			}
			out := res.CIB
			if toCorosync {
				out = res.Corosync
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	c.Flags().BoolVar(&toPacemaker, "pacemaker", false, "print the Pacemaker CIB")
	c.Flags().BoolVar(&toCorosync, "corosync", false, "print the corosync.conf")
	return c
}

// loadExportArg reads the configuration named: a directory is a
// Heartbeat /etc/ha.d, anything else a native file; none, the default.
func loadExportArg(args []string) (*config.Loaded, error) {
	if len(args) == 0 {
		return (&configFlags{}).load()
	}
	if st, err := os.Stat(args[0]); err == nil && st.IsDir() {
		return hacf.Load(args[0])
	}
	return config.LoadNative(args[0])
}

// exportOptions are what the export learns from this machine: where
// hanode finds each script, the STONITH plugins' parameter names, and
// stonith configuration files.
func exportOptions(l *config.Loaded, eff *config.Effective) pacemaker.Options {
	dirs := agents.Dirs{HaDir: eff.AgentDirs.GetHaDir(), InitD: eff.AgentDirs.GetInitD(), OCFRoot: eff.AgentDirs.GetOcfRoot()}
	return pacemaker.Options{
		Origin:    l.Origin,
		Generator: version.String(),
		Loaded:    l,
		Locate: func(r config.ResourceSpec) (pacemaker.Script, error) {
			a, err := agents.Resolve(r.Resource, dirs, agents.Env{})
			if err != nil {
				return 0, fmt.Errorf("%s: %w", r.Where, err)
			}
			if a.Class == agents.LSB {
				return pacemaker.InitD, nil
			}
			return pacemaker.ResourceD, nil
		},
		StonithNames: stonithParamNames,
		ReadFile: func(path string) ([]byte, error) {
			data, _, err := config.ReadFile(path)
			return data, err
		},
	}
}

// stonithParamNames asks cluster-glue's stonith command for a plugin's
// parameter names; ok false when it is not installed or does not know the
// plugin (it prints nothing then), and the export uses its own table.
func stonithParamNames(typ string) ([]string, bool) {
	bin, err := exec.LookPath("stonith")
	if err != nil {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-n", "-t", typ).Output()
	if err != nil {
		return nil, false
	}
	names := strings.Fields(string(out))
	if len(names) == 0 {
		return nil, false
	}
	return names, true
}
