package node

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/actors"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/host/agents"
)

// ResolveRespawn checks every respawn program (its user exists, its file
// is executable) and builds what its actor needs. Errors name the line
// that configured it.
func ResolveRespawn(cfg *config.Effective) ([]actors.RespawnSpec, error) {
	var errs []error
	var out []actors.RespawnSpec
	dirs := agents.Dirs{HaDir: cfg.AgentDirs.GetHaDir(), InitD: cfg.AgentDirs.GetInitD(), OCFRoot: cfg.AgentDirs.GetOcfRoot()}
	env := agents.Env{Local: cfg.Local}.Vars(dirs)
	names := make([]string, 0, len(cfg.Cluster.Env))
	for k := range cfg.Cluster.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		env = append(env, k+"="+cfg.Cluster.Env[k])
	}
	for i, r := range cfg.Respawn {
		spec := actors.RespawnSpec{Name: fmt.Sprintf("%d:%s", i+1, filepath.Base(r.Path)), Path: r.Path, Args: r.Args, Env: env, Failfast: r.Failfast}
		u, err := user.Lookup(r.User)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: respawn: no user %q", r.Where, r.User))
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if uid != os.Getuid() {
			if os.Getuid() != 0 {
				errs = append(errs, fmt.Errorf("%s: respawn: running %s as %s needs root", r.Where, r.Path, r.User))
				continue
			}
			spec.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		}
		if st, err := os.Stat(r.Path); err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("%s: respawn: %s is not an executable file", r.Where, r.Path))
			continue
		}
		out = append(out, spec)
	}
	return out, errors.Join(errs...)
}

// startRespawn spawns one actor per respawn program.
func (a *nodeActor) startRespawn(ctx actor.Context) {
	for i, st := range a.rt.respawn {
		a.spawn(ctx, actors.KindRespawn, actors.NewRespawn(st, a.rt.log), fmt.Sprintf("respawn-%d", i+1))
	}
}
