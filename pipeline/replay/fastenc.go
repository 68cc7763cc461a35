package replay

import (
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// appendLevelCached appends the JSON of a level exactly as msg.Encode
// writes it (TestFastLevelEncoderMatchesEncodingJSON holds it to that),
// without reflection: a replay writes a level per key per step, and
// encoding/json was the largest cost after decoding. Anything it is not
// sure to write identically (a time outside years 0-9999, NaN) goes
// through encoding/json. The evidence's JSON comes from cache (nil: none)
// when the level carries the same evidence list as the last level of its
// key written.
func appendLevelCached(b []byte, l *msg.Level, cache *evidenceCache) ([]byte, error) {
	mark := len(b)
	e := levelEncoder{b: b, cache: cache}
	e.level(l)
	if e.bad {
		j, err := msg.Encode(l)
		return append(b[:mark], j...), err
	}
	return e.b, nil
}

// levelEncoder appends JSON; bad is set by any value it is not sure to
// write as encoding/json would, and the caller then starts over with it.
// Checking while writing saves a pass over every map of the level.
type levelEncoder struct {
	b     []byte
	bad   bool
	cache *evidenceCache
}

// evidenceCache holds the JSON of the last evidence list written per key
// (a slot per hash of site and target). A level's evidence rarely changes
// from one step to the next, and the engine hands out the same list, never
// changed once returned (the replay Engine contract: outputs are not
// touched again), so a list at the same address and length is the same
// evidence. A slot keeps its list alive, so the address cannot be reused
// by another while cached.
type evidenceCache struct {
	seed  maphash.Seed
	slots [1024]struct {
		list []msg.Contributor
		json []byte
	}
}

func newEvidenceCache() *evidenceCache { return &evidenceCache{seed: maphash.MakeSeed()} }

func (e *levelEncoder) level(l *msg.Level) {
	if l.Schema == "" {
		l.Schema = msg.SchemaLevel
	}
	b := append(e.b, `{"schema":`...)
	b = appendJSONString(b, l.Schema)
	b = append(b, `,"site":`...)
	b = appendJSONString(b, l.Site)
	if l.Target != "" {
		b = append(b, `,"target":`...)
		b = appendJSONString(b, l.Target)
	}
	b = append(b, `,"time":`...)
	e.b = b
	e.time(l.Time)
	e.b = append(e.b, `,"level":`...)
	e.float(l.Level)
	e.b = append(e.b, `,"baseline":`...)
	e.float(l.Baseline)
	if l.Score != 0 {
		e.b = append(e.b, `,"score":`...)
		e.float(l.Score)
	}
	if l.Name != "" {
		e.b = append(e.b, `,"name":`...)
		e.b = appendJSONString(e.b, l.Name)
	}
	if len(l.Signals) > 0 {
		e.b = append(e.b, `,"signals":`...)
		e.signals(l.Signals)
	}
	if l.Posts != 0 {
		e.b = append(e.b, `,"posts":`...)
		e.b = strconv.AppendInt(e.b, int64(l.Posts), 10)
	}
	if len(l.Contributors) > 0 {
		e.b = append(e.b, `,"contributors":[`...)
		e.evidence(l)
		e.b = append(e.b, ']')
	}
	if l.Stale {
		e.b = append(e.b, `,"stale":true`...)
	}
	e.b = append(e.b, '}')
}

func (e *levelEncoder) time(t time.Time) {
	if y := t.Year(); y < 0 || y > 9999 {
		e.bad = true
		return
	}
	e.b = appendJSONTime(e.b, t)
}

func (e *levelEncoder) float(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		e.bad = true
		return
	}
	e.b = appendJSONFloat(e.b, f)
}

// evidence writes the level's contributors, from the cache when it holds
// this very list.
func (e *levelEncoder) evidence(l *msg.Level) {
	list := l.Contributors
	if e.cache == nil {
		e.contributors(list)
		return
	}
	var h maphash.Hash
	h.SetSeed(e.cache.seed)
	h.WriteString(l.Site)
	h.WriteByte(0)
	h.WriteString(l.Target)
	slot := &e.cache.slots[h.Sum64()%uint64(len(e.cache.slots))]
	if len(slot.list) == len(list) && &slot.list[0] == &list[0] {
		e.b = append(e.b, slot.json...)
		return
	}
	start := len(e.b)
	e.contributors(list)
	if !e.bad {
		slot.list = list
		slot.json = append(slot.json[:0], e.b[start:]...)
	}
}

func (e *levelEncoder) contributors(list []msg.Contributor) {
	for i := range list {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.contributor(&list[i])
	}
}

func (e *levelEncoder) contributor(c *msg.Contributor) {
	b := append(e.b, `{"post_id":`...)
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
	e.b = b
	if len(c.Scores) > 0 {
		e.b = append(e.b, `,"scores":`...)
		e.signals(c.Scores)
	}
	if c.Snippet != "" {
		e.b = append(e.b, `,"snippet":`...)
		e.b = appendJSONString(e.b, c.Snippet)
	}
	e.b = append(e.b, `,"at":`...)
	e.time(c.At)
	if c.Weight != 0 {
		e.b = append(e.b, `,"weight":`...)
		e.float(c.Weight)
	}
	e.b = append(e.b, '}')
}

// sortedSignals are the known signals in the order encoding/json writes
// map keys (sorted), each with its key as written.
var sortedSignals = func() (out []struct {
	sig msg.Signal
	key string
}) {
	sigs := slices.Clone(msg.Signals)
	slices.Sort(sigs)
	for _, s := range sigs {
		out = append(out, struct {
			sig msg.Signal
			key string
		}{s, string(appendJSONString(nil, string(s))) + ":"})
	}
	return out
}()

// signals writes a signal map with its keys sorted, as encoding/json does:
// by looking up the known signals in order, and when the map holds others,
// by sorting its keys.
func (e *levelEncoder) signals(m map[msg.Signal]float64) {
	start := len(e.b)
	e.b = append(e.b, '{')
	n := 0
	for _, s := range sortedSignals {
		if v, ok := m[s.sig]; ok {
			if n > 0 {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, s.key...)
			e.float(v)
			n++
		}
	}
	if n == len(m) {
		e.b = append(e.b, '}')
		return
	}
	e.b = e.b[:start]
	var arr [8]msg.Signal
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.b = append(e.b, '{')
	for i, k := range keys {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.b = appendJSONString(e.b, string(k))
		e.b = append(e.b, ':')
		e.float(m[k])
	}
	e.b = append(e.b, '}')
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
