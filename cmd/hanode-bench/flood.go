package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/internal/lab/demo"
	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/transports/frame"
)

// floodSecret is the sha256 key of the flood cluster: the "announce" flood
// plays a peer holding the key (buggy or compromised), the others do not
// use it.
const floodSecret = "flood-bench-secret"

// flood runs a 2-node cluster (3 configured: the flooder may speak for the
// third) and measures node1's RSS and CPU while one kind of hostile input
// hits it (issue 10's items 1, 6 and 8):
//
//	crc      forged frames "signed" with the crc key listed next to the
//	         active sha256 key: generation 2^40, status DEAD, a note;
//	announce authentic frames of a peer announcing message 2^62 (and a
//	         new huge one in every frame);
//	control  -conns connections to the control socket, each announcing a
//	         16 MiB request and sending 5 bytes, reopened as they close.
//
// It reports RSS and CPU before, during and after, and whether node2 was
// seen dead by node1 at any point (a false death).
func flood(args []string) error {
	fs := flag.NewFlagSet("flood", flag.ExitOnError)
	kind := fs.String("kind", "crc", "crc, announce or control")
	duration := fs.Duration("duration", 20*time.Second, "flood time")
	conns := fs.Int("conns", 60, "control connections (kind control)")
	bin := fs.String("hanode", "", "hanode binary (default: next to this program)")
	fs.Parse(args)
	exe, err := hanodeBinary(*bin)
	if err != nil {
		return err
	}
	auth := fmt.Sprintf("auth { active_key: 2 keys { id: 1 method: AUTH_METHOD_CRC } keys { id: 2 method: AUTH_METHOD_SHA256 secret: %q } }", floodSecret)
	c, err := demo.New(demo.Options{Exe: exe, Nodes: 2, Configured: 3, Keepalive: 100 * time.Millisecond, Deadtime: 500 * time.Millisecond, Auth: auth})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.StartAll(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n1, n2 := c.Nodes()[0], c.Nodes()[1]
	s, err := n1.WaitStatus(ctx, func(s *messages.ClusterStatus) bool {
		st := demo.State(s, n2.Name)
		return st != nil && st.Status == messages.NodeStatus_NODE_STATUS_ACTIVE
	})
	if err != nil {
		return fmt.Errorf("node2 never active at node1: %w", err)
	}
	n1Gen := s.Generation

	var attack func(stop <-chan struct{}) (uint64, error)
	switch *kind {
	case "crc":
		attack = func(stop <-chan struct{}) (uint64, error) { return floodFrames(stop, c.Port(), crcForgery(n1Gen)) }
	case "announce":
		attack = func(stop <-chan struct{}) (uint64, error) { return floodFrames(stop, c.Port(), hostileAnnounce(n1Gen)) }
	case "control":
		attack = func(stop <-chan struct{}) (uint64, error) { return floodControl(stop, n1.Socket, *conns) }
	default:
		return fmt.Errorf("flood: unknown kind %q (crc, announce, control)", *kind)
	}

	measure := func(d time.Duration) (maxRSS int64, cpuPct float64, falseDeath bool, err error) {
		cpu0, err := cpuTime(n1.PID())
		if err != nil {
			return 0, 0, false, err
		}
		begin := time.Now()
		for time.Since(begin) < d {
			time.Sleep(min(200*time.Millisecond, d-time.Since(begin)))
			if rss, err := rssKiB(n1.PID()); err == nil && rss > maxRSS {
				maxRSS = rss
			}
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
			st, err := n1.Status(sctx)
			scancel()
			if err == nil {
				if ns := demo.State(st, n2.Name); ns == nil || ns.Status == messages.NodeStatus_NODE_STATUS_DEAD {
					falseDeath = true
				}
			}
		}
		cpu1, err := cpuTime(n1.PID())
		if err != nil {
			return 0, 0, false, err
		}
		return maxRSS, 100 * (cpu1 - cpu0).Seconds() / time.Since(begin).Seconds(), falseDeath, nil
	}
	settle := min(*duration, 5*time.Second)
	rss0, cpu0, _, err := measure(settle)
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	var sent uint64
	var attackErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sent, attackErr = attack(stop)
	}()
	rss1, cpu1, dead1, err := measure(*duration)
	close(stop)
	wg.Wait()
	if err != nil {
		return err
	}
	if attackErr != nil {
		return fmt.Errorf("flood: %w", attackErr)
	}
	rss2, cpu2, dead2, err := measure(settle)
	if err != nil {
		return err
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	final, err := n1.Status(sctx)
	if err != nil {
		return fmt.Errorf("node1 does not answer after the flood: %w", err)
	}
	for _, ev := range final.RecentEvents {
		if ev.Node == n2.Name && ev.Status == messages.NodeStatus_NODE_STATUS_DEAD {
			fmt.Printf("node1 saw node2 dead: %s\n", ev.Reason)
		}
	}
	fmt.Printf("flood %s for %v: %d sent\n", *kind, *duration, sent)
	fmt.Printf("%-8s %12s %8s\n", "phase", "max RSS MiB", "CPU %")
	fmt.Printf("%-8s %12.1f %8.1f\n", "before", float64(rss0)/1024, cpu0)
	fmt.Printf("%-8s %12.1f %8.1f\n", "during", float64(rss1)/1024, cpu1)
	fmt.Printf("%-8s %12.1f %8.1f\n", "after", float64(rss2)/1024, cpu2)
	fmt.Printf("summary: flood %s: node1 RSS %.1f -> %.1f MiB (after %.1f), CPU %.1f%% during; node2 seen dead: %v; rejected %v\n",
		*kind, float64(rss0)/1024, float64(rss1)/1024, float64(rss2)/1024, cpu1, dead1 || dead2, final.RejectedFrames)
	return nil
}

// floodFrames sends the frames next returns to node1 as fast as one
// goroutine can, until stop.
func floodFrames(stop <-chan struct{}, port int, next func(i uint64) ([]byte, error)) (uint64, error) {
	conn, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var i uint64
	for {
		select {
		case <-stop:
			return i, nil
		default:
		}
		i++
		b, err := next(i)
		if err != nil {
			return i, err
		}
		// A full socket buffer drops datagrams: that is the point.
		conn.Write(b)
	}
}

func keyring(active uint32, keys ...*messages.AuthKey) *frame.Keyring {
	k, err := frame.NewKeyring(&messages.Auth{ActiveKey: proto.Uint32(active), Keys: keys})
	if err != nil {
		panic(err)
	}
	return k
}

// crcForgery is what anyone on the network can send to a cluster listing
// a crc key: frames in node2's name with generation 2^40 echoing node1,
// status DEAD, and notes announcing message 3,000,000.
func crcForgery(n1Gen uint64) func(uint64) ([]byte, error) {
	k := keyring(1, &messages.AuthKey{Id: 1, Method: messages.AuthMethod_AUTH_METHOD_CRC})
	return func(i uint64) ([]byte, error) {
		now := time.Now().UnixNano()
		env := &messages.Envelope{Cluster: "demo", Sender: "node2", Generation: 1 << 40, Sequence: i, SendTimeUnixNano: now}
		if i%2 == 0 {
			env.Body = &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{Status: messages.NodeStatus_NODE_STATUS_DEAD,
				LastMessageSequence: 3_000_000, Sessions: []*messages.PeerSession{{Node: "node1", Generation: n1Gen, HeardSendTimeUnixNano: now}}}}
		} else {
			env.Body = &messages.Envelope_Message{Message: &messages.ClusterMessage{MessageSequence: 3_000_000,
				Payload: &messages.ClusterMessage_Note{Note: &messages.Note{Text: "forged"}}}}
		}
		return k.Seal(env)
	}
}

