package node

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/actors"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/config"
	"github.com/hanode/hanode/node/machine/membership"
	"github.com/hanode/hanode/node/machine/placement"
	"github.com/hanode/hanode/node/machine/reliable"
)

// Cluster messages and links. Every frame goes out on every link, so a
// stream message must fit one frame of the smallest link; the reliable
// layer sends a larger message in fragments, up to a bound
// (reliable.Outbox.MaxSendSize). These functions give the reliable layer
// its limit for a configuration and check that the largest message
// placement can send stays within the bound.

// FrameCapacity is the largest frame that every link of cfg carries: a
// serial link's frame when there is one, else a UDP datagram.
func FrameCapacity(cfg *config.Effective) int {
	c := reliable.UDPFrame
	for _, l := range cfg.Links {
		if l.Serial() != nil {
			c = min(c, reliable.SerialFrame)
		}
	}
	return c
}

// StreamFrameCapacity is the frame size that cluster messages are cut to
// for cfg. On a serial link it is the link's frame. On UDP it is a
// datagram that is not fragmented on the way (reliable.UDPStreamFrame), so
// that losing a packet loses one piece of a message, not all of it;
// larger (doubled, up to a UDP datagram) only where the largest full
// state would not fit in reliable.MaxFragments such frames.
func StreamFrameCapacity(cfg *config.Effective) int {
	c := FrameCapacity(cfg)
	if c != reliable.UDPFrame {
		return c
	}
	size := proto.Size(largestFullState(cfg))
	for c = reliable.UDPStreamFrame; c < reliable.UDPFrame; c *= 2 {
		rc := reliable.Config{MaxMessage: reliable.MessageCapacity(c, cfg.Cluster.GetName(), cfg.Local)}
		if reliable.NewOutbox(rc).MaxSendSize() >= size {
			return c
		}
	}
	return reliable.UDPFrame
}

// ReliableConfig is the reliable layer's configuration for cfg: its
// messages fit one frame of StreamFrameCapacity, with this cluster's and
// node's names in the frame's header.
func ReliableConfig(cfg *config.Effective) reliable.Config {
	return reliable.Config{
		MaxRexmitDelay: cfg.MaxRexmitDelay,
		MaxMessage:     reliable.MessageCapacity(StreamFrameCapacity(cfg), cfg.Cluster.GetName(), cfg.Local),
		BatchWindow:    BatchWindow(len(cfg.Nodes), cfg.Keepalive),
		ResendBudget:   ResendBudget(len(cfg.Nodes)),
		ResendRate:     ResendRate(len(cfg.Nodes)),
		MaxEarlyBytes:  EarlyBytes(len(cfg.Nodes)),
	}
}

// ResendBudget is how many cluster messages a node of a cluster of nodes
// members resends in all every MaxRexmitDelay (reliable.Config). A resend
// goes to every node, whoever asked for it, so what all nodes resend
// together reaches each of them: beyond 8 nodes the budget shrinks with
// the cluster (400 / nodes, at least 2) so that what a node receives stays
// about what an 8-node cluster sends it. Up to 8 nodes it is the reliable
// layer's 50, as before. At 96 nodes on one machine, 200 resends a second
// from every node (each received by 95) kept a cluster that had lost
// messages while forming from ever catching up.
func ResendBudget(nodes int) int { return max(2, min(50, 400/max(nodes, 1))) }

// ResendRate bounds, in messages a second on average, what a node of a
// cluster of nodes members resends (reliable.Config; the budget's window
// is stretched to keep to it). What every node resends reaches every
// node, so a node receives nodes times this: 1600 a second up to 8 nodes
// (the rate of ResendBudget, as before), then 12800 / nodes (800 at 16,
// 200 at 64, 100 at 128), falling while the heartbeats each node receives
// grow with the cluster. At 64 nodes on one 2-core machine a repair storm
// after a formation lost frames (768 resends a second in the cluster, each
// received by 63) kept every node too busy to read, and losing more, for
// minutes; the budget's 6 every 250 ms allowed 1536.
func ResendRate(nodes int) float64 {
	n := float64(max(nodes, 1))
	return min(200, 1600/n, 12800/(n*n))
}

// EarlyBytes bounds, per peer, the cluster messages a node of a cluster of
// nodes members keeps while they wait for a gap before them
// (reliable.Config.MaxEarlyBytes): 8 MiB shared by the peers, at least
// 64 KiB each. In a 96-node cluster that had lost messages while forming,
// what each node kept of every peer's stream behind its gaps grew its
// memory by 70 MiB in two minutes.
func EarlyBytes(nodes int) int { return max(64<<10, (8<<20)/max(nodes-1, 1)) }

