package node

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/actors"
	"github.com/hanode/hanode/messages"
)

// TestSupervisionByKind: every kind of child has a policy; a child of each
// kind that fails is restarted (I/O actors after a backoff, the others at
// once), except a status gatherer, which is stopped; and the kinds whose
// state outlives a restart are stopped for good after a bounded number of
// failures, which the parent sees as Terminated.
func TestSupervisionByKind(t *testing.T) {
	io := map[actors.ChildKind]bool{actors.KindLink: true, actors.KindPing: true, actors.KindFenceDevice: true, actors.KindControl: true}
	for _, kind := range actors.Kinds() {
		t.Run(kind.String(), func(t *testing.T) {
			sup := supervision()
			st, ok := sup.ByKind[kind]
			if !ok {
				t.Fatalf("no policy for %v", kind)
			}
			b, backoff := st.(*actors.Backoff)
			switch {
			case io[kind] && (!backoff || b.Limit != 0):
				t.Fatalf("%v: %#v, want a backoff that never gives up", kind, st)
			case kind == actors.KindGroup && (!backoff || b.Limit == 0):
				t.Fatalf("%v: %#v, want a bounded backoff", kind, st)
			}
			sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
			directives := make(chan actor.Directive, 64)
			sys.EventStream.Subscribe(func(e any) {
				if se, ok := e.(*actor.SupervisorEvent); ok {
					directives <- se.Directive
				}
			})
			starts := make(chan struct{}, 64)
			child := actor.PropsFromFunc(func(ctx actor.Context) {
				switch ctx.Message().(type) {
				case *actor.Started:
					starts <- struct{}{}
				case string:
					panic("boom")
				}
			})
			childPID, terminated := make(chan *actor.PID, 1), make(chan struct{}, 1)
			parent := actor.PropsFromFunc(func(ctx actor.Context) {
				switch ctx.Message().(type) {
				case *actor.Started:
					pid, err := sup.Spawn(ctx, kind, child, "child")
					if err != nil {
						panic(err)
					}
					childPID <- pid
				case *actor.Terminated:
					terminated <- struct{}{}
				}
			}, actor.WithSupervisor(sup))
			p := sys.Root.Spawn(parent)
			defer func() { sys.Root.StopFuture(p).Wait() }()
			pid := <-childPID
			wait(t, starts, "first start")
			sys.Root.Send(pid, "crash")
			d := <-directives
			if kind == actors.KindStatus {
				if d != actor.StopDirective {
					t.Fatalf("status gatherer: %v, want stop", d)
				}
				wait(t, terminated, "gatherer stopped")
				return
			}
			if d != actor.RestartDirective {
				t.Fatalf("%v: %v, want restart", kind, d)
			}
			wait(t, starts, "restart")
			if io[kind] || kind == actors.KindGroup {
				// Their bound (if any) takes backoffs to reach; the
				// strategy's bound is tested in package actors.
				return
			}
			for i := 0; ; i++ {
				sys.Root.Send(pid, "crash")
				if d := <-directives; d == actor.StopDirective {
					break
				}
				if i > 20 {
					t.Fatalf("%v still restarted after %d failures", kind, i+2)
				}
				wait(t, starts, "restart")
			}
			wait(t, terminated, "child stopped for good")
		})
	}
}

func wait[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s within 5s", what)
	}
}

// TestChildStoppedForGoodFailsTheNode: once a child is stopped (as its
// supervisor does after too many failures), the node stops by itself and
// says why, so that `hanode run` exits non-zero and the peers take over.
func TestChildStoppedForGoodFailsTheNode(t *testing.T) {
	c, addrs := loopbackCluster(t, 2, "100ms", "2s")
	n := startNode(t, nodeConfig(t, c, addrs, 1), Options{})
	// A status that membership answered: it runs.
	waitStatus(t, n, 5*time.Second, "membership answering", func(s *messages.ClusterStatus) bool { return len(s.Errors) == 0 })
	pid := actor.NewPID(n.system.Address(), "node/membership")
	if err := n.system.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatalf("stop membership: %v", err)
	}
	select {
	case <-n.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("node still runs without its membership actor")
	}
	if err := n.Err(); err == nil || !strings.Contains(err.Error(), "membership actor node/membership stopped") {
		t.Fatalf("Err() = %v", err)
	}
}
