package main

import (
	"strings"
	"testing"

	"github.com/hanode/hanode/messages"
)

// hanode status says, one warning line each, what the node could not
// gather (an actor that did not answer): the view lacks it. The JSON
// carries it as errors.
func TestStatusPrintsGatheringErrors(t *testing.T) {
	sock := fakeNode(t, func(*messages.ControlRequest) *messages.ControlResponse {
		return &messages.ControlResponse{Response: &messages.ControlResponse_Status{Status: &messages.ClusterStatus{
			Cluster: "c", LocalNode: "n1", Nodes: []*messages.NodeState{{Name: "n1", Local: true}},
			Errors: []string{"placement did not answer: future: timeout", "messenger answered *actors.Streams\x1b[2J"},
		}}}
	})
	code, out, errOut := runCLI("status", "--socket", sock)
	if code != 0 {
		t.Fatalf("status: %d %q", code, errOut)
	}
	for _, want := range []string{
		"\nwarning: placement did not answer: future: timeout\n",
		"\nwarning: messenger answered *actors.Streams\\x1b[2J\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if hasControls(out) {
		t.Errorf("status printed control characters:\n%q", out)
	}
}
