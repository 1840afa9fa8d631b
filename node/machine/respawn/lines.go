package respawn

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxLine bounds a line of a program's output as logged.
const MaxLine = 4096

// Lines reads r to its end and calls line with each line, without its
// newline. A line over limit bytes is given as its first limit bytes and
// its length; the rest of it is read and dropped, never kept whole.
// Reading never stops before r's end: the program would die of SIGPIPE at
// its next write (and a failfast one reboot the machine). It returns the
// error that ended the reading, nil at r's end.
func Lines(r io.Reader, limit int, line func(string)) error {
	br := bufio.NewReaderSize(r, limit)
	for {
		b, err := br.ReadSlice('\n')
		head := string(b[:min(len(b), limit)])
		n := len(b)
		// Bounded by r: each round takes a buffer's worth more of it.
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = br.ReadSlice('\n')
			n += len(b)
		}
		if len(b) > 0 && b[len(b)-1] == '\n' {
			n--
		}
		switch {
		case n > limit:
			line(fmt.Sprintf("%s… (truncated, %d bytes)", strings.ToValidUTF8(head, ""), n))
		case n > 0 || err == nil:
			line(head[:n])
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
