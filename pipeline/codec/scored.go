package codec

import (
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// ScoredDecoder decodes scored posts exactly as DecodeLenient[msg.Scored]
// does, several times faster on the lines pipeline stages write: a
// hand-written parser for the scored/1 shape, with the fields msg.Encode
// writes, that takes all strings of a line from one copy of it and reuses
// the strings that repeat from line to line (sites, engines, signals).
// Anything it is not sure to read exactly as the general decoder does (an
// unknown or repeated key, null, invalid UTF-8, a surrogate escape, an
// unusual number or time) is handed to DecodeLenient: so the results are
// the same for every input, which FuzzScoredDecoder checks.
//
// A ScoredDecoder is not safe for concurrent use: give each goroutine one.
type ScoredDecoder struct {
	intern map[string]string
	recent [256]string
	// line is the current line as a string: unescaped string values are
	// slices of it, so a line costs one allocation for all of them.
	line string
	b    []byte
	i    int
	seen uint32 // keys read in the current object, to refuse repeats
}

// maxInterned bounds the strings a ScoredDecoder remembers: fields that
// repeat take few values, and a stream of distinct ones must not grow it.
const maxInterned = 4096

// NewScoredDecoder returns a decoder.
func NewScoredDecoder() *ScoredDecoder {
	return &ScoredDecoder{intern: make(map[string]string, 256)}
}

// Decode decodes and validates one scored post. Every error it returns is
// permanent (wraps msg.ErrInvalid or msg.ErrSchema). The result holds no
// reference to b.
func (d *ScoredDecoder) Decode(b []byte) (*msg.Scored, error) {
	s, ok := d.fast(b)
	d.line, d.b = "", nil
	if !ok {
		return DecodeLenient[msg.Scored](b)
	}
	msg.Prepare(s)
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// fast parses b, reporting false for anything it leaves to the general
// decoder.
func (d *ScoredDecoder) fast(b []byte) (*msg.Scored, bool) {
	d.line, d.b, d.i = string(b), b, 0
	s := &msg.Scored{}
	if !d.scored(s) {
		return nil, false
	}
	d.ws()
	return s, d.i == len(d.b)
}

// Keys of a scored post, a bit each for the repeat check.
const (
	kSchema = 1 << iota
	kPost
	kScores
	kEvidence
	kEntities
	kClassifier
	kVersion
	kScoredAt
)

func (d *ScoredDecoder) scored(s *msg.Scored) bool {
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "schema":
			return d.once(kSchema) && d.str(&s.Schema, true)
		case "post":
			return d.once(kPost) && d.post(&s.Post)
		case "scores":
			return d.once(kScores) && d.scores(s)
		case "evidence":
			return d.once(kEvidence) && d.spans(s)
		case "entities":
			return d.once(kEntities) && d.entities(s)
		case "classifier":
			return d.once(kClassifier) && d.str(&s.Classifier, true)
		case "version":
			return d.once(kVersion) && d.str(&s.Version, true)
		case "scored_at":
			return d.once(kScoredAt) && d.time(&s.ScoredAt)
		}
		return false
	})
}

// once marks key bit k read in the current object; false if it was.
func (d *ScoredDecoder) once(k uint32) bool {
	if d.seen&k != 0 {
		return false
	}
	d.seen |= k
	return true
}

// Keys of a post.
const (
	pSchema = 1 << iota
	pID
	pSite
	pEngine
	pSitePostID
	pURL
	pThreadID
	pThreadURL
	pThread
	pAuthor
	pAuthorID
	pPublished
	pFetched
	pText
	pQuoted
	pContentHash
	pBackfill
	pEdited
	pLang
)

func (d *ScoredDecoder) post(p *msg.Post) bool {
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "schema":
			return d.once(pSchema) && d.str(&p.Schema, true)
		case "id":
			return d.once(pID) && d.str(&p.ID, false)
		case "site":
			return d.once(pSite) && d.str(&p.Site, true)
		case "engine":
			return d.once(pEngine) && d.str(&p.Engine, true)
		case "site_post_id":
			return d.once(pSitePostID) && d.str(&p.SitePostID, false)
		case "url":
			return d.once(pURL) && d.str(&p.URL, false)
		case "thread_id":
			return d.once(pThreadID) && d.str(&p.ThreadID, false)
		case "thread_url":
			return d.once(pThreadURL) && d.str(&p.ThreadURL, false)
		case "thread_title":
			return d.once(pThread) && d.str(&p.Thread, true)
		case "author":
			return d.once(pAuthor) && d.str(&p.Author, false)
		case "author_id":
			return d.once(pAuthorID) && d.str(&p.AuthorID, false)
		case "published":
			return d.once(pPublished) && d.time(&p.Published)
		case "fetched":
			return d.once(pFetched) && d.time(&p.Fetched)
		case "text":
			return d.once(pText) && d.str(&p.Text, false)
		case "quoted":
			return d.once(pQuoted) && d.quoted(p)
		case "content_hash":
			return d.once(pContentHash) && d.str(&p.ContentHash, false)
		case "backfill":
			return d.once(pBackfill) && d.bool(&p.Backfill)
		case "edited":
			return d.once(pEdited) && d.bool(&p.Edited)
		case "lang":
			return d.once(pLang) && d.str(&p.Lang, true)
		}
		return false
	})
}

