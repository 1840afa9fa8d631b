// Package node assembles a running hanode node: it reads the generation,
// builds the keyring, the membership and placement state machines and the
// group runners, resolves the resource agents, and spawns the root actor
// that supervises one actor per link, the membership, messenger and
// placement actors, one actor per resource group and per respawned
// program, and the control actor. Start and Stop are what `hanode run`
// calls; Stop hands the groups over before the last heartbeat.
//
// Supervision (the policy table, by the kind each child is spawned as, see
// supervision): I/O actors (links, pings, fencing devices, the control
// socket) restart afresh after a backoff that never gives up, so a missing
// device only shows as a dead link; actors with state that outlives their
// restarts (membership, messenger, placement, groups, respawned programs)
// and the heartbeat and watchdog actors restart a bounded number of times
// within a window, then are stopped for good. The kept state is the
// membership view, message streams, placement, each group's runner (an
// agent run in flight reports to the restarted actor) and each respawned
// process: a failure it causes repeats, and after the bound the node
// stops, `hanode run` exits non-zero, and the peers take over.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hanode/hanode/actors"
	"github.com/hanode/hanode/actors/trace"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/host/fence"
	"github.com/hanode/hanode/node/machine/events"
	"github.com/hanode/hanode/node/machine/membership"
	"github.com/hanode/hanode/node/machine/pingnodes"
	"github.com/hanode/hanode/node/machine/placement"
	"github.com/hanode/hanode/node/ops/metrics"
	"github.com/hanode/hanode/node/ops/version"
	"github.com/hanode/hanode/node/ops/web"
	"github.com/hanode/hanode/transports"
	"github.com/hanode/hanode/transports/frame"
)

// Options configure a node.
type Options struct {
	// Config is the resolved configuration; Config.Local names this node.
	// Ignored when Plan is set.
	Config *config.Effective
	// Plan, when set, is the configuration prepared to run (Prepare), as
	// `hanode run` prepares it once; nil prepares Config here.
	Plan *Plan
	// StateDir holds the generation file.
	StateDir string
	// Socket is the control socket path; empty for none (tests).
	Socket string
	// Log receives the node's log records.
	Log *slog.Logger
	// Trace, when set, receives one JSON line per message delivered to an
	// actor.
	Trace io.Writer
	// OpenMedium opens links; nil opens the real media (OpenRealMedium,
	// after CheckMedia). An in-memory network needs no root: node/sim
	// opens every link on a transports/memnet.Network; tests wrap media.
	OpenMedium OpenMedium
	// MetricsAddr, when set, serves Prometheus metrics on it (/metrics),
	// and the web view (/, /api/v1/status, /api/v1/events).
	MetricsAddr string
	// Reboot replaces the machine reboot of failfast and of a node that
	// lost quorum and could not stop its groups in time (tests); nil
	// reboots.
	Reboot func() error
	// Agents, when set, builds the resources' agents instead of resolving
	// them on disk (the whole-cluster simulation's fake agents).
	Agents AgentFactory
	// FenceDriver, when set, carries out the fencing devices' operations
	// instead of running their programs (the simulation's fake devices).
	FenceDriver func(*fence.Device) actors.FenceDriver
	// Announce, when set, replaces the gratuitous ARP of re-announced
	// addresses.
	Announce actors.Announcer
	// TunePlacement, when set, adjusts the placement machine's timings
	// (fencing retries) that the configuration does not set: the
	// simulation shortens them.
	TunePlacement func(*placement.Config)
}

// Node is a running node.
type Node struct {
	// metricsAddr is where metrics are served, nil when they are not.
	metricsAddr net.Addr
	stopMetrics context.CancelFunc
	system      *actor.ActorSystem
	pid         *actor.PID
	// control is the control actor, which answers the requests from
	// outside the actors.
	control    *actor.PID
	rt         *runtime
	generation uint64
	stopOnce   sync.Once
	haltOnce   sync.Once
}

