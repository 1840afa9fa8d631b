// Package clstatus is Heartbeat's cl_status against a running hanode node:
// the same sub-commands, output and exit codes, so that existing monitoring
// scripts keep working (HEARTBEAT.md 1.10).
//
// Output is one bare value per line unless -m asks for a sentence. Exit
// codes are Heartbeat's: 0 OK, 1 normal failure (node or link down, node
// not running), 11 parameter error, 12 timeout, 13 other error.
package clstatus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hanode/hanode/messages"
	"github.com/hanode/hanode/node/ops/control"
)

// Exit codes, as Heartbeat's cl_status.
const (
	OK             = 0
	NormalFail     = 1
	ParameterError = 11
	Timeout        = 12
	UnknownError   = 13
)

// Client reaches a running node. An error from Status means the node does
// not answer.
type Client interface {
	Status(ctx context.Context) (*messages.ClusterStatus, error)
	Parameter(ctx context.Context, name string) (*messages.ParameterResponse, error)
}

const usage = `Usage: cl_status <sub-command> [<options>] [<parameters>]

Sub-commands:
clientstatus <node-name> <client-id> [<timeout>]
	Show the status of heartbeat clients.
hblinkstatus <node-name> <link-name>
	Show the status of a heartbeat link
hbstatus
	Indicate if heartbeat is running on the local system.
	Options:
		-v	verbose: also add "listnodes -v" output
listnodes [<option>]
	List the nodes in the cluster.
	Options:
		-p	list only 'ping' type nodes
		-n	list only 'normal' type nodes
		-v	verbose: also list type and status,
			then add "listhblinks -v" output
listhblinks <node-name>
	List the network interfaces used as hearbeat links.
	Options:
		-v	verbose: list link status as well
nodestatus <node-name>
	List the node status.
nodeweight <node-name>
	List the node weight.
nodesite <node-name>
	List the node site.
nodetype <node-name>
	List the nodes of a given type.
rscstatus
	Show the status of cluster resources.
hbparameter -p <parameter-name>
	Retrieve the value of a cluster parameter.
	As for the valid parameter names, please refer to the man page.
`

// invocation is one parsed command line.
type invocation struct {
	ctx    context.Context
	c      Client
	out    io.Writer
	errOut io.Writer
	human  bool            // -m
	flags  map[rune]bool   // other single-letter options
	values map[rune]string // options with a value (-p NAME)
	args   []string        // positional arguments
}

type command struct {
	options string // letters accepted; a letter followed by ':' takes a value
	run     func(*invocation) int
}

var commands = map[string]command{
	"hbstatus":     {"mv", hbstatus},
	"listnodes":    {"mpnv", listnodes},
	"nodestatus":   {"m", nodestatus},
	"nodeweight":   {"m", nodeweight},
	"nodesite":     {"m", nodesite},
	"nodetype":     {"m", nodetype},
	"listhblinks":  {"mv", listhblinks},
	"hblinkstatus": {"m", hblinkstatus},
	"clientstatus": {"m", clientstatus},
	"rscstatus":    {"m", rscstatus},
	"hbparameter":  {"mp:", hbparameter},
}

// Run executes cl_status with args (the words after "cl_status") and
// returns its exit code.
func Run(ctx context.Context, args []string, c Client, stdout, stderr io.Writer) int {
	if len(args) == 0 || (len(args) == 1 && args[0] == "-h") {
		fmt.Fprint(stdout, usage)
		return OK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "cl_status: %s: invalid sub-command.\n", args[0])
		return ParameterError
	}
	inv := &invocation{ctx: ctx, c: c, out: stdout, errOut: stderr, flags: map[rune]bool{}, values: map[rune]string{}}
	if err := inv.parse(cmd.options, args[1:]); err != nil {
		fmt.Fprintf(stderr, "cl_status: %v\n", err)
		return ParameterError
	}
	code := cmd.run(inv)
	if ctx.Err() != nil && code != OK {
		return Timeout
	}
	return code
}

