package scale

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/ops/control"
)

// pollWorkers is how many control connections a round keeps open at once:
// enough that a round of 64 nodes takes a fraction of a keepalive, few
// enough that the bench does not compete with the nodes for the CPU.
const pollWorkers = 8

// look is one node seen in one round: its status (through its control
// socket) and its process (through /proc).
type look struct {
	status    *messages.ClusterStatus
	statusErr error
	usage     procUsage
	usageErr  error
}

// poll looks at every node once, each status request bounded by timeout.
// Nodes not started yet, or whose process ended, are not asked.
func poll(ctx context.Context, nodes []*node, timeout time.Duration) []look {
	out := make([]look, len(nodes))
	eachNode(len(nodes), func(i int) { out[i] = lookAt(ctx, nodes[i], timeout) })
	return out
}

// eachNode calls fn for 0..n-1 from pollWorkers goroutines, and returns
// when every call has.
func eachNode(n int, fn func(i int)) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(pollWorkers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				fn(i)
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

func lookAt(ctx context.Context, n *node, timeout time.Duration) look {
	p := n.process()
	if p == nil {
		return look{statusErr: errNotStarted, usageErr: errNotStarted}
	}
	if p.Exited() {
		err := fmt.Errorf("%s exited: %v", n.name, p.ExitError())
		return look{statusErr: err, usageErr: err}
	}
	var l look
	l.usage, l.usageErr = readUsage(p.PID())
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &control.Client{Path: n.socket}
	l.status, l.statusErr = c.Status(qctx)
	return l
}

// timelines reads every running node's whole event timeline (hanode
// events), each request bounded by timeout; a node that does not answer
// has none.
func timelines(ctx context.Context, nodes []*node, timeout time.Duration) [][]*messages.ClusterEvent {
	out := make([][]*messages.ClusterEvent, len(nodes))
	eachNode(len(nodes), func(i int) {
		if p := nodes[i].process(); p == nil || p.Exited() {
			return
		}
		qctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		c := &control.Client{Path: nodes[i].socket}
		out[i], _ = c.Events(qctx, 0)
	})
	return out
}