// runtime is what the root actor needs and keeps across its restarts.
type runtime struct {
	// self is the Node, once Start has made it (the metrics collector
	// asks it).
	self       atomic.Pointer[Node]
	cfg        *config.Effective
	log        *slog.Logger
	keyring    *frame.Keyring
	generation uint64
	// info is what the node reports of itself beside its view.
	info       actors.MembershipInfo
	membership *actors.MembershipState
	messenger  *actors.MessengerState
	// inbound bounds the frames each link hands to membership.
	inbound *actors.Gates
	// delivered is how far each peer's stream is delivered: the links
	// leave out resends of what was.
	delivered *actors.DeliveredMarks
	// placement and groups are nil without resource groups; everywhere
	// are the groups' parts kept running on every node (nil when none).
	placement  *actors.PlacementState
	groups     []*actors.GroupState
	everywhere []*actors.GroupState
	respawn    []*actors.RespawnState
	// fenceDevices are the fencing devices' actors' configurations.
	fenceDevices []actors.FenceDeviceConfig
	openMedium   OpenMedium
	socket       string
	ready        chan error // first result of the control actor (its socket)
	readyOnce    sync.Once
	done         chan struct{}
	doneOnce     sync.Once
	shutdown     atomic.Bool // a clean stop was asked for
	// supervision supervises the node actor's children by their kind.
	supervision *actors.Supervision
	// events is the node's timeline.
	events *events.Log
	// metrics are the node's instruments (nil without --metrics).
	metrics *metrics.Metrics
	// tracer traces actor messages (--trace, hanode trace).
	tracer  *trace.Tracer
	failure atomic.Value
	// dispatcher runs every actor of the node on pooled goroutines.
	dispatcher *actors.Dispatcher
	// reboot resets the machine (nil: the reboot system call); resetting
	// is set once a reset was asked for: the node is then unhealthy, so
	// that a watchdog stops being petted even if the reboot fails.
	reboot    func() error
	resetting atomic.Bool
	// loopingLinks are the links on which Heartbeat would hear this node
	// itself (see LoopingLinks).
	loopingLinks map[string]bool
}

