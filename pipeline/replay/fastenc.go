package replay

import (
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// appendLevel appends the JSON of a level exactly as msg.Encode writes it
// (the test TestFastLevelEncoderMatchesEncodingJSON holds it to that),
// without reflection: a replay writes a level per key per step, and
// encoding/json was the largest cost after decoding. Anything it is not
// sure to write identically (a time outside years 0-9999, NaN) goes
// through encoding/json.
func appendLevel(b []byte, l *msg.Level) ([]byte, error) {
	if !levelFast(l) {
		j, err := msg.Encode(l)
		return append(b, j...), err
	}
	schema := l.Schema
	if schema == "" {
		schema = msg.SchemaLevel
		l.Schema = schema
	}
	b = append(b, `{"schema":`...)
	b = appendJSONString(b, schema)
	b = append(b, `,"site":`...)
	b = appendJSONString(b, l.Site)
	if l.Target != "" {
		b = append(b, `,"target":`...)
		b = appendJSONString(b, l.Target)
	}
	b = append(b, `,"time":`...)
	b = appendJSONTime(b, l.Time)
	b = append(b, `,"level":`...)
	b = appendJSONFloat(b, l.Level)
	b = append(b, `,"baseline":`...)
	b = appendJSONFloat(b, l.Baseline)
	if l.Score != 0 {
		b = append(b, `,"score":`...)
		b = appendJSONFloat(b, l.Score)
	}
	if l.Name != "" {
		b = append(b, `,"name":`...)
		b = appendJSONString(b, l.Name)
	}
	if len(l.Signals) > 0 {
		b = append(b, `,"signals":`...)
		b = appendSignals(b, l.Signals)
	}
	if l.Posts != 0 {
		b = append(b, `,"posts":`...)
		b = strconv.AppendInt(b, int64(l.Posts), 10)
	}
	if len(l.Contributors) > 0 {
		b = append(b, `,"contributors":[`...)
		for i := range l.Contributors {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendContributor(b, &l.Contributors[i])
		}
		b = append(b, ']')
	}
	if l.Stale {
		b = append(b, `,"stale":true`...)
	}
	return append(b, '}'), nil
}

func levelFast(l *msg.Level) bool {
	ok := func(t time.Time) bool { y := t.Year(); return y >= 0 && y <= 9999 }
	fin := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if !ok(l.Time) || !fin(l.Level) || !fin(l.Baseline) || !fin(l.Score) {
		return false
	}
	for _, v := range l.Signals {
		if !fin(v) {
			return false
		}
	}
	for _, c := range l.Contributors {
		if !ok(c.At) || !fin(c.Weight) {
			return false
		}
		for _, v := range c.Scores {
			if !fin(v) {
				return false
			}
		}
	}
	return true
}

func appendContributor(b []byte, c *msg.Contributor) []byte {
	b = append(b, `{"post_id":`...)
	b = appendJSONString(b, c.PostID)
	if c.URL != "" {
		b = append(b, `,"url":`...)
		b = appendJSONString(b, c.URL)
	}
	if c.ThreadID != "" {
		b = append(b, `,"thread_id":`...)
		b = appendJSONString(b, c.ThreadID)
	}
	if c.Thread != "" {
		b = append(b, `,"thread_title":`...)
		b = appendJSONString(b, c.Thread)
	}
	if len(c.Scores) > 0 {
		b = append(b, `,"scores":`...)
		b = appendSignals(b, c.Scores)
	}
	if c.Snippet != "" {
		b = append(b, `,"snippet":`...)
		b = appendJSONString(b, c.Snippet)
	}
	b = append(b, `,"at":`...)
	b = appendJSONTime(b, c.At)
	if c.Weight != 0 {
		b = append(b, `,"weight":`...)
		b = appendJSONFloat(b, c.Weight)
	}
	return append(b, '}')
}

// appendSignals writes a signal map with its keys sorted, as encoding/json does.
func appendSignals(b []byte, m map[msg.Signal]float64) []byte {
	var arr [8]msg.Signal
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, string(k))
		b = append(b, ':')
		b = appendJSONFloat(b, m[k])
	}
	return append(b, '}')
}

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONFloat formats like encoding/json: shortest representation,
// exponent form only for very small or large magnitudes, with a
// two-digit-minimum exponent trimmed (1e-07 becomes 1e-7).
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	fmtc := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmtc = 'e'
	}
	b = strconv.AppendFloat(b, f, fmtc, -1, 64)
	if fmtc == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s the way encoding/json does by default: HTML
// characters, control characters, U+2028 and U+2029 escaped, invalid UTF-8
// replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
