package transports

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// What a receiving socket tells of each datagram besides its bytes and
// sender: its destination address, which says by which medium it came
// (IP_PKTINFO, IPV6_RECVPKTINFO on an IPv6 socket; see media.go), and
// when the kernel received it (SO_TIMESTAMPNS).
//
// The receive time matters because a datagram may wait in the socket a
// long time before the reader takes it: the reader pauses between reads
// on purpose (actors.ReadCoalesce), and under overload frames queue in
// the socket's buffer (ReceiveBuffer: seconds of frames) while the node
// is too busy to read. A Packet's At is when the frame arrived, not when
// it was read, so that membership counts the time it waited as this
// node's own lateness (a node that reads old frames late ran late, and
// its peers were not silent meanwhile).
//
// The kernel's time is the wall clock (CLOCK_REALTIME; Linux has no
// monotonic socket timestamp), and hanode compares At with time.Now()
// and its timers by the monotonic clock. So At is not the kernel's time
// itself but a monotonic reading: the time of the read, less the wait the
// kernel's time measures (the wall clock at the read minus the kernel's
// time), at least nothing and at most MaxSocketWait. A step of the wall
// clock while a datagram waits (a clock set by hand, NTP stepping; not
// the slewing of NTP, which is negligible) adds to or takes from that
// wait: a step back makes the wait nothing (At is the time of the read,
// as without a timestamp), a step forward makes it look longer, by at
// most MaxSocketWait.
//
// Without a timestamp (the option refused, the control message missing or
// malformed) At is the time of the read, as before. Linux turns receive
// timestamps on for the whole host when a first socket asks (deferred
// work, net_enable_timestamp): until that has run, moments after the
// first link opens, the kernel stamps a datagram when it is read, which
// is the same.

// MaxSocketWait bounds how long a datagram is taken to have waited in
// the socket before it was read. A longer wait by the wall clock is most
// likely a step of the clock; a node that really left its frames unread
// that long (stopped, a paused VM) has missed its deadlines by far more
// and counts them late anyway.
const MaxSocketWait = time.Minute

// rxInfo is what the control messages of one datagram say.
type rxInfo struct {
	// dst is the datagram's destination address; invalid when the
	// kernel did not say.
	dst netip.Addr
	// stamp is when the kernel received the datagram, in nanoseconds
	// since the Unix epoch by the wall clock; 0 when it did not say.
	stamp int64
}

// oobSize holds the control messages asked for: a destination address
// (an IPv6 one is the larger) and a timestamp (a 64-bit timespec or
// timeval is the larger), with room to spare.
var oobSize = 2 * (unix.CmsgSpace(unix.SizeofInet6Pktinfo) + unix.CmsgSpace(16))

// rxReader reads the datagrams of one receiving socket (a udpSocket,
// nonblocking) with their destination address and receive time.
type rxReader struct {
	fd  int
	oob []byte
	// dst and stamp say whether the kernel agreed to report each.
	dst, stamp bool
	// zones names the interfaces of IPv6 senders' zones by index.
	zones map[uint32]string
}

// newRxReader asks the kernel to report, with each datagram of s, its
// destination address and receive time. A refusal is not an error: the
// reader then goes without (every datagram is taken as a medium's own,
// or as received when read).
func newRxReader(s *udpSocket) *rxReader {
	r := &rxReader{fd: s.fd, oob: make([]byte, oobSize)}
	r.dst, r.stamp = enableRxInfo(s.fd, s.v6)
	return r
}

// enableRxInfo sets the socket options for the destination address and
// the receive time. The timestamp with a 64-bit time everywhere
// (SO_TIMESTAMPNS_NEW, Linux 5.1) is preferred to the one of the
// architecture's time_t, and either to microseconds (SO_TIMESTAMP).
func enableRxInfo(fd int, v6 bool) (dst, stamp bool) {
	if v6 {
		dst = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1) == nil
	} else {
		dst = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1) == nil
	}
	for _, opt := range []int{unix.SO_TIMESTAMPNS_NEW, unix.SO_TIMESTAMPNS, unix.SO_TIMESTAMP} {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 1) == nil {
			return dst, true
		}
	}
	return dst, false
}

// errNoDatagram is what read returns when none waits in the socket.
var errNoDatagram = errors.New("no datagram waiting")

