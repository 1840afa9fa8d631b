package demo

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ServiceHost is the loopback address the demo's service moves to: a
// "virtual IP" that needs no root, since any process may bind any
// 127.0.0.0/8 address. Only one process can listen on it at a time.
const ServiceHost = "127.0.0.100"

// Serve is `hanode demo-service`: it listens on addr (retrying for a
// while, as the node that gave the service up may still be releasing it),
// writes its pid to pidFile once listening, and answers every connection
// with name. It returns when ctx ends.
func Serve(ctx context.Context, addr, name, pidFile string) error {
	var l net.Listener
	var err error
	for try := 0; try < 200; try++ {
		if l, err = net.Listen("tcp4", addr); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("demo service: %w", err)
	}
	defer l.Close()
	tmp := filepath.Join(filepath.Dir(pidFile), "."+filepath.Base(pidFile)+".tmp")
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, pidFile); err != nil {
		return err
	}
	defer os.Remove(pidFile)
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	reply := []byte("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + name + "\n")
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go answer(c, reply)
	}
}

// answer writes the reply, then reads what the client sent (its request,
// to the blank line or the end, bounded) before closing: closing a
// connection with unread data makes the kernel reset it, and the client
// may lose the reply (a probe every 10ms lost 40% of them so). A client
// that sends nothing and only reads (a passive probe) gets it as well.
func answer(c net.Conn, reply []byte) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write(reply); err != nil {
		return
	}
	buf := make([]byte, 0, 512)
	chunk := make([]byte, 512)
	for len(buf) < 4096 && !bytes.Contains(buf, []byte("\r\n\r\n")) {
		n, err := c.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if err != nil {
			break
		}
	}
}

// serviceScript is the demo's resource script (Heartbeat class): it runs
// `hanode demo-service` in the background and tracks it by a pid file per
// node.
func serviceScript(exe, dir string) string {
	return fmt.Sprintf(`#!/bin/sh
# demosvc ADDR start|stop|status: the hanode demo's service, answering on
# ADDR with the name of the node that runs it.
pidfile=%q/demosvc-$HA_CURHOST.pid
# A zombie (exited, not yet reaped by init) is not running.
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
running() { [ -s "$pidfile" ] && alive "$(cat "$pidfile")"; }
case $2 in
start)
	if running; then echo "demosvc already running"; exit 0; fi
	rm -f "$pidfile"
	%q demo-service --listen "$1" --name "$HA_CURHOST" --pidfile "$pidfile" </dev/null >/dev/null 2>&1 &
	i=0
	while [ $i -lt 500 ]; do
		if running; then echo "demosvc started"; exit 0; fi
		sleep 0.01; i=$((i+1))
	done
	echo "demosvc did not start"; exit 1 ;;
stop)
	if running; then
		pid=$(cat "$pidfile"); kill "$pid"
		i=0
		while alive "$pid" && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done
	fi
	rm -f "$pidfile"
	echo "demosvc stopped" ;;
status)
	if running; then echo "demosvc is running"; else echo "demosvc is stopped"; fi ;;
*)
	echo "usage: $0 ADDR start|stop|status"; exit 1 ;;
esac
`, dir, exe)
}

// FreeTCPPort finds a TCP port free on host.
func FreeTCPPort(host string) (int, error) {
	l, err := net.Listen("tcp4", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("demo: no TCP on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