func (d *ScoredDecoder) scores(s *msg.Scored) bool {
	s.Scores = make(map[msg.Signal]float64, len(msg.Signals))
	return d.objectAnyKeys(func(key string) bool {
		var v float64
		if !d.float(&v) {
			return false
		}
		n := len(s.Scores)
		s.Scores[msg.Signal(key)] = v
		// A repeated key did not grow the map: the general decoder's
		// answer for that may differ, so leave it to it.
		return len(s.Scores) > n
	})
}

func (d *ScoredDecoder) spans(s *msg.Scored) bool {
	s.Evidence = make([]msg.Span, 0, 1)
	return d.array(func() bool {
		var sp msg.Span
		ok := d.object(func(key []byte) bool {
			switch string(key) {
			case "signal":
				return d.once(1) && d.str((*string)(&sp.Signal), true)
			case "kind":
				return d.once(2) && d.str(&sp.Kind, true)
			case "field":
				return d.once(4) && d.str(&sp.Field, true)
			case "start":
				return d.once(8) && d.int(&sp.Start)
			case "end":
				return d.once(16) && d.int(&sp.End)
			case "snippet":
				return d.once(32) && d.str(&sp.Snippet, false)
			case "weight":
				return d.once(64) && d.float(&sp.Weight)
			case "unit":
				return d.once(128) && d.str((*string)(&sp.Unit), true)
			}
			return false
		})
		s.Evidence = append(s.Evidence, sp)
		return ok
	})
}

func (d *ScoredDecoder) entities(s *msg.Scored) bool {
	s.Entities = make([]msg.Entity, 0, 1)
	return d.array(func() bool {
		var en msg.Entity
		ok := d.object(func(key []byte) bool {
			switch string(key) {
			case "kind":
				return d.once(1) && d.str((*string)(&en.Kind), true)
			case "name":
				return d.once(2) && d.str(&en.Name, false)
			case "ref":
				return d.once(4) && d.str(&en.Ref, false)
			case "target":
				return d.once(8) && d.bool(&en.Target)
			}
			return false
		})
		s.Entities = append(s.Entities, en)
		return ok
	})
}

func (d *ScoredDecoder) quoted(p *msg.Post) bool {
	p.Quoted = make([]string, 0, 1)
	return d.array(func() bool {
		var q string
		if !d.str(&q, false) {
			return false
		}
		p.Quoted = append(p.Quoted, q)
		return true
	})
}

// object reads an object whose keys are plain strings, calling field for
// each with the reader at the value.
func (d *ScoredDecoder) object(field func(key []byte) bool) bool {
	saved := d.seen
	d.seen = 0
	ok := d.members(func(start, end int) bool { return field(d.b[start:end]) })
	d.seen = saved
	return ok
}

// objectAnyKeys is object for a map: keys are interned strings.
func (d *ScoredDecoder) objectAnyKeys(field func(key string) bool) bool {
	return d.members(func(start, end int) bool { return field(d.interned(start, end)) })
}

func (d *ScoredDecoder) members(field func(start, end int) bool) bool {
	d.ws()
	if !d.byte('{') {
		return false
	}
	d.ws()
	if d.peek() == '}' {
		d.i++
		return true
	}
	for {
		d.ws()
		start, end, esc, ok := d.rawString()
		if !ok || esc {
			return false
		}
		d.ws()
		if !d.byte(':') {
			return false
		}
		d.ws()
		if !field(start, end) {
			return false
		}
		d.ws()
		switch d.next() {
		case ',':
		case '}':
			return true
		default:
			return false
		}
	}
}

func (d *ScoredDecoder) array(elem func() bool) bool {
	d.ws()
	if !d.byte('[') {
		return false
	}
	d.ws()
	if d.peek() == ']' {
		d.i++
		return true
	}
	for {
		d.ws()
		if !elem() {
			return false
		}
		d.ws()
		switch d.next() {
		case ',':
		case ']':
			return true
		default:
			return false
		}
	}
}

func (d *ScoredDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *ScoredDecoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *ScoredDecoder) next() byte {
	c := d.peek()
	d.i++
	return c
}

func (d *ScoredDecoder) byte(c byte) bool {
	if d.peek() != c {
		return false
	}
	d.i++
	return true
}

