package replay

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// The fast decoder reads scored posts as ThreatWatch writes them, several
// times faster than encoding/json (which spends most of a re-aggregation
// replay's time in reflection). It is deliberately narrow: it accepts only
// what it can decode exactly as encoding/json would (known field names in
// their exact spelling, no nulls, strings that are valid UTF-8), and gives
// up on anything else with errSlowPath, upon which the line is decoded by
// encoding/json. So every line decodes to what msg.Decode gives, and a bad
// line gets encoding/json's own error message. The wire format does not
// change.

var errSlowPath = errors.New("not on the fast path")

// unmarshalScored decodes one scored post.
func unmarshalScored(b []byte, s *msg.Scored) error {
	d := fastDecoder{b: b}
	if err := d.scored(s); err == nil {
		return nil
	}
	*s = msg.Scored{}
	return json.Unmarshal(b, s)
}

type fastDecoder struct {
	b   []byte
	i   int
	buf []byte
}

func (d *fastDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// expect consumes byte c after optional whitespace.
func (d *fastDecoder) expect(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// peek returns the next non-space byte without consuming it.
func (d *fastDecoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// object calls field for each key of an object; field must consume the
// value.
func (d *fastDecoder) object(field func(key []byte) error) error {
	if !d.expect('{') {
		return errSlowPath
	}
	if d.expect('}') {
		return nil
	}
	for {
		key, err := d.rawString()
		if err != nil {
			return err
		}
		if !d.expect(':') {
			return errSlowPath
		}
		if err := field(key); err != nil {
			return err
		}
		if d.expect(',') {
			continue
		}
		if d.expect('}') {
			return nil
		}
		return errSlowPath
	}
}

// array calls elem for each element of an array.
func (d *fastDecoder) array(elem func() error) error {
	if !d.expect('[') {
		return errSlowPath
	}
	if d.expect(']') {
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		if d.expect(',') {
			continue
		}
		if d.expect(']') {
			return nil
		}
		return errSlowPath
	}
}

// rawString returns the bytes of a string without escapes (keys); a key
// with escapes takes the slow path.
func (d *fastDecoder) rawString() ([]byte, error) {
	if !d.expect('"') {
		return nil, errSlowPath
	}
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			return s, nil
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, errSlowPath
		}
		d.i++
	}
	return nil, errSlowPath
}

// str decodes a string value.
func (d *fastDecoder) str() (string, error) {
	if !d.expect('"') {
		return "", errSlowPath
	}
	start := d.i
	ascii := true
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return "", errSlowPath // encoding/json substitutes U+FFFD
			}
			return string(s), nil
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			return "", errSlowPath
		case c >= 0x80:
			ascii = false
		}
		d.i++
	}
	return "", errSlowPath
}

// escaped decodes the rest of a string that has escapes, from start.
func (d *fastDecoder) escaped(start int) (string, error) {
	out := append(d.buf[:0], d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			d.buf = out
			if !utf8.Valid(out) {
				return "", errSlowPath
			}
			return string(out), nil
		case c < 0x20:
			return "", errSlowPath
		case c != '\\':
			out = append(out, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			return "", errSlowPath
		}
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", errSlowPath
			}
			if utf16.IsSurrogate(r) {
				// Only a valid pair is on the fast path.
				if d.i+1 >= len(d.b) || d.b[d.i] != '\\' || d.b[d.i+1] != 'u' {
					return "", errSlowPath
				}
				d.i += 2
				r2, ok := d.hex4()
				if !ok {
					return "", errSlowPath
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return "", errSlowPath
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", errSlowPath
		}
	}
	return "", errSlowPath
}

