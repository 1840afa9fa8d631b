// Package control is the node's control socket: a Unix stream socket on
// which `hanode status`, `hanode cl_status` and the other commands send a
// ControlRequest and read a ControlResponse (proto/hanode/v1/control.proto).
//
// Each message is a 4-byte big-endian length and that many bytes of
// protobuf. The socket is created with mode 0600 (only root may ask) inside
// a private directory and only then linked to its path, so it is never
// reachable with a looser mode; each connection's peer credentials are
// checked too (root or the node's own user). A stale socket left by a
// crashed node is replaced, while a live one is never taken over and
// anything that is not a socket is never removed.
//
// The node reads requests as their bytes arrive, never trusting the
// announced length for an allocation, bounds them to MaxRequest, serves at
// most MaxClients connections at once (refusing more with an error) and
// gives each one a deadline to send its request.
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
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

// DefaultSocket is where the node listens unless told otherwise.
const DefaultSocket = "/run/hanode/hanode.sock"

// MaxMessage bounds one response, which the client reads: a status or
// the events of a large cluster.
const MaxMessage = 16 << 20

// MaxRequest bounds one request, which the node reads. Requests are small:
// the largest is a note (MaxNote) or a trace filter.
const MaxRequest = 64 << 10

// MaxNote bounds the text of one note: notes are for operators, not data,
// and the notes a node keeps (actors.MaxNotes of them) must fit in memory
// and in a response. Over a serial link a note this long travels as a few
// fragments of the reliable stream.
const MaxNote = 4 << 10

// MaxClients bounds the connections served at once; more wait up to
// admitWait for one to end, and are then answered with an error and
// closed. A `hanode trace` holds one for as long as it runs.
const MaxClients = 32

// admitWait is how long a connection waits for a slot.
const admitWait = time.Second

// requestTimeout bounds how long a client may take to send a request,
// waiting included, so that a silent or slow client frees its slot.
const requestTimeout = 5 * time.Second

// ioTimeout bounds how long a client may take to read a response.
const ioTimeout = 10 * time.Second

// refuseTimeout bounds the write of a refusal: it goes into the empty
// buffer of a new connection, so it never waits unless something is wrong.
const refuseTimeout = 100 * time.Millisecond

// ErrTooLarge means a message is longer than the reader accepts.
var ErrTooLarge = errors.New("message too large")

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
	// file identifies the socket file as created, so that Close removes
	// it only if it is still ours.
	file fileID
	// uid may connect besides root: the node's own user.
	uid int
	// slots holds one token per connection served, waiting one per
	// connection waiting for a slot.
	slots, waiting chan struct{}
	// requestTimeout is the package's, shortened by tests.
	requestTimeout time.Duration
}

// Listen creates the socket at path (and its directory, mode 0755) with
// mode 0600. A socket file nobody answers on is replaced; a live one, or
// anything that is not a socket, is left alone and is an error.
func Listen(path string, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, file, err := listenPrivate(path)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{ln: ln, path: path, log: log, ctx: ctx, cancel: cancel, file: file, uid: os.Geteuid(),
		slots: make(chan struct{}, MaxClients), waiting: make(chan struct{}, MaxClients), requestTimeout: requestTimeout}, nil
}

// The stale-socket check tries to connect at most staleChecks times, the
// first within staleCheckTimeout, each next one with twice the time of
// the one before (1 + 2 + 4 s in all), as long as they time out.
const (
	staleChecks       = 3
	staleCheckTimeout = time.Second
)

// dialStaleCheck connects to a control socket for the stale-socket check;
// a variable for the tests.
var dialStaleCheck = func(path string, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("unix", path, timeout)
}

// removeStale removes a socket at path that no node answers on. Only a
// socket is ever removed: --socket naming the wrong file must not delete
// it.
func removeStale(path string) error {
	exists, err := checkPath(path)
	if !exists || err != nil {
		return err
	}
	for attempt := range staleChecks {
		var c net.Conn
		c, err = dialStaleCheck(path, staleCheckTimeout<<attempt)
		if err == nil {
			c.Close()
			return fmt.Errorf("%s: %w", path, ErrInUse)
		}
		// A connection to a socket nobody listens on is refused at
		// once, by the kernel; the dial times out only when this
		// process did not get to try within the time (a machine
		// under load: 64 nodes starting on two cores), so it tries
		// again, with more time.
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			break
		}
	}
	// Only a refused connection proves that nobody listens: a full
	// backlog may be a live node under load.
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("control socket %s: cannot tell whether a node answers there: %v", path, unwrapOp(err))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale control socket: %w", err)
	}
	return nil
}

