package msg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrLineTooLong reports a line longer than the cap a Lines was made with.
// The line has been read to its end: the next call goes on after it.
var ErrLineTooLong = errors.New("line too long")

// Lines splits a stream into lines, as bufio.Scanner does, except that a
// line over the cap costs that line only. bufio.Scanner stops at such a
// line for good, and a reader that reports it and goes on would lose the
// rest of the file (or, asked again, report it forever).
type Lines struct {
	br   *bufio.Reader
	buf  []byte
	max  int
	line int
	err  error
}

// NewLines reads lines of at most max bytes (without the line end) from r.
func NewLines(r io.Reader, max int) *Lines { return newLines(r, max, 64<<10) }

func newLines(r io.Reader, max, buf int) *Lines {
	return &Lines{br: bufio.NewReaderSize(r, buf), max: max}
}

// Next returns the next line without its "\n" or "\r\n" (nor, on the first
// line, a UTF-8 byte order mark), valid until the
// next call; io.EOF after the last line; an error wrapping ErrLineTooLong
// for a line over the cap, which is skipped; any other error of the
// underlying reader, for good.
func (l *Lines) Next() ([]byte, error) {
	if l.err != nil {
		return nil, l.err
	}
	l.buf = l.buf[:0]
	long := false
	for {
		part, err := l.br.ReadSlice('\n')
		if !long {
			if len(l.buf)+len(part) > l.max+2 { // room for "\r\n"
				long = true
				l.buf = l.buf[:0]
			} else {
				l.buf = append(l.buf, part...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == nil:
		case errors.Is(err, io.EOF):
			if len(part) == 0 && len(l.buf) == 0 && !long {
				l.err = io.EOF
				return nil, io.EOF
			}
			// The last line, without a line end; EOF on the next call.
			l.err = io.EOF
		default:
			l.err = fmt.Errorf("cannot read line %d: %w", l.line+1, err)
			return nil, l.err
		}
		l.line++
		b := bytes.TrimSuffix(bytes.TrimSuffix(l.buf, []byte("\n")), []byte("\r"))
		if long || len(b) > l.max {
			return nil, tooLong(l.max)
		}
		if l.line == 1 {
			// A UTF-8 byte order mark (Windows editors write one) is not
			// part of the first line: left there, the line would not parse.
			b = bytes.TrimPrefix(b, utf8BOM)
		}
		return b, nil
	}
}

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// Line is the number of the line last returned (or skipped), from 1.
func (l *Lines) Line() int { return l.line }

// tooLong reads "line longer than N bytes" and is ErrLineTooLong.
type tooLong int

func (e tooLong) Error() string        { return fmt.Sprintf("line longer than %d bytes", int(e)) }
func (e tooLong) Is(target error) bool { return target == ErrLineTooLong }
