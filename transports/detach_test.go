package transports

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// detachForTest takes c out of the runtime's poller as a link does; the
// socket is closed when the test ends.
func detachForTest(tb testing.TB, c *net.UDPConn) *udpSocket {
	tb.Helper()
	s, err := detach(c)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.close() })
	return s
}

// readWithin reads one datagram of r's socket, waiting up to d for it.
func readWithin(r *rxReader, buf []byte, d time.Duration) (int, netip.AddrPort, netip.Addr, time.Time, error) {
	deadline := time.Now().Add(d)
	for {
		n, from, dst, at, err := r.read(buf)
		if !errors.Is(err, errNoDatagram) {
			return n, from, dst, at, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return n, from, dst, at, err
		}
		fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
		_, _ = unix.Poll(fds, int(left.Milliseconds())+1)
	}
}