// hostileAnnounce plays node3 holding the key: a real-looking life that
// echoes node1 and announces ever larger last message numbers from 2^62.
func hostileAnnounce(n1Gen uint64) func(uint64) ([]byte, error) {
	k := keyring(2, &messages.AuthKey{Id: 2, Method: messages.AuthMethod_AUTH_METHOD_SHA256, Secret: floodSecret})
	gen := uint64(time.Now().Unix())
	return func(i uint64) ([]byte, error) {
		now := time.Now().UnixNano()
		return k.Seal(&messages.Envelope{Cluster: "demo", Sender: "node3", Generation: gen, Sequence: i, SendTimeUnixNano: now,
			Body: &messages.Envelope_Heartbeat{Heartbeat: &messages.Heartbeat{Status: messages.NodeStatus_NODE_STATUS_ACTIVE,
				LastMessageSequence: 1<<62 + i*1_000_000, Sessions: []*messages.PeerSession{{Node: "node1", Generation: n1Gen, HeardSendTimeUnixNano: now}}}}})
	}
}

// floodControl keeps conns connections open to the control socket, each
// announcing a 16 MiB request and sending 5 bytes of it; connections the
// node closes are opened again.
func floodControl(stop <-chan struct{}, socket string, conns int) (uint64, error) {
	var opened uint64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("unix", socket, time.Second)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mu.Lock()
				opened++
				mu.Unlock()
				hdr := binary.BigEndian.AppendUint32(nil, 16<<20)
				c.Write(append(hdr, 1, 2, 3, 4, 5))
				// Hold it until the node gives up on it or the flood ends.
				done := make(chan struct{})
				go func() {
					buf := make([]byte, 64)
					c.Read(buf)
					close(done)
				}()
				select {
				case <-stop:
				case <-done:
				}
				c.Close()
			}
		}()
	}
	<-stop
	wg.Wait()
	return opened, nil
}
