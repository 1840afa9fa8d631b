package transports

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Sockets the Go runtime does not poll, so that a reader can pause.
//
// A busy link's reader pauses after a frame on purpose (Deliver's pause,
// actors.ReadCoalesce): the frames that come meanwhile wait in the socket
// and are taken in with one wake of the process, not one each. But Go's
// poller registers every socket edge-triggered (EPOLLET), and the kernel
// signals an edge for every datagram queued on a socket: the thread
// waiting in epoll_pwait woke for each frame that arrived during a pause,
// found nobody reading, and slept again. A node of a 64-node cluster
// (64 frames a second, 8 to 10 pauses) woke about 96 times a second for
// 57 goroutines to run (Go execution trace), and waking, the scheduler's
// search for work included, was most of its CPU (perf: findRunnable,
// netpoll, epoll_pwait and the context switches, more than half of it).
//
// So a link's sockets are opened as usual (net, with their options, groups
// joined), then taken out of the runtime's poller (detach: the socket is
// duplicated and the runtime's descriptor closed, which removes it from
// the poller and leaves the socket open). A pacedReader waits for one: an
// epoll instance of its own holds the socket one-shot (EPOLLONESHOT: once
// it reported a datagram, nothing more until the reader asks again) and a
// timer (timerfd) that ends a pause; the runtime polls that instance, not
// the socket. While the reader pauses, datagrams queue in the socket
// without a sound, and the timer wakes it once, at the pause's end.

// udpSocket is a UDP socket outside the runtime's poller: its descriptor,
// nonblocking, and its local address.
type udpSocket struct {
	fd    int
	local netip.AddrPort
	v6    bool
}

// detach takes c's socket out of the runtime's poller and returns it; c is
// closed. Options set and groups joined on c stay: they belong to the
// socket, which the duplicate keeps open.
func detach(c *net.UDPConn) (*udpSocket, error) {
	local := localAddr(c)
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("socket %s: %w", local, err)
	}
	fd, derr := -1, error(nil)
	if err := raw.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		derr = err
	}
	c.Close()
	if derr != nil {
		return nil, fmt.Errorf("socket %s: duplicate: %w", local, derr)
	}
	// The duplicate shares the runtime's file status flags: nonblocking.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("socket %s: nonblocking: %w", local, err)
	}
	return &udpSocket{fd: fd, local: local, v6: !local.Addr().Unmap().Is4()}, nil
}

func (s *udpSocket) close() error { return unix.Close(s.fd) }

// sockaddr is where a datagram of s goes to reach to: an IPv4 address for
// an IPv4 socket, an IPv6 one (a zone named or numbered) for an IPv6 one.
func (s *udpSocket) sockaddr(to netip.AddrPort) (unix.Sockaddr, error) {
	a := to.Addr()
	if !s.v6 {
		if !a.Unmap().Is4() {
			return nil, fmt.Errorf("%s: not an IPv4 address", to)
		}
		return &unix.SockaddrInet4{Port: int(to.Port()), Addr: a.Unmap().As4()}, nil
	}
	sa := &unix.SockaddrInet6{Port: int(to.Port()), Addr: a.As16()}
	if zone := a.Zone(); zone != "" {
		if ifi, err := net.InterfaceByName(zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		} else if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
			sa.ZoneId = uint32(n)
		} else {
			return nil, fmt.Errorf("%s: unknown zone %q", to, zone)
		}
	}
	return sa, nil
}

// sendWaits bounds how often, and sendRoom how long each time, a send that
// finds the socket's buffer full waits for room: the kernel frees it as
// the device sends, within microseconds on a working interface. A
// heartbeat that could not leave within that is late anyway; the next one
// is due.
const (
	sendWaits = 3
	sendRoom  = 20 // milliseconds
)

// sendTo sends b to sa (to, for errors) from s.
func (s *udpSocket) sendTo(b []byte, sa unix.Sockaddr, to netip.AddrPort) error {
	for waits := 0; ; {
		err := unix.Sendto(s.fd, b, 0, sa)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN) && waits < sendWaits:
			waits++
			fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLOUT}}
			_, _ = unix.Poll(fds, sendRoom)
			continue
		}
		return &net.OpError{Op: "write", Net: s.network(), Source: net.UDPAddrFromAddrPort(s.local),
			Addr: net.UDPAddrFromAddrPort(to), Err: os.NewSyscallError("sendto", err)}
	}
}