// parse reads getopt-style options anywhere among the arguments: "-mv",
// "-p name", "-pname"; "--" ends the options.
func (inv *invocation) parse(options string, args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			inv.args = append(inv.args, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			inv.args = append(inv.args, a)
			continue
		}
		for j, r := range a[1:] {
			k := strings.IndexRune(options, r)
			if k < 0 {
				return fmt.Errorf("invalid option -- '%c'", r)
			}
			if k+1 < len(options) && options[k+1] == ':' {
				v := a[2+j:]
				if v == "" {
					if i+1 >= len(args) {
						return fmt.Errorf("option requires an argument -- '%c'", r)
					}
					i++
					v = args[i]
				}
				inv.values[r] = v
				break
			}
			if r == 'm' {
				inv.human = true
			} else {
				inv.flags[r] = true
			}
		}
	}
	return nil
}

func (inv *invocation) printf(format string, args ...any) { fmt.Fprintf(inv.out, format, args...) }
func (inv *invocation) errorf(format string, args ...any) { fmt.Fprintf(inv.errOut, format, args...) }

// status fetches the node's status, reporting failure as Heartbeat does.
func (inv *invocation) status() (*messages.ClusterStatus, int) {
	s, err := inv.c.Status(inv.ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, Timeout
		}
		inv.errorf("cl_status: Cannot signon with heartbeat\ncl_status: REASON: %v\n", err)
		return nil, NormalFail
	}
	return s, OK
}

// node finds a member by name, case-insensitively.
func node(s *messages.ClusterStatus, name string) *messages.NodeState {
	for _, n := range s.Nodes {
		if strings.EqualFold(n.Name, name) {
			return n
		}
	}
	return nil
}

// needNode fetches the status and the member named by the first argument.
func (inv *invocation) needNode(missing string) (*messages.ClusterStatus, *messages.NodeState, int) {
	return inv.needNodeMsg(missing, "Error. May be due to incorrect node name")
}

// needNodeMsg is needNode with the complaint about an unknown node
// (nodeweight words it differently).
func (inv *invocation) needNodeMsg(missing, unknown string) (*messages.ClusterStatus, *messages.NodeState, int) {
	if len(inv.args) < 1 {
		inv.errorf("%s\n", missing)
		return nil, nil, ParameterError
	}
	s, code := inv.status()
	if code != OK {
		return nil, nil, code
	}
	n := node(s, inv.args[0])
	if n == nil {
		inv.errorf("%s\n", unknown)
		return nil, nil, ParameterError
	}
	return s, n, OK
}

func hbstatus(inv *invocation) int {
	s, err := inv.c.Status(inv.ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return Timeout
		}
		code := NormalFail
		if errors.Is(err, control.ErrPermission) {
			// Heartbeat's answer when the daemon runs but refuses us.
			inv.printf("Heartbeat is apparently running on this machine, but refuses my connection\n")
			code = OK
		} else {
			inv.printf("Heartbeat is stopped on this machine.\n")
		}
		if inv.flags['v'] {
			inv.printf("(%v)\n", err)
		}
		return code
	}
	if !inv.flags['v'] {
		inv.printf("Heartbeat is running on this machine.\n")
		return OK
	}
	if inv.human {
		inv.printf("Heartbeat version %s\nResources controlled by \"haresources\"\n", s.Version)
	} else {
		inv.printf("version:\t%s\nmanaged by:\t\"haresources\"\n", s.Version)
	}
	listNodesVerbose(inv, s, false, false)
	return OK
}

func listnodes(inv *invocation) int {
	s, code := inv.status()
	if code != OK {
		return code
	}
	normalOnly, pingOnly := inv.flags['n'], inv.flags['p']
	if normalOnly && pingOnly {
		normalOnly, pingOnly = false, false // both means all, as Heartbeat
	}
	if inv.flags['v'] {
		listNodesVerbose(inv, s, normalOnly, pingOnly)
		return OK
	}
	if inv.human {
		inv.printf("The nodes are as follow:\n")
	}
	for _, n := range heartbeatOrder(s.Nodes) {
		if wanted(n, normalOnly, pingOnly) {
			inv.printf("%s\n", n.Name)
		}
	}
	return OK
}

// heartbeatOrder lists the nodes in the order Heartbeat's cl_status
// prints them: the daemon sends its node table in order (api_nodelist in
// heartbeat/hb_api.c: the node and ping directives of ha.cf, as they
// come), and the client library builds its list by prepending each one
// (get_nodelist in lib/hbclient/client_lib.c), so cl_status walks it
// backwards: "node node1 node2" then "ping 10.0.0.254" lists 10.0.0.254,
// node2, node1. hanode's status has the members in configuration order,
// then the ping nodes.
func heartbeatOrder(nodes []*messages.NodeState) []*messages.NodeState {
	out := make([]*messages.NodeState, len(nodes))
	for i, n := range nodes {
		out[len(nodes)-1-i] = n
	}
	return out
}

