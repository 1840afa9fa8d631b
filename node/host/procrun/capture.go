package procrun

import (
	"errors"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A program's output goes to a pipe that a goroutine reads while it runs,
// keeping a bounded part of it (buffer): an agent printing 512 MiB costs
// MaxOutput bytes, not 512 MiB, as it would in an in-memory file (which a
// leftover writer could also grow after the run, out of hanode's reach).
//
// The run ends when the program exits, not when the pipe does: a daemon
// it started (IPaddr2's send_arp) inherits the write end and may keep it
// open long after. At the exit, the reader takes what is in the pipe then
// (all the program wrote is: it has exited) and the run has its output.
// From then on the reader keeps reading whatever a leftover process
// writes and throws it away, until the pipe's end (the last writer gone):
//   - closing the read end instead would kill that daemon with SIGPIPE at
//     its next write;
//   - not reading would block it once the pipe is full;
//   - keeping it would grow without end (a start script leaving `yes`
//     running).
//
// It reads at most discardRate bytes a second, so that such a process
// does not have hanode spend a CPU reading it either: faster, it waits in
// write. A leftover writer costs a goroutine and the reader's buffer.

const (
	// firstChunk is the reader's first read size, and its read size for
	// as long as no read fills it; then it reads chunkSize at a time.
	// Most runs are a status check printing a line, every few seconds
	// for as long as the node runs: a 32 kB buffer for each (and a 16 kB
	// one after it) was most of what an idle node with a group allocated,
	// and so set how fast its heap grew to the collector's goal.
	firstChunk = 4 << 10
	chunkSize  = 32 << 10
	// discardRate: how fast leftover output is read after the run.
	discardRate = 1 << 20
)

// lingering counts the readers still draining a pipe a leftover process
// holds, after the run that made it ended (for tests).
var lingering atomic.Int64

// capture is one output pipe and its reader.
type capture struct {
	r, w *os.File
	buf  buffer
	// result is what the reader kept, once the program exited or the
	// pipe ended.
	result chan snapshot
}

type snapshot struct {
	data       []byte
	overflowed bool
}

// buffer keeps a bounded part of a stream.
type buffer interface {
	write(p []byte)
	snapshot() snapshot
}

func newCapture(buf buffer) (*capture, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	return &capture{r: r, w: w, buf: buf, result: make(chan snapshot, 1)}, nil
}

// started closes hanode's copy of the write end, once the program has its
// own (or failed to start), and starts reading.
func (c *capture) started() {
	if c == nil {
		return
	}
	c.w.Close()
	go c.read()
}

// abandon releases a capture never started.
func (c *capture) abandon() {
	if c == nil {
		return
	}
	c.w.Close()
	c.r.Close()
}

// exited returns what was kept of the output, once the program exited:
// it wakes the reader (a read deadline already passed), which takes what
// is still in the pipe and answers.
func (c *capture) exited() snapshot {
	// An error means the reader already saw the pipe's end and closed it;
	// its result is there.
	c.r.SetReadDeadline(time.Now())
	return <-c.result
}

func (c *capture) read() {
	chunk := make([]byte, firstChunk)
	for {
		n, err := c.r.Read(chunk)
		c.buf.write(chunk[:n])
		if err == nil {
			if n == len(chunk) && len(chunk) < chunkSize {
				// Much to say: fewer, larger reads.
				chunk = make([]byte, chunkSize)
			}
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			// The pipe's end (nobody holds it any more) before the exit
			// was noticed: all of it is here.
			c.result <- c.buf.snapshot()
			c.r.Close()
			return
		}
		// The program exited (exited set the deadline).
		c.drain(chunk)
		c.result <- c.buf.snapshot()
		c.buf = nil
		lingering.Add(1)
		c.discard(chunk)
		lingering.Add(-1)
		c.r.Close()
		return
	}
}

// drain reads what is in the pipe now, without waiting for more: the
// program has exited, so all it wrote is there.
func (c *capture) drain(chunk []byte) {
	// The deadline that woke the reader would fail the reads.
	c.r.SetReadDeadline(time.Time{})
	rc, err := c.r.SyscallConn()
	if err != nil {
		return
	}
	var avail int
	// TIOCINQ is FIONREAD: the bytes waiting in the pipe.
	rc.Control(func(fd uintptr) { avail, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) })
	// A leftover process may keep writing: only what was there at the
	// exit is taken, so this ends.
	for avail > 0 {
		n := 0
		rc.Read(func(fd uintptr) bool {
			// The pipe is non-blocking: this returns at once.
			n, _ = unix.Read(int(fd), chunk[:min(avail, len(chunk))])
			return true
		})
		if n <= 0 {
			return
		}
		c.buf.write(chunk[:n])
		avail -= n
	}
}

// discard reads and throws away what leftover processes write, at most
// discardRate bytes a second, until the last of them closes the pipe.
func (c *capture) discard(chunk []byte) {
	for {
		n, err := c.r.Read(chunk)
		if err != nil {
			return
		}
		time.Sleep(time.Duration(n) * time.Second / discardRate)
	}
}

// tail keeps the last limit bytes written, in a slice that grows as they
// come (most outputs are a line) but never past limit.
type tail struct {
	b     []byte
	limit int
	over  bool
}

func newTail(limit int) *tail { return &tail{limit: limit} }

func (t *tail) write(p []byte) {
	if len(p) == 0 {
		return
	}
	if len(p) >= t.limit {
		t.over = t.over || len(t.b) > 0 || len(p) > t.limit
		t.b = append(t.room(t.limit)[:0], p[len(p)-t.limit:]...)
		return
	}
	if drop := len(t.b) + len(p) - t.limit; drop > 0 {
		t.over = true
		n := copy(t.b, t.b[drop:])
		t.b = t.b[:n]
	}
	t.b = append(t.room(len(t.b)+len(p)), p...)
}

// room returns t.b with a capacity of at least need (at most limit),
// grown as head grows.
func (t *tail) room(need int) []byte {
	if need > cap(t.b) {
		nb := make([]byte, len(t.b), min(t.limit, max(need, 2*cap(t.b), 512)))
		copy(nb, t.b)
		t.b = nb
	}
	return t.b
}

func (t *tail) snapshot() snapshot {
	return snapshot{data: append([]byte(nil), t.b...), overflowed: t.over}
}

// head keeps the first limit bytes written, growing as they come (most
// outputs are short) but never past limit.
type head struct {
	b     []byte
	limit int
	over  bool
}

func newHead(limit int) *head { return &head{limit: limit} }

func (h *head) write(p []byte) {
	if room := h.limit - len(h.b); len(p) > room {
		p, h.over = p[:room], true
	}
	if len(p) == 0 {
		return
	}
	if need := len(h.b) + len(p); need > cap(h.b) {
		nb := make([]byte, len(h.b), min(h.limit, max(need, 2*cap(h.b), 512)))
		copy(nb, h.b)
		h.b = nb
	}
	h.b = append(h.b, p...)
}

func (h *head) snapshot() snapshot { return snapshot{data: h.b, overflowed: h.over} }
