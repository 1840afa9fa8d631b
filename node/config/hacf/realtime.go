package hacf

import "strconv"

// realtime checks Heartbeat's `realtime on|off`. The value stays in the
// parameters (cl_status hbparameter), where `hanode run` reads it: on, every
// thread runs SCHED_RR at rtprio and the memory is locked, as Heartbeat
// does (node/host/rt). Unlike Heartbeat, whose default is on, hanode runs at
// normal priority without the line.
func (p *cfParser) realtime(directive, value string) {
	if _, err := ParseBool(value); err != nil {
		p.errf("%s: %v", directive, err)
	}
}

// rtprio checks Heartbeat's `rtprio N`: a real-time priority, from
// sched_get_priority_min to sched_get_priority_max of SCHED_FIFO (1 and 99
// on Linux); Heartbeat refuses any other ("Illegal realtime priority").
func (p *cfParser) rtprio(directive, value string) {
	if n, err := strconv.Atoi(value); err != nil || n < 1 || n > 99 {
		p.errf("%s: %q is not a real-time priority from 1 to 99", directive, value)
	}
}
