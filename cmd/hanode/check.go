package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/config/hacf"
	"github.com/hanode/hanode/node/host/agents"
	"github.com/hanode/hanode/node/ops/version"
)

func newCheckCommand() *cobra.Command {
	f := &configFlags{}
	c := &cobra.Command{
		Use:   "check",
		Short: "Validate a configuration and print a summary",
		Long: `Validate a configuration (--config FILE or --hacf DIR) and print a short
summary. Every problem is printed on its own line naming the file and line,
or the field; the exit code is 0 when the configuration is valid, 2 when not.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.check(cmd.OutOrStdout())
		},
	}
	f.register(c)
	c.Flags().StringVar(&f.stateDir, "state-dir", node.DefaultStateDir, "the state `DIR` whose owner and mode the security section checks")
	return c
}

func (f *configFlags) check(out io.Writer) error {
	l, err := f.load()
	if err != nil {
		return configError(err)
	}
	// Without --name, validate the cluster as such and only warn when this
	// machine is not one of its nodes: check often runs on an admin host.
	local := ""
	if f.name != "" {
		local = strings.ToLower(f.name)
	}
	eff, err := config.Resolve(l, local)
	if err != nil {
		return configError(err)
	}
	// The plan `hanode run` would start: its checks are the ones run
	// makes, once.
	plan, err := node.Prepare(eff, nil)
	if err != nil {
		if _, whole := errors.AsType[*node.MessageSizeError](err); whole {
			err = fmt.Errorf("%s: %w", l.Origin, err)
		}
		return configError(err)
	}
	if local == "" {
		if host, err := f.nodeName(); err == nil && !contains(eff.Nodes, host) {
			eff.Warnings = append(eff.Warnings, config.Warning{Msg: fmt.Sprintf("this machine (%s) is not a node of this cluster; use --name to check for another node", host)})
		}
	}
	printSummary(out, l, eff, plan.Agents)
	for _, d := range plan.FenceDevices {
		fmt.Fprintf(out, "fence device %s: %s\n", d.Name, d.Program())
	}
	for _, n := range plan.Unfenceable() {
		fmt.Fprintf(out, "warning: %s\n", node.UnfenceableWarning(n))
	}
	for _, w := range plan.PartitionWaits() {
		fmt.Fprintf(out, "note: %s\n", w)
	}
	printSecurity(out, l, eff, plan.FenceDevices, f.stateDir)
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func printSummary(out io.Writer, l *config.Loaded, eff *config.Effective, agentsOf [][]*agents.Agent) {
	c := eff.Cluster
	fmt.Fprintf(out, "%s: valid (%s configuration)\n", l.Origin, l.Format)
	fmt.Fprintf(out, "cluster %s: %d node(s): %s\n", c.Name, len(eff.Nodes), strings.Join(eff.Nodes, ", "))
	fmt.Fprintf(out, "timing: keepalive %v, warntime %v, deadtime %v, initdead %v\n", eff.Keepalive, eff.Warntime, eff.Deadtime, eff.Initdead)
	for _, s := range eff.Links {
		fmt.Fprintf(out, "link %s: %s\n", s.Name, describeLink(s))
	}
	fmt.Fprintf(out, "resource groups: %d\n", len(c.Groups))
	for i, g := range eff.Groups {
		var rs []string
		for j, r := range g.Resources {
			where := ""
			if r.Everywhere {
				where = ", kept running on every node"
			}
			rs = append(rs, fmt.Sprintf("%s (%s %s%s)", r.ID, agentsOf[i][j].Class, agentsOf[i][j].Path, where))
		}
		fmt.Fprintf(out, "group %s on %s: %s\n", g.Name, g.Preferred, strings.Join(rs, ", "))
	}
	fmt.Fprintf(out, "auto_failback: %s\n", describeAutoFailback(c.AutoFailback))
	if len(c.PingNodes) > 0 {
		fmt.Fprintf(out, "ping nodes: %d, dead after deadping %v\n", len(c.PingNodes), eff.Deadping)
	}
	for _, p := range c.PingNodes {
		group := ""
		if len(p.Addresses) > 1 {
			group = " (a group: up while any of them answers)"
		}
		fmt.Fprintf(out, "ping node %s: %s%s\n", p.Name, strings.Join(p.Addresses, ", "), group)
	}
	for _, r := range eff.Respawn {
		kind := "respawn"
		if r.Failfast {
			kind = "failfast (reboots the machine if it dies)"
		}
		fmt.Fprintf(out, "%s: %s as %s\n", kind, strings.Join(append([]string{r.Path}, r.Args...), " "), r.User)
	}
	for _, w := range eff.Warnings {
		// A difference from Heartbeat is printed once, below.
		if !config.IsDifference(w, eff.Differences) {
			fmt.Fprintf(out, "warning: %s\n", w)
		}
	}
	if len(eff.Differences) > 0 {
		fmt.Fprintln(out, "differences from Heartbeat:")
		// In the order of the files as Heartbeat reads them, then of the
		// lines.
		rank := map[string]int{"ha.cf": 1, "haresources": 2, "authkeys": 3}
		ds := append([]config.Difference(nil), eff.Differences...)
		sort.SliceStable(ds, func(i, j int) bool {
			if ri, rj := rank[filepath.Base(ds[i].Pos.File)], rank[filepath.Base(ds[j].Pos.File)]; ri != rj {
				return ri < rj
			}
			if ds[i].Pos.File != ds[j].Pos.File {
				return ds[i].Pos.File < ds[j].Pos.File
			}
			return ds[i].Pos.Line < ds[j].Pos.Line
		})
		for _, d := range ds {
			fmt.Fprintf(out, "  %s\n", d)
		}
	}
}

// describeAutoFailback says what auto_failback runs as.
func describeAutoFailback(a messages.AutoFailback) string {
	switch a {
	case messages.AutoFailback_AUTO_FAILBACK_ON:
		return "on"
	case messages.AutoFailback_AUTO_FAILBACK_OFF:
		return "off"
	}
	return "legacy (runs as on)"
}

// describeLink lists a link's media: several when the configuration
// names several on one interface (one link, as in Heartbeat).
func describeLink(s config.LinkSpec) string {
	var ms []string
	for _, m := range s.Media {
		ms = append(ms, m.Medium.String())
	}
	return strings.Join(ms, "; ")
}

func newConfigCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Configuration tools",
	}
	c.AddCommand(&cobra.Command{
		Use:   "convert DIR",
		Short: "Print the native configuration equivalent to a Heartbeat /etc/ha.d",
		Long: `Read a Heartbeat configuration directory (ha.cf, haresources, authkeys) and
print the equivalent native configuration (protobuf text format) on standard
output. The output holds the keys of authkeys: store it with mode 0600.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := hacf.Load(args[0])
			if err != nil {
				return configError(err)
			}
			header := fmt.Sprintf("hanode native configuration, converted by %s\nfrom %s.\nIt holds secret keys: keep it mode 0600.", version.String(), args[0])
			for _, w := range l.Warnings {
				if !config.IsDifference(w, l.Differences) {
					header += "\nnote: " + w.String()
				}
			}
			for _, d := range l.Differences {
				header += "\nnote: " + d.String()
			}
			if note := realtimeNote(l.Parameters); note != "" {
				header += "\nnote: " + note
			}
			// A respawn line hanode does not run (ipfail, built in) is
			// not carried over, so the native file says only what runs.
			respawn := l.Cluster.Respawn[:0:0]
			for _, r := range l.Cluster.Respawn {
				if why := config.BuiltinRespawn(r); why != "" {
					header += fmt.Sprintf("\nnote: respawn %s dropped: %s", r.Path, why)
					continue
				}
				respawn = append(respawn, r)
			}
			l.Cluster.Respawn = respawn
			cmd.OutOrStdout().Write(config.MarshalNative(l.Cluster, header))
			return nil
		},
	})
	c.AddCommand(newExportCommand())
	return c
}
