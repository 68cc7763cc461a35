package classifiers

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// disguise is a stretch of text that hides a value's characters from
// finders that read ASCII: an invisible character, markup or an HTML
// entity between its groups, a digit of another script, a spaced dash, a
// line break inside a number. c is the ASCII byte it stands for; 0 for
// nothing.
type disguise struct {
	start, end int
	c          byte
	kind       disguiseKind
}

type disguiseKind uint8

const (
	// disguiseInvisible is a zero-width or formatting character, or the
	// parts of a keycap emoji after its digit ("5\ufe0f\u20e3").
	disguiseInvisible disguiseKind = iota
	// disguiseMarkup is markdown emphasis, code or escapes ("**", "__",
	// "`", "\") or an HTML tag without attributes.
	disguiseMarkup
	// disguiseSpace is an HTML no-break space written as an entity.
	disguiseSpace
	// disguiseChar is a character that stands for an ASCII one: a digit
	// of another script, an entity ("&#64;"), a spaced dash between
	// figures, a letter O, l or I written for a figure ("555-O147"), a
	// figure spelled as a word inside a word of figures ("2one2").
	disguiseChar
	// disguiseBreak is a line break between two groups of figures: it
	// may wrap a number, or end one line of a list.
	disguiseBreak
	// disguiseSoftBreak is a line break after a dash, a dot or a
	// bracket that a number goes on after: it wraps a number.
	disguiseSoftBreak
)

// phoneWords are the words before a number that say it is a phone
// number: those findPhones reads, but for "#", which also numbers orders
// and tickets.
var phoneWords = []string{"phone", "call", "text", "cell", "number", "tel", "mobile", "ph:", "whatsapp"}

// findDisguised finds personal data hidden by disguises ("555\u200b0147",
// "٢١٢٥٥٥٠١٤٧", "**212**-**555**-**0147**", "jane&#64;example.com",
// "555-\n0147"): the text is read again with each disguise replaced by
// what it stands for, and what is found is mapped back to the original
// bytes. A number across a line break or a spaced dash is taken only as
// wrappedPhone allows. Redaction only.
func findDisguised(text string, out []pii) []pii {
	ds := findDisguises(text)
	if len(ds) == 0 {
		return out
	}
	// Each byte of the narrowed text has the offsets in text of what it
	// stands for: a span found ends where its last byte's original ends,
	// and takes in the invisible characters after it ("5\ufe0f\u20e3")
	// but not the markup ("**212**").
	var b strings.Builder
	b.Grow(len(text))
	src := make([]int, 0, len(text)+1)
	srcEnd := make([]int, 0, len(text))
	var hard []int // where, in the narrowed text, each line break or spaced dash ends
	plain := func(a, e int) {
		b.WriteString(text[a:e])
		for k := a; k < e; k++ {
			src, srcEnd = append(src, k), append(srcEnd, k+1)
		}
	}
	at := 0
	for _, d := range ds {
		plain(at, d.start)
		switch {
		case d.c != 0:
			b.WriteByte(d.c)
			src, srcEnd = append(src, d.start), append(srcEnd, d.end)
		case d.kind == disguiseInvisible && len(srcEnd) > 0 && srcEnd[len(srcEnd)-1] == d.start:
			srcEnd[len(srcEnd)-1] = d.end
		}
		if d.kind == disguiseBreak || d.kind == disguiseSoftBreak || d.c == '-' {
			hard = append(hard, b.Len())
		}
		at = d.end
	}
	plain(at, len(text))
	src = append(src, len(text))
	narrow := b.String()
	n := normalize(narrow)
	ps, _ := findPIIBudget(narrow, &n, tokenize(&n, narrow, nil), nil, maxPhoneParses)
	ps = findRedactableExtrasIn(narrow, ps)
	for _, p := range ps {
		if p.kind == KindPhone && crosses(hard, p) && !wrappedPhone(narrow, p) {
			continue
		}
		out = append(out, pii{p.kind, src[p.start], srcEnd[p.end-1]})
	}
	return out
}

// wrappedPhone accepts a phone number p of the narrowed text that holds a
// line break or a spaced dash: a valid number, or one after a word like
// "call" whose last group has four figures or more. Figures on lines of
// their own, or set apart by spaced dashes, are more often a list or a
// range ("101-\n102-\n103", "100 - 200 - 300").
func wrappedPhone(narrow string, p pii) bool {
	cand := narrow[p.start:p.end]
	if validPhone(cand) {
		return true
	}
	g := digitGroups(cand)
	return len(g) > 0 && g[len(g)-1] >= 4 && contextBefore(narrow, p.start, 30, phoneWords...)
}

// crosses reports a position of at inside p.
func crosses(at []int, p pii) bool {
	for _, k := range at {
		if p.start < k && k < p.end {
			return true
		}
	}
	return false
}