func (d *fastDecoder) hex4() (rune, bool) {
	if d.i+4 > len(d.b) {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.i += 4
	return r, true
}

// number returns the literal of a JSON number, checked against the grammar.
func (d *fastDecoder) number() ([]byte, bool) {
	d.ws()
	start := d.i
	b := d.b
	i := d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	integer := true
	if i < len(b) && b[i] == '.' {
		integer = false
		i++
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == j {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integer = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == j {
			return nil, false
		}
	}
	_ = integer
	d.i = i
	return b[start:i], true
}

func (d *fastDecoder) float() (float64, error) {
	lit, ok := d.number()
	if !ok {
		return 0, errSlowPath
	}
	v, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return 0, errSlowPath
	}
	return v, nil
}

func (d *fastDecoder) int() (int, error) {
	lit, ok := d.number()
	if !ok {
		return 0, errSlowPath
	}
	v, err := strconv.ParseInt(string(lit), 10, 64)
	if err != nil {
		return 0, errSlowPath // a fraction or exponent: let encoding/json say so
	}
	return int(v), nil
}

func (d *fastDecoder) bool() (bool, error) {
	d.ws()
	switch {
	case d.i+4 <= len(d.b) && string(d.b[d.i:d.i+4]) == "true":
		d.i += 4
		return true, nil
	case d.i+5 <= len(d.b) && string(d.b[d.i:d.i+5]) == "false":
		d.i += 5
		return false, nil
	}
	return false, errSlowPath
}

func (d *fastDecoder) time() (time.Time, error) {
	d.ws()
	start := d.i
	if _, err := d.rawString(); err != nil {
		return time.Time{}, err
	}
	var t time.Time
	if err := t.UnmarshalJSON(d.b[start:d.i]); err != nil {
		return time.Time{}, errSlowPath
	}
	return t, nil
}

func (d *fastDecoder) scored(s *msg.Scored) error {
	var seen uint8
	// A repeated array or object key merges or overwrites in ways
	// encoding/json defines; leave those to it.
	once := func(bit uint8) error {
		if seen&bit != 0 {
			return errSlowPath
		}
		seen |= bit
		return nil
	}
	err := d.object(func(key []byte) error {
		var err error
		bit := map[string]uint8{"post": 1, "scores": 2, "evidence": 4, "entities": 8}[string(key)]
		if bit != 0 {
			if err := once(bit); err != nil {
				return err
			}
		}
		switch string(key) {
		case "schema":
			s.Schema, err = d.str()
		case "post":
			err = d.post(&s.Post)
		case "scores":
			err = d.scores(&s.Scores)
		case "evidence":
			s.Evidence = []msg.Span{}
			err = d.array(func() error {
				var sp msg.Span
				if err := d.span(&sp); err != nil {
					return err
				}
				s.Evidence = append(s.Evidence, sp)
				return nil
			})
		case "entities":
			s.Entities = []msg.Entity{}
			err = d.array(func() error {
				var en msg.Entity
				if err := d.entity(&en); err != nil {
					return err
				}
				s.Entities = append(s.Entities, en)
				return nil
			})
		case "classifier":
			s.Classifier, err = d.str()
		case "version":
			s.Version, err = d.str()
		case "scored_at":
			s.ScoredAt, err = d.time()
		default:
			return errSlowPath
		}
		return err
	})
	if err != nil {
		return err
	}
	d.ws()
	if d.i != len(d.b) {
		return errSlowPath
	}
	return nil
}

func (d *fastDecoder) scores(m *map[msg.Signal]float64) error {
	if *m == nil {
		*m = make(map[msg.Signal]float64, len(msg.Signals))
	}
	return d.object(func(key []byte) error {
		v, err := d.float()
		if err != nil {
			return err
		}
		sig := msg.Signal(key)
		for _, known := range msg.Signals {
			if string(known) == string(key) {
				sig = known // no allocation for the usual keys
				break
			}
		}
		(*m)[sig] = v
		return nil
	})
}

func (d *fastDecoder) post(p *msg.Post) error {
	quoted := false
	return d.object(func(key []byte) error {
		var err error
		if string(key) == "quoted" {
			if quoted {
				return errSlowPath
			}
			quoted = true
		}
		switch string(key) {
		case "schema":
			p.Schema, err = d.str()
		case "id":
			p.ID, err = d.str()
		case "site":
			p.Site, err = d.str()
		case "engine":
			p.Engine, err = d.str()
		case "site_post_id":
			p.SitePostID, err = d.str()
		case "url":
			p.URL, err = d.str()
		case "thread_id":
			p.ThreadID, err = d.str()
		case "thread_url":
			p.ThreadURL, err = d.str()
		case "thread_title":
			p.Thread, err = d.str()
		case "author":
			p.Author, err = d.str()
		case "author_id":
			p.AuthorID, err = d.str()
		case "published":
			p.Published, err = d.time()
		case "fetched":
			p.Fetched, err = d.time()
		case "text":
			p.Text, err = d.str()
		case "quoted":
			p.Quoted = []string{}
			err = d.array(func() error {
				q, err := d.str()
				p.Quoted = append(p.Quoted, q)
				return err
			})
		case "content_hash":
			p.ContentHash, err = d.str()
		case "backfill":
			p.Backfill, err = d.bool()
		case "edited":
			p.Edited, err = d.bool()
		case "lang":
			p.Lang, err = d.str()
		default:
			return errSlowPath
		}
		return err
	})
}

func (d *fastDecoder) span(sp *msg.Span) error {
	return d.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "signal":
			var s string
			s, err = d.str()
			sp.Signal = msg.Signal(s)
		case "kind":
			sp.Kind, err = d.str()
		case "field":
			sp.Field, err = d.str()
		case "start":
			sp.Start, err = d.int()
		case "end":
			sp.End, err = d.int()
		case "snippet":
			sp.Snippet, err = d.str()
		case "weight":
			sp.Weight, err = d.float()
		default:
			return errSlowPath
		}
		return err
	})
}

func (d *fastDecoder) entity(en *msg.Entity) error {
	return d.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "kind":
			var s string
			s, err = d.str()
			en.Kind = msg.EntityKind(s)
		case "name":
			en.Name, err = d.str()
		case "ref":
			en.Ref, err = d.str()
		case "target":
			en.Target, err = d.bool()
		default:
			return errSlowPath
		}
		return err
	})
}
