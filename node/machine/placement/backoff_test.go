package placement

import (
	"strings"
	"testing"
	"time"

	"github.com/hanode/hanode/messages"
)

// slowCluster is placement machines whose messages take lag to arrive
// (every node reads that far behind), on a fake clock.
type slowCluster struct {
	t     *testing.T
	now   time.Time
	lag   time.Duration
	nodes map[string]*Machine
	names []string
	queue []slowMsg
	// claims counts the claims sent, started the groups started by node.
	claims  int
	started map[string][]string
	log     []string
}

type slowMsg struct {
	at       time.Time
	from, to string
	msg      *messages.ClusterMessage
}

func newSlowCluster(t *testing.T, lag time.Duration, groups ...GroupSpec) *slowCluster {
	c := &slowCluster{t: t, now: t0, lag: lag, nodes: map[string]*Machine{}, names: []string{"n1", "n2", "n3"}, started: map[string][]string{}}
	budget := map[string]time.Duration{}
	for _, g := range groups {
		budget[g.Name] = time.Second
	}
	for _, n := range c.names {
		c.nodes[n] = New(Config{Local: n, Generation: 1, Nodes: c.names, Groups: groups, StopBudget: budget}, c.now)
	}
	for _, n := range c.names {
		var view []Peer
		for _, p := range c.names {
			if p != n {
				view = append(view, Peer{Name: p, Alive: true, Generation: 1, HearsUs: true})
			}
		}
		c.apply(n, c.nodes[n].Membership(c.now, view, true))
		for _, g := range groups {
			c.apply(n, c.nodes[n].Report(c.now, GroupReport{Group: g.Name, Phase: Stopped}))
		}
	}
	return c
}

func (c *slowCluster) apply(from string, e Effects) {
	for _, l := range e.Log {
		c.log = append(c.log, c.now.Sub(t0).String()+" "+from+": "+l)
	}
	for _, m := range e.Send {
		if m.GetGroupClaim() != nil {
			c.claims++
		}
		for _, to := range c.names {
			if to != from && (m.Destination == "" || m.Destination == to) {
				c.queue = append(c.queue, slowMsg{at: c.now.Add(c.lag), from: from, to: to, msg: m})
			}
		}
	}
	for _, g := range e.Start {
		c.started[from] = append(c.started[from], g)
		c.apply(from, c.nodes[from].Report(c.now, GroupReport{Group: g, Phase: Starting}))
		c.apply(from, c.nodes[from].Report(c.now, GroupReport{Group: g, Phase: Running}))
	}
}

// step advances the clock by d: messages due arrive, every machine ticks.
func (c *slowCluster) step(d time.Duration) {
	c.now = c.now.Add(d)
	q := c.queue
	c.queue = nil
	for _, m := range q {
		if m.at.After(c.now) {
			c.queue = append(c.queue, m)
			continue
		}
		c.apply(m.to, c.nodes[m.to].Receive(c.now, m.from, m.msg))
	}
	for _, n := range c.names {
		c.apply(n, c.nodes[n].Tick(c.now))
	}
}

// TestUnansweredClaimsWaitLonger: when every answer takes longer than
// ClaimTimeout (voters reading seconds behind), each claim in a row that
// went unanswered waits twice as long as the one before, at most
// maxClaimBackoff doublings, so that a round completes instead of the
// claims repeating forever, each adding a round of replies to what the
// voters have not read yet. The voters keep their grants for the claim's
// own timeout beyond GrantTimeout (no grant runs out under a claim still
// open), and an answered claim brings the timeout back to ClaimTimeout.
func TestUnansweredClaimsWaitLonger(t *testing.T) {
	lag := 6 * time.Second // a claim and its replies: 12 s
	c := newSlowCluster(t, lag, GroupSpec{Name: "g1", Preferred: "n2"})
	n2 := c.nodes["n2"]
	base := n2.cfg.ClaimTimeout
	if 2*lag <= base || 2*lag > base<<maxClaimBackoff {
		t.Fatalf("test set-up: a round of %v must exceed ClaimTimeout %v and fit within its backed-off maximum", 2*lag, base)
	}
	var timeouts []time.Duration
	claimTimeouts := map[uint64]time.Duration{}              // n2's attempt -> its timeout
	for i := 0; i < 1200 && len(c.started["n2"]) == 0; i++ { // 2 minutes at most
		if cl := n2.groups["g1"].claim; cl != nil && claimTimeouts[cl.attempt] == 0 {
			claimTimeouts[cl.attempt] = cl.timeout
			timeouts = append(timeouts, cl.timeout)
		}
		c.step(100 * time.Millisecond)
		for _, n := range []string{"n1", "n3"} {
			v := c.nodes[n]
			if gr := v.groups["g1"].grant; gr != nil && gr.until.Sub(gr.at) != v.cfg.GrantTimeout+claimTimeouts[gr.attempt] {
				t.Fatalf("%s's grant of n2's attempt %d lasts %v, want GrantTimeout %v + the claim's %v",
					n, gr.attempt, gr.until.Sub(gr.at), v.cfg.GrantTimeout, claimTimeouts[gr.attempt])
			}
		}
	}
	t.Logf("claim timeouts: %v", timeouts)
	if got := c.started["n2"]; len(got) != 1 {
		t.Fatalf("g1 started on n2 %d times within 2 minutes of %v-late voters (claims sent: %d, their timeouts %v)\n%s",
			len(got), lag, c.claims, timeouts, strings.Join(c.log, "\n"))
	}
	if len(c.started["n1"])+len(c.started["n3"]) != 0 {
		t.Fatalf("g1 started elsewhere too: %v", c.started)
	}
	// 5 s, 10 s, then 20 s completes.
	if len(timeouts) < 2 || timeouts[0] != base || timeouts[1] != 2*base {
		t.Errorf("claim timeouts %v, want %v then %v and so on", timeouts, base, 2*base)
	}
	if g := n2.groups["g1"]; g.claimBackoff != 0 {
		t.Errorf("after a claim that completed, the backoff is %d, want 0", g.claimBackoff)
	}
}