// findDisguises returns, in order, the disguises in text that may hide a
// value. Invisible characters and markup count only beside a figure or an
// "@" (an invisible one also beside a letter or a dot, as it is no use
// elsewhere): the zero-width joiners of an emoji sequence and the
// asterisks of "**Note**" hide nothing. Disguises in a row are judged
// together ("</td><td>"), by what stands around them all.
func findDisguises(text string) []disguise {
	var all []disguise
	for i := 0; i < len(text); {
		if isAlnum(text[i]) {
			// A word holds no disguise but the letters written for
			// figures and the figures spelled inside it; one look at
			// it says whether it has any. Both want a figure in the
			// word, and most words have none.
			e, digit := i, false
			for e < len(text) && isAlnum(text[e]) {
				digit = digit || isDigit(text[e])
				e++
			}
			if !digit {
				i = e
				continue
			}
			if lettersForFigures(text[i:e]) {
				for k := i; k < e; k++ {
					switch text[k] {
					case 'O', 'o':
						all = append(all, disguise{k, k + 1, '0', disguiseChar})
					case 'l', 'I':
						all = append(all, disguise{k, k + 1, '1', disguiseChar})
					}
				}
			} else {
				all = appendSpelledFigures(all, text, i, e)
			}
			i = e
			continue
		}
		d, ok := disguiseAt(text, i)
		if !ok {
			i++
			continue
		}
		all = append(all, d)
		i = d.end
	}
	if len(all) == 0 {
		return nil
	}
	keep := all[:0]
	for a := 0; a < len(all); {
		b := a + 1
		for b < len(all) && all[b].start == all[b-1].end {
			b++
		}
		var before, after byte
		if s := all[a].start; s > 0 {
			before = text[s-1]
		}
		if e := all[b-1].end; e < len(text) {
			after = text[e]
		}
		if disguiseRunCounts(all[a:b], before, after) {
			keep = append(keep, all[a:b]...)
		}
		a = b
	}
	return keep
}

// disguiseRunCounts reports whether a run of disguises in a row, with the
// bytes before and after it, may hide a value.
func disguiseRunCounts(run []disguise, before, after byte) bool {
	digitOrAt := func(c byte) bool { return isDigit(c) || c == '@' }
	for _, d := range run {
		switch d.kind {
		case disguiseChar, disguiseBreak, disguiseSoftBreak:
			return true
		case disguiseInvisible:
			if isAlnum(before) || isAlnum(after) || before == '@' || after == '@' || before == '.' || after == '.' {
				return true
			}
		case disguiseMarkup:
			if digitOrAt(before) || digitOrAt(after) {
				return true
			}
		case disguiseSpace:
			if isDigit(before) || isDigit(after) {
				return true
			}
		}
	}
	return false
}

// disguiseAt returns the disguise that starts at text[i], if any.
func disguiseAt(text string, i int) (disguise, bool) {
	switch c := text[i]; {
	case c >= utf8.RuneSelf:
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case invisibleRune(r):
			return disguise{i, i + size, 0, disguiseInvisible}, true
		case unicode.IsDigit(r):
			return disguise{i, i + size, '0' + digitValue(r), disguiseChar}, true
		}
	case c == '&':
		if v, size := entityAt(text, i); size > 0 {
			if v == ' ' {
				return disguise{i, i + size, ' ', disguiseSpace}, true
			}
			return disguise{i, i + size, v, disguiseChar}, true
		}
	case c == '<':
		if e := tagEnd(text, i); e > 0 {
			return disguise{i, e, 0, disguiseMarkup}, true
		}
	case c == '*' || c == '`' || c == '~' || c == '\\' || c == '_':
		e := i + 1
		for e < len(text) && (text[e] == '*' || text[e] == '`' || text[e] == '~' || text[e] == '\\' || text[e] == '_') {
			e++
		}
		if c == '_' && e == i+1 && i > 0 && isDigit(text[i-1]) && e < len(text) && isDigit(text[e]) {
			// An underscore between figures sets groups apart
			// ("719_555_0108"), as the phone finder reads it.
			break
		}
		return disguise{i, e, 0, disguiseMarkup}, true
	case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		if i == 0 {
			break
		}
		if e := spacedDashEnd(text, i); e > 0 {
			return disguise{i, e, '-', disguiseChar}, true
		}
		prev := text[i-1]
		if !(isDigit(prev) || prev == '-' || prev == '.' || prev == ')') {
			break
		}
		e, lines := i, 0
		for e < len(text) && isSpaceByte(text[e]) {
			if text[e] == '\n' {
				lines++
			}
			e++
		}
		// One line break, with a figure or an opening bracket after it;
		// a blank line ends a paragraph, not a number.
		if lines != 1 || e == len(text) || !(isDigit(text[e]) || text[e] == '(') {
			break
		}
		switch prev {
		case '-', '.':
			return disguise{i, e, 0, disguiseSoftBreak}, true
		case ')':
			return disguise{i, e, ' ', disguiseSoftBreak}, true
		}
		return disguise{i, e, ' ', disguiseBreak}, true
	}
	return disguise{}, false
}

// invisibleRune reports the characters that show as nothing: zero-width
// spaces and joiners, the word joiner, the byte-order mark, the soft
// hyphen, and the variation selector and keycap mark of "5️⃣".
func invisibleRune(r rune) bool {
	switch r {
	case 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x180E, 0xFE0F, 0xFE0E, 0x20E3:
		return true
	}
	return false
}

