// Package layout holds no code: its test checks that every package of the
// module imports only what its place in the tree allows, tests included
// (`go list -deps`). The tree says the direction of every import:
//
//	messages            generated protobuf: wire, control, status, config
//	node/machine/...    pure state machines (membership, placement, reliable,
//	                    group, pingnodes, events, respawn, resource,
//	                    addrspec, mutation): messages, protobuf and the standard
//	                    library only; no I/O, no clock of their own
//	node/host/...       what touches the host: agents, procrun, fence,
//	                    announce, vip (may use the machines' vocabulary)
//	node/ops/...        what operators reach: control socket, metrics,
//	                    logging, version
//	node/config/...     the configuration: native and Heartbeat files,
//	                    resolved once into typed values (with the resource
//	                    vocabulary and the address parameters, addrspec)
//	transports/...      media (UDP, serial, in-memory), the frame codec and
//	                    typed media; nothing of node or actors
//	actors              thin shells around the machines, hosts and media
//	node, node/sim      the node: spawns and wires the actors; the
//	                    whole-cluster simulation
//	internal/cli/...    rendering for the command line (cl_status, status)
//	internal/lab/...    harnesses: local clusters (hanode demo), test hosts
//	                    in network namespaces, probes; the only non-test
//	                    code that imports "testing"
//	internal/packaging  the tests of the Debian package (make deb)
//	cmd/...             the commands; nothing imports them
package layout