func wanted(n *messages.NodeState, normalOnly, pingOnly bool) bool {
	switch {
	case normalOnly:
		return n.Type != messages.NodeType_NODE_TYPE_PING
	case pingOnly:
		return n.Type == messages.NodeType_NODE_TYPE_PING
	}
	return true
}

func listNodesVerbose(inv *invocation, s *messages.ClusterStatus, normalOnly, pingOnly bool) {
	if inv.human {
		inv.printf("The nodes are as follow:\n")
	}
	for _, n := range heartbeatOrder(s.Nodes) {
		if !wanted(n, normalOnly, pingOnly) {
			continue
		}
		inv.printf("\n%s\t%s\t(nodetype: %s)\n", n.Name, StatusWord(n.Status), TypeWord(n.Type))
		printLinks(inv, n, true)
	}
}

func printLinks(inv *invocation, n *messages.NodeState, verbose bool) {
	if inv.human {
		inv.printf("\tthis node has the following heartbeat links:\n")
	}
	links := heartbeatLinks(n)
	for i := range links {
		// Backwards, as the node list (add_to_iflist prepends too).
		l := links[len(links)-1-i]
		if verbose {
			inv.printf("\t%s\t%s\n", l.name, l.status)
		} else {
			inv.printf("\t%s\n", l.name)
		}
	}
}

// hbLink is a link of a node as Heartbeat shows it.
type hbLink struct {
	name   string
	status string // up, dead
	up     bool
}

// heartbeatLinks are the links of n as Heartbeat shows them, in
// configuration order:
//   - A ping node has one link, named after it, up while it answers
//     (api_ping_iflist in heartbeat/hb_api.c).
//   - A node's own link is up only when it hears its own heartbeats on it
//     (process_clustermsg in heartbeat/heartbeat.c marks a link up when a
//     packet arrives on it; the node's own messages are handled without a
//     link, and its own links never time out): with bcast, mcast with
//     loop on, or ucast listing its own address; dead with ucast to the
//     peers only, mcast without loop, serial. hanode's own links are up
//     when open and sending; loops_back says whether Heartbeat would hear
//     itself on them.
func heartbeatLinks(n *messages.NodeState) []hbLink {
	if n.Type == messages.NodeType_NODE_TYPE_PING && len(n.Links) == 0 {
		up := n.Status == messages.NodeStatus_NODE_STATUS_PING
		return []hbLink{{name: n.Name, status: LinkWord(linkStatus(up)), up: up}}
	}
	var out []hbLink
	for _, l := range n.Links {
		up := l.Status == messages.LinkStatus_LINK_STATUS_UP
		if n.Local {
			up = up && l.LoopsBack
		}
		out = append(out, hbLink{name: l.Name, status: LinkWord(linkStatus(up)), up: up})
	}
	return out
}

func linkStatus(up bool) messages.LinkStatus {
	if up {
		return messages.LinkStatus_LINK_STATUS_UP
	}
	return messages.LinkStatus_LINK_STATUS_DEAD
}

func nodestatus(inv *invocation) int {
	_, n, code := inv.needNode("Not enough parameters.")
	if code != OK {
		return code
	}
	word := StatusWord(n.Status)
	if inv.human {
		inv.printf("The cluster node %s is %s\n", inv.args[0], word)
	} else {
		inv.printf("%s\n", word)
	}
	switch n.Status {
	case messages.NodeStatus_NODE_STATUS_ACTIVE, messages.NodeStatus_NODE_STATUS_UP, messages.NodeStatus_NODE_STATUS_PING:
		return OK
	}
	return NormalFail
}

// defaultWeight is Heartbeat's weight of a node that sets none; hanode has
// no weights.
const defaultWeight = 100

func nodeweight(inv *invocation) int {
	if _, _, code := inv.needNodeMsg("Not enough parameters.", "Error. Maybe due to incorrect node name."); code != OK {
		return code
	}
	if inv.human {
		inv.printf("The weight of the cluster node %s is %d\n", inv.args[0], defaultWeight)
	} else {
		inv.printf("%d\n", defaultWeight)
	}
	return OK
}

