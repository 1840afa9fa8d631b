package testhosts

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func ping(t *testing.T, from *Host, to string) bool {
	t.Helper()
	if _, err := exec.LookPath("ping"); err != nil {
		t.Fatal("ping is missing (apt-get install iputils-ping)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, code, err := from.Run(ctx, "ping", "-c1", "-W1", "-n", to)
	return err == nil && code == 0
}

func TestHostsReachEachOther(t *testing.T) {
	if _, err := exec.LookPath("ping"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ping is missing (apt-get install iputils-ping)")
		}
		t.Skip("ping is missing (apt-get install iputils-ping)")
	}
	lab := New(t, Options{Hosts: 3, SecondNetwork: true})
	h1, h3 := lab.Host(1), lab.Host(3)
	if h1.Addr() != "10.201.0.1" || h3.Addr2() != "10.201.1.3" {
		t.Fatalf("addresses %s %s", h1.Addr(), h3.Addr2())
	}
	if !ping(t, h1, h3.Addr()) || !ping(t, h3, h1.Addr2()) {
		t.Fatal("hosts cannot reach each other")
	}
	// A cut cable breaks eth0 only; restoring it heals.
	if err := h3.LinkDown("eth0"); err != nil {
		t.Fatal(err)
	}
	if ping(t, h1, h3.Addr()) {
		t.Fatal("reached h3 over a downed eth0")
	}
	if !ping(t, h1, h3.Addr2()) {
		t.Fatal("second network broken by eth0 going down")
	}
	if err := h3.LinkUp("eth0"); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 5*time.Second, 50*time.Millisecond, "h3 reachable again", func() (bool, string) {
		return ping(t, h1, h3.Addr()), "no answer"
	})
}

func TestLoss(t *testing.T) {
	RequireCommand(t, "nft", "nftables")
	lab := New(t, Options{Hosts: 2})
	h := lab.Host(1)
	if err := h.Loss("eth0", 100); err != nil {
		t.Fatal(err)
	}
	if ping(t, h, lab.Host(2).Addr()) {
		t.Fatal("ping passed 100% loss")
	}
	if err := h.Loss("eth0", 0); err != nil {
		t.Fatal(err)
	}
	if !ping(t, h, lab.Host(2).Addr()) {
		t.Fatal("no ping after removing the loss")
	}
}

func TestProcessesAndCleanup(t *testing.T) {
	Require(t)
	var nss []string
	t.Run("lab", func(t *testing.T) {
		lab := New(t, Options{Hosts: 2})
		nss = lab.Namespaces()
		h := lab.Host(2)
		p := h.Start("sleeper", "sleep", "600")
		// The PID is sleep's own: it lives in h2's network namespace.
		WaitFor(t, 5*time.Second, 10*time.Millisecond, "sleep running in h2", func() (bool, string) {
			out, err := exec.Command("ip", "netns", "identify", strconv.Itoa(p.PID())).Output()
			return err == nil && strings.TrimSpace(string(out)) == h.Netns(), string(out)
		})
		done := h.Start("true", "true")
		if code, err := done.Wait(5 * time.Second); err != nil || code != 0 {
			t.Fatalf("true: %d %v", code, err)
		}
		p.Signal(syscall.SIGTERM)
		if code, err := p.Wait(5 * time.Second); err != nil || code != -1 {
			t.Fatalf("sleep after SIGTERM: %d %v", code, err)
		}
		h.Start("sleeper2", "sleep", "600")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, _, code, err := h.Run(ctx, "ip", "-o", "addr", "show", "dev", "eth0")
		if err != nil || code != 0 || !strings.Contains(out, "10.201.0.2/24") {
			t.Fatalf("ip addr in h2: %q %d %v", out, code, err)
		}
	})
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range nss {
		if strings.Contains(string(out), ns) {
			t.Fatalf("namespace %s left behind", ns)
		}
	}
}
