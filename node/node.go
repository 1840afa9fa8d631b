// Package node assembles a running hanode node: it reads the generation,
// builds the keyring, the membership and placement state machines and the
// group runners, resolves the resource agents, and spawns the root actor
// that supervises one actor per link, the membership, messenger and
// placement actors, one actor per resource group and per respawned
// program, and the control actor. Start and Stop are what `hanode run`
// calls; Stop hands the groups over before the last heartbeat.
//
// Supervision (the policy table): links restart after a backoff that
// doubles from 100ms to 10s and never give up, so a missing device only
// shows as a dead link; the control socket restarts after 200ms..5s, group
// actors after 100ms..5s; the others restart at once, up to 10 times a
// minute. Every actor keeps its state across restarts because it lives in
// the node, not in the actor: the membership view, message streams,
// placement, each group's runner (an agent run in flight reports to the
// restarted actor) and each respawned process. If a child is
// stopped for good, the node stops and `hanode run` exits non-zero, so that
// systemd restarts it.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
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
	"github.com/hanode/hanode/node/events"
	"github.com/hanode/hanode/node/fence"
	"github.com/hanode/hanode/node/logging"
	"github.com/hanode/hanode/node/membership"
	"github.com/hanode/hanode/node/metrics"
	"github.com/hanode/hanode/node/pingnodes"
	"github.com/hanode/hanode/node/placement"
	"github.com/hanode/hanode/node/version"
	"github.com/hanode/hanode/transports"
	"github.com/hanode/hanode/transports/frame"
)

// OpenMedium opens the medium of a configured link.
type OpenMedium func(spec config.LinkSpec, deliver transports.Deliver, readErr transports.ReadError) (transports.Link, error)

// Options configure a node.
type Options struct {
	// Config is the resolved configuration; Config.Local names this node.
	Config *config.Effective
	// StateDir holds the generation file.
	StateDir string
	// Socket is the control socket path; empty for none (tests).
	Socket string
	// Log receives the node's log records.
	Log *slog.Logger
	// Trace, when set, receives one JSON line per message delivered to an
	// actor.
	Trace io.Writer
	// OpenMedium opens links; nil opens the real media. Tests use it to
	// wrap media.
	OpenMedium OpenMedium
	// MetricsAddr, when set, serves Prometheus metrics on it (/metrics).
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
	rt          *runtime
	generation  uint64
	stopOnce    sync.Once
	haltOnce    sync.Once
}