// digitValue returns the value of a decimal digit of any script: Unicode
// assigns them in runs of ten, from zero to nine.
func digitValue(r rune) byte {
	k := rune(0)
	for k < 100 && unicode.IsDigit(r-k-1) {
		k++
	}
	return byte(k % 10)
}

// namedEntities are the HTML entities for the characters values are made
// of.
var namedEntities = map[string]byte{
	"commat": '@', "period": '.', "nbsp": ' ', "hyphen": '-', "dash": '-', "plus": '+', "lpar": '(', "rpar": ')',
	"lowbar": '_', "colon": ':', "sol": '/',
}

// entityAt decodes the HTML entity at text[i] when it stands for a
// character of a value: a letter, a figure, "@", ".", "-", "+", a bracket,
// or a no-break space (returned as ' ').
func entityAt(text string, i int) (byte, int) {
	e := strings.IndexByte(text[i:min(len(text), i+10)], ';')
	if e < 3 {
		return 0, 0
	}
	name := text[i+1 : i+e]
	size := e + 1
	if name[0] != '#' {
		v, ok := namedEntities[name]
		if !ok {
			return 0, 0
		}
		return v, size
	}
	v, base := 0, 10
	ds := name[1:]
	if ds != "" && ds[0]|0x20 == 'x' {
		base, ds = 16, ds[1:]
	}
	if ds == "" {
		return 0, 0
	}
	for k := 0; k < len(ds); k++ {
		d := ds[k]
		switch {
		case isDigit(d):
			v = v*base + int(d-'0')
		case base == 16 && isHex(d):
			v = v*base + int(unhex(d))
		default:
			return 0, 0
		}
	}
	switch {
	case v == 0xA0:
		return ' ', size
	case v < utf8.RuneSelf && (isAlnum(byte(v)) || strings.IndexByte("@.-+()_:/", byte(v)) >= 0):
		return byte(v), size
	}
	return 0, 0
}

// tagEnd returns where an HTML tag without attributes starting at text[i]
// ends, or 0: "<b>", "</td>", "<br/>". A tag with attributes is left for
// the finders to read: its attributes may hold a value ("<a
// href="mailto:jane&#64;example.com">").
func tagEnd(text string, i int) int {
	j := i + 1
	if j < len(text) && text[j] == '/' {
		j++
	}
	if j >= len(text) || !isLetter(text[j]) {
		return 0
	}
	for j < len(text) && j < i+12 && isAlnum(text[j]) {
		j++
	}
	if j < len(text) && text[j] == '/' {
		j++
	}
	if j < len(text) && text[j] == '>' {
		return j + 1
	}
	return 0
}

// spacedDashEnd returns where a dash with a space each side ends, when it
// stands between two figures ("212 - 555 - 0147"), or 0.
func spacedDashEnd(text string, i int) int {
	if text[i] != ' ' || !isDigit(text[i-1]) || i+1 >= len(text) {
		return 0
	}
	j := i + 1
	switch {
	case text[j] == '-':
		j++
	case strings.HasPrefix(text[j:], "–") || strings.HasPrefix(text[j:], "—"):
		j += len("–")
	default:
		return 0
	}
	if j+1 < len(text) && text[j] == ' ' && isDigit(text[j+1]) {
		return j + 1
	}
	return 0
}

// unitWords are the figures spelled as words, by value.
var unitWords = [...]string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}

// appendSpelledFigures adds a disguise for each figure spelled as a word
// inside the word text[i:e] when it is made of figures and such words
// only, with a figure among them: "2one2", "two12", "01four7", "4oh4".
// Read as a word, its figures were lost to the phone finder, and the
// number was left in clear. A word with other letters ("one2one" is
// figures and words, but "someone2" is not) adds nothing.
func appendSpelledFigures(all []disguise, text string, i, e int) []disguise {
	if e-i > 40 || !hasDigit(text[i:e]) {
		return all
	}
	n := len(all)
	for k := i; k < e; {
		if isDigit(text[k]) {
			k++
			continue
		}
		l, v := 0, byte(0)
		for d, w := range unitWords {
			if len(w) <= e-k && strings.EqualFold(text[k:k+len(w)], w) {
				l, v = len(w), byte(d)
				break
			}
		}
		if l == 0 && k+2 <= e && strings.EqualFold(text[k:k+2], "oh") {
			l = 2
		}
		if l == 0 {
			return all[:n]
		}
		all = append(all, disguise{k, k + l, '0' + v, disguiseChar})
		k += l
	}
	return all
}

// lettersForFigures reports a word of figures and the letters O, l and I
// written for zeros and ones, with two figures or more and no more such
// letters than figures ("O147", "2l2", "Ol47"). Words with other letters
// ("X1O", "10lbs"), or too few figures ("lol", "O2"), are words.
func lettersForFigures(w string) bool {
	if len(w) > 20 {
		return false
	}
	digits, letters := 0, 0
	for k := 0; k < len(w); k++ {
		switch w[k] {
		case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			digits++
		case 'O', 'o', 'l', 'I':
			letters++
		default:
			return false
		}
	}
	return letters > 0 && digits >= 2 && letters <= digits
}