// BatchWindow is how long a cluster message of a burst may wait to leave
// with the others (reliable.Batcher), for a cluster of nodes members at
// keepalive. Bursts grow with the cluster (a reply to each node's claim, a
// report per group), and so does what batching saves, N-1 receptions per
// message: 2ms per node beyond two, at most a keepalive and 250ms. Two
// nodes never hold a message: a hand-over's few messages go at once.
func BatchWindow(nodes int, keepalive time.Duration) time.Duration {
	if nodes <= 2 {
		return 0
	}
	return min(time.Duration(nodes-2)*2*time.Millisecond, keepalive, 250*time.Millisecond)
}

// largestFullState is the largest full state (GroupStates) placement can
// send for cfg: every group granted, banned and overridden, every other
// node fenced, down and pending a takeover of every group ("not heard
// since this node started: it may run any group", with a reason of
// placement.MaxReason), with the configuration's names and the largest
// numbers.
func largestFullState(cfg *config.Effective) *messages.ClusterMessage {
	longestNode, longestDevice := "", ""
	for _, n := range cfg.Nodes {
		if len(n) > len(longestNode) {
			longestNode = n
		}
	}
	for _, d := range cfg.FenceDevices {
		if len(d.Name) > len(longestDevice) {
			longestDevice = d.Name
		}
	}
	var names []string
	st := &messages.GroupStates{Full: true, AnswerRequested: true, Leaving: true}
	for _, g := range cfg.Groups {
		names = append(names, g.Name)
		st.Groups = append(st.Groups, &messages.GroupState{
			Group: g.Name, Phase: messages.GroupPhase(math.MaxInt32), BannedUntilUnixNano: math.MaxInt64,
			GrantedTo: longestNode, GrantAttempt: math.MaxUint64, GranteeGeneration: math.MaxUint64, RanApart: true,
		})
		st.Overrides = append(st.Overrides, &messages.PlacementOverride{
			Group: g.Name, Node: longestNode, Prefer: true, Version: math.MaxUint64, Author: longestNode, NodeGeneration: math.MaxUint64,
		})
	}
	reason := strings.Repeat("x", placement.MaxReason)
	for _, n := range cfg.Nodes {
		if n == cfg.Local {
			continue
		}
		st.Fenced = append(st.Fenced, &messages.NodeFenced{
			Node: n, Device: longestDevice, Generation: math.MaxUint64, FencedBy: longestNode, TimeUnixNano: math.MaxInt64,
		})
		st.Pending = append(st.Pending, &messages.PendingTakeover{
			Node: n, Generation: math.MaxUint64, Groups: names, Fence: true, RemainingMs: math.MaxUint64, Reason: reason,
		})
		st.Down = append(st.Down, &messages.NodeDown{Node: n, Generation: math.MaxUint64})
	}
	return &messages.ClusterMessage{
		Destination: longestNode, DestinationGeneration: math.MaxUint64,
		Payload: &messages.ClusterMessage_GroupStates{GroupStates: st},
	}
}

// largestHeartbeat is the largest heartbeat body a node of cfg sends:
// every peer's session, with the largest numbers.
func largestHeartbeat(cfg *config.Effective) *messages.Heartbeat {
	return largestHeartbeatOf(cfg, cfg.Nodes)
}

// largestHeartbeatOf is the largest heartbeat body naming the sessions of
// nodes (but cfg.Local).
func largestHeartbeatOf(cfg *config.Effective, nodes []string) *messages.Heartbeat {
	hb := &messages.Heartbeat{Status: messages.NodeStatus_NODE_STATUS_ACTIVE, DeadtimeMs: math.MaxUint32,
		LastMessageSequence: math.MaxUint64, PingNodesUp: math.MaxUint32}
	for _, n := range nodes {
		if n != cfg.Local {
			hb.Sessions = append(hb.Sessions, &messages.PeerSession{Node: n, Generation: math.MaxUint64,
				StreamStart: math.MaxUint64, HeardSendTimeUnixNano: math.MaxInt64,
				ExcusedMs: uint32(min((membership.MaxStallCredit * cfg.Deadtime).Milliseconds(), math.MaxUint32))})
		}
	}
	return hb
}

// EthernetFrame is the UDP payload one Ethernet frame carries at an MTU
// of 1500 (less the IPv4 and UDP headers): a larger datagram travels in
// IP fragments, and is lost when any of them is.
const EthernetFrame = 1500 - 20 - 8

