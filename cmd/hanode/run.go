package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"

	"github.com/hanode/hanode/node"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/host/rt"
	"github.com/hanode/hanode/node/ops/control"
	"github.com/hanode/hanode/node/ops/logging"
)

type runFlags struct {
	configFlags
	realtimeFlags
	stateDir  string
	socket    string
	trace     string
	logFormat string
	metrics   string
	reset     string
}

func newRunCommand() *cobra.Command {
	f := &runFlags{}
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the node daemon in the foreground",
		Long: `Run this machine's node of the cluster in the foreground until SIGTERM or
SIGINT, which stop it cleanly: its peers are told at once, without waiting
for deadtime.`,
		Args: f.traceArg,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd) },
	}
	f.configFlags.register(c)
	f.realtimeFlags.register(c)
	c.Flags().StringVar(&f.stateDir, "state-dir", node.DefaultStateDir, "`DIR` for state that survives restarts (the generation number)")
	c.Flags().StringVar(&f.socket, "socket", control.DefaultSocket, "control socket `PATH`")
	c.Flags().StringVar(&f.trace, "trace", "", "write one JSON line per actor message to `FILE` (--trace=FILE or --trace FILE; --trace alone: standard error)")
	c.Flags().Lookup("trace").NoOptDefVal = "-"
	c.Flags().StringVar(&f.logFormat, "log-format", "text", "log format on standard error: text or json")
	c.Flags().StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics (/metrics), the read-only web view (/) and its JSON API (/api/v1/status, /api/v1/events) on `ADDR` (host:port)")
	c.Flags().StringVar(&f.reset, "reset-command", "", "shell `COMMAND` run instead of rebooting when this machine must reset itself "+
		"(failfast; no quorum and its groups not stopped within their stop budget); default: reboot at once")
	return c
}

// traceArg lets --trace take its file after a space. The flag's value is
// optional (--trace alone traces to standard error), and pflag gives an
// optional value only after '=': `--trace FILE` reaches the command as
// --trace with no value and FILE as an argument. run takes no argument
// otherwise, so the one argument after a valueless --trace is its file;
// any other argument is refused as before.
func (f *runFlags) traceArg(cmd *cobra.Command, args []string) error {
	if fl := cmd.Flags().Lookup("trace"); len(args) == 1 && fl.Changed && f.trace == fl.NoOptDefVal {
		f.trace = args[0]
		return nil
	}
	return cobra.NoArgs(cmd, args)
}

func (f *runFlags) run(cmd *cobra.Command) error {
	stderr := cmd.ErrOrStderr()
	if f.logFormat != "text" && f.logFormat != "json" {
		return usagef("--log-format %q: use text or json", f.logFormat)
	}
	// Before anything starts: the node would only fail on it later, after
	// opening its links.
	if f.socket != "" {
		if err := control.CheckPath(f.socket); err != nil {
			return usagef("--socket: %v", err)
		}
	}
	eff, err := f.resolve()
	if err != nil {
		return err
	}
	rtPlan, err := f.realtimeFlags.plan(cmd, eff)
	if err != nil {
		return usageError(err)
	}
	level := new(slog.LevelVar)
	log, closeLogs, warns, err := logging.New(logging.Options{Format: f.logFormat, Stderr: stderr, Config: eff.Cluster.Logging, Level: level})
	if err != nil {
		return usageError(err)
	}
	defer closeLogs()
	for _, w := range eff.Warnings {
		log.Warn("configuration: " + w.String())
	}
	for _, w := range warns {
		log.Warn(w)
	}
	var traceOut io.Writer
	switch f.trace {
	case "":
	case "-":
		traceOut = stderr
	default:
		tf, err := os.OpenFile(f.trace, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return usagef("--trace: %v", err)
		}
		defer tf.Close()
		traceOut = tf
	}

	// Signals are caught before the node starts, so that a SIGTERM during
	// start-up still stops it cleanly.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)

	// Prepared once: Start starts this plan and does not check it again.
	plan, err := node.Prepare(eff, nil)
	if err != nil {
		return failure(err)
	}
	// Once the configuration is known to run (a refused one gets its one
	// line and nothing else), and before the node starts its threads'
	// work and its programs: threads created later inherit the policy.
	rtPlan.apply(log)
	opts := node.Options{Plan: plan, StateDir: f.stateDir, Socket: f.socket, Log: log, Trace: traceOut, MetricsAddr: f.metrics}
	if f.reset != "" {
		command := f.reset
		opts.Reboot = func() error {
			// At normal priority even when hanode runs real-time.
			reset := exec.Command("/bin/sh", "-c", command)
			var out bytes.Buffer
			reset.Stdout, reset.Stderr = &out, &out
			err := rt.Start(reset)
			if err == nil {
				err = reset.Wait()
			}
			if err != nil {
				return fmt.Errorf("reset command %q: %w: %s", command, err, strings.TrimSpace(out.String()))
			}
			return nil
		}
	}
	setGCTarget(len(eff.Nodes))
	setThreads(len(eff.Nodes))
	n, err := node.Start(opts)
	if err != nil {
		return failure(err)
	}
	if a := n.MetricsAddr(); a != nil {
		log.Info("metrics served", "addr", "http://"+a.String()+"/metrics")
	}
	stopSystemd := notifySystemd(n, eff, log)
	defer stopSystemd()
	releaseStartupMemory(rtPlan.memlock)
	settled := make(chan struct{})
	defer close(settled)
	go releaseWhenSettled(SettledAfter(eff.Initdead), rtPlan.memlock, settled)
	for {
		select {
		case <-n.Done():
			return failure(fmt.Errorf("node stopped: %v", n.Err()))
		case sig := <-sigs:
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT:
				log.Info("stopping", "signal", sig.String())
				daemon.SdNotify(false, "STOPPING=1\nSTATUS=stopping: giving the resource groups away")
				ctx, cancel := context.WithTimeout(context.Background(), node.LeaveTimeout(eff)+10*time.Second)
				err := n.Stop(ctx)
				cancel()
				if err != nil {
					return failure(err)
				}
				log.Info("stopped")
				return nil
			case syscall.SIGHUP:
				log.Warn("SIGHUP: reloading the configuration is not supported yet; restart hanode to apply changes")
			case syscall.SIGUSR1:
				level.Set(level.Level() - 4)
				log.Info("log level lowered", "level", level.Level().String())
			case syscall.SIGUSR2:
				level.Set(min(level.Level()+4, slog.LevelError))
				log.Info("log level raised", "level", level.Level().String())
			}
		}
	}
}

// notifySystemd tells systemd (Type=notify) that the node runs, and, when
// the unit has WatchdogSec, pets systemd's watchdog while the node is
// healthy. Without NOTIFY_SOCKET it does nothing. It returns a function
// that stops the watchdog pets.
func notifySystemd(n *node.Node, eff *config.Effective, log *slog.Logger) func() {
	status := fmt.Sprintf("STATUS=node %s of cluster %s, generation %d", eff.Local, eff.Cluster.Name, n.Generation())
	if sent, err := daemon.SdNotify(false, daemon.SdNotifyReady+"\n"+status); err != nil {
		log.Warn("cannot notify systemd", "err", err)
	} else if sent {
		log.Info("systemd notified: ready")
	}
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		unwell := false
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), interval/2)
			err := n.Health(ctx)
			cancel()
			if err != nil {
				if !unwell {
					log.Error("node unhealthy: not petting systemd's watchdog", "err", err)
				}
				unwell = true
				continue
			}
			unwell = false
			daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		}
	}()
	log.Info("systemd watchdog petted", "every", interval/2)
	return func() {
		close(stop)
		<-done
	}
}