// CheckPath refuses a control socket path where something other than a
// socket is: the node would not start on it (whether a socket there is
// live or stale, only Listen finds out).
func CheckPath(path string) error {
	_, err := checkPath(path)
	return err
}

func checkPath(path string) (exists bool, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("control socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return true, fmt.Errorf("control socket %s: %s is there, not a socket; not removing it", path, fileKind(fi.Mode()))
	}
	return true, nil
}

func fileKind(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "a regular file"
	case fs.ModeDir:
		return "a directory"
	case fs.ModeSymlink:
		return "a symbolic link"
	case fs.ModeNamedPipe:
		return "a named pipe"
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		return "a device"
	}
	return "a " + m.Type().String() + " file"
}

// afterBind, when set by a test, is called with the private and the final
// path once the socket is bound, before it is given its mode.
var afterBind func(private, path string)

// listenPrivate binds the socket inside a new directory of mode 0700 next
// to path, sets its mode, and only then links it to path: there is no
// moment at which another user could reach it with the mode bind gave it
// (umask is process-wide, so it is not changed around bind). The link
// fails rather than replace a file that appeared at path meanwhile.
func listenPrivate(path string) (*net.UnixListener, fileID, error) {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".hanode-")
	if err != nil {
		return nil, fileID{}, fmt.Errorf("control socket: %w", err)
	}
	defer os.RemoveAll(dir)
	private := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: private, Net: "unix"})
	if err != nil {
		return nil, fileID{}, fmt.Errorf("control socket: %w", err)
	}
	// Close must not unlink a socket that a successor may already own; we
	// remove our own file explicitly in Close.
	ln.SetUnlinkOnClose(false)
	if afterBind != nil {
		afterBind(private, path)
	}
	if err := os.Chmod(private, 0o600); err != nil {
		ln.Close()
		return nil, fileID{}, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Link(private, path); err != nil {
		ln.Close()
		if errors.Is(err, fs.ErrExist) {
			return nil, fileID{}, fmt.Errorf("control socket %s: created by another process while this node started", path)
		}
		return nil, fileID{}, fmt.Errorf("control socket: %w", err)
	}
	id, err := identify(path)
	if err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fileID{}, fmt.Errorf("control socket: %w", err)
	}
	return ln, id, nil
}

// fileID tells one file from another that later takes its place: the
// inode number alone does not (ext4 reuses it at once), with the birth
// time it does where the filesystem records one.
type fileID struct {
	dev, ino uint64
	born     unix.StatxTimestamp
}

func identify(path string) (fileID, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_INO|unix.STATX_BTIME, &st); err != nil {
		return fileID{}, &fs.PathError{Op: "statx", Path: path, Err: err}
	}
	id := fileID{dev: uint64(st.Dev_major)<<32 | uint64(st.Dev_minor), ino: st.Ino}
	if st.Mask&unix.STATX_BTIME != 0 {
		id.born = st.Btime
	}
	return id, nil
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
		s.admit(c, h, stream)
	}
}

// admit serves a new connection if its peer may use the socket and a
// slot is free, or becomes free within admitWait: a burst of short
// connections does not turn a request away. Otherwise it says why not.
// At most MaxClients connections wait, so that a flood costs no more
// than MaxClients goroutines besides those served.
func (s *Server) admit(c *net.UnixConn, h Handler, stream StreamHandler) {
	uid, err := peerUID(c)
	if err != nil {
		s.log.Warn("control connection refused", "err", err)
		refuse(c, "control connection: peer credentials: "+err.Error())
		return
	}
	// The socket's mode already keeps others out; this holds even if the
	// mode is loosened by hand or the directory is shared.
	if uid != 0 && uid != s.uid {
		s.log.Warn("control connection refused: not root nor the node's user", "uid", uid)
		refuse(c, fmt.Sprintf("permission denied: uid %d may not use the control socket (root or uid %d only)", uid, s.uid))
		return
	}
	serve := func() {
		defer func() { <-s.slots }()
		s.serveConn(c, h, stream)
	}
	select {
	case s.slots <- struct{}{}:
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			serve()
		}()
		return
	default:
	}
	busy := fmt.Sprintf("control socket busy: %d clients connected; try again", MaxClients)
	select {
	case s.waiting <- struct{}{}:
	default:
		s.log.Debug("control connection refused", "err", busy)
		refuse(c, busy)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(admitWait)
		defer t.Stop()
		select {
		case s.slots <- struct{}{}:
			<-s.waiting
			serve()
		case <-t.C:
			<-s.waiting
			s.log.Debug("control connection refused", "err", busy)
			refuse(c, busy)
		case <-s.ctx.Done():
			<-s.waiting
			c.Close()
		}
	}()
}