// Start brings a node up. It returns once the actors run and the control
// socket (if any) listens; an error means nothing is left running. Three
// steps: begin a new life (media, generation, leftovers, keys, plan),
// build what the actors share, and spawn them.
func Start(opts Options) (*Node, error) {
	cfg := opts.Config
	if opts.Plan != nil {
		cfg = opts.Plan.Config
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("node", cfg.Local)
	l, err := beginLife(cfg, opts, log)
	if err != nil {
		return nil, err
	}
	rt := newRuntime(cfg, opts, log, l)
	n, err := spawnNode(rt, opts)
	if err != nil {
		return nil, err
	}
	log.Info("node started", "generation", l.generation, "cluster", cfg.Cluster.Name, "nodes", cfg.Nodes, "links", linkNames(cfg),
		"keepalive", cfg.Keepalive, "deadtime", cfg.Deadtime, "warntime", cfg.Warntime, "initdead", cfg.Initdead)
	return n, nil
}

// life is what a start decides before any actor exists.
type life struct {
	generation uint64
	keyring    *frame.Keyring
	plan       *Plan
}

// beginLife checks the media, takes the next generation, ends the agent
// runs the previous life left, and prepares the keys and the plan.
func beginLife(cfg *config.Effective, opts Options, log *slog.Logger) (life, error) {
	if opts.OpenMedium == nil {
		if err := CheckMedia(cfg); err != nil {
			return life{}, err
		}
	}
	gen, genNote, err := NextGeneration(opts.StateDir, cfg.Cluster.GenerationMethod, time.Now())
	if err != nil {
		return life{}, err
	}
	if genNote != "" {
		log.Warn(genNote)
	}
	if _, err := KillLeftoverAgents(opts.StateDir, 5*time.Second, log); err != nil {
		log.Warn("cannot end the agent runs left by the previous life", "err", err)
	}
	keyring, err := frame.NewKeyring(cfg.Cluster.Auth)
	if err != nil {
		return life{}, fmt.Errorf("keys: %w", err)
	}
	plan := opts.Plan
	if plan == nil {
		if plan, err = Prepare(cfg, opts.Agents); err != nil {
			return life{}, err
		}
	}
	for _, rs := range plan.Agents {
		for _, a := range rs {
			a.UseLog(log)
		}
	}
	for _, n := range plan.Unfenceable() {
		log.Warn(UnfenceableWarning(n), "target", n)
	}
	return life{generation: gen, keyring: keyring, plan: plan}, nil
}

func linkNames(cfg *config.Effective) []string {
	links := make([]string, len(cfg.Links))
	for i, l := range cfg.Links {
		links[i] = l.Name
	}
	return links
}

// newRuntime builds what the actors of this life share and what survives
// their restarts, complete before any of them starts.
func newRuntime(cfg *config.Effective, opts Options, log *slog.Logger, l life) *runtime {
	gen := l.generation
	machine := membership.New(membership.Config{
		Cluster: cfg.Cluster.Name, Local: cfg.Local, Nodes: cfg.Nodes, Links: linkNames(cfg),
		Warntime: cfg.Warntime, Deadtime: cfg.Deadtime, Initdead: cfg.Initdead,
	}, time.Now(), gen)
	agentsByGroup, respawnSpecs, devices := l.plan.runners, l.plan.Respawn, l.plan.FenceDevices
	rt := &runtime{
		cfg:        cfg,
		log:        log,
		keyring:    l.keyring,
		generation: gen,
		openMedium: opts.OpenMedium,
		socket:     opts.Socket,
		ready:      make(chan error, 1),
		done:       make(chan struct{}),
		// Links hand frames to membership through inbound; membership
		// hands the messenger's to it through stream: bounded backlogs
		// per sender, shared by exactly those two actors.
		inbound: actors.NewGates(peers(cfg)),
		info: actors.MembershipInfo{
			Cluster: cfg.Cluster.Name, Local: cfg.Local, Version: version.Short(),
			Keepalive: cfg.Keepalive, Deadtime: cfg.Deadtime, Warntime: cfg.Warntime, Initdead: cfg.Initdead,
		},
	}
	stream := actors.NewGates(peers(cfg))
	rt.loopingLinks = LoopingLinks(cfg)
	rt.supervision = supervision()
	if rt.openMedium == nil {
		rt.openMedium = OpenRealMedium
	}
	rt.events = events.New(events.DefaultSize)
	rt.dispatcher = actors.NewDispatcher(300, 0)
	// The status collector asks the node once it exists; no scrape can come
	// before (the server starts after the node).
	if opts.MetricsAddr != "" {
		rt.metrics = metrics.New(func(ctx context.Context) (*messages.ClusterStatus, error) {
			n := rt.self.Load()
			if n == nil {
				return nil, errors.New("node starting")
			}
			return n.Status(ctx)
		})
	}
	var pings *pingnodes.Machine
	if len(cfg.Cluster.PingNodes) > 0 {
		var pns []pingnodes.Node
		for _, p := range cfg.Cluster.PingNodes {
			pns = append(pns, pingnodes.Node{Name: p.Name, Addresses: p.Addresses})
		}
		pings = pingnodes.New(cfg.Local, pns, cfg.Deadping, time.Now())
	}
	rt.membership = actors.NewMembershipState(actors.MembershipConfig{
		Info: rt.info, Machine: machine, Peers: peers(cfg), Pings: pings, Events: rt.events, Metrics: rt.metrics,
		Inbound: rt.inbound, Stream: stream,
	})
	rt.delivered = actors.NewDeliveredMarks(peers(cfg))
	rt.messenger = actors.NewMessengerState(actors.MessengerConfig{
		Local: cfg.Local, Generation: gen, Peers: peers(cfg), Reliable: ReliableConfig(cfg), Stream: stream, MaxLag: cfg.Deadtime,
		Delivered: rt.delivered,
	})
	for _, d := range devices {
		fc := actors.FenceDeviceConfig{Device: d, Metrics: rt.metrics, Log: rt.log}
		if opts.FenceDriver != nil {
			fc.Driver = opts.FenceDriver(d)
		}
		rt.fenceDevices = append(rt.fenceDevices, fc)
	}
	announcer := opts.Announce
	if announcer == nil {
		announcer = announceAddresses
	}
	rt.reboot = opts.Reboot
	rt.setupGroups(agentsByGroup, fencers(cfg, devices), announcer, newInflightAgents(opts.StateDir, log), opts.TunePlacement)
	for _, spec := range respawnSpecs {
		spec.Reboot = opts.Reboot
		rt.respawn = append(rt.respawn, actors.NewRespawnState(spec))
	}
	return rt
}

// spawnNode starts the actor system and the root actor, serves the metrics
// and waits until every actor runs.
func spawnNode(rt *runtime, opts Options) (*Node, error) {
	log := rt.log
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		// protoactor logs recoveries and dead letters at info; the node
		// logs supervision itself, so only its warnings and errors pass.
		return slog.New(levelFilter{h: log.Handler(), min: slog.LevelWarn}).With("lib", "protoactor")
	}))
	system.EventStream.Subscribe(func(evt any) {
		if e, ok := evt.(*actor.SupervisorEvent); ok {
			log.Warn("actor failed", "actor", e.Child.GetId(), "reason", fmt.Sprint(e.Reason), "directive", e.Directive.String())
		}
	})
	// The tracer is always installed, so that hanode trace can attach at
	// any time; while nobody traces it only passes messages on.
	rt.tracer = trace.New(opts.Trace)
	propsOpts := rt.tracer.PropsOptions()
	propsOpts = append(propsOpts,
		actor.WithDispatcher(rt.dispatcher),
		actor.WithSupervisor(rt.supervision),
		actor.WithGuardian(actor.NewOneForOneStrategy(3, time.Minute, actor.DefaultDecider)))
	pid, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &nodeActor{rt: rt} }, propsOpts...), "node")
	if err != nil {
		return nil, fmt.Errorf("spawn node: %w", err)
	}
	// The control actor is spawned last, so once it is ready every actor
	// runs.
	n := &Node{system: system, pid: pid, control: actor.NewPID(system.Address(), pid.Id+"/"+controlName), rt: rt, generation: rt.generation}
	rt.self.Store(n)
	if rt.metrics != nil {
		ctx, cancel := context.WithCancel(context.Background())
		// The web view beside the metrics: the page and its API read the
		// node's status and timeline.
		addr, err := rt.metrics.Serve(ctx, opts.MetricsAddr, web.New(n.Status, n.Timeline, rt.log))
		if err != nil {
			cancel()
			n.halt()
			return nil, err
		}
		n.metricsAddr, n.stopMetrics = addr, cancel
	}
	select {
	case err := <-rt.ready:
		if err != nil {
			n.halt()
			return nil, err
		}
	case <-time.After(10 * time.Second):
		n.halt()
		if rt.socket != "" {
			return nil, errors.New("control socket did not open within 10s")
		}
		return nil, errors.New("actors did not start within 10s")
	}
	return n, nil
}

