package probe

import (
	"net"
	"testing"
	"time"
)

// TestAttemptSaysWhyNobodyAnswered: an answer, a refused connection (the
// address is up, the service not) and a service that never answers.
func TestAttemptSaysWhyNobodyAnswered(t *testing.T) {
	serve := func(answer bool) string {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				if answer {
					// Read the request before closing: unread data would
					// make the kernel reset the connection.
					c.Read(make([]byte, 512))
					c.Write([]byte("HTTP/1.0 200 OK\r\n\r\nnode7\n"))
					c.Close()
				} else {
					t.Cleanup(func() { c.Close() })
				}
			}
		}()
		return l.Addr().String()
	}
	if ans, fail := Attempt(serve(true), time.Second); ans != "node7" || fail != "" {
		t.Errorf("answering service: %q %q", ans, fail)
	}
	if ans, fail := Attempt(serve(false), 50*time.Millisecond); ans != "" || fail != "timeout" {
		t.Errorf("silent service: %q %q", ans, fail)
	}
	l, _ := net.Listen("tcp4", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	if ans, fail := Attempt(closed, time.Second); ans != "" || fail != "refused" {
		t.Errorf("nothing listening: %q %q", ans, fail)
	}
}