// peerUID is the user of the process at the other end of c.
func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return int(cred.Uid), nil
}

// refuse answers a connection that is not served with why, and closes it.
// The request is not read: the client reads the answer all the same.
func refuse(c *net.UnixConn, why string) {
	c.SetDeadline(time.Now().Add(refuseTimeout))
	Write(c, &messages.ControlResponse{Error: why})
	c.Close()
}

func (s *Server) serveConn(c *net.UnixConn, h Handler, stream StreamHandler) {
	defer c.Close()
	stop := context.AfterFunc(s.ctx, func() { c.Close() })
	defer stop()
	for {
		c.SetDeadline(time.Now().Add(s.requestTimeout))
		req := &messages.ControlRequest{}
		if err := ReadRequest(c, req); err != nil {
			if errors.Is(err, ErrTooLarge) {
				// Said before its bytes are read: the client learns why.
				Write(c, &messages.ControlResponse{Error: "control request: " + err.Error()})
			}
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
	// Only our own socket: a successor may have replaced it.
	if id, ierr := identify(s.path); ierr == nil && id == s.file {
		if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
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
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), MaxMessage)
	}
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b)))
	_, err = w.Write(append(buf, b...))
	return err
}

// Read receives one length-prefixed message of at most MaxMessage bytes
// into m: a response, as the client reads it.
func Read(r io.Reader, m proto.Message) error { return readMessage(r, m, MaxMessage) }

// ReadRequest receives one length-prefixed message of at most MaxRequest
// bytes into m: a request, as the node reads it.
func ReadRequest(r io.Reader, m proto.Message) error { return readMessage(r, m, MaxRequest) }

// readMessage reads a message of at most limit bytes. Its buffer grows with
// the bytes that arrive, not with the length announced: a peer announcing
// much and sending little costs little.
func readMessage(r io.Reader, m proto.Message, limit uint32) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > limit {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, n, limit)
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err != nil {
		return fmt.Errorf("truncated message (%d of %d bytes): %w", len(b), n, err)
	}
	if len(b) < int(n) {
		return fmt.Errorf("truncated message (%d of %d bytes): %w", len(b), n, io.ErrUnexpectedEOF)
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
	werr := Write(conn, req)
	if werr != nil && !sent(werr) {
		return nil, fmt.Errorf("control request: %w", werr)
	}
	// Even when the request could not be sent, the node may have said why
	// before closing (busy, permission denied): that answer is the error.
	resp := &messages.ControlResponse{}
	if err := Read(conn, resp); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if werr != nil {
			return nil, fmt.Errorf("control request: %w", werr)
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
	if err := CheckNote(text); err != nil {
		return nil, err
	}
	resp, err := c.Do(ctx, &messages.ControlRequest{Request: &messages.ControlRequest_SendNote{SendNote: &messages.SendNoteRequest{Text: text}}})
	if err != nil {
		return nil, err
	}
	if resp.GetNoteSent() == nil {
		return nil, errors.New("control response without note")
	}
	return resp.GetNoteSent(), nil
}

// CheckNote refuses a note text over MaxNote bytes.
func CheckNote(text string) error {
	if len(text) > MaxNote {
		return fmt.Errorf("note of %d bytes exceeds the limit of %d bytes", len(text), MaxNote)
	}
	return nil
}

// Notes asks for the notes the node received, oldest first.
func (c *Client) Notes(ctx context.Context) ([]*messages.ReceivedNote, error) {
	resp, err := c.NotesAnswer(ctx)
	if err != nil {
		return nil, err
	}
	return resp.Notes, nil
}

// NotesAnswer is Notes with how many older notes the answer leaves out.
func (c *Client) NotesAnswer(ctx context.Context) (*messages.NotesResponse, error) {
	resp, err := c.Do(ctx, &messages.ControlRequest{Request: &messages.ControlRequest_Notes{Notes: &messages.NotesRequest{}}})
	if err != nil {
		return nil, err
	}
	if resp.GetNotes() == nil {
		return nil, errors.New("control response without notes")
	}
	return resp.GetNotes(), nil
}

// sent says whether a failed Write got as far as the connection: the node
// may then have answered, and its answer says more than the failure. A
// request that could not be encoded was never sent.
func sent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
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
	werr := Write(conn, &messages.ControlRequest{Request: &messages.ControlRequest_Trace{Trace: &messages.TraceRequest{Actors: actors, Types: types}}})
	if werr != nil && !sent(werr) {
		return fmt.Errorf("trace request: %w", werr)
	}
	for {
		resp := &messages.ControlResponse{}
		if err := Read(conn, resp); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if werr != nil {
				return fmt.Errorf("trace request: %w", werr)
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
