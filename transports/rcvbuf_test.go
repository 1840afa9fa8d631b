package transports

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/need"
)

// TestABurstWaitsInTheSocket: a burst of 1000 frames of 1200 bytes (every
// peer of a 64-node cluster resending at once) sent to a heartbeat socket
// that is not read meanwhile is all there once it is: the kernel's
// default buffer would have kept about a hundred.
func TestABurstWaitsInTheSocket(t *testing.T) {
	need.Root(t, "SO_RCVBUFFORCE raises the receive buffer beyond rmem_max")
	conn, err := listenUDP(netip.MustParseAddrPort("127.0.0.1:0"), socketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to := conn.LocalAddr().(*net.UDPAddr)
	out, err := net.DialUDP("udp4", nil, to)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	const burst = 1000
	frame := make([]byte, 1200)
	for i := range burst {
		frame[0], frame[1] = byte(i>>8), byte(i)
		if _, err := out.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	buf := make([]byte, 2048)
	for got < burst {
		conn.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := conn.ReadFromUDP(buf); err != nil {
			break
		}
		got++
	}
	if got != burst {
		t.Fatalf("%d of a burst of %d frames were kept", got, burst)
	}
}