// peers are the members other than this node.
func peers(cfg *config.Effective) []string {
	var out []string
	for _, n := range cfg.Nodes {
		if n != cfg.Local {
			out = append(out, n)
		}
	}
	return out
}

// supervision is the node actor's policy table for its children, by kind.
func supervision() *actors.Supervision {
	// Restarted afresh, for ever: what fails is outside (a device, a
	// network), and the node works without it meanwhile.
	io := func(initial, maxDelay time.Duration) actor.SupervisorStrategy {
		return &actors.Backoff{Initial: initial, Max: maxDelay, Reset: 30 * time.Second}
	}
	// Restarted at once, 10 times a minute at most: past that the failure
	// comes from the state the actor keeps, and the node fails so that the
	// peers take over.
	bounded := actor.NewOneForOneStrategy(10, time.Minute, actor.DefaultDecider)
	return &actors.Supervision{ByKind: map[actors.ChildKind]actor.SupervisorStrategy{
		actors.KindLink:        io(100*time.Millisecond, 10*time.Second),
		actors.KindPing:        io(100*time.Millisecond, 10*time.Second),
		actors.KindFenceDevice: io(100*time.Millisecond, 10*time.Second),
		actors.KindControl:     io(200*time.Millisecond, 5*time.Second),
		actors.KindWatchdog:    bounded,
		actors.KindMembership:  bounded,
		actors.KindMessenger:   bounded,
		actors.KindPlacement:   bounded,
		actors.KindRespawn:     bounded,
		actors.KindHeartbeat:   bounded,
		// A group's agents may fail for a while (a slow disk): after a
		// backoff, but 10 times in two minutes at most.
		actors.KindGroup: &actors.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Reset: 30 * time.Second,
			Limit: 10, Window: 2 * time.Minute},
		// A status gatherer that fails answers nothing; the asker times out.
		actors.KindStatus: actors.Stop,
	}}
}

