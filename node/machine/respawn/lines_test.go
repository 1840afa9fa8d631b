package respawn

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestLinesTruncatesLongLinesAndReadsOn(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	in := "first\n" + long + "\nafter\n\n" + strings.Repeat("y", 10) + "\nno newline at the end"
	var got []string
	// One byte at a time too: the reader must not depend on chunking.
	for _, r := range []io.Reader{strings.NewReader(in), &oneByte{s: in}} {
		got = got[:0]
		if err := Lines(r, 8, func(l string) { got = append(got, l) }); err != nil {
			t.Fatal(err)
		}
		want := []string{"first", fmt.Sprintf("xxxxxxxx… (truncated, %d bytes)", 1<<20), "after", "", "yyyyyyyy… (truncated, 10 bytes)", "no newli… (truncated, 21 bytes)"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("lines:\n%q\nwant\n%q", got, want)
		}
	}
}

type oneByte struct {
	s string
	i int
}

func (o *oneByte) Read(p []byte) (int, error) {
	if o.i >= len(o.s) {
		return 0, io.EOF
	}
	p[0] = o.s[o.i]
	o.i++
	return 1, nil
}
