package control

import (
	"bytes"
	"encoding/binary"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/hanode/hanode/messages"
)

// frame is a request as a client sends it.
func frame(t testing.TB, req *messages.ControlRequest) []byte {
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// FuzzReadRequest: whatever a client sends, reading its request neither
// panics nor allocates much more than what was sent, and never more than
// MaxRequest allows; what it accepts is one whole announced message.
func FuzzReadRequest(f *testing.F) {
	status := frame(f, &messages.ControlRequest{Request: &messages.ControlRequest_Status{Status: &messages.StatusRequest{}}})
	note := frame(f, &messages.ControlRequest{Request: &messages.ControlRequest_SendNote{SendNote: &messages.SendNoteRequest{Text: "hello"}}})
	trace := frame(f, &messages.ControlRequest{Request: &messages.ControlRequest_Trace{Trace: &messages.TraceRequest{Actors: []string{"membership"}, Types: []string{"Frame"}}}})
	f.Add(status)
	f.Add(note)
	f.Add(trace)
	f.Add(append(status, note...))                                               // two requests: the first is read
	f.Add(note[:len(note)-2])                                                    // truncated body
	f.Add(note[:2])                                                              // truncated header
	f.Add([]byte{})                                                              // nothing
	f.Add([]byte{0, 0, 0, 0})                                                    // empty request
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5})                         // 4 GiB announced
	f.Add(append(binary.BigEndian.AppendUint32(nil, MaxMessage), 1, 2, 3, 4, 5)) // 16 MiB announced
	f.Add(append(binary.BigEndian.AppendUint32(nil, MaxRequest), 1, 2, 3, 4, 5)) // the most, barely begun
	f.Add([]byte{0, 0, 0, 2, 0xff, 0xff})                                        // garbage protobuf
	f.Fuzz(func(t *testing.T, data []byte) {
		var req messages.ControlRequest
		var err error
		allocs := allocated(func() { err = ReadRequest(bytes.NewReader(data), &req) })
		// The buffer grows with what arrives (doubling, from 512 bytes),
		// and the message decodes to about its size.
		if limit := uint64(8*len(data) + 16<<10); allocs > limit {
			t.Fatalf("%d bytes sent, %d allocated", len(data), allocs)
		}
		if err != nil {
			return
		}
		n := binary.BigEndian.Uint32(data)
		if n > MaxRequest || len(data) < 4+int(n) {
			t.Fatalf("accepted %d bytes announcing %d", len(data), n)
		}
	})
}