// Generation is this node's generation number.
func (n *Node) Generation() uint64 { return n.generation }

// Done is closed when the node has stopped, cleanly or not.
func (n *Node) Done() <-chan struct{} { return n.rt.done }

// Err says why the node stopped by itself; nil after a clean Stop or while
// it runs.
func (n *Node) Err() error {
	if v := n.rt.failure.Load(); v != nil {
		return v.(error)
	}
	return nil
}

// Status returns the node's view of the cluster.
func (n *Node) Status(ctx context.Context) (*messages.ClusterStatus, error) {
	res, err := n.request(ctx, &actors.StatusQuery{})
	if err != nil {
		return nil, err
	}
	s, ok := res.(*messages.ClusterStatus)
	if !ok {
		return nil, fmt.Errorf("unexpected answer %T", res)
	}
	return s, nil
}

// request asks the control actor, which answers or passes q on to the
// actor that does.
func (n *Node) request(ctx context.Context, q any) (any, error) { return n.ask(ctx, n.control, q) }

// ask sends q to pid and waits for the answer.
func (n *Node) ask(ctx context.Context, pid *actor.PID, q any) (any, error) {
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	return n.system.Root.RequestFuture(pid, q, timeout).Result()
}

// Timeline returns the latest limit events of the node's timeline (all
// kept when 0), oldest first.
func (n *Node) Timeline(limit int) []*messages.ClusterEvent { return n.rt.events.List(limit) }

// Placement asks for hanode standby (takeover false) or takeover of the
// selected groups; it returns their names.
func (n *Node) Placement(ctx context.Context, takeover bool, selection placement.Selection) ([]string, error) {
	res, err := n.request(ctx, &actors.PlacementCommand{Takeover: takeover, Selection: selection})
	if err != nil {
		return nil, err
	}
	r, ok := res.(*messages.PlacementResponse)
	if !ok {
		return nil, fmt.Errorf("unexpected answer %T", res)
	}
	return r.Groups, nil
}

// Events returns a channel that receives every membership event from now
// on, and a function that ends the subscription. Events that do not fit
// in the buffer are dropped, never blocking the node.
func (n *Node) Events(buffer int) (<-chan *messages.MembershipEvent, func()) {
	ch := make(chan *messages.MembershipEvent, buffer)
	pid := n.system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if ev, ok := ctx.Message().(*messages.MembershipEvent); ok {
			select {
			case ch <- ev:
			default:
			}
		}
	}))
	// Through the control actor, so the subscription is in place once this
	// returns. Membership watches the subscriber and forgets it once it
	// stops.
	n.request(context.Background(), &actors.Subscribe{PID: pid})
	return ch, func() { n.system.Root.Stop(pid) }
}

// Stop announces a clean shutdown to the peers (one last heartbeat saying
// DEAD on every link), stops every actor and waits for them.
func (n *Node) Stop(ctx context.Context) error {
	var err error
	n.stopOnce.Do(func() {
		n.rt.shutdown.Store(true)
		if _, e := n.ask(ctx, n.pid, &actors.Shutdown{Timeout: LeaveTimeout(n.rt.cfg)}); e != nil {
			err = fmt.Errorf("announce shutdown: %w", e)
		}
		n.halt()
	})
	return err
}

// Health says whether the node works: its keepalive ticks, its heartbeats
// leave on some link, and its membership actor answers (what the watchdog
// and systemd's watchdog are petted on).
func (n *Node) Health(ctx context.Context) error {
	res, err := n.ask(ctx, n.pid, &actors.HealthQuery{})
	if err != nil {
		return fmt.Errorf("node did not answer: %w", err)
	}
	h, ok := res.(*actors.Health)
	if !ok {
		return fmt.Errorf("unexpected answer %T", res)
	}
	if !h.OK {
		return errors.New(h.Reason)
	}
	return nil
}

