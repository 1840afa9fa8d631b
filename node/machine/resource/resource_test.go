package resource

import (
	"testing"

	"github.com/hanode/hanode/messages"
)

// IsAddress knows the built-in address and the address scripts and OCF
// agents, and nothing else.
func TestIsAddress(t *testing.T) {
	hb := func(name string) *messages.Resource {
		return &messages.Resource{Agent: &messages.Resource_Heartbeat{Heartbeat: &messages.HeartbeatAgent{Name: name}}}
	}
	ocf := func(typ string) *messages.Resource {
		return &messages.Resource{Agent: &messages.Resource_Ocf{Ocf: &messages.OcfAgent{Provider: "heartbeat", Type: typ}}}
	}
	for _, tc := range []struct {
		r    *messages.Resource
		want bool
	}{
		{&messages.Resource{Agent: &messages.Resource_Address{Address: &messages.AddressAgent{Ip: "10.0.0.1"}}}, true},
		{hb("IPaddr"), true}, {hb("IPaddr2"), true}, {hb("IPv6addr"), true},
		{ocf("IPaddr2"), true}, {ocf("IPv6addr"), true},
		{hb("httpd"), false}, {ocf("Dummy"), false}, {&messages.Resource{}, false},
	} {
		if got := IsAddress(tc.r); got != tc.want {
			t.Errorf("IsAddress(%s) = %v, want %v", ID(tc.r), got, tc.want)
		}
	}
}
