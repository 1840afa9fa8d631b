// Package control is the node's control socket: a Unix stream socket on
// which `hanode status`, `hanode cl_status` and the other commands send a
// ControlRequest and read a ControlResponse (proto/hanode/v1/control.proto).
//
// Each message is a 4-byte big-endian length and that many bytes of
// protobuf. The socket is created with mode 0600 (only root may ask), and a
// stale socket left by a crashed node is replaced, while a live one is never
// taken over.
package control

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

// DefaultSocket is where the node listens unless told otherwise.
const DefaultSocket = "/run/hanode/hanode.sock"

// MaxMessage bounds one message on the socket.
const MaxMessage = 16 << 20

// ioTimeout bounds how long a peer of the socket may take to send a request
// or read a response, so that a stuck client cannot pin a goroutine.
const ioTimeout = 10 * time.Second

// ErrInUse means another node answers on the socket path.
var ErrInUse = errors.New("control socket in use by a running node")

// Handler answers one request. It is called concurrently, one goroutine per
// connection.
type Handler func(ctx context.Context, req *messages.ControlRequest) *messages.ControlResponse

// StreamHandler answers a request with a stream of responses (hanode
// trace), calling send for each, until ctx ends (the client went away or
// the server closes) or send fails.
type StreamHandler func(ctx context.Context, req *messages.ControlRequest, send func(*messages.ControlResponse) error) error

// IsStream says whether a request is answered by a stream.
func IsStream(req *messages.ControlRequest) bool { return req.GetTrace() != nil }

// Server accepts connections on the control socket.
type Server struct {
	// mu orders Serve's start against Close: a WaitGroup may not grow
	// while it is waited for.
	mu     sync.Mutex
	closed bool
	ln     *net.UnixListener
	path   string
	log    *slog.Logger
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// Listen creates the socket at path (and its directory, mode 0755) with
// mode 0600. A socket file nobody answers on is replaced.
func Listen(path string, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: %w", path, ErrInUse)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale control socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// Close must not unlink a socket that a successor may already own; we
	// remove our own file explicitly in Close.
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{ln: ln, path: path, log: log, ctx: ctx, cancel: cancel}, nil
}

// Path is the socket path.
func (s *Server) Path() string { return s.path }

// Serve accepts connections until Close, answering each request with h.
func (s *Server) Serve(h Handler) { s.ServeStreams(h, nil) }

// ServeStreams is Serve, with stream answering the streaming requests.
func (s *Server) ServeStreams(h Handler, stream StreamHandler) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("control socket accept failed", "err", err)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(c, h, stream)
		}()
	}
}

func (s *Server) serveConn(c *net.UnixConn, h Handler, stream StreamHandler) {
	defer c.Close()
	stop := context.AfterFunc(s.ctx, func() { c.Close() })
	defer stop()
	for {
		c.SetDeadline(time.Now().Add(ioTimeout))
		req := &messages.ControlRequest{}
		if err := Read(c, req); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("control request unreadable", "err", err)
			}
			return
		}
		if IsStream(req) {
			s.serveStream(c, req, stream)
			return
		}
		resp := h(s.ctx, req)
		c.SetDeadline(time.Now().Add(ioTimeout))
		if err := Write(c, resp); err != nil {
			s.log.Debug("control response not sent", "err", err)
			return
		}
	}
}

// serveStream answers a streaming request until the client closes the
// connection (the one read that follows ends) or the server closes.
func (s *Server) serveStream(c *net.UnixConn, req *messages.ControlRequest, stream StreamHandler) {
	if stream == nil {
		c.SetDeadline(time.Now().Add(ioTimeout))
		Write(c, &messages.ControlResponse{Error: "streaming requests are not served here"})
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	c.SetReadDeadline(time.Time{})
	go func() {
		var b [1]byte
		c.Read(b[:]) // the client sends nothing more: this ends when it goes
		cancel()
	}()
	send := func(resp *messages.ControlResponse) error {
		c.SetWriteDeadline(time.Now().Add(ioTimeout))
		return Write(c, resp)
	}
	if err := stream(ctx, req, send); err != nil && ctx.Err() == nil {
		s.log.Debug("control stream ended", "err", err)
	}
}

// Close stops accepting, ends open connections, waits for them and removes
// the socket file.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	err := s.ln.Close()
	s.wg.Wait()
	if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// Write sends one length-prefixed message.
func Write(w io.Writer, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > MaxMessage {
		return fmt.Errorf("message of %d bytes exceeds %d", len(b), MaxMessage)
	}
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b)))
	_, err = w.Write(append(buf, b...))
	return err
}

// Read receives one length-prefixed message into m.
func Read(r io.Reader, m proto.Message) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxMessage {
		return fmt.Errorf("message of %d bytes exceeds %d", n, MaxMessage)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("truncated message: %w", err)
	}
	return proto.Unmarshal(b, m)
}

// Client talks to a node's control socket.
type Client struct {
	Path string
}

// ErrNotRunning means no node answers on the socket.
var ErrNotRunning = errors.New("hanode is not running")

// ErrPermission means a node runs but this user may not ask it.
var ErrPermission = errors.New("permission denied")

