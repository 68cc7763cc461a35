package classifiers

import (
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Compile-time check: sentence cue masks are one uint64.
var _ = [64 - numCues]struct{}{}

// Document is one part of a post (the author's own text, or the quoted
// text) prepared once for every scorer: normalized, tokenized, matched
// against the lexicon, with personal data found. Scorers read it; none
// changes it.
type Document struct {
	// Text is the original text; offsets in spans index into it.
	Text  string
	Field string // "text" or "quoted"

	norm normalized
	toks []token
	hits []hit
	pii  []pii
	// own and quoted hold, per sentence, the cues found in the author's
	// words and in inline quotations they report.
	own, quoted []uint64
	all         uint64 // union of own
	counts      [numCues]uint16
	byCue       [numCues][]int32 // indices into hits, in text order
	dollar      bool             // a price like "$150"
	// piiCapped says the phone budget ran out: snippets are then redacted
	// again from scratch, so no number past the budget can leak.
	piiCapped bool
}

var docPool = sync.Pool{New: func() any { return &Document{} }}

// MaxAnalyzedBytes caps how much of one text is analyzed; a longer post is
// scored on its first MaxAnalyzedBytes (evidence offsets stay valid). It is
// the size the scrapers cut a post's text to, so that what they hand on is
// what is read.
const MaxAnalyzedBytes = msg.MaxTextBytes

// prepare analyzes text into d, reusing d's buffers.
func (c *Classifier) prepare(d *Document, text, field string) {
	d.Text, d.Field = text, field
	if len(text) > MaxAnalyzedBytes {
		text = text[:MaxAnalyzedBytes]
	}
	d.norm = normalize(text)
	d.toks = tokenize(&d.norm, text, d.toks[:0])
	d.hits = c.lex.match(d.toks, d.hits[:0])
	if n := len(d.hits); true {
		d.hits = c.lex.labelHits(d.norm.s, d.toks, d.hits)
		if len(d.hits) > n {
			slices.SortStableFunc(d.hits, func(a, b hit) int { return int(a.from - b.from) })
		}
	}
	d.pii, d.piiCapped = findPIIBudget(text, &d.norm, d.toks, d.pii[:0], maxPhoneParses)
	d.dollar = strings.Contains(text, "$") && hasDigit(text)
	nsent := 0
	if len(d.toks) > 0 {
		nsent = int(d.toks[len(d.toks)-1].sent) + 1
	}
	d.own = resize(d.own, nsent)
	d.quoted = resize(d.quoted, nsent)
	d.all = 0
	d.counts = [numCues]uint16{}
	kept := d.hits[:0]
	for _, h := range d.hits {
		t := d.toks[h.from]
		// A harm word written as a name mid-sentence ("Bob Lynch", "Kill
		// Bill") is a name, not a verb.
		if (h.c == cHarmStrong || h.c == cHarm || h.c == cInciteStrong) && h.to-h.from == 1 && t.flags&tokCap != 0 &&
			h.from > 0 && d.toks[h.from-1].sent == t.sent && d.toks[h.from-1].flags&tokCap != 0 {
			continue
		}
		kept = append(kept, h)
	}
	d.hits = kept
	for i := range d.byCue {
		d.byCue[i] = d.byCue[i][:0]
	}
	for i, h := range d.hits {
		d.byCue[h.c] = append(d.byCue[h.c], int32(i))
	}
	for _, h := range d.hits {
		t := d.toks[h.from]
		if t.flags&tokQuoted != 0 {
			d.quoted[t.sent] |= 1 << h.c
			continue
		}
		d.own[t.sent] |= 1 << h.c
		d.all |= 1 << h.c
		if d.counts[h.c] < 1000 {
			d.counts[h.c]++
		}
	}
	for _, p := range d.pii {
		s := d.sentenceAt(p.start)
		if s < 0 {
			continue
		}
		var cu cue
		switch p.kind {
		case KindStreetAddress:
			cu = cPIIAddress
		case KindStreetName:
			cu = cPIIStreet
		case KindPhone:
			cu = cPIIPhone
		case KindEmail:
			cu = cPIIEmail
		case KindSSN, KindPaymentCard, KindCoordinates, KindPlate, KindDOB:
			cu = cPIIStrong
		default:
			cu = cPIIOther
		}
		d.own[s] |= 1 << cu
		d.all |= 1 << cu
		d.counts[cu]++
	}
	// Capitalized words that are not the first of a sentence and not
	// common words: a cheap guess at a named person, refined by prose for
	// posts that score.
	for i, t := range d.toks {
		first := i == 0 || d.toks[i-1].sent != t.sent
		// At a sentence start only a possessive ("Dana's") or a full name
		// ("Cassidy Ruelas") is taken for a person.
		fullName := i+1 < len(d.toks) && d.toks[i+1].sent == t.sent && d.toks[i+1].flags&tokCap != 0 &&
			!notName[d.toks[i+1].s] && !streetSuffixes[d.toks[i+1].s] && d.toks[i+1].start-t.end == 1
		if t.flags&tokCap == 0 || t.flags&tokQuoted != 0 || len(t.s) < 3 || first && !strings.HasSuffix(t.s, "'s") && !fullName {
			continue
		}
		if d.inPII(d.norm.orig(int(t.start))) {
			continue
		}
		if notName[strings.TrimSuffix(t.s, "'s")] || streetSuffixes[t.s] {
			continue
		}
		d.own[t.sent] |= 1 << cNamed
		d.all |= 1 << cNamed
		d.counts[cNamed]++
	}
}

// inPII reports whether original offset o lies in personal data found.
func (d *Document) inPII(o int) bool {
	for _, p := range d.pii {
		if o >= p.start && o < p.end {
			return true
		}
	}
	return false
}

func resize(s []uint64, n int) []uint64 {
	if cap(s) < n {
		return make([]uint64, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// sentenceAt returns the sentence of the token holding original offset o.
func (d *Document) sentenceAt(o int) int32 {
	if len(d.toks) == 0 {
		return -1
	}
	k := sort.Search(len(d.toks), func(i int) bool { return d.norm.orig(int(d.toks[i].end)) > o })
	if k == len(d.toks) {
		k--
	}
	return d.toks[k].sent
}

// has reports cue c anywhere in the author's own words.
func (d *Document) has(c cue) bool { return d.all&(1<<c) != 0 }

// count is how often cue c occurs in the author's own words.
func (d *Document) count(c cue) float64 { return float64(d.counts[c]) }

// co reports a sentence holding every one of cs.
func (d *Document) co(cs ...cue) bool {
	var m uint64
	for _, c := range cs {
		m |= 1 << c
	}
	for _, s := range d.own {
		if s&m == m {
			return true
		}
	}
	return false
}

// coAny reports a sentence holding a and any of bs.
func (d *Document) coAny(a cue, bs ...cue) bool {
	var m uint64
	for _, c := range bs {
		m |= 1 << c
	}
	for _, s := range d.own {
		if s&(1<<a) != 0 && s&m != 0 {
			return true
		}
	}
	return false
}

// countOutside counts hits of c in sentences of the author's own words
// that hold none of excl: "report it" inside a threat is not a report.
func (d *Document) countOutside(c cue, excl ...cue) float64 {
	var m uint64
	for _, e := range excl {
		m |= 1 << e
	}
	n := 0
	for _, ih := range d.byCue[c] {
		t := d.toks[d.hits[ih].from]
		if t.flags&tokQuoted == 0 && d.own[t.sent]&m == 0 {
			n++
		}
	}
	return float64(n)
}

// quotedHas reports cue c inside a quotation the author reports.
func (d *Document) quotedHas(c cue) bool {
	for _, s := range d.quoted {
		if s&(1<<c) != 0 {
			return true
		}
	}
	return false
}

// followed reports a hit of a followed by a hit of b, in that order, at
// most window tokens apart, in one sentence of the author's own words. It
// returns the original byte range covering both.
func (d *Document) followed(a, b cue, window int32) (bool, int, int) {
	lb := d.byCue[b]
	k := 0
	for _, ia := range d.byCue[a] {
		ha := d.hits[ia]
		if d.toks[ha.from].flags&tokQuoted != 0 {
			continue
		}
		for k < len(lb) && d.hits[lb[k]].from < ha.from {
			k++
		}
		for m := k; m < len(lb); m++ {
			hb := d.hits[lb[m]]
			if hb.from-ha.to > window {
				break
			}
			if d.toks[hb.from].sent != d.toks[ha.from].sent || d.toks[hb.from].flags&tokQuoted != 0 {
				continue
			}
			return true, d.norm.orig(int(d.toks[ha.from].start)), d.norm.orig(int(d.toks[hb.to-1].end))
		}
	}
	return false, -1, -1
}

// negated reports a negation ending at most three tokens before a hit of c.
func (d *Document) negated(c cue) bool {
	ln := d.byCue[cNegation]
	if len(ln) == 0 {
		return false
	}
	k := 0
	for _, ih := range d.byCue[c] {
		h := d.hits[ih]
		for k < len(ln) && d.hits[ln[k]].to+3 < h.from {
			k++
		}
		for m := k; m < len(ln); m++ {
			n := d.hits[ln[m]]
			if n.from >= h.from {
				break
			}
			if n.to <= h.from && h.from-n.to <= 2 && d.toks[n.from].sent == d.toks[h.from].sent &&
				strings.IndexByte(d.norm.s[d.toks[n.to-1].end:d.toks[h.from].start], ',') < 0 {
				return true
			}
		}
	}
	return false
}

// span returns the original byte range of the first own hit of c.
func (d *Document) span(c cue) (int, int) {
	for _, ih := range d.byCue[c] {
		if h := d.hits[ih]; d.toks[h.from].flags&tokQuoted == 0 {
			return d.norm.orig(int(d.toks[h.from].start)), d.norm.orig(int(d.toks[h.to-1].end))
		}
	}
	return -1, -1
}

// sentSpan returns the original byte range of the first sentence holding
// all of cs.
func (d *Document) sentSpan(cs ...cue) (int, int) {
	var m uint64
	for _, c := range cs {
		m |= 1 << c
	}
	for si, s := range d.own {
		if s&m == m {
			return d.sentenceRange(int32(si))
		}
	}
	return -1, -1
}

func (d *Document) sentenceRange(si int32) (int, int) {
	k := sort.Search(len(d.toks), func(i int) bool { return d.toks[i].sent >= si })
	a, b := -1, -1
	for ; k < len(d.toks) && d.toks[k].sent == si; k++ {
		if a < 0 {
			a = d.norm.orig(int(d.toks[k].start))
		}
		b = d.norm.orig(int(d.toks[k].end))
	}
	return a, b
}

// piiOf returns the personal data of the given kinds.
func (d *Document) piiOf(kinds ...string) []pii {
	var out []pii
	for _, p := range d.pii {
		for _, k := range kinds {
			if p.kind == k {
				out = append(out, p)
			}
		}
	}
	return out
}

// labelHits adds field labels written before a colon ("addy:", "dob:").
func (lx *lexicon) labelHits(s string, toks []token, hits []hit) []hit {
	if strings.IndexByte(s, ':') < 0 {
		return hits
	}
	for i, t := range toks {
		if int(t.end) < len(s) && s[t.end] == ':' || int(t.end)+1 < len(s) && s[t.end] == ' ' && s[t.end+1] == ':' {
			for _, c := range lx.labels[t.s] {
				hits = append(hits, hit{c: c, from: int32(i), to: int32(i + 1)})
			}
		}
	}
	return hits
}

// notName are capitalized words that are rarely a person's name.
var notName = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`the a an and or but if so i i'm im i'll i've i'd my we our you your he she they it its
	this that these those there here what when where why how who which anyone someone somebody nobody everyone
	monday tuesday wednesday thursday friday saturday sunday january february march april may june july august
	september october november december god lol lmao omg wtf ok okay yes no not just also then now today tonight
	tomorrow news police swat fbi usa us uk eu new old great good best first last next please thanks thank
	street st road rd avenue ave lane ln drive dr court ct boulevard blvd way loop city county state park lake
	north south east west mr mrs ms dr jr sr edit update note ps rip amen hello hi hey dear wikipedia talk
	english american christmas easter halloween covid twitter facebook reddit discord twitch youtube instagram
	tiktok google apple amazon microsoft xbox playstation nintendo steam iphone android windows linux`) {
		m[w] = true
	}
	return m
}()