// runtime is what the root actor needs and keeps across its restarts.
type runtime struct {
	cfg     *config.Effective
	log     *slog.Logger
	keyring *frame.Keyring
	// sealLog limits the lines about frames that cannot be sealed.
	sealLog    *logging.Limiter
	generation uint64
	seq        atomic.Uint64
	membership *actors.MembershipState
	messenger  *actors.MessengerState
	// placement and groups are nil without resource groups.
	placement *actors.PlacementState
	groups    []*actors.GroupState
	respawn   []*actors.RespawnState
	// fenceDevices are the fencing devices and their last checks.
	fenceDevices []*actors.FenceDeviceState
	openMedium   OpenMedium
	socket       string
	ready        chan error // first result of the control socket
	readyOnce    sync.Once
	done         chan struct{}
	doneOnce     sync.Once
	shutdown     atomic.Bool // a clean stop was asked for
	// lastSent is when a frame last left on any link (unix nanoseconds).
	lastSent atomic.Int64
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
// socket (if any) listens; an error means nothing is left running.
func Start(opts Options) (*Node, error) {
	cfg := opts.Config
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("node", cfg.Local)
	if opts.OpenMedium == nil {
		if err := CheckMedia(cfg); err != nil {
			return nil, err
		}
	}
	gen, genNote, err := NextGeneration(opts.StateDir, cfg.Cluster.GenerationMethod, time.Now())
	if err != nil {
		return nil, err
	}
	if genNote != "" {
		log.Warn(genNote)
	}
	if _, err := KillLeftoverAgents(opts.StateDir, 5*time.Second, log); err != nil {
		log.Warn("cannot end the agent runs left by the previous life", "err", err)
	}
	keyring, err := frame.NewKeyring(cfg.Cluster.Auth)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	links := make([]string, len(cfg.Links))
	for i, l := range cfg.Links {
		links[i] = l.Name
	}
	machine := membership.New(membership.Config{
		Local: cfg.Local, Nodes: cfg.Nodes, Links: links,
		Warntime: cfg.Warntime, Deadtime: cfg.Deadtime, Initdead: cfg.Initdead,
	}, time.Now(), gen)
	agentsByGroup, err := groupAgents(cfg, opts.Agents)
	if err != nil {
		return nil, err
	}
	respawnSpecs, err := ResolveRespawn(cfg)
	if err != nil {
		return nil, err
	}
	devices, err := ResolveFence(cfg)
	if err != nil {
		return nil, err
	}
	if err := CheckMessageSizes(cfg); err != nil {
		return nil, err
	}
	for _, n := range Unfenceable(cfg, devices) {
		log.Warn(UnfenceableWarning(n), "target", n)
	}
	rt := &runtime{
		sealLog:    logging.NewLimiter(10 * time.Second),
		cfg:        cfg,
		log:        log,
		keyring:    keyring,
		generation: gen,
		membership: actors.NewMembershipState(actors.MembershipInfo{
			Cluster: cfg.Cluster.Name, Local: cfg.Local, Version: version.Short(),
			Keepalive: cfg.Keepalive, Deadtime: cfg.Deadtime, Warntime: cfg.Warntime, Initdead: cfg.Initdead,
		}, machine, peers(cfg)),
		messenger:  actors.NewMessengerState(cfg.Local, gen, peers(cfg), ReliableConfig(cfg)),
		openMedium: opts.OpenMedium,
		socket:     opts.Socket,
		ready:      make(chan error, 1),
		done:       make(chan struct{}),
	}
	rt.loopingLinks = LoopingLinks(cfg)
	if rt.openMedium == nil {
		rt.openMedium = OpenRealMedium
	}
	// Membership marks where this node's message stream starts for each
	// newly heard peer generation: the messenger's count at that moment.
	rt.membership.OutboxLast = rt.messenger.OutboxLast
	rt.messenger.Stream = rt.membership.Stream
	rt.events = events.New(events.DefaultSize)
	rt.dispatcher = actors.NewDispatcher(300, 0)
	rt.membership.Events = rt.events
	// The status collector asks the node once it exists; no scrape can come
	// before (the server starts after the node).
	var self atomic.Pointer[Node]
	if opts.MetricsAddr != "" {
		rt.metrics = metrics.New(func(ctx context.Context) (*messages.ClusterStatus, error) {
			n := self.Load()
			if n == nil {
				return nil, errors.New("node starting")
			}
			return n.Status(ctx)
		})
		rt.membership.Metrics = rt.metrics
	}
	if len(cfg.Cluster.PingNodes) > 0 {
		var pns []pingnodes.Node
		for _, p := range cfg.Cluster.PingNodes {
			pns = append(pns, pingnodes.Node{Name: p.Name, Addresses: p.Addresses})
		}
		rt.membership.Pings = pingnodes.New(cfg.Local, pns, cfg.Deadping, time.Now())
	}
	for _, d := range devices {
		st := actors.NewFenceDeviceState(d)
		st.Metrics = rt.metrics
		if opts.FenceDriver != nil {
			st.Driver = opts.FenceDriver(d)
		}
		rt.fenceDevices = append(rt.fenceDevices, st)
	}
	announcer := opts.Announce
	if announcer == nil {
		announcer = announceAddresses
	}
	rt.reboot = opts.Reboot
	rt.setupGroups(agentsByGroup, fencers(cfg, devices), announcer, opts.TunePlacement)
	inflight := newInflightAgents(opts.StateDir, log)
	for _, g := range rt.groups {
		g.Watcher = inflight
	}
	for _, spec := range respawnSpecs {
		spec.Reboot = opts.Reboot
		rt.respawn = append(rt.respawn, actors.NewRespawnState(spec))
	}
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
		actor.WithSupervisor(supervision()),
		actor.WithGuardian(actor.NewOneForOneStrategy(3, time.Minute, actor.DefaultDecider)))
	pid, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &nodeActor{rt: rt} }, propsOpts...), "node")
	if err != nil {
		return nil, fmt.Errorf("spawn node: %w", err)
	}
	n := &Node{system: system, pid: pid, rt: rt, generation: gen}
	self.Store(n)
	if rt.metrics != nil {
		ctx, cancel := context.WithCancel(context.Background())
		addr, err := rt.metrics.Serve(ctx, opts.MetricsAddr)
		if err != nil {
			cancel()
			n.halt()
			return nil, err
		}
		n.metricsAddr, n.stopMetrics = addr, cancel
	}
	if rt.socket != "" {
		select {
		case err := <-rt.ready:
			if err != nil {
				n.halt()
				return nil, err
			}
		case <-time.After(10 * time.Second):
			n.halt()
			return nil, errors.New("control socket did not open within 10s")
		}
	}
	log.Info("node started", "generation", gen, "cluster", cfg.Cluster.Name, "nodes", cfg.Nodes, "links", links,
		"keepalive", cfg.Keepalive, "deadtime", cfg.Deadtime, "warntime", cfg.Warntime, "initdead", cfg.Initdead)
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

