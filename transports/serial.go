package transports

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/hanode/hanode/transports/medium"
)

// SerialConfig describes a serial link (Heartbeat `serial /dev/ttyS0`,
// `baud`). A serial link joins two nodes with a null-modem cable; hanode
// does not forward frames around a ring of serial lines as Heartbeat did.
type SerialConfig = medium.Serial

// Serial is an open serial link.
type Serial struct {
	port    serial.Port
	mu      sync.Mutex // serialises writes
	done    chan struct{}
	closing sync.Once
	closed  chan struct{}
	// deframer belongs to the reader goroutine.
	deframer Deframer
}

// readTimeout bounds a blocking read, so the reader notices Close.
const readTimeout = 100 * time.Millisecond

// OpenSerial opens the device in raw mode (8N1) and starts the reader.
func OpenSerial(cfg SerialConfig, deliver Deliver, readErr ReadError) (*Serial, error) {
	p, err := serial.Open(cfg.Device, &serial.Mode{BaudRate: cfg.Baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("serial %s: %w", cfg.Device, err)
	}
	if err := p.SetReadTimeout(readTimeout); err != nil {
		p.Close()
		return nil, fmt.Errorf("serial %s: %w", cfg.Device, err)
	}
	s := &Serial{port: p, done: make(chan struct{}), closed: make(chan struct{})}
	go s.read(deliver, readErr)
	return s, nil
}

// Send writes one framed payload.
func (s *Serial) Send(b []byte) error {
	f, err := EncodeSerialFrame(b)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(f) > 0 {
		n, err := s.port.Write(f)
		if err != nil {
			return fmt.Errorf("serial write: %w", err)
		}
		f = f[n:]
	}
	return nil
}

// Close stops the reader and closes the device.
func (s *Serial) Close() error {
	var err error
	s.closing.Do(func() {
		close(s.closed)
		err = s.port.Close()
		<-s.done
	})
	return err
}

func (s *Serial) read(deliver Deliver, readErr ReadError) {
	defer close(s.done)
	buf := make([]byte, 4096)
	pause := time.Millisecond
	var skipped uint64
	for {
		n, err := s.port.Read(buf)
		at := time.Now()
		select {
		case <-s.closed:
			return
		default:
		}
		if err != nil {
			var pe *serial.PortError
			if errors.As(err, &pe) && pe.Code() == serial.PortClosed {
				return
			}
			if readErr != nil {
				readErr(err)
			}
			time.Sleep(pause)
			pause = min(2*pause, time.Second)
			continue
		}
		pause = time.Millisecond
		if n == 0 {
			continue // read timeout: no data yet
		}
		for _, f := range s.deframer.Feed(buf[:n]) {
			// A serial line carries one peer's frames: a pause asked for
			// is rare (ReadCoalesce wants 40 frames a second), and a plain
			// sleep does; what comes meanwhile waits in the device.
			if d := deliver(Packet{Data: f, At: at}); d > 0 {
				time.Sleep(d)
			}
		}
		if s.deframer.Skipped != skipped && readErr != nil {
			readErr(fmt.Errorf("serial: skipped %d bytes of garbage or broken frames", s.deframer.Skipped-skipped))
		}
		skipped = s.deframer.Skipped
	}
}