// MetricsAddr is where metrics are served, nil when they are not.
func (n *Node) MetricsAddr() net.Addr { return n.metricsAddr }

// Halt stops every actor at once without a word to the peers, as a crash
// of the process would: they declare this node dead after deadtime, and
// resources it runs keep running. For tests and the simulation.
func (n *Node) Halt() { n.halt() }

// halt stops the actors without announcing anything.
func (n *Node) halt() {
	n.haltOnce.Do(func() {
		if n.stopMetrics != nil {
			n.stopMetrics()
		}
		n.rt.shutdown.Store(true)
		if e := n.system.Root.PoisonFuture(n.pid).Wait(); e != nil {
			n.rt.log.Warn("node actor did not stop cleanly", "err", e)
		}
		n.rt.finish()
		n.system.Shutdown()
	})
}

func (rt *runtime) finish() { rt.doneOnce.Do(func() { close(rt.done) }) }

// nodeActor is the root actor: it spawns the children, each as its kind
// (rt.supervision supervises them by it), fails the node when one is
// stopped for good, orders a clean shutdown and resets the machine, and
// judges health (which a reset under way fails). The requests from
// outside (control socket, Node's methods) go to the control actor, which
// it spawns last with the children it needs.
type nodeActor struct {
	rt         *runtime
	membership *actor.PID
	messenger  *actor.PID
	placement  *actor.PID
	heartbeat  *actor.PID
	// fenceDevices are the fencing devices' actors, in configuration
	// order.
	fenceDevices []actors.FenceDeviceSource
	// everywhere are the actors of the groups' parts kept on every node.
	everywhere []*actor.PID
	stopping   bool
}

// actorName makes a link name usable in an actor id.
var unsafeActorName = regexp.MustCompile(`[^A-Za-z0-9_.:-]`)

func (a *nodeActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *actor.Restarting, *actor.Stopping:
		a.stopping = true
	case *actor.Stopped:
		a.rt.finish()
	case *actor.Terminated:
		a.terminated(ctx, m.Who)
	case *actors.Shutdown:
		a.shutdown(ctx, m.Timeout)
	case *actors.ResetNode:
		a.reset(m.Reason)
	case *actors.HealthQuery:
		if a.rt.resetting.Load() {
			ctx.Respond(&actors.Health{Reason: "resetting: lost quorum and could not stop its groups in time"})
			return
		}
		ctx.Forward(a.heartbeat)
	}
}

// terminated handles the end of a child: a status gatherer ends when it
// has answered; any other child was stopped for good by its supervisor,
// and this node can no longer do its job. It stops, so that the service
// manager restarts it and, meanwhile, the peers take its groups over.
func (a *nodeActor) terminated(ctx actor.Context, who *actor.PID) {
	kind := a.rt.supervision.Kind(who)
	if kind == actors.KindStatus {
		a.rt.supervision.Forget(who)
		return
	}
	if a.stopping || a.rt.shutdown.Load() {
		return
	}
	err := fmt.Errorf("%v actor %s stopped after repeated failures", kind, who.GetId())
	a.rt.failure.CompareAndSwap(nil, err)
	a.rt.log.Error("node failing", "err", err)
	ctx.Stop(ctx.Self())
}

// shutdown gives the groups away first, right to left, and lets the peers
// take them over; then it stops what every node keeps running (the
// groups' parts kept everywhere), says goodbye (the heartbeat actor's
// last heartbeat, DEAD) and answers ShutdownDone.
func (a *nodeActor) shutdown(ctx actor.Context, timeout time.Duration) {
	asker := ctx.Sender()
	goodbye := func() {
		f := ctx.RequestFuture(a.heartbeat, &actors.Depart{}, 2*time.Second)
		ctx.ReenterAfter(f, func(_ any, err error) {
			if err != nil {
				a.rt.log.Warn("last heartbeat not confirmed sent", "err", err)
			}
			if asker != nil {
				ctx.Send(asker, &actors.ShutdownDone{})
			}
		})
	}
	depart := func() { a.retire(ctx, retireTimeout(a.rt.cfg), goodbye) }
	if a.placement == nil {
		depart()
		return
	}
	f := ctx.RequestFuture(a.placement, &actors.Leave{}, timeout)
	ctx.ReenterAfter(f, func(_ any, err error) {
		if err != nil {
			a.rt.log.Warn("groups not all stopped before shutdown", "err", err)
		}
		depart()
	})
}

