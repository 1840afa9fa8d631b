// Package metrics exposes a node's metrics to Prometheus (`hanode run
// --metrics ADDR`): counters the actors bump as things happen (heartbeats,
// resource operations, failovers and their gaps, fencing), and, at each
// scrape, the node's status (peer, link and group states, rejected frames).
// It has its own registry and HTTP mux, never the process-wide defaults.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hanode/hanode/messages"
)

const ns = "hanode"

// Metrics are a node's instruments. A nil *Metrics records nothing, so
// actors call it unconditionally.
type Metrics struct {
	reg                *prometheus.Registry
	heartbeatsSent     prometheus.Counter
	framesSent         *prometheus.CounterVec
	heartbeatsReceived *prometheus.CounterVec
	late               *prometheus.CounterVec
	shed               *prometheus.CounterVec
	ranLate            *prometheus.HistogramVec
	resourceOps        *prometheus.CounterVec
	resourceOpSeconds  *prometheus.HistogramVec
	failovers          *prometheus.CounterVec
	failoverGap        *prometheus.HistogramVec
	fenceOps           *prometheus.CounterVec
}

// StatusFunc returns the node's status for a scrape.
type StatusFunc func(ctx context.Context) (*messages.ClusterStatus, error)

// New returns the instruments of a node, with its status read at each
// scrape through status.
func New(status StatusFunc) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.heartbeatsSent = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "heartbeats_sent_total",
		Help: "Heartbeats this node sent (each goes out on every link)."})
	m.framesSent = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "frames_sent_total",
		Help: "Frames (heartbeats and cluster messages) sent, by link."}, []string{"link"})
	m.heartbeatsReceived = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "heartbeats_received_total",
		Help: "Heartbeats accepted from each peer, by the link they came on."}, []string{"peer", "link"})
	m.late = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "heartbeats_late_total",
		Help: "Times a peer's heartbeat was late (silent for warntime)."}, []string{"peer"})
	m.shed = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "frames_left_out_total",
		Help: "Frames a link's reader left out unverified because they carried nothing this node could use, by reason: superseded (a heartbeat that waited in the socket long enough to have newer ones behind it: this node reads behind)."}, []string{"link", "reason"})
	m.ranLate = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "ran_late_seconds",
		Help:    "How late this node handled its membership deadlines and frames, when late enough to widen its deadtime (a twentieth of it).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"what"})
	m.resourceOps = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "resource_operations_total",
		Help: "Resource agent runs on this node, by outcome."}, []string{"group", "resource", "action", "outcome"})
	m.resourceOpSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "resource_operation_seconds",
		Help:    "How long resource agent runs took.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"group", "resource", "action"})
	m.failovers = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "group_moves_total",
		Help: "Groups that started on this node after running on another, by how they left it (died, stopped, released, restarted)."},
		[]string{"group", "from", "how"})
	m.failoverGap = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "group_move_gap_seconds",
		Help:    "From the last sign of a group on its previous node (its last heartbeat, or its release) to the group running here.",
		Buckets: []float64{.05, .1, .25, .5, .75, 1, 2.5, 5, 10, 30, 60}}, []string{"group", "how"})
	m.fenceOps = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "fence_operations_total",
		Help: "Fencing operations this node ran, by device, target and result (ok, failed)."}, []string{"device", "target", "result"})
	m.reg.MustRegister(m.heartbeatsSent, m.framesSent, m.heartbeatsReceived, m.late, m.shed, m.ranLate, m.resourceOps, m.resourceOpSeconds,
		m.failovers, m.failoverGap, m.fenceOps,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if status != nil {
		m.reg.MustRegister(&statusCollector{status: status})
	}
	return m
}

// HeartbeatSent counts one heartbeat.
func (m *Metrics) HeartbeatSent() {
	if m != nil {
		m.heartbeatsSent.Inc()
	}
}

// FrameSent counts a frame sent on link.
func (m *Metrics) FrameSent(link string) {
	if m != nil {
		m.framesSent.WithLabelValues(link).Inc()
	}
}

// HeartbeatReceived counts a peer's heartbeat on link.
func (m *Metrics) HeartbeatReceived(peer, link string) {
	if m != nil {
		m.heartbeatsReceived.WithLabelValues(peer, link).Inc()
	}
}

// Late counts a late heartbeat of peer.
func (m *Metrics) Late(peer string) {
	if m != nil {
		m.late.WithLabelValues(peer).Inc()
	}
}

// FrameLeftOut counts a frame left unread on link, for reason
// ("superseded").
func (m *Metrics) FrameLeftOut(link, reason string) {
	if m != nil {
		m.shed.WithLabelValues(link, reason).Inc()
	}
}

// RanLate records that this node handled a membership deadline or a
// frame (what) late by d.
func (m *Metrics) RanLate(what string, d time.Duration) {
	if m != nil {
		m.ranLate.WithLabelValues(what).Observe(d.Seconds())
	}
}

// ResourceOp counts one agent run and its duration.
func (m *Metrics) ResourceOp(group, resource, action, outcome string, took time.Duration) {
	if m != nil {
		m.resourceOps.WithLabelValues(group, resource, action, outcome).Inc()
		m.resourceOpSeconds.WithLabelValues(group, resource, action).Observe(took.Seconds())
	}
}

// GroupMoved counts a group that started here after running on from, and
// its gap; how is the way it was lost there (placement.LossKind's word:
// died, stopped, released, restarted, fenced).
func (m *Metrics) GroupMoved(group, from, how string, gap time.Duration) {
	if m != nil {
		m.failovers.WithLabelValues(group, from, how).Inc()
		m.failoverGap.WithLabelValues(group, how).Observe(gap.Seconds())
	}
}