// Do sends one request and waits for its response, within ctx.
func (c *Client) Do(ctx context.Context, req *messages.ControlRequest) (*messages.ControlResponse, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Path)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%w: %s is root-only", ErrPermission, c.Path)
		}
		return nil, fmt.Errorf("%w (%s: %v)", ErrNotRunning, c.Path, unwrapOp(err))
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := Write(conn, req); err != nil {
		return nil, fmt.Errorf("control request: %w", err)
	}
	resp := &messages.ControlResponse{}
	if err := Read(conn, resp); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("control response: %w", err)
	}
	if resp.Error != "" {
		return nil, errors.New(resp.Error)
	}
	return resp, nil
}

// Status asks for the node's view of the cluster.
func (c *Client) Status(ctx context.Context) (*messages.ClusterStatus, error) {
	resp, err := c.Do(ctx, &messages.ControlRequest{Request: &messages.ControlRequest_Status{Status: &messages.StatusRequest{}}})
	if err != nil {
		return nil, err
	}
	if resp.GetStatus() == nil {
		return nil, errors.New("control response without status")
	}
	return resp.GetStatus(), nil
}

// Parameter asks for a Heartbeat parameter's value.
func (c *Client) Parameter(ctx context.Context, name string) (*messages.ParameterResponse, error) {
	resp, err := c.Do(ctx, &messages.ControlRequest{Request: &messages.ControlRequest_Parameter{Parameter: &messages.ParameterRequest{Name: name}}})
	if err != nil {
		return nil, err
	}
	if resp.GetParameter() == nil {
		return nil, errors.New("control response without parameter")
	}
	return resp.GetParameter(), nil
}

// SendNote sends a note to every node through the node's reliable layer.
func (c *Client) SendNote(ctx context.Context, text string) (*messages.NoteSent, error) {
	resp, err := c.Do(ctx, &messages.ControlRequest{Request: &messages.ControlRequest_SendNote{SendNote: &messages.SendNoteRequest{Text: text}}})
	if err != nil {
		return nil, err
	}
	if resp.GetNoteSent() == nil {
		return nil, errors.New("control response without note")
	}
	return resp.GetNoteSent(), nil
}

// Notes asks for the notes the node received, oldest first.
func (c *Client) Notes(ctx context.Context) ([]*messages.ReceivedNote, error) {
	resp, err := c.Do(ctx, &messages.ControlRequest{Request: &messages.ControlRequest_Notes{Notes: &messages.NotesRequest{}}})
	if err != nil {
		return nil, err
	}
	if resp.GetNotes() == nil {
		return nil, errors.New("control response without notes")
	}
	return resp.GetNotes().Notes, nil
}

// unwrapOp drops the *net.OpError wrapping, which repeats the path.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var se *os.SyscallError
		if errors.As(op.Err, &se) {
			return se.Err
		}
		return op.Err
	}
	return err
}

// Placement asks the node to give groups away (standby) or bring them to
// itself (takeover); selection is all, local, foreign or failback. It
// returns the groups the request applies to.
func (c *Client) Placement(ctx context.Context, takeover bool, selection string) ([]string, error) {
	resp, err := c.Do(ctx, &messages.ControlRequest{Request: &messages.ControlRequest_Placement{Placement: &messages.PlacementRequest{Takeover: takeover, Selection: selection}}})
	if err != nil {
		return nil, err
	}
	if resp.GetPlacement() == nil {
		return nil, errors.New("control response without placement")
	}
	return resp.GetPlacement().Groups, nil
}

// Events asks for the node's event timeline: the latest limit events (all
// kept when 0), oldest first.
func (c *Client) Events(ctx context.Context, limit int) ([]*messages.ClusterEvent, error) {
	resp, err := c.Do(ctx, &messages.ControlRequest{Request: &messages.ControlRequest_Events{Events: &messages.EventsRequest{Limit: uint32(limit)}}})
	if err != nil {
		return nil, err
	}
	if resp.GetEvents() == nil {
		return nil, errors.New("control response without events")
	}
	return resp.GetEvents().Events, nil
}

// Trace attaches to the node's actor trace and calls f with each record
// until ctx ends or the node goes away. Filters as in TraceRequest.
func (c *Client) Trace(ctx context.Context, actors, types []string, f func(*messages.TraceRecord)) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Path)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("%w: %s is root-only", ErrPermission, c.Path)
		}
		return fmt.Errorf("%w (%s: %v)", ErrNotRunning, c.Path, unwrapOp(err))
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := Write(conn, &messages.ControlRequest{Request: &messages.ControlRequest_Trace{Trace: &messages.TraceRequest{Actors: actors, Types: types}}}); err != nil {
		return fmt.Errorf("trace request: %w", err)
	}
	for {
		resp := &messages.ControlResponse{}
		if err := Read(conn, resp); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return errors.New("the node closed the trace")
			}
			return fmt.Errorf("trace: %w", err)
		}
		if resp.Error != "" {
			return errors.New(resp.Error)
		}
		if r := resp.GetTraceRecord(); r != nil {
			f(r)
		}
	}
}

// ConfirmFenced tells the node that a node waiting to be fenced is off
// (the operator made sure); it says whether that node was waiting.
func (c *Client) ConfirmFenced(ctx context.Context, node string) (bool, error) {
	resp, err := c.Do(ctx, &messages.ControlRequest{Request: &messages.ControlRequest_ConfirmFenced{ConfirmFenced: &messages.ConfirmFencedRequest{Node: node}}})
	if err != nil {
		return false, err
	}
	if resp.GetConfirmFenced() == nil {
		return false, errors.New("control response without confirmation")
	}
	return resp.GetConfirmFenced().WasWaiting, nil
}