// reset resets the machine at once: this node lost quorum and could not
// stop its groups within their stop budget, after which the majority runs
// them. As sbd does, a reset ends them for sure.
func (a *nodeActor) reset(reason string) {
	if !a.rt.resetting.CompareAndSwap(false, true) {
		return
	}
	a.rt.log.Error("resetting this machine: it lost quorum and could not stop its groups in time", "reason", reason)
	a.rt.events.Add(&messages.ClusterEvent{Time: timestamppb.Now(), Kind: messages.EventKind_EVENT_KIND_QUORUM, Node: a.rt.cfg.Local,
		Summary: "resetting " + a.rt.cfg.Local + ": " + reason})
	reboot, log := a.rt.reboot, a.rt.log
	if reboot == nil {
		reboot = actors.RebootMachine
	}
	go func() {
		if err := reboot(); err != nil {
			log.Error("reset failed: only the watchdog, if any, can reset this machine now", "err", err)
		}
	}()
}

// startWatchdog spawns the watchdog actor when one is configured.
func (a *nodeActor) startWatchdog(ctx actor.Context) {
	w := a.rt.cfg.Cluster.GetWatchdog()
	if w.GetDevice() == "" {
		return
	}
	a.spawn(ctx, actors.KindWatchdog, actors.NewWatchdog(actors.WatchdogConfig{
		Device: w.Device, Interval: a.rt.cfg.Keepalive, Timeout: a.rt.cfg.Deadtime, Node: ctx.Self(), Log: a.rt.log,
	}), "watchdog")
}

// startPings spawns one actor per ping node.
func (a *nodeActor) startPings(ctx actor.Context) {
	for _, p := range a.rt.cfg.PingNodes {
		// Parsed and checked by config.Resolve.
		addrs := p.Addresses
		a.spawn(ctx, actors.KindPing, actors.NewPing(actors.PingConfig{
			Name: p.Name, Addresses: addrs, Interval: a.rt.cfg.Keepalive, Membership: a.membership, Log: a.rt.log,
		}), "ping-"+unsafeActorName.ReplaceAllString(p.Name, "_"))
	}
}

func (a *nodeActor) start(ctx actor.Context) {
	rt := a.rt
	a.stopping = false
	a.messenger = a.spawn(ctx, actors.KindMessenger, actors.NewMessenger(rt.messenger, rt.log), "messenger")
	a.membership = a.spawn(ctx, actors.KindMembership, actors.NewMembership(rt.membership, a.messenger, rt.log), "membership")
	ctx.Send(a.membership, &actors.Subscribe{PID: a.messenger})
	// Every subscriber of membership and the messenger is subscribed
	// before any link opens: a frame heard earlier would publish a peer's
	// arrival, or deliver its join handshake, to nobody, and the
	// handshake would never be answered (the peers then wait for each
	// other's state forever and nobody claims).
	a.startFenceDevices(ctx)
	a.startGroups(ctx)
	var links []*actor.PID
	for _, spec := range rt.cfg.Links {
		spec := spec
		open := func(deliver transports.Deliver, readErr transports.ReadError) (transports.Link, error) {
			return rt.openMedium(spec, deliver, readErr)
		}
		links = append(links, a.spawn(ctx, actors.KindLink, actors.NewLink(actors.LinkConfig{
			Name: spec.Name, Open: open, Keyring: rt.keyring, Local: rt.cfg.Local, Membership: a.membership, Log: rt.log, Metrics: rt.metrics,
			Inbound: rt.inbound, Coalesce: actors.ReadCoalesce(float64(len(rt.cfg.Nodes)-1)/rt.cfg.Keepalive.Seconds(), rt.cfg.Keepalive, rt.cfg.Deadtime),
			ShedAfter:       actors.ShedAfter(rt.cfg.Keepalive, rt.cfg.Deadtime),
			RepairShedAfter: actors.RepairShedAfter(rt.cfg.Deadtime, rt.cfg.MaxRexmitDelay),
			DeepLag:         actors.DeepLag(rt.cfg.Deadtime),
			Delivered:       rt.delivered,
		}), "link-"+unsafeActorName.ReplaceAllString(spec.Name, "_")))
	}
	// The heartbeat actor carries this node's frames: heartbeats, and the
	// cluster messages the messenger held until it is known.
	a.heartbeat = a.spawn(ctx, actors.KindHeartbeat, actors.NewHeartbeat(actors.HeartbeatConfig{
		Cluster: rt.cfg.Cluster.Name, Local: rt.cfg.Local, Generation: rt.generation,
		Keepalive: rt.cfg.Keepalive, Deadtime: rt.cfg.Deadtime, Keyring: rt.keyring,
		Links: links, Membership: a.membership, Messenger: a.messenger, Log: rt.log, Metrics: rt.metrics,
		MaxSessions: HeartbeatSessions(rt.cfg), NowSpacing: HeartbeatNowSpacing(len(rt.cfg.Nodes), rt.cfg.Keepalive),
	}), "heartbeat")
	ctx.Send(a.membership, &actors.WatchHeartbeat{PID: a.heartbeat})
	ctx.Send(a.messenger, &actors.WatchHeartbeat{PID: a.heartbeat})
	a.startRespawn(ctx)
	a.startPings(ctx)
	a.startWatchdog(ctx)
	a.startControl(ctx)
}

