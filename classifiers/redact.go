package classifiers

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Redact replaces the personal data in text with typed placeholders:
// [ADDRESS], [STREET], [POSTCODE], [PHONE], [EMAIL], [IP], [COORDINATES],
// [SSN], [DOB], [PLATE], [CARD]. It finds what the doxxing signal finds,
// with the same extractors, and is safe for concurrent use. Text that holds
// none comes back unchanged (and unallocated).
func Redact(text string) string {
	if len(text) > MaxAnalyzedBytes {
		return redactHuge(text)
	}
	d := docPool.Get().(*Document)
	defer docPool.Put(d)
	d.pii = findRedactable(d, text)
	if len(d.pii) == 0 {
		return text
	}
	return replaceSpans(text, d.pii, 0, len(text), nil)
}

// findRedactable returns the personal data in text (at most
// MaxAnalyzedBytes), sorted and without overlaps, using d's buffers.
func findRedactable(d *Document, text string) []pii {
	d.norm = normalize(text)
	d.toks = tokenize(&d.norm, text, d.toks[:0])
	d.pii = findPII(text, &d.norm, d.toks, d.pii[:0])
	return findRedactableExtras(text, d.pii)
}

// redactOverlap is how far consecutive pieces of a huge text overlap: any
// piece of personal data shorter than this that straddles the end of one
// piece lies whole in the next.
const redactOverlap = 4 << 10

// redactHuge redacts a text longer than MaxAnalyzedBytes in overlapping
// pieces. Cutting it into pieces that merely touch would split an address
// or a number that straddles a cut into halves neither piece recognizes.
func redactHuge(text string) string {
	d := docPool.Get().(*Document)
	defer docPool.Put(d)
	var rs []replacement
	for a := 0; ; {
		b := min(a+MaxAnalyzedBytes, len(text))
		for b < len(text) && !utf8.RuneStart(text[b]) {
			b--
		}
		for _, p := range findRedactable(d, text[a:b]) {
			rs = append(rs, replacement{a + p.start, a + p.end, placeholders[p.kind]})
		}
		if b == len(text) {
			break
		}
		a = b - redactOverlap
		for !utf8.RuneStart(text[a]) {
			a--
		}
	}
	if len(rs) == 0 {
		return text
	}
	return replaceSpans(text, nil, 0, len(text), rs)
}

// replacement is one span to replace within a snippet.
type replacement struct {
	start, end int
	with       string
}

// replaceSpans returns text[a:b] with the personal data in ps and the
// extra replacements substituted.
func replaceSpans(text string, ps []pii, a, b int, extra []replacement) string {
	rs := make([]replacement, 0, len(extra)+8)
	// ps is sorted and non-overlapping: start at the first span ending
	// after a.
	for _, p := range ps[sort.Search(len(ps), func(i int) bool { return ps[i].end > a }):] {
		if p.start >= b {
			break
		}
		rs = append(rs, replacement{max(p.start, a), min(p.end, b), placeholders[p.kind]})
	}
	for _, r := range extra {
		if r.end <= a || r.start >= b {
			continue
		}
		rs = append(rs, replacement{max(r.start, a), min(r.end, b), r.with})
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].start != rs[j].start {
			return rs[i].start < rs[j].start
		}
		return rs[i].end > rs[j].end
	})
	var sb strings.Builder
	sb.Grow(b - a)
	at := a
	for _, r := range rs {
		if r.start < at {
			if r.end > at { // overlapping: extend the previous replacement
				at = r.end
			}
			continue
		}
		sb.WriteString(text[at:r.start])
		sb.WriteString(r.with)
		at = r.end
	}
	sb.WriteString(text[at:b])
	return sb.String()
}

// snippetContext is how many bytes of context a snippet keeps on each side.
const snippetContext = 60

// redactSnippets fills every evidence span's snippet: the span with some
// context, personal data replaced with typed placeholders and the names and
// handles of people the post mentions replaced with [PERSON] and [HANDLE].
func (c *Classifier) redactSnippets(s *msg.Scored, own, quoted *Document) {
	var names []string
	var kinds []string
	for _, e := range s.Entities {
		switch e.Kind {
		case msg.EntityHandle:
			names, kinds = append(names, e.Name, strings.TrimPrefix(e.Name, "@")), append(kinds, "[HANDLE]", "[HANDLE]")
		case msg.EntityPerson:
			names, kinds = append(names, e.Name), append(kinds, "[PERSON]")
			if parts := strings.Fields(e.Name); len(parts) > 1 {
				for _, p := range parts {
					if len(p) >= 3 {
						names, kinds = append(names, p), append(kinds, "[PERSON]")
					}
				}
			}
		}
	}
	// Snippets are redacted with the phone-shaped runs too, which scoring
	// leaves out; computed once per document, and only for posts with
	// evidence.
	spans := map[*Document][]pii{}
	for _, d := range []*Document{own, quoted} {
		if d != nil && len(s.Evidence) > 0 {
			spans[d] = findRedactableExtras(d.Text, append([]pii(nil), d.pii...))
		}
	}
	for i := range s.Evidence {
		ev := &s.Evidence[i]
		d := own
		if ev.Field == "quoted" {
			d = quoted
		}
		if d == nil || ev.Start < 0 || ev.End > len(d.Text) || ev.Start > ev.End {
			ev.Start, ev.End = 0, 0
			continue
		}
		a, b := snippetBounds(d.Text, ev.Start, ev.End)
		var extra []replacement
		for k, n := range names {
			extra = appendOccurrences(extra, d.Text[a:b], a, n, kinds[k])
		}
		snip := replaceSpans(d.Text, spans[d], a, b, extra)
		if d.piiCapped {
			snip = Redact(snip)
		}
		ev.Snippet = strings.TrimSpace(strings.Join(strings.Fields(snip), " "))
		if a > 0 {
			ev.Snippet = "…" + ev.Snippet
		}
		if b < len(d.Text) {
			ev.Snippet += "…"
		}
	}
}

// snippetBounds widens [start,end) by some context, to word and rune
// boundaries, and caps very long spans.
func snippetBounds(text string, start, end int) (int, int) {
	if end-start > 240 {
		end = start + 240
	}
	a, b := max(0, start-snippetContext), min(len(text), end+snippetContext)
	for a > 0 && a > start-snippetContext-20 && text[a-1] != ' ' && text[a-1] != '\n' {
		a--
	}
	for b < len(text) && b < end+snippetContext+20 && text[b] != ' ' && text[b] != '\n' {
		b++
	}
	for a < len(text) && !utf8.RuneStart(text[a]) {
		a++
	}
	for b < len(text) && !utf8.RuneStart(text[b]) {
		b++
	}
	return a, max(a, b)
}

// appendOccurrences adds a replacement for each case-insensitive
// occurrence of name (as a whole word) in s, which starts at offset base.
func appendOccurrences(rs []replacement, s string, base int, name, with string) []replacement {
	if len(name) < 2 {
		return rs
	}
	ls, ln := strings.ToLower(s), strings.ToLower(name)
	for k := 0; k < len(ls); {
		j := strings.Index(ls[k:], ln)
		if j < 0 {
			break
		}
		st, en := k+j, k+j+len(ln)
		if (st == 0 || !isAlnum(ls[st-1])) && (en == len(ls) || !isAlnum(ls[en])) {
			rs = append(rs, replacement{base + st, base + en, with})
		}
		k = en
	}
	return rs
}
