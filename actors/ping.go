package actors

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hanode/hanode/node/ops/logging"
	"github.com/hanode/hanode/transports"
)

// PingConfig describes a ping node's actor.
type PingConfig struct {
	// Name of the ping node (or ping group).
	Name      string
	Addresses []netip.Addr
	// Interval between echo requests (the keepalive).
	Interval time.Duration
	// Membership receives the replies.
	Membership *actor.PID
	Log        *slog.Logger
	// Open opens the pinger; nil opens a real one.
	Open func(targets []netip.Addr, reply transports.EchoReply) (EchoSender, error)
}

// EchoSender is what the ping actor needs of a pinger.
type EchoSender interface {
	Echo() error
	Close() error
}

// PingReply carries an echo reply from a ping actor to the membership
// actor.
type PingReply struct {
	Name string
	From netip.Addr
	At   time.Time
}

func (m *PingReply) TraceSummary() string { return fmt.Sprintf("%s from %s", m.Name, m.From) }

type pingTick struct{}

// Ping is the actor of one ping node: it sends an echo request to each of
// its addresses every interval and passes the replies on to the membership
// actor, which decides when the ping node is dead. A pinger that cannot be
// opened makes the actor fail, and its supervisor restarts it later.
type Ping struct {
	cfg    PingConfig
	pinger EchoSender
	ticker *Ticker
	errLog *logging.Limiter
}

// NewPing returns a producer of ping actors.
func NewPing(cfg PingConfig) actor.Producer {
	if cfg.Open == nil {
		cfg.Open = func(t []netip.Addr, r transports.EchoReply) (EchoSender, error) { return transports.OpenPinger(t, r) }
	}
	return func() actor.Actor { return &Ping{cfg: cfg, errLog: logging.NewLimiter(time.Minute)} }
}

// Receive handles the actor's messages.
func (a *Ping) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		sys, membership, name := ctx.ActorSystem(), a.cfg.Membership, a.cfg.Name
		p, err := a.cfg.Open(a.cfg.Addresses, func(from netip.Addr, at time.Time) {
			sys.Root.Send(membership, &PingReply{Name: name, From: from, At: at})
		})
		if err != nil {
			panic(fmt.Errorf("ping node %s: %w", a.cfg.Name, err))
		}
		a.pinger = p
		a.echo()
		a.ticker = Every(sys, a.cfg.Interval, ctx.Self(), &pingTick{})
	case *actor.Restarting, *actor.Stopping:
		a.ticker.Stop()
		if a.pinger != nil {
			a.pinger.Close()
			a.pinger = nil
		}
	case *pingTick:
		a.echo()
	}
}

func (a *Ping) echo() {
	err := a.pinger.Echo()
	if err == nil {
		return
	}
	// Unreachable networks fail at send: the ping node goes dead by its
	// silence, as it would.
	if suppressed, ok := a.errLog.Allow(time.Now()); ok {
		a.cfg.Log.Warn("echo request failed", "ping_node", a.cfg.Name, "err", err, "suppressed", suppressed)
	}
}