// controlName names the control actor under the node actor.
const controlName = "control"

// startControl spawns the control actor, last: it is given the children
// that answer requests from outside, and the node's read-only data. It
// runs without a socket too (Node's methods ask it).
func (a *nodeActor) startControl(ctx actor.Context) {
	rt := a.rt
	a.spawn(ctx, actors.KindControl, actors.NewControl(actors.ControlConfig{
		Socket: rt.socket, Log: rt.log, Tracer: rt.tracer,
		Ready:      func(err error) { rt.readyOnce.Do(func() { rt.ready <- err }) },
		Membership: a.membership, Messenger: a.messenger, Placement: a.placement,
		Status: a.statusSources(), Gatherer: []actor.PropsOption{actor.WithDispatcher(rt.dispatcher)},
		Events: rt.events, Parameters: rt.cfg.Parameters,
	}), controlName, actor.WithSupervisor(actors.Stop))
}

// spawn starts a child of the node actor of the given kind, on the node's
// pool of goroutines; an empty name lets the actor system name it.
// Further options (the child's own supervisor) may be given.
func (a *nodeActor) spawn(ctx actor.Context, kind actors.ChildKind, p actor.Producer, name string, opts ...actor.PropsOption) *actor.PID {
	opts = append([]actor.PropsOption{actor.WithDispatcher(a.rt.dispatcher)}, opts...)
	pid, err := a.rt.supervision.Spawn(ctx, kind, actor.PropsFromProducer(p, opts...), name)
	if err != nil {
		// Names are unique and kinds supervised by construction; a
		// failure is a bug.
		panic(fmt.Errorf("spawn %s: %w", name, err))
	}
	return pid
}

// statusTimeline is how many timeline events a status carries.
const statusTimeline = 20

// statusSources are what a status gatherer asks and adds.
func (a *nodeActor) statusSources() actors.StatusSources {
	rt := a.rt
	return actors.StatusSources{
		Membership: a.membership, Messenger: a.messenger, Heartbeat: a.heartbeat, Placement: a.placement,
		Info: rt.info, Generation: rt.generation, Timeout: 2 * time.Second,
		FenceDevices: a.fenceDevices,
		Finish: func(s *messages.ClusterStatus) {
			s.Timeline = rt.events.List(statusTimeline)
			markLoopingLinks(s, rt.loopingLinks)
		},
	}
}

// levelFilter drops records below min, whatever the wrapped handler
// accepts.
type levelFilter struct {
	h   slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.h.Enabled(ctx, l)
}
func (f levelFilter) Handle(ctx context.Context, r slog.Record) error { return f.h.Handle(ctx, r) }
func (f levelFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFilter{h: f.h.WithAttrs(as), min: f.min}
}
func (f levelFilter) WithGroup(g string) slog.Handler {
	return levelFilter{h: f.h.WithGroup(g), min: f.min}
}