// HeartbeatNowSpacing is how far apart a node of a cluster of nodes sends
// the heartbeats that answer a peer's new session at once
// (actors.HeartbeatConfig.NowSpacing): a quarter keepalive up to 16
// nodes, then longer in proportion; from 64 nodes, where that would be a
// keepalive, none (negative): the regular heartbeats carry a new session
// for three keepalives anyway (SessionHold). Each reaches every node:
// while a cluster forms every node sends them as fast as the spacing
// allows, and a quarter keepalive at 64 nodes made each node take in four
// times the heartbeats of a settled cluster (over 250 a keepalive) just
// when it had the most else to do. So what one node takes in of them
// stays under 64 a keepalive, whatever the size (and under 4 times its
// heartbeats below 16 nodes, as before); a join completes within a
// keepalive at 64 nodes instead of a fraction of one.
func HeartbeatNowSpacing(nodes int, keepalive time.Duration) time.Duration {
	s := max(actors.DefaultNowSpacing(keepalive), keepalive*time.Duration(nodes)/64)
	if s >= keepalive {
		return -1
	}
	return s
}

// HeartbeatSessions is the most peer sessions a heartbeat of a node of
// cfg carries (sessions.Rotation), 0 for all of them: enough that each
// session goes out at least every third of deadtime, and beyond that as
// many as fit in one Ethernet frame with the largest numbers. A peer's
// acknowledgement is then at most a third of deadtime and a keepalive and
// a quarter old before the next (keepalive is at most a sixth of deadtime
// when not every session goes out), under nine tenths of deadtime with
// one of those heartbeats lost. At 1s/10s and short names that is every
// session up to 28 nodes, 27 of 63 at 64 nodes (one Ethernet frame), 43
// of 127 at 128.
func HeartbeatSessions(cfg *config.Effective) int {
	peers := len(cfg.Nodes) - 1
	perThird := int(cfg.Deadtime / 3 / max(cfg.Keepalive, time.Millisecond))
	if peers <= 1 || perThird <= 1 {
		return 0
	}
	need := (peers + perThird - 1) / perThird
	room := reliable.MessageCapacity(EthernetFrame, cfg.Cluster.GetName(), cfg.Local) - proto.Size(largestHeartbeatOf(cfg, nil))
	var sizes []int
	for _, s := range largestHeartbeat(cfg).Sessions {
		sizes = append(sizes, protowire.SizeTag(1)+protowire.SizeBytes(proto.Size(s)))
	}
	slices.Sort(sizes)
	fit := 0
	for i := len(sizes) - 1; i >= 0 && room >= sizes[i]; i-- {
		room -= sizes[i]
		fit++
	}
	if k := max(need, fit); k < peers {
		return k
	}
	return 0
}

// CheckMessageSizes says, as an error, when the largest cluster message
// placement can send with cfg may exceed what the reliable layer sends on
// cfg's links: the node would have to refuse it, and its peers would never
// learn its state. Nil when it fits.
func CheckMessageSizes(cfg *config.Effective) error {
	rc := ReliableConfig(cfg)
	// A heartbeat is not a stream message: it may take a whole frame.
	if hb, most := proto.Size(largestHeartbeat(cfg)), reliable.MessageCapacity(FrameCapacity(cfg), cfg.Cluster.GetName(), cfg.Local); hb > most {
		return fmt.Errorf("with %d nodes, this node's heartbeat (which names every peer) may take %d bytes: more than one %d-byte frame of its links carries (%d bytes of it); use fewer nodes, or shorter names, or no serial link",
			len(cfg.Nodes), hb, FrameCapacity(cfg), most)
	}
	limit := reliable.NewOutbox(rc).MaxSendSize()
	size := proto.Size(largestFullState(cfg))
	if size <= limit {
		return nil
	}
	var serial []string
	for _, l := range cfg.Links {
		if l.Serial() != nil {
			serial = append(serial, l.Name)
		}
	}
	where := "its links"
	if len(serial) > 0 {
		where = "serial link " + strings.Join(serial, ", ")
	}
	return fmt.Errorf("with %d groups and %d nodes, the full state this node sends may take %d bytes: more than the %d a cluster message can take on %s (%d fragments of one %d-byte frame); use fewer groups or nodes, or shorter names",
		len(cfg.Groups), len(cfg.Nodes), size, limit, where, reliable.MaxFragments, StreamFrameCapacity(cfg))
}