// read reads one datagram into b without waiting: its size, sender,
// destination address (invalid when unknown) and when it arrived; or
// errNoDatagram.
func (r *rxReader) read(b []byte) (n int, from netip.AddrPort, dst netip.Addr, at time.Time, err error) {
	var oobn int
	var sa syscall.Sockaddr
	for {
		// The standard library's recvmsg, not x/sys/unix's: that one asks
		// the socket's protocol (a getsockopt) for every IPv4 datagram.
		n, oobn, _, sa, err = syscall.Recvmsg(r.fd, b, r.oob, syscall.MSG_DONTWAIT)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	now := time.Now()
	switch {
	case errors.Is(err, syscall.EAGAIN):
		return 0, from, netip.Addr{}, now, errNoDatagram
	case err != nil:
		return 0, from, netip.Addr{}, now, os.NewSyscallError("recvmsg", err)
	}
	from = r.addrPort(sa)
	info := parseRxControl(r.oob[:oobn])
	if !r.dst {
		info.dst = netip.Addr{}
	}
	return n, from, info.dst, receivedAt(now, info.stamp), nil
}

// addrPort is a sender's address; an IPv6 one keeps its zone's name.
func (r *rxReader) addrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *syscall.SockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			a = a.WithZone(r.zone(sa.ZoneId))
		}
		return netip.AddrPortFrom(a, uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// zone names interface index i, looked up once (a lookup is a netlink
// request); its number if it has no name.
func (r *rxReader) zone(i uint32) string {
	if z, ok := r.zones[i]; ok {
		return z
	}
	z := strconv.FormatUint(uint64(i), 10)
	if ifi, err := net.InterfaceByIndex(int(i)); err == nil {
		z = ifi.Name
	}
	if r.zones == nil || len(r.zones) >= 64 {
		r.zones = map[uint32]string{}
	}
	r.zones[i] = z
	return z
}

// receivedAt is when a datagram read at now arrived, by the kernel's
// receive time stamp (0: unknown): now less the wait the wall clock
// measures, within [0, MaxSocketWait]. The result keeps now's monotonic
// reading.
func receivedAt(now time.Time, stamp int64) time.Time {
	if stamp <= 0 {
		return now
	}
	wait := time.Duration(now.UnixNano() - stamp)
	if wait <= 0 {
		return now
	}
	return now.Add(-min(wait, MaxSocketWait))
}

// cmsgAlign is the alignment of control messages (that of a long).
var (
	cmsgHeader = unix.CmsgLen(0)
	cmsgAlign  = unix.CmsgSpace(1) - unix.CmsgLen(0)
)

// parseRxControl reads the destination address and the receive time from
// control messages as the kernel writes them (recvmsg's msg_control).
// It reads the bytes as they are: a truncated or malformed message ends
// the parse, and what it did not find is unknown (never a panic).
// Allocation-free: it runs on every datagram.
func parseRxControl(oob []byte) rxInfo {
	var info rxInfo
	for len(oob) >= cmsgHeader {
		var size uint64
		var level, typ int32
		if unix.SizeofCmsghdr == 16 {
			size = binary.NativeEndian.Uint64(oob[0:8])
			level = int32(binary.NativeEndian.Uint32(oob[8:12]))
			typ = int32(binary.NativeEndian.Uint32(oob[12:16]))
		} else {
			size = uint64(binary.NativeEndian.Uint32(oob[0:4]))
			level = int32(binary.NativeEndian.Uint32(oob[4:8]))
			typ = int32(binary.NativeEndian.Uint32(oob[8:12]))
		}
		if size < uint64(cmsgHeader) || size > uint64(len(oob)) {
			break
		}
		data := oob[cmsgHeader:size]
		switch {
		case level == unix.IPPROTO_IP && typ == unix.IP_PKTINFO:
			// struct in_pktinfo: ifindex, spec_dst, addr (the header's
			// destination).
			if len(data) >= unix.SizeofInet4Pktinfo {
				info.dst = netip.AddrFrom4([4]byte(data[8:12]))
			}
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO:
			// struct in6_pktinfo: addr, ifindex.
			if len(data) >= unix.SizeofInet6Pktinfo {
				info.dst = netip.AddrFrom16([16]byte(data[0:16])).Unmap()
			}
		case level == unix.SOL_SOCKET && (typ == unix.SO_TIMESTAMPNS_NEW || typ == unix.SO_TIMESTAMPNS):
			if ns, ok := timestamp(data, 1); ok {
				info.stamp = ns
			}
		case level == unix.SOL_SOCKET && (typ == unix.SO_TIMESTAMP_NEW || typ == unix.SO_TIMESTAMP):
			if ns, ok := timestamp(data, 1000); ok {
				info.stamp = ns
			}
		}
		next := (size + uint64(cmsgAlign) - 1) &^ uint64(cmsgAlign-1)
		if next >= uint64(len(oob)) {
			break
		}
		oob = oob[next:]
	}
	return info
}

// timestamp reads a timespec (unit 1: seconds and nanoseconds) or a
// timeval (unit 1000: seconds and microseconds) of 64-bit fields (the
// _NEW options, and every 64-bit architecture) or 32-bit ones (the old
// options on a 32-bit architecture), as nanoseconds since the epoch.
func timestamp(data []byte, unit int64) (int64, bool) {
	var sec, frac int64
	switch len(data) {
	case 16:
		sec = int64(binary.NativeEndian.Uint64(data[0:8]))
		frac = int64(binary.NativeEndian.Uint64(data[8:16]))
	case 8:
		sec = int64(int32(binary.NativeEndian.Uint32(data[0:4])))
		frac = int64(int32(binary.NativeEndian.Uint32(data[4:8])))
	default:
		return 0, false
	}
	// Within the years time.Duration counts from the epoch (to 2262).
	if sec <= 0 || sec >= (1<<63-1)/int64(time.Second)-1 || frac < 0 || frac >= int64(time.Second)/unit {
		return 0, false
	}
	return sec*int64(time.Second) + frac*unit, true
}
