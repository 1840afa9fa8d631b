package transports

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// pausingCollector delivers into a channel and asks for a pause after the
// first packet.
type pausingCollector struct {
	pause time.Duration
	mu    sync.Mutex
	n     int
	got   chan delivery
}

type delivery struct {
	data string
	at   time.Time // when delivered
}

func (c *pausingCollector) deliver(p Packet) time.Duration {
	c.got <- delivery{data: string(p.Data), at: time.Now()}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if c.n == 1 {
		return c.pause
	}
	return 0
}

// TestReaderPauseHoldsTheDatagramsBehind: a pause Deliver asks for keeps
// the datagrams that arrive meanwhile in the socket; they are delivered,
// all and in order, once it ends.
func TestReaderPauseHoldsTheDatagramsBehind(t *testing.T) {
	const pause = 300 * time.Millisecond
	a1, a2 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	c := &pausingCollector{pause: pause, got: make(chan delivery, 16)}
	port := freeUDPPort(t, a2)
	m, err := OpenUcast(UcastConfig{Bind: a2, Port: port, Peers: []netip.Addr{a1}}, c.deliver, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	send := dialSender(t, netip.AddrPortFrom(a2, port))
	if err := send([]byte("0")); err != nil {
		t.Fatal(err)
	}
	first := receive(t, c.got)
	for i := 1; i <= 5; i++ {
		if err := send([]byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 5; i++ {
		d := receive(t, c.got)
		if d.data != strconv.Itoa(i) {
			t.Fatalf("delivered %q, want %d", d.data, i)
		}
		if waited := d.at.Sub(first.at); waited < pause-5*time.Millisecond {
			t.Fatalf("datagram %d delivered %v after the first: the pause of %v did not hold it", i, waited, pause)
		}
	}
}

func receive(t *testing.T, ch <-chan delivery) delivery {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("nothing delivered within 5s")
		return delivery{}
	}
}

// freeUDPPort is a UDP port free on addr now.
func freeUDPPort(t *testing.T, addr netip.Addr) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return localAddr(c).Port()
}

// senderEnv makes the test binary a sender of datagrams (helperSend).
const senderEnv = "HANODE_TEST_SEND_TO"

// arrivals is how many datagrams helperSend sends.
const arrivals = 120

func TestMain(m *testing.M) {
	if to := os.Getenv(senderEnv); to != "" {
		os.Exit(helperSend(to))
	}
	os.Exit(m.Run())
}

// helperSend sends arrivals datagrams to "addr:port", 2 ms apart, once a line
// comes on its standard input.
func helperSend(to string) int {
	c, err := net.Dial("udp4", to)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer c.Close()
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	for i := range arrivals {
		if _, err := c.Write([]byte(strconv.Itoa(i))); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0
}

// voluntarySwitches sums the voluntary context switches of this process's
// threads: each is a thread that went to sleep, so each wake of the
// process is one.
func voluntarySwitches(t *testing.T) int {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads in /proc/self/task: %v", err)
	}
	sum := 0
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that ended
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				sum += n
			}
		}
	}
	return sum
}

// TestPausingReaderIsNotWokenByArrivals: while the reader pauses, the
// datagrams that arrive do not wake the process. Go's poller would have
// woken a thread for each (it registers sockets edge-triggered, and every
// datagram is an edge): at 64 nodes that was about 40% of a node's wakes,
// and most of its CPU. Another process sends 120 datagrams 2 ms apart
// during a pause of 2 s, while this process sleeps; it must sleep through
// them. (A sleeping Go process still wakes now and then, for its timers,
// sysmon and the background scavenger: 7 to 22 times in such a test,
// against 130 or so for the old reader.)
func TestPausingReaderIsNotWokenByArrivals(t *testing.T) {
	const pause = 2 * time.Second
	a1, a2 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.3")
	c := &pausingCollector{pause: pause, got: make(chan delivery, arrivals+1)}
	port := freeUDPPort(t, a2)
	m, err := OpenUcast(UcastConfig{Bind: a2, Port: port, Peers: []netip.Addr{a1}}, c.deliver, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	to := netip.AddrPortFrom(a2, port)
	// The sender waits for a line on its standard input.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), senderEnv+"="+to.String())
	cmd.Stderr = os.Stderr
	start, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer start.Close()
	send := dialSender(t, to)
	if err := send([]byte("start")); err != nil {
		t.Fatal(err)
	}
	first := receive(t, c.got)
	// The pause is on: the datagrams arrive while this process has
	// nothing to do but sleep.
	before := voluntarySwitches(t)
	if _, err := start.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(pause / 4) // the sender's 240 ms, and more
	during := voluntarySwitches(t) - before
	if elapsed := time.Since(first.at); elapsed >= pause {
		t.Fatalf("%v went by: longer than the pause, the machine is too busy to tell", elapsed)
	}
	for i := range arrivals {
		d := receive(t, c.got)
		if d.data != strconv.Itoa(i) {
			t.Fatalf("delivered %q, want %d", d.data, i)
		}
		if d.at.Sub(first.at) < pause-5*time.Millisecond {
			t.Fatalf("datagram %d delivered during the pause", i)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sender: %v", err)
	}
	t.Logf("%d voluntary context switches while %d datagrams arrived during the pause", during, arrivals)
	if during >= arrivals/2 {
		t.Fatalf("%d voluntary context switches while %d datagrams arrived during a pause: the arrivals woke the process", during, arrivals)
	}
}