// supervision is the node actor's policy table for its children.
func supervision() actor.SupervisorStrategy {
	return &actors.Policy{
		ByName: map[string]actor.SupervisorStrategy{
			"link":    &actors.Backoff{Initial: 100 * time.Millisecond, Max: 10 * time.Second, Reset: 30 * time.Second},
			"control": &actors.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second, Reset: 30 * time.Second},
			"group":   &actors.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Reset: 30 * time.Second},
			"ping":    &actors.Backoff{Initial: 100 * time.Millisecond, Max: 10 * time.Second, Reset: 30 * time.Second},
		},
		Default: actor.NewOneForOneStrategy(10, time.Minute, actor.DefaultDecider),
	}
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

func (n *Node) request(ctx context.Context, q any) (any, error) {
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	return n.system.Root.RequestFuture(n.pid, q, timeout).Result()
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
// on. Events that do not fit in the buffer are dropped, never blocking the
// node.
func (n *Node) Events(buffer int) <-chan *messages.MembershipEvent {
	ch := make(chan *messages.MembershipEvent, buffer)
	pid := n.system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if ev, ok := ctx.Message().(*messages.MembershipEvent); ok {
			select {
			case ch <- ev:
			default:
			}
		}
	}))
	// Through the node actor, so the subscription is in place once this
	// returns.
	n.request(context.Background(), &actors.Subscribe{PID: pid})
	return ch
}

