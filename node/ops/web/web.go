// Package web serves a node's read-only web view beside its metrics
// (`hanode run --metrics ADDR`): one self-contained page at / (nodes and
// their links, groups with where they run and should run, fencing and
// quorum, the event timeline drawn as a picture, refreshed live) and the
// two JSON documents it polls, /api/v1/status (a ClusterStatus) and
// /api/v1/events (an EventsResponse), in the protobuf JSON mapping. It
// changes nothing: every request other than GET or HEAD is refused.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

// StatusFunc returns the node's view of the cluster.
type StatusFunc func(ctx context.Context) (*messages.ClusterStatus, error)

// EventsFunc returns the latest limit events of the node's timeline (all
// kept when 0), oldest first.
type EventsFunc func(limit int) []*messages.ClusterEvent

const (
	// DefaultEvents is how many events /api/v1/events returns without
	// ?limit; MaxEvents is the most it returns (the node keeps 2000).
	DefaultEvents = 500
	MaxEvents     = 2000
	// MaxResponse bounds every answer: a status or a timeline larger than
	// this is an error, never a response that grows without end.
	MaxResponse = 4 << 20
	// statusTimeout bounds gathering a status; the page asks again anyway.
	statusTimeout = 3 * time.Second
)

//go:embed page.html
var page []byte

// Handler serves the page and its API.
type Handler struct {
	status StatusFunc
	events EventsFunc
	log    *slog.Logger
	// csp is the page's Content-Security-Policy: only its own inline
	// script and style (by their hashes) and requests to this origin.
	csp string
}

// New returns the handler of a node's web view; log receives the
// failures to answer (nil: slog's default).
func New(status StatusFunc, events EventsFunc, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{status: status, events: events, log: log, csp: PagePolicy()}
}

// PagePolicy is the Content-Security-Policy of the page. The page is one
// file, so its script and style are inline; rather than 'unsafe-inline',
// which would let any injected markup run, the policy allows exactly the
// embedded script and style by their SHA-256 hashes. Everything else it
// loads comes from this origin (its API), nothing from elsewhere; it may
// not be framed, post forms, or change its base URL.
func PagePolicy() string {
	return "default-src 'none'; script-src " + inlineHashes(page, "script") + "; style-src " + inlineHashes(page, "style") +
		"; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// inlineHashes returns the CSP source expressions ('sha256-...') of the
// contents of every <tag>...</tag> element of doc.
func inlineHashes(doc []byte, tag string) string {
	var out []string
	open, end := []byte("<"+tag+">"), []byte("</"+tag+">")
	for rest := doc; ; {
		i := bytes.Index(rest, open)
		if i < 0 {
			break
		}
		rest = rest[i+len(open):]
		j := bytes.Index(rest, end)
		if j < 0 {
			break
		}
		sum := sha256.Sum256(rest[:j])
		out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		rest = rest[j+len(end):]
	}
	if len(out) == 0 {
		return "'none'"
	}
	return strings.Join(out, " ")
}

// ServeHTTP answers /, /api/v1/status and /api/v1/events.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "read-only: GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/":
		hd.Set("Content-Security-Policy", h.csp)
		hd.Set("Content-Type", "text/html; charset=utf-8")
		hd.Set("Content-Length", strconv.Itoa(len(page)))
		w.Write(page)
	case "/api/v1/status":
		ctx, cancel := context.WithTimeout(r.Context(), statusTimeout)
		defer cancel()
		s, err := h.status(ctx)
		if err != nil {
			h.fail(w, r, http.StatusServiceUnavailable, fmt.Errorf("status: %w", err))
			return
		}
		h.json(w, r, s)
	case "/api/v1/events":
		limit, since, err := eventsQuery(r)
		if err != nil {
			h.fail(w, r, http.StatusBadRequest, err)
			return
		}
		h.json(w, r, &messages.EventsResponse{Events: Select(h.events(0), since, limit)})
	default:
		http.NotFound(w, r)
	}
}

// eventsQuery reads ?limit=N (1..MaxEvents) and ?since=RFC3339 time.
func eventsQuery(r *http.Request) (int, time.Time, error) {
	q := r.URL.Query()
	limit, since := DefaultEvents, time.Time{}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxEvents {
			return 0, since, fmt.Errorf("limit %q: a number from 1 to %d", v, MaxEvents)
		}
		limit = n
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return 0, since, fmt.Errorf("since %q: an RFC 3339 time", v)
		}
		since = t
	}
	return limit, since, nil
}

// Select keeps the events at or after since (the page asks from the time
// of the last one it has and drops what it has already: events of the
// same instant are not lost), the latest limit of them, oldest first.
func Select(evs []*messages.ClusterEvent, since time.Time, limit int) []*messages.ClusterEvent {
	if !since.IsZero() {
		kept := make([]*messages.ClusterEvent, 0, len(evs))
		for _, ev := range evs {
			if !ev.GetTime().AsTime().Before(since) {
				kept = append(kept, ev)
			}
		}
		evs = kept
	}
	if limit > 0 && len(evs) > limit {
		evs = evs[len(evs)-limit:]
	}
	return evs
}

// json writes m in the protobuf JSON mapping with the proto field names,
// as `hanode status --json` does, within MaxResponse.
func (h *Handler) json(w http.ResponseWriter, r *http.Request, m proto.Message) {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if len(b) > MaxResponse {
		h.fail(w, r, http.StatusInternalServerError, fmt.Errorf("answer of %d bytes, more than %d", len(b), MaxResponse))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	if code >= 500 {
		h.log.Warn("web view: cannot answer", "path", r.URL.Path, "err", err)
	}
	http.Error(w, err.Error(), code)
}