func (s *udpSocket) network() string {
	if s.v6 {
		return "udp6"
	}
	return "udp4"
}

// pacedReader waits for the datagrams of one udpSocket, or for the end of
// a pause, without being woken by datagrams while it pauses.
type pacedReader struct {
	// ep is the epoll instance holding the socket (one-shot) and the
	// timer; the runtime polls it. Every use of its descriptor goes
	// through epc, which holds it open meanwhile.
	ep  *os.File
	epc syscall.RawConn
	// timer is the timerfd that ends a pause; sock the socket's
	// descriptor.
	timer, sock int
	closed      atomic.Bool
	events      [2]unix.EpollEvent
}

// newPacedReader makes a reader for s, waiting for its first datagram.
func newPacedReader(s *udpSocket) (*pacedReader, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	timer, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	fail := func(what string, err error) (*pacedReader, error) {
		unix.Close(epfd)
		unix.Close(timer)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, timer, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(timer)}); err != nil {
		return fail("epoll add timer", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, s.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(s.fd)}); err != nil {
		return fail("epoll add socket", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		return fail("epoll nonblocking", err)
	}
	// Nonblocking, the descriptor goes into the runtime's poller; from
	// here on the File owns it.
	ep := os.NewFile(uintptr(epfd), "epoll")
	epc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		unix.Close(timer)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	return &pacedReader{ep: ep, epc: epc, timer: timer, sock: s.fd}, nil
}

// errReaderClosed is what wait returns once close was called.
var errReaderClosed = errors.New("reader closed")

// wait blocks until the socket has a datagram (once armed) or a pause
// ended.
func (r *pacedReader) wait() error {
	var werr error
	err := r.epc.Read(func(fd uintptr) bool {
		for {
			n, err := unix.EpollWait(int(fd), r.events[:], 0)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				werr = fmt.Errorf("epoll wait: %w", err)
				return true
			}
			if n == 0 {
				return false // nothing yet: the runtime's poller waits
			}
			for _, ev := range r.events[:n] {
				if int(ev.Fd) == r.timer {
					var b [8]byte
					_, _ = unix.Read(r.timer, b[:]) // expirations: clears it
				}
			}
			return true
		}
	})
	if r.closed.Load() {
		return errReaderClosed
	}
	if err != nil {
		return fmt.Errorf("epoll: %w", err)
	}
	return werr
}

// arm asks for the socket's next datagram: wait returns when one is there,
// at once if one waits already.
func (r *pacedReader) arm() error {
	return r.ctl(func(epfd int) error {
		return unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, r.sock, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(r.sock)})
	})
}

// pause makes wait return d from now, whatever arrives meanwhile; the
// socket must not be armed (it is not after wait returned for it).
func (r *pacedReader) pause(d time.Duration) error {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(max(d, 1).Nanoseconds())}
	if err := unix.TimerfdSettime(r.timer, 0, &spec, nil); err != nil {
		return fmt.Errorf("timerfd: %w", err)
	}
	return nil
}

func (r *pacedReader) ctl(f func(epfd int) error) error {
	var cerr error
	if err := r.epc.Control(func(fd uintptr) { cerr = f(int(fd)) }); err != nil {
		if r.closed.Load() {
			return errReaderClosed
		}
		return fmt.Errorf("epoll: %w", err)
	}
	if cerr != nil {
		return fmt.Errorf("epoll: %w", cerr)
	}
	return nil
}

// close makes wait return errReaderClosed, at once if the reader waits,
// and releases the epoll instance once the reader left it; a second close
// does nothing. The timer is released by release, after the reader's
// goroutine ended.
func (r *pacedReader) close() error {
	if r.closed.Swap(true) {
		return nil
	}
	return r.ep.Close()
}

// release frees the timer; the reader must have stopped.
func (r *pacedReader) release() error { return unix.Close(r.timer) }
