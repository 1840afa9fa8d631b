package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hanode/hanode/node"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/config/hacf"
)

// DefaultHaDir is where Heartbeat keeps its configuration.
const DefaultHaDir = "/etc/ha.d"

// configFlags are the flags that choose a configuration.
type configFlags struct {
	native string // --config
	hacf   string // --hacf
	name   string // --name
	// stateDir is check's --state-dir.
	stateDir string
}

func (f *configFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.native, "config", "", "native configuration file (protobuf text `FILE`; default "+config.DefaultNativePath+" if present)")
	c.Flags().StringVar(&f.hacf, "hacf", "", "Heartbeat configuration `DIR` holding ha.cf, haresources and authkeys (default "+DefaultHaDir+")")
	c.Flags().StringVar(&f.name, "name", "", "this node's `NAME` (default: uname -n)")
}

// load reads the configuration the flags choose: --config, --hacf, else
// the native default if it exists, else /etc/ha.d.
func (f *configFlags) load() (*config.Loaded, error) {
	switch {
	case f.native != "" && f.hacf != "":
		return nil, usagef("--config and --hacf are exclusive")
	case f.native != "":
		return config.LoadNative(f.native)
	case f.hacf != "":
		return hacf.Load(f.hacf)
	}
	if _, err := os.Stat(config.DefaultNativePath); err == nil {
		return config.LoadNative(config.DefaultNativePath)
	}
	return hacf.Load(DefaultHaDir)
}

// nodeName is --name, else the host name, in lower case as Heartbeat
// compares names.
func (f *configFlags) nodeName() (string, error) {
	if f.name != "" {
		return strings.ToLower(f.name), nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("cannot find this node's name (use --name): %w", err)
	}
	return strings.ToLower(h), nil
}

// configError turns a load or validation error into a usage error (exit
// 2), keeping its one-line-per-problem form.
func configError(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return usageError(err)
}

// resolve loads and validates the configuration for this node.
func (f *configFlags) resolve() (*config.Effective, error) {
	l, err := f.load()
	if err != nil {
		return nil, configError(err)
	}
	name, err := f.nodeName()
	if err != nil {
		return nil, usageError(err)
	}
	eff, err := config.Resolve(l, name)
	if err != nil {
		return nil, configError(err)
	}
	if _, err := node.ResolveAgents(eff); err != nil {
		return nil, configError(err)
	}
	if _, err := node.ResolveRespawn(eff); err != nil {
		return nil, configError(err)
	}
	if _, err := node.ResolveFence(eff); err != nil {
		return nil, configError(err)
	}
	return eff, nil
}