// Stop announces a clean shutdown to the peers (one last heartbeat saying
// DEAD on every link), stops every actor and waits for them.
func (n *Node) Stop(ctx context.Context) error {
	var err error
	n.stopOnce.Do(func() {
		n.rt.shutdown.Store(true)
		if _, e := n.request(ctx, &actors.Shutdown{Timeout: LeaveTimeout(n.rt.cfg)}); e != nil {
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
	res, err := n.request(ctx, &actors.HealthQuery{})
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

// nodeActor is the root actor: it spawns and supervises the children and
// sends a heartbeat on every link each keepalive.
type nodeActor struct {
	rt         *runtime
	links      []*actor.PID
	membership *actor.PID
	messenger  *actor.PID
	placement  *actor.PID
	control    *actor.PID
	ticker     *actors.Ticker
	stopping   bool
	// departed is set once the last heartbeat (DEAD) is sent: nothing may
	// follow it, or the peers would take this node for one that returned.
	departed bool
	// lastTick is when the keepalive ticker last fired (health).
	lastTick time.Time
}

// keepaliveTick is sent by the ticker every keepalive.
type keepaliveTick struct{}

// actorName makes a link name usable in an actor id.
var unsafeActorName = regexp.MustCompile(`[^A-Za-z0-9_.:-]`)

func (a *nodeActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *actor.Restarting, *actor.Stopping:
		a.stopping = true
		a.ticker.Stop()
	case *actor.Stopped:
		a.rt.finish()
	case *keepaliveTick:
		a.lastTick = time.Now()
		a.heartbeat(ctx, messages.NodeStatus_NODE_STATUS_ACTIVE, false)
	case *actors.HeartbeatNow:
		if !a.stopping && !a.rt.shutdown.Load() {
			a.heartbeat(ctx, messages.NodeStatus_NODE_STATUS_ACTIVE, false)
		}
	case *actors.HealthQuery:
		a.health(ctx)
	case *actors.StatusQuery:
		a.status(ctx)
	case *actors.Subscribe:
		ctx.Forward(a.membership)
	case *actors.SendNote, *actors.NotesQuery:
		ctx.Forward(a.messenger)
	case *actors.ConfirmFenced:
		if a.placement == nil {
			ctx.Respond(&messages.ConfirmFencedResponse{})
			return
		}
		ctx.Forward(a.placement)
	case *actors.PlacementCommand:
		if a.placement == nil {
			ctx.Respond(&messages.PlacementResponse{})
			return
		}
		ctx.Forward(a.placement)
	case *actors.Broadcast:
		a.send(ctx, m.Envelope, false)
	case *actors.ResetNode:
		a.reset(m.Reason)
	case *actors.EventsQuery:
		ctx.Respond(&messages.EventsResponse{Events: a.rt.events.List(m.Limit)})
	case *actors.ParameterQuery:
		v, ok := a.rt.cfg.Parameters[m.Name]
		ctx.Respond(&messages.ParameterResponse{Name: m.Name, Value: v, Set: ok})
	case *actors.Shutdown:
		if a.placement == nil {
			a.announceDeath(ctx, ctx.Sender())
			return
		}
		// Give the groups away first, right to left, and let the peers
		// take them over; then say goodbye.
		asker := ctx.Sender()
		f := ctx.RequestFuture(a.placement, &actors.Leave{}, m.Timeout)
		ctx.ReenterAfter(f, func(_ any, err error) {
			if err != nil {
				a.rt.log.Warn("groups not all stopped before shutdown", "err", err)
			}
			a.announceDeath(ctx, asker)
		})
	case *actor.Terminated:
		if a.stopping || a.rt.shutdown.Load() {
			return
		}
		// A child was stopped for good by its supervisor: this node can no
		// longer do its job. Stop, so that the service manager restarts us.
		err := fmt.Errorf("actor %s stopped after repeated failures", m.Who.GetId())
		a.rt.failure.CompareAndSwap(nil, err)
		a.rt.log.Error("node failing", "err", err)
		ctx.Stop(ctx.Self())
	}
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

// health answers whether the node works: its keepalive ticks, its
// heartbeats leave on at least one link, and the membership actor answers.
func (a *nodeActor) health(ctx actor.Context) {
	if a.rt.resetting.Load() {
		ctx.Respond(&actors.Health{Reason: "resetting: lost quorum and could not stop its groups in time"})
		return
	}
	keepalive := a.rt.cfg.Keepalive
	if since := time.Since(a.lastTick); since > 3*keepalive {
		ctx.Respond(&actors.Health{Reason: fmt.Sprintf("no keepalive tick for %v", since.Round(time.Millisecond))})
		return
	}
	if since := time.Since(time.Unix(0, a.rt.lastSent.Load())); since > 3*keepalive {
		ctx.Respond(&actors.Health{Reason: fmt.Sprintf("no heartbeat sent on any link for %v", since.Round(time.Millisecond))})
		return
	}
	asker := ctx.Sender()
	f := ctx.RequestFuture(a.membership, &actors.HealthQuery{}, keepalive)
	ctx.ReenterAfter(f, func(res any, err error) {
		if h, ok := res.(*actors.Health); ok && err == nil {
			ctx.Send(asker, h)
			return
		}
		ctx.Send(asker, &actors.Health{Reason: fmt.Sprintf("membership actor did not answer: %v", err)})
	})
}

// startWatchdog spawns the watchdog actor when one is configured.
func (a *nodeActor) startWatchdog(ctx actor.Context) {
	w := a.rt.cfg.Cluster.GetWatchdog()
	if w.GetDevice() == "" {
		return
	}
	a.spawn(ctx, actors.NewWatchdog(actors.WatchdogConfig{
		Device: w.Device, Interval: a.rt.cfg.Keepalive, Timeout: a.rt.cfg.Deadtime, Node: ctx.Self(), Log: a.rt.log,
	}), "watchdog")
}

// startPings spawns one actor per ping node.
func (a *nodeActor) startPings(ctx actor.Context) {
	for _, p := range a.rt.cfg.Cluster.PingNodes {
		var addrs []netip.Addr
		for _, s := range p.Addresses {
			if ip, err := netip.ParseAddr(s); err == nil {
				addrs = append(addrs, ip)
			}
		}
		a.spawn(ctx, actors.NewPing(actors.PingConfig{
			Name: p.Name, Addresses: addrs, Interval: a.rt.cfg.Keepalive, Membership: a.membership, Log: a.rt.log,
		}), "ping-"+unsafeActorName.ReplaceAllString(p.Name, "_"))
	}
}

// announceDeath sends the last heartbeat, saying DEAD, and answers asker.
func (a *nodeActor) announceDeath(ctx actor.Context, asker *actor.PID) {
	a.ticker.Stop()
	a.heartbeat(ctx, messages.NodeStatus_NODE_STATUS_DEAD, true)
	a.departed = true
	if asker != nil {
		ctx.Send(asker, &actors.ShutdownDone{})
	}
}

func (a *nodeActor) start(ctx actor.Context) {
	rt := a.rt
	a.stopping = false
	a.messenger = a.spawn(ctx, actors.NewMessenger(rt.messenger, rt.log), "messenger")
	a.membership = a.spawn(ctx, actors.NewMembership(rt.membership, a.messenger, rt.log), "membership")
	ctx.Send(a.membership, &actors.Subscribe{PID: a.messenger})
	a.startFenceDevices(ctx)
	a.startGroups(ctx)
	a.startRespawn(ctx)
	a.startPings(ctx)
	a.startWatchdog(ctx)
	a.links = a.links[:0]
	for _, spec := range rt.cfg.Links {
		spec := spec
		open := func(deliver transports.Deliver, readErr transports.ReadError) (transports.Link, error) {
			return rt.openMedium(spec, deliver, readErr)
		}
		pid := a.spawn(ctx, actors.NewLink(actors.LinkConfig{
			Name: spec.Name, Open: open, Keyring: rt.keyring, Membership: a.membership, Log: rt.log, LastSent: &rt.lastSent, Metrics: rt.metrics,
			Inbound: rt.membership.Inbound,
		}), "link-"+unsafeActorName.ReplaceAllString(spec.Name, "_"))
		a.links = append(a.links, pid)
	}
	if rt.socket != "" {
		a.control = a.spawn(ctx, actors.NewControl(actors.ControlConfig{
			Socket: rt.socket, Log: rt.log, Tracer: rt.tracer,
			Ready: func(err error) { rt.readyOnce.Do(func() { rt.ready <- err }) },
		}), "control")
	}
	// Say hello at once rather than one keepalive from now.
	a.lastTick = time.Now()
	a.heartbeat(ctx, messages.NodeStatus_NODE_STATUS_ACTIVE, false)
	a.ticker = actors.Every(ctx.ActorSystem(), rt.cfg.Keepalive, ctx.Self(), &keepaliveTick{})
}

// spawn starts a child of the node actor, on the node's pool of
// goroutines.
func (a *nodeActor) spawn(ctx actor.Context, p actor.Producer, name string) *actor.PID {
	pid, err := ctx.SpawnNamed(actor.PropsFromProducer(p, actor.WithDispatcher(a.rt.dispatcher)), name)
	if err != nil {
		// Names are unique by construction; a clash is a bug.
		panic(fmt.Errorf("spawn %s: %w", name, err))
	}
	return pid
}

// heartbeat sends one heartbeat on every link. With wait, it waits
// (bounded) until every link has sent it: the last heartbeat of a clean
// shutdown must leave before the links close.
func (a *nodeActor) heartbeat(ctx actor.Context, status messages.NodeStatus, wait bool) {
	a.rt.metrics.HeartbeatSent()
	a.send(ctx, &messages.Envelope{Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{
		Status:              status,
		DeadtimeMs:          uint32(a.rt.cfg.Deadtime.Milliseconds()),
		LastMessageSequence: a.rt.messenger.OutboxLast.Load(),
		PingNodesUp:         a.rt.membership.PingNodesUp.Load(),
		Sessions:            a.rt.membership.Sessions(),
	}}}, wait)
}

// send completes env's header (cluster, sender, generation, the next frame
// sequence, time), seals it and hands it to every link.
func (a *nodeActor) send(ctx actor.Context, env *messages.Envelope, wait bool) {
	rt := a.rt
	if a.departed {
		return
	}
	env.Cluster = rt.cfg.Cluster.Name
	env.Sender = rt.cfg.Local
	env.Generation = rt.generation
	env.Sequence = rt.seq.Add(1)
	env.SendTimeUnixNano = time.Now().UnixNano()
	data, err := rt.keyring.Seal(env)
	if err != nil {
		if n, ok := rt.sealLog.Allow(time.Now()); ok {
			rt.log.Error("cannot seal frame", "err", err, "suppressed_since_last_log", n)
		}
		return
	}
	rt.membership.FramesSent.Add(1)
	msg := &actors.SendFrame{Data: data}
	if !wait {
		for _, l := range a.links {
			ctx.Send(l, msg)
		}
		return
	}
	futures := make([]*actor.Future, len(a.links))
	for i, l := range a.links {
		futures[i] = ctx.RequestFuture(l, msg, time.Second)
	}
	for _, f := range futures {
		f.Wait()
	}
}

// statusTimeline is how many timeline events a status carries.
const statusTimeline = 20

// status answers a StatusQuery with the membership view completed by the
// message streams, asking both children without blocking.
func (a *nodeActor) status(ctx actor.Context) {
	asker := ctx.Sender()
	f := ctx.RequestFuture(a.membership, &actors.StatusQuery{}, 2*time.Second)
	ctx.ReenterAfter(f, func(res any, err error) {
		s, ok := res.(*messages.ClusterStatus)
		if err != nil || !ok {
			a.rt.log.Warn("membership did not answer a status query", "err", err)
			return
		}
		s.Timeline = a.rt.events.List(statusTimeline)
		markLoopingLinks(s, a.rt.loopingLinks)
		g := ctx.RequestFuture(a.messenger, &actors.StreamsQuery{}, 2*time.Second)
		ctx.ReenterAfter(g, func(res any, err error) {
			if streams, ok := res.(actors.Streams); ok && err == nil {
				for _, n := range s.Nodes {
					n.Messages = streams[n.Name]
				}
			}
			if a.placement == nil {
				ctx.Send(asker, s)
				return
			}
			h := ctx.RequestFuture(a.placement, &actors.GroupsQuery{}, 2*time.Second)
			ctx.ReenterAfter(h, func(res any, err error) {
				if groups, ok := res.(actors.GroupsStatus); ok && err == nil {
					s.Groups, s.NoQuorum, s.Unfenced = groups.Groups, groups.NoQuorum, groups.Unfenced
					s.Fenced, s.SelfStopWaits = groups.Fenced, groups.SelfStopWaits
				}
				for _, d := range a.rt.fenceDevices {
					s.FenceDevices = append(s.FenceDevices, d.Status())
				}
				ctx.Send(asker, s)
			})
		})
	})
}

// CheckMedia verifies, before the node starts, that every medium's
// interface or device exists and can carry it (an interface without a
// broadcast address cannot carry bcast), as Heartbeat refuses to start on a
// medium it cannot open. A link that fails later is retried instead.
func CheckMedia(cfg *config.Effective) error {
	var errs []error
	for _, spec := range cfg.Links {
		for _, md := range spec.Media {
			var err error
			switch m := md.Link.GetMedium().(type) {
			case *messages.Link_Bcast:
				_, err = transports.BroadcastAddr(m.Bcast.Dev)
			case *messages.Link_Mcast:
				var ifi *net.Interface
				if ifi, err = net.InterfaceByName(m.Mcast.Dev); err == nil && ifi.Flags&net.FlagMulticast == 0 {
					err = fmt.Errorf("%s does not do multicast", m.Mcast.Dev)
				}
			case *messages.Link_Ucast:
				if m.Ucast.Dev != "" {
					_, err = net.InterfaceByName(m.Ucast.Dev)
				}
			case *messages.Link_Serial:
				_, err = os.Stat(m.Serial.Device)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("link %s (%s): %w", spec.Name, config.MediumName(md.Link), err))
			}
		}
	}
	if d := cfg.Cluster.GetWatchdog().GetDevice(); d != "" {
		if _, err := os.Stat(d); err != nil {
			errs = append(errs, fmt.Errorf("watchdog: %w", err))
		}
	}
	return errors.Join(errs...)
}

// OpenRealMedium opens a link: its serial line, or every network medium
// it has on its interface, together (transports.OpenMedia: shared
// sockets, one delivery per frame).
func OpenRealMedium(spec config.LinkSpec, deliver transports.Deliver, readErr transports.ReadError) (transports.Link, error) {
	if len(spec.Media) == 0 {
		return nil, fmt.Errorf("link %s has no medium", spec.Name)
	}
	if s := spec.Link.GetSerial(); s != nil {
		return transports.OpenSerial(transports.SerialConfig{Device: s.Device, Baud: int(spec.Baud)}, deliver, readErr)
	}
	var cfg transports.MediaConfig
	for _, md := range spec.Media {
		cfg.Dev = md.Dev()
		switch m := md.Link.GetMedium().(type) {
		case *messages.Link_Ucast:
			u := transports.UcastConfig{Dev: m.Ucast.Dev, Port: uint16(md.Port)}
			if m.Ucast.Bind != "" {
				a, err := netip.ParseAddr(m.Ucast.Bind)
				if err != nil {
					return nil, err
				}
				u.Bind = a
			}
			for _, p := range m.Ucast.Peers {
				a, err := netip.ParseAddr(p)
				if err != nil {
					return nil, err
				}
				u.Peers = append(u.Peers, a)
			}
			cfg.Ucast = append(cfg.Ucast, u)
		case *messages.Link_Bcast:
			cfg.Bcast = append(cfg.Bcast, uint16(md.Port))
		case *messages.Link_Mcast:
			group, err := netip.ParseAddr(m.Mcast.Group)
			if err != nil {
				return nil, err
			}
			cfg.Mcast = append(cfg.Mcast, transports.McastConfig{
				Dev: m.Mcast.Dev, Group: group, Port: uint16(md.Port), TTL: int(m.Mcast.Ttl), Loop: m.Mcast.Loop,
			})
		default:
			return nil, fmt.Errorf("link %s: medium %s cannot share an interface", spec.Name, config.MediumName(md.Link))
		}
	}
	return transports.OpenMedia(cfg, deliver, readErr)
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