// nodesite prints the node's site: hanode has no sites, so it is empty, as
// Heartbeat's for a node that sets none.
func nodesite(inv *invocation) int {
	if _, _, code := inv.needNode("Not enough parameters."); code != OK {
		return code
	}
	if inv.human {
		inv.printf("The site of the cluster node %s is \n", inv.args[0])
	} else {
		inv.printf("\n")
	}
	return OK
}

func nodetype(inv *invocation) int {
	_, n, code := inv.needNode("No enough parameter.")
	if code != OK {
		return code
	}
	if inv.human {
		inv.printf("The node %s's type: %s\n", inv.args[0], TypeWord(n.Type))
	} else {
		inv.printf("%s\n", TypeWord(n.Type))
	}
	return OK
}

func listhblinks(inv *invocation) int {
	_, n, code := inv.needNode("No enough parameter.")
	if code != OK {
		return code
	}
	printLinks(inv, n, inv.flags['v'])
	return OK
}

func hblinkstatus(inv *invocation) int {
	if len(inv.args) < 2 {
		inv.errorf("No enough parameter.\n")
		return ParameterError
	}
	s, code := inv.status()
	if code != OK {
		return code
	}
	var link *hbLink
	if n := node(s, inv.args[0]); n != nil {
		links := heartbeatLinks(n)
		for i := range links {
			if links[i].name == inv.args[1] && link == nil {
				link = &links[i]
			}
		}
	}
	if link == nil {
		inv.errorf("cl_status: Cannot get heartbeat link status\ncl_status: REASON: no link %s of node %s\n", inv.args[1], inv.args[0])
		return UnknownError
	}
	if inv.human {
		inv.printf("The node %s's heartbeat link %s is %s\n", inv.args[0], inv.args[1], link.status)
	} else {
		inv.printf("%s\n", link.status)
	}
	if link.up {
		return OK
	}
	return NormalFail
}

// clientstatus: hanode has no client API (ipfail and the others are built
// in), so every client is offline.
func clientstatus(inv *invocation) int {
	if len(inv.args) < 2 {
		inv.errorf("No enough parameter.\n")
		return ParameterError
	}
	if _, code := inv.status(); code != OK {
		return code
	}
	inv.printf("offline\n")
	return NormalFail
}

func rscstatus(inv *invocation) int {
	s, code := inv.status()
	if code != OK {
		return code
	}
	held := ResourcesHeld(s)
	if inv.human {
		inv.printf("This node is holding %s resources.\n", held)
	} else {
		inv.printf("%s\n", held)
	}
	return OK
}

// ResourcesHeld is rscstatus: the resource roles the local node holds, in
// Heartbeat's words, or "transition" while a group starts, stops, is being
// probed or is claimed here (ipfail and hanode standby --wait wait for a
// stable answer).
//
// Heartbeat (heartbeat/hb_resource.c) keeps two role bits per node, not a
// list of groups: local (the groups haresources gives this node, "ourkeys")
// and foreign (those of the other node, "otherkeys"); rscstatus prints
// them as none, local, foreign or all (hb_rsc_resource_state via
// api_get_resources in heartbeat/hb_api.c). A bit is set for a role
// whether or not any group is in it: req_our_resources sets local once the
// node took its own groups at start, even if it has none;
// takeover_from_node sets foreign when the peer dies, and the acquiring
// end of a standby (hb_standby, hb_takeover, auto_failback) sets what the
// other gave up, while the giving end clears it. So a node without groups
// of its own answers local, the survivor of a peer's death all, and the
// node that took everything on its peer's hb_standby all.
//
// hanode has roles only through its groups. A role with groups is held by
// the node that runs them. A role with no group (no group prefers that
// node) goes where such a group would go: to its node while that node is
// alive; else, or when that node stood by (a standby in force on any
// group, taken as hb_standby's default "all"), to the first other live
// member in configuration order; to a node whose takeover is in force;
// nowhere without quorum.
func ResourcesHeld(s *messages.ClusterStatus) string {
	for _, g := range s.GetGroups() {
		switch g.LocalPhase {
		case messages.GroupPhase_GROUP_PHASE_STARTING, messages.GroupPhase_GROUP_PHASE_STOPPING,
			messages.GroupPhase_GROUP_PHASE_PROBING:
			return "transition"
		}
		if g.Claiming {
			return "transition"
		}
	}
	local, foreign := holdsRole(s, s.LocalNode), false
	for _, g := range s.GetGroups() {
		// (A group preferring no member counts as foreign.)
		if !strings.EqualFold(g.PreferredNode, s.LocalNode) && runsHere(g) {
			foreign = true
		}
	}
	for _, n := range s.GetNodes() {
		if n.Type != messages.NodeType_NODE_TYPE_PING && !strings.EqualFold(n.Name, s.LocalNode) && holdsRole(s, n.Name) {
			foreign = true
		}
	}
	switch {
	case local && foreign:
		return "all"
	case local:
		return "local"
	case foreign:
		return "foreign"
	}
	return "none"
}