// rawString reads a string token: the bounds of its content and whether
// it has escapes. Control characters and invalid UTF-8, which the general
// decoder handles in its own ways, are refused.
func (d *ScoredDecoder) rawString() (start, end int, esc, ok bool) {
	if !d.byte('"') {
		return 0, 0, false, false
	}
	start = d.i
	ascii := true
	b := d.b
	for i := start; i < len(b); i++ {
		c := b[i]
		if strByte[c] == 0 {
			continue
		}
		switch {
		case c == '"':
			d.i = i + 1
			if !ascii && !utf8.Valid(b[start:i]) {
				return 0, 0, false, false
			}
			return start, i, esc, true
		case c == '\\':
			esc = true
			i++
		case c < 0x20:
			return 0, 0, false, false
		default:
			ascii = false
		}
	}
	return 0, 0, false, false
}

// strByte marks the bytes a string scan must look at: the quote, the
// backslash, control characters and non-ASCII.
var strByte = func() (t [256]byte) {
	for c := range t {
		if c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			t[c] = 1
		}
	}
	return t
}()

// str reads a string value into v; intern says the field takes few
// distinct values, worth remembering from line to line.
func (d *ScoredDecoder) str(v *string, intern bool) bool {
	start, end, esc, ok := d.rawString()
	if !ok {
		return false
	}
	if esc {
		return d.unescape(v, start, end)
	}
	if intern {
		*v = d.interned(start, end)
	} else {
		*v = d.line[start:end]
	}
	return true
}

func (d *ScoredDecoder) interned(start, end int) string {
	b := d.b[start:end]
	// A direct-mapped cache in front of the map, on a cheap hash of the
	// bytes: cheaper than the map's lookup for these short strings.
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	slot := &d.recent[h%uint32(len(d.recent))]
	if *slot == string(b) {
		return *slot
	}
	s, ok := d.intern[string(b)]
	if !ok {
		// A fresh copy: the map outlives the line.
		s = string(b)
		if len(d.intern) < maxInterned {
			d.intern[s] = s
		}
	}
	*slot = s
	return s
}

// unescape decodes a string with escapes. Surrogate escapes, which the
// general decoder pairs or replaces, are left to it.
func (d *ScoredDecoder) unescape(v *string, start, end int) bool {
	out := make([]byte, 0, end-start)
	for i := start; i < end; i++ {
		c := d.b[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= end {
			return false
		}
		switch d.b[i] {
		case '"', '\\', '/':
			out = append(out, d.b[i])
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
			if i+4 >= end {
				return false
			}
			r, ok := hex4(d.b[i+1 : i+5])
			if !ok || utf16.IsSurrogate(r) {
				return false
			}
			out = utf8.AppendRune(out, r)
			i += 4
		default:
			return false
		}
	}
	*v = string(out)
	return true
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a JSON number token, refusing anything outside the JSON
// grammar (the general decoder reports those as errors).
func (d *ScoredDecoder) number() (string, bool) {
	start := d.i
	d.byte('-')
	switch c := d.peek(); {
	case c == '0':
		d.i++
	case c >= '1' && c <= '9':
		d.digits()
	default:
		return "", false
	}
	if d.peek() == '.' {
		d.i++
		if !d.digits() {
			return "", false
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		if !d.digits() {
			return "", false
		}
	}
	return d.line[start:d.i], true
}

func (d *ScoredDecoder) digits() bool {
	n := 0
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
		n++
	}
	return n > 0
}

func (d *ScoredDecoder) float(v *float64) bool {
	s, ok := d.number()
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false
	}
	*v = f
	return true
}

func (d *ScoredDecoder) int(v *int) bool {
	s, ok := d.number()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(s, 10, 0)
	if err != nil {
		return false
	}
	*v = int(n)
	return true
}

func (d *ScoredDecoder) bool(v *bool) bool {
	switch {
	case d.i+4 <= len(d.b) && string(d.b[d.i:d.i+4]) == "true":
		*v = true
		d.i += 4
	case d.i+5 <= len(d.b) && string(d.b[d.i:d.i+5]) == "false":
		*v = false
		d.i += 5
	default:
		return false
	}
	return true
}

// time reads a time in the form msg.Encode writes (UTC, "Z", 0 to 9
// fraction digits); other forms (offsets) are left to the general decoder,
// whose time parser sets the location its own way.
func (d *ScoredDecoder) time(v *time.Time) bool {
	start, end, esc, ok := d.rawString()
	if !ok || esc {
		return false
	}
	t, ok := parseUTC(d.b[start:end])
	*v = t
	return ok
}

// parseUTC parses YYYY-MM-DDTHH:MM:SS[.fraction]Z, with the range checks
// time.Parse makes; false for anything else.
func parseUTC(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[len(b)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		n, ok := num(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nsec = n
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
