package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/hanode/hanode/internal/lab/testhosts/hacluster"
)

// keepalivedOpts is keepalived's VRRP instance at the timing tm: the
// advertisement interval is ha.cf's keepalive (VRRPv3 runs 10ms and up,
// in 10ms steps: the bench's timings exactly) and it preempts, as
// auto_failback on in the other systems' ha.cf. The master down interval
// is the RFC's (3 adverts plus the skew time, shorter than deadtime)
// unless matchDeadtime makes it deadtime's adverts plus the skew time
// (down_timer_adverts), detection as slow as the others'.
func keepalivedOpts(tm benchTiming, matchDeadtime bool) hacluster.KeepalivedOptions {
	o := hacluster.KeepalivedOptions{AdvertInt: tm.keepalive}
	if matchDeadtime {
		o.DownTimerAdverts = int(tm.deadtime / hacluster.Centiseconds(tm.keepalive))
	}
	return o
}

// keepalivedSystem is keepalived (Debian's package) as keepalived setups
// run it: the HTTP service started on both hosts by itself and one VRRP
// instance per host moving only the address, node1 preferred. With
// matchDeadtime (HANODE_BENCH_SYSTEMS=keepalived-deadtime, not run by
// default) a backup waits deadtime's worth of adverts.
func keepalivedSystem(matchDeadtime bool) haSystem {
	name, key := keepalivedVersion(), "keepalived"
	if matchDeadtime {
		name, key = name+", down=deadtime", "keepalived-deadtime"
	}
	return haSystem{
		name: name,
		key:  key,
		require: func(t testing.TB) {
			hacluster.RequireKeepalived(t)
		},
		prepare: func(c *hacluster.Cluster, tm benchTiming) error {
			return c.WriteKeepalived(keepalivedOpts(tm, matchDeadtime))
		},
		start: func(t testing.TB, n *hacluster.Node) {
			if err := n.StartService(); err != nil {
				t.Fatal(err)
			}
			n.StartKeepalived()
		},
		stop: func(n *hacluster.Node) error { return n.StopKeepalived(time.Minute) },
		stable: func(n1, n2 *hacluster.Node) (bool, string) {
			s1, s2 := n1.KeepalivedState(), n2.KeepalivedState()
			p1, p2 := n1.ServicePID(), n2.ServicePID()
			return s1 == "MASTER" && s2 == "BACKUP" && p1 != 0 && p2 != 0,
				fmt.Sprintf("VRRP %q / %q, services %d / %d", s1, s2, p1, p2)
		},
		describe: func(tm benchTiming) string {
			o := keepalivedOpts(tm, matchDeadtime)
			down, skew := o.KeepalivedMasterDown(hacluster.KeepalivedPriority(2))
			timer := ""
			if o.DownTimerAdverts != 0 {
				timer = fmt.Sprintf(", down_timer_adverts %d", o.DownTimerAdverts)
			}
			return fmt.Sprintf("VRRPv3 multicast, advert_int %.2f%s, priority %d / %d, preempt (auto_failback on), accept; node2 takes over %v after the last advert (skew %v, also its wait after a priority-0 advert); the service runs on both hosts",
				hacluster.Centiseconds(o.AdvertInt).Seconds(), timer, hacluster.KeepalivedPriority(1), hacluster.KeepalivedPriority(2),
				down.Round(100*time.Microsecond), skew.Round(100*time.Microsecond))
		},
	}
}

// keepalivedVersion names the column after the keepalived that runs
// ("keepalived 2.2.7"), plain "keepalived" if it cannot tell.
func keepalivedVersion() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "keepalived", "--version").CombinedOutput()
	if m := regexp.MustCompile(`Keepalived v(\S+)`).FindSubmatch(out); err == nil && m != nil {
		return "keepalived " + string(m[1])
	}
	return "keepalived"
}
