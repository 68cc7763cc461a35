package msg

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll reads every line of in through Lines with the given cap and
// returns the lines read, "!N" for a line skipped as too long (N its
// number), and the error that ended the stream.
func readAll(t *testing.T, r io.Reader, max int) ([]string, error) {
	t.Helper()
	l := NewLines(r, max)
	var got []string
	for i := 0; i < 1000; i++ {
		b, err := l.Next()
		switch {
		case errors.Is(err, ErrLineTooLong):
			got = append(got, "!"+strings.Repeat("#", l.Line()))
		case err != nil:
			return got, err
		default:
			got = append(got, string(b))
		}
	}
	t.Fatal("no end after 1000 calls")
	return nil, nil
}

func TestLinesSkipsOnlyTheLineOverTheCap(t *testing.T) {
	long := strings.Repeat("x", 200<<10) // longer than the 64 KiB read buffer
	for _, tc := range []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"plain", "a\nbb\n", 10, []string{"a", "bb"}},
		{"no final line end", "a\nbb", 10, []string{"a", "bb"}},
		{"empty lines kept", "\n\na\n", 10, []string{"", "", "a"}},
		{"crlf", "a\r\nbb\r\n", 10, []string{"a", "bb"}},
		{"exactly the cap", "abc\nabcd\n", 3, []string{"abc", "!##"}},
		{"exactly the cap with crlf", "abc\r\nab\r\n", 3, []string{"abc", "ab"}},
		{"long line in the middle", "a\n" + long + "\nb\n", 1 << 10, []string{"a", "!##", "b"}},
		{"long line last, no line end", "a\n" + long, 1 << 10, []string{"a", "!##"}},
		{"two long lines", long + "\n" + long + "\nc\n", 1 << 10, []string{"!#", "!##", "c"}},
		{"long line under a large cap", "a\n" + long + "\nb\n", 1 << 20, []string{"a", long, "b"}},
		{"nothing", "", 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				got, err := readAll(t, r, tc.max)
				if !errors.Is(err, io.EOF) {
					t.Fatalf("ended with %v, want io.EOF", err)
				}
				if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
					t.Fatalf("lines = %.60q, want %.60q", got, tc.want)
				}
			}
		})
	}
}

func TestLinesReportsAReadErrorOnce(t *testing.T) {
	boom := errors.New("disk gone")
	l := NewLines(io.MultiReader(strings.NewReader("a\n"), iotest.ErrReader(boom)), 10)
	if b, err := l.Next(); err != nil || string(b) != "a" {
		t.Fatalf("first line = %q, %v", b, err)
	}
	for range 2 {
		if _, err := l.Next(); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the read error", err)
		}
	}
}

// A file with one runaway line: the reader reports that line once and
// reads the rest. bufio.Scanner, which it used before, ended the file
// there and then reported the same error on every call, so the commands
// that skip bad lines (score, produce, msg check, nab-score) never ended.
func TestReaderGoesOnAfterALineOverMaxLine(t *testing.T) {
	post := func(id string) string {
		return `{"schema":"post/1","id":"` + id + `","site":"s","url":"https://forum.example/t/1","text":"x","fetched":"2026-01-01T00:00:00Z"}`
	}
	in := post("a") + "\n" + strings.Repeat("x", MaxLine+1) + "\n" + post("b") + "\n"
	got, bad := readPosts(t, NewReader[Post](strings.NewReader(in), "posts.jsonl", false))
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("good lines = %v, want a and b", got)
	}
	if len(bad) != 1 || !strings.HasPrefix(bad[0], "posts.jsonl:2: line longer than") {
		t.Errorf("bad lines = %v, want line 2 reported as too long", bad)
	}
}

// FuzzLinesAgreesWithSplit holds Lines to the plain definition: the text
// split at "\n", a final "\r" dropped from each line, no line after a
// final "\n", and a line over the cap reported in its place. The read
// buffer is bufio's smallest, so lines cross it.
func FuzzLinesAgreesWithSplit(f *testing.F) {
	for _, s := range []string{"", "a", "a\n", "a\r\nb", "\n\n", "abcdefghijklmnopqrstuvwxyz\nb\n", "\r\r\n\r", "\ufeff{}\n\ufeff{}", strings.Repeat("x", 40) + "\r\n" + strings.Repeat("y", 17)} {
		f.Add(s, uint8(5))
	}
	f.Fuzz(func(t *testing.T, in string, cap uint8) {
		max := int(cap % 40)
		var want []string
		if in != "" {
			parts := strings.Split(in, "\n")
			if strings.HasSuffix(in, "\n") {
				parts = parts[:len(parts)-1]
			}
			for i, p := range parts {
				p = strings.TrimSuffix(p, "\r")
				if len(p) > max {
					p = "!" + strings.Repeat("#", i+1)
				} else if i == 0 {
					p = strings.TrimPrefix(p, "\ufeff")
				}
				want = append(want, p)
			}
		}
		for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in)), iotest.HalfReader(strings.NewReader(in))} {
			l := newLines(r, max, 16)
			var got []string
			for len(got) <= len(want) {
				b, err := l.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if errors.Is(err, ErrLineTooLong) {
					got = append(got, "!"+strings.Repeat("#", l.Line()))
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(b))
			}
			if len(got) != len(want) || strings.Join(got, "\x00") != strings.Join(want, "\x00") {
				t.Fatalf("cap %d: lines %q, want %q", max, got, want)
			}
		}
	})
}
