package testhosts

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Cable is a null-modem cable made of two pseudo-terminals: what one
// program writes to A, another reads from B, and back. The test can cut it,
// restore it and inject garbage. Any program opens A and B as serial
// devices.
type Cable struct {
	// A and B are the two ends (pty slave paths, /dev/pts/N).
	A, B    string
	masters [2]*os.File
	slaves  [2]*os.File
	cut     atomic.Bool
	wg      sync.WaitGroup
	once    sync.Once
}

// NewCable creates a cable, closed when the test ends.
func NewCable(t testing.TB) *Cable {
	t.Helper()
	c := &Cable{}
	for i := range 2 {
		m, s, path, err := openPty()
		if err != nil {
			c.Close()
			t.Fatalf("testhosts: pseudo-terminal: %v", err)
		}
		c.masters[i], c.slaves[i] = m, s
		if i == 0 {
			c.A = path
		} else {
			c.B = path
		}
	}
	for i := range 2 {
		c.wg.Add(1)
		go c.carry(c.masters[i], c.masters[1-i])
	}
	t.Cleanup(c.Close)
	return c
}

// openPty opens a pseudo-terminal pair in raw mode. The slave stays open
// here so that the master never reads EIO before a program opens it.
func openPty() (master, slave *os.File, path string, err error) {
	// Non-blocking, and never made blocking by Fd(): os.NewFile then puts
	// it in the runtime poller, so that Close interrupts a read or write
	// under way and writes can have deadlines (see carry).
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, "", &os.PathError{Op: "open", Path: "/dev/ptmx", Err: err}
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, "", fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, "", fmt.Errorf("ptsname: %w", err)
	}
	path = fmt.Sprintf("/dev/pts/%d", n)
	slave, err = os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, "", err
	}
	// Raw from the start: no echo or line editing may garble frames before
	// the program that opens the device sets its own mode.
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err == nil {
		tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		tio.Oflag &^= unix.OPOST
		tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		tio.Cflag &^= unix.CSIZE | unix.PARENB
		tio.Cflag |= unix.CS8
		err = unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, tio)
	}
	if err != nil {
		slave.Close()
		master.Close()
		return nil, nil, "", fmt.Errorf("raw mode: %w", err)
	}
	return master, slave, path, nil
}

// carry copies what one end writes to the other end, dropping it while the
// cable is cut.
func (c *Cable) carry(from, to *os.File) {
	defer c.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := from.Read(buf)
		if n > 0 && !c.cut.Load() {
			// A serial line does not wait for a receiver that does not
			// read: what does not fit is lost (an overrun), and the
			// cable never blocks, so Close always ends it.
			to.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			to.Write(buf[:n])
		}
		if err != nil {
			return // closed, or the other side went away
		}
	}
}

// Cut stops the cable from carrying anything; what is written meanwhile is
// lost, as on a pulled cable.
func (c *Cable) Cut() { c.cut.Store(true) }

// Restore makes the cable carry bytes again.
func (c *Cable) Restore() { c.cut.Store(false) }

// Inject writes b into the cable towards end ("A" or "B"), as line noise.
func (c *Cable) Inject(end string, b []byte) error {
	i := 0
	if end == "B" {
		i = 1
	}
	_, err := c.masters[i].Write(b)
	return err
}

// Close ends the cable.
func (c *Cable) Close() {
	c.once.Do(func() {
		for i := range 2 {
			if c.masters[i] != nil {
				c.masters[i].Close()
			}
			if c.slaves[i] != nil {
				c.slaves[i].Close()
			}
		}
		c.wg.Wait()
	})
}