// holdsRole says whether the local node holds the role of member n: the
// groups preferring n.
func holdsRole(s *messages.ClusterStatus, n string) bool {
	empty := true
	for _, g := range s.GetGroups() {
		if !strings.EqualFold(g.PreferredNode, n) {
			continue
		}
		empty = false
		if runsHere(g) {
			return true
		}
	}
	return empty && strings.EqualFold(emptyRoleHolder(s, n), s.LocalNode)
}

// runsHere says whether the group runs on the local node (or may: a stop
// failed).
func runsHere(g *messages.GroupStatus) bool {
	return g.LocalPhase == messages.GroupPhase_GROUP_PHASE_RUNNING || g.LocalPhase == messages.GroupPhase_GROUP_PHASE_UNMANAGED
}

// emptyRoleHolder is the member that holds the role of n when no group
// prefers n: where hanode would place such a group.
func emptyRoleHolder(s *messages.ClusterStatus, n string) string {
	if s.NoQuorum {
		return ""
	}
	var live []string
	for _, m := range s.GetNodes() {
		if m.Type != messages.NodeType_NODE_TYPE_PING &&
			(m.Status == messages.NodeStatus_NODE_STATUS_ACTIVE || m.Status == messages.NodeStatus_NODE_STATUS_UP) {
			live = append(live, m.Name)
		}
	}
	isLive := func(name string) bool {
		for _, m := range live {
			if strings.EqualFold(m, name) {
				return true
			}
		}
		return false
	}
	avoid := map[string]bool{}
	for _, g := range s.GetGroups() {
		if o := g.OverrideNode; o != "" && isLive(o) {
			if g.OverridePrefer {
				return o // a takeover takes every role
			}
			avoid[strings.ToLower(o)] = true
		}
	}
	var cands []string
	for _, m := range live {
		if !avoid[strings.ToLower(m)] {
			cands = append(cands, m)
		}
	}
	if len(cands) == 0 {
		cands = live // nobody else can
	}
	if len(cands) == 0 {
		return ""
	}
	for _, m := range cands {
		if strings.EqualFold(m, n) {
			return m
		}
	}
	return cands[0]
}

func hbparameter(inv *invocation) int {
	name, ok := inv.values['p']
	if !ok || name == "" {
		inv.errorf("cl_status: parameter name required\n")
		return ParameterError
	}
	p, err := inv.c.Parameter(inv.ctx, name)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return Timeout
		}
		inv.errorf("cl_status: Cannot signon with heartbeat\ncl_status: REASON: %v\n", err)
		return NormalFail
	}
	if !p.Set {
		inv.errorf("cl_status: Cannot get parameter %s's value\n", name)
		return NormalFail
	}
	if inv.human {
		inv.printf("Heartbeat parameter %s's value: %s\n", name, p.Value)
	} else {
		inv.printf("%s\n", p.Value)
	}
	return OK
}

// StatusWord is Heartbeat's word for a node status.
func StatusWord(s messages.NodeStatus) string {
	switch s {
	case messages.NodeStatus_NODE_STATUS_INIT:
		return "init"
	case messages.NodeStatus_NODE_STATUS_UP:
		return "up"
	case messages.NodeStatus_NODE_STATUS_ACTIVE:
		return "active"
	case messages.NodeStatus_NODE_STATUS_PING:
		return "ping"
	}
	return "dead"
}

// LinkWord is Heartbeat's word for a link status.
func LinkWord(s messages.LinkStatus) string {
	if s == messages.LinkStatus_LINK_STATUS_UP {
		return "up"
	}
	return "dead"
}

// TypeWord is Heartbeat's word for a node type.
func TypeWord(t messages.NodeType) string {
	if t == messages.NodeType_NODE_TYPE_PING {
		return "ping"
	}
	return "normal"
}