// FenceOp counts a fencing operation.
func (m *Metrics) FenceOp(device, target string, err error) {
	if m != nil {
		result := "ok"
		if err != nil {
			result = "failed"
		}
		m.fenceOps.WithLabelValues(device, target, result).Inc()
	}
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Serve listens on addr and serves /metrics on a mux of its own until ctx
// ends; root, when set, serves every other path (the web view), else /
// says where the metrics are. It returns once listening (or failing to).
func (m *Metrics) Serve(ctx context.Context, addr string, root http.Handler) (net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	if root != nil {
		mux.Handle("/", root)
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/" {
				http.NotFound(w, r)
				return
			}
			fmt.Fprintln(w, "hanode: metrics at /metrics")
		})
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			// Nothing to report it to but the scrapes that fail.
			_ = err
		}
	}()
	return l.Addr(), nil
}

// statusCollector turns the node's status into gauges at each scrape.
type statusCollector struct {
	status StatusFunc
}

var (
	peerUp = prometheus.NewDesc(ns+"_peer_up", "1 while a member is up or active (ping nodes: answering), else 0.",
		[]string{"peer", "type"}, nil)
	peerStatus = prometheus.NewDesc(ns+"_peer_status", "1 for a member's current status (init, up, active, dead, ping).",
		[]string{"peer", "status"}, nil)
	linkUp = prometheus.NewDesc(ns+"_link_up", "1 while frames arrive from a member on a link (own links: while sending), else 0.",
		[]string{"peer", "link"}, nil)
	groupPhase = prometheus.NewDesc(ns+"_group_phase", "1 for a group's phase on this node (stopped, starting, running, stopping, unmanaged).",
		[]string{"group", "phase"}, nil)
	groupRunning = prometheus.NewDesc(ns+"_group_running_nodes", "How many nodes run (or may run) a group, as this node sees it.",
		[]string{"group"}, nil)
	rejected = prometheus.NewDesc(ns+"_frames_rejected_total", "Frames dropped, by reason (bad MAC, unknown key, replayed, ...).",
		[]string{"reason"}, nil)
	framesReceived = prometheus.NewDesc(ns+"_frames_received_total", "Datagrams received on all links.", nil, nil)
	quorum         = prometheus.NewDesc(ns+"_quorum", "1 while this node's partition may run groups (quorum), else 0.", nil, nil)
	unfenced       = prometheus.NewDesc(ns+"_nodes_to_fence", "Dead nodes waiting to be fenced before their groups move.", nil, nil)
	fenceDeviceOK  = prometheus.NewDesc(ns+"_fence_device_ok", "1 when a fencing device passed its last check.", []string{"device"}, nil)
)

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{peerUp, peerStatus, linkUp, groupPhase, groupRunning, rejected, framesReceived, quorum, unfenced, fenceDeviceOK} {
		ch <- d
	}
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := c.status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(peerUp, err)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	b := func(ok bool) float64 {
		if ok {
			return 1
		}
		return 0
	}
	for _, n := range s.Nodes {
		typ := "normal"
		if n.Type == messages.NodeType_NODE_TYPE_PING {
			typ = "ping"
		}
		up := n.Status == messages.NodeStatus_NODE_STATUS_UP || n.Status == messages.NodeStatus_NODE_STATUS_ACTIVE || n.Status == messages.NodeStatus_NODE_STATUS_PING
		gauge(peerUp, b(up), n.Name, typ)
		for _, st := range []messages.NodeStatus{messages.NodeStatus_NODE_STATUS_INIT, messages.NodeStatus_NODE_STATUS_UP,
			messages.NodeStatus_NODE_STATUS_ACTIVE, messages.NodeStatus_NODE_STATUS_DEAD, messages.NodeStatus_NODE_STATUS_PING} {
			gauge(peerStatus, b(n.Status == st), n.Name, word(st.String()))
		}
		for _, l := range n.Links {
			gauge(linkUp, b(l.Status == messages.LinkStatus_LINK_STATUS_UP), n.Name, l.Name)
		}
	}
	for _, g := range s.Groups {
		for _, p := range []messages.GroupPhase{messages.GroupPhase_GROUP_PHASE_STOPPED, messages.GroupPhase_GROUP_PHASE_STARTING,
			messages.GroupPhase_GROUP_PHASE_RUNNING, messages.GroupPhase_GROUP_PHASE_STOPPING, messages.GroupPhase_GROUP_PHASE_UNMANAGED,
			messages.GroupPhase_GROUP_PHASE_PROBING} {
			gauge(groupPhase, b(g.LocalPhase == p), g.Name, word(p.String()))
		}
		gauge(groupRunning, float64(len(g.RunningOn)), g.Name)
	}
	for reason, n := range s.RejectedFrames {
		ch <- prometheus.MustNewConstMetric(rejected, prometheus.CounterValue, float64(n), reason)
	}
	ch <- prometheus.MustNewConstMetric(framesReceived, prometheus.CounterValue, float64(s.FramesReceived))
	gauge(quorum, b(!s.NoQuorum))
	gauge(unfenced, float64(len(s.Unfenced)))
	for _, d := range s.FenceDevices {
		gauge(fenceDeviceOK, b(d.Ok), d.Name)
	}
}

func word(enum string) string {
	if i := strings.LastIndexByte(enum, '_'); i >= 0 {
		enum = enum[i+1:]
	}
	return strings.ToLower(enum)
}
