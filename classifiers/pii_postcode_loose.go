package classifiers

import (
	"regexp"
	"slices"
	"strings"
)

// rePostcodeUKLoose and rePostcodeCALoose are UK and Canadian postcodes in
// any case and with or without the space ("sw1a 1aa", "SW1A1AA", "k1a
// 0b1"), as people type them; rePostcodeUK and rePostcodeCA, which
// scoring uses, read them only in capitals with the space.
var (
	rePostcodeUKLoose = regexp.MustCompile(`(?i)\b[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2}\b`)
	rePostcodeCALoose = regexp.MustCompile(`(?i)\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d\b`)
)

// notInwardCode are the endings that make a lower-case "ps5 2tb", "cs2
// 3rd" or "mp3 2nd" read as prose rather than as a UK postcode.
var notInwardCode = map[string]bool{
	"st": true, "nd": true, "rd": true, "th": true, "gb": true, "tb": true, "hp": true, "ft": true,
	"lb": true, "yd": true, "hz": true, "px": true, "ep": true, "pt": true, "x": true,
}

// digitRunStarts returns where the runs of figures in text start; the
// postcode finders' triggers are read from them, and one scan of the text
// serves both.
func digitRunStarts(text string) []int {
	var at []int
	for i := 0; i < len(text); i++ {
		// One comparison per byte: most are not digits.
		if text[i]-'0' > 9 {
			continue
		}
		at = append(at, i)
		for i+1 < len(text) && isDigit(text[i+1]) {
			i++
		}
	}
	return at
}

// letterDigitTriggers are the starts of words that open with one or two
// letters and a digit, in any case, where a postcode may start; runs are
// the starts of the runs of figures in text.
func letterDigitTriggers(text string, runs []int) []int {
	var at []int
	for _, i := range runs {
		if i == 0 || !isLetter(text[i-1]) {
			continue
		}
		s := i - 1
		if s > 0 && isLetter(text[s-1]) {
			s--
		}
		if (s == 0 || !isAlnum(text[s-1])) && postcodeShaped(text[s:min(len(text), s+9)]) {
			at = append(at, s)
		}
	}
	return at
}

// postcodeShaped reports that w, which starts with a letter or two and a
// figure, goes on as a UK or Canadian postcode may, in any case: within
// three bytes (a letter or figure, a space), a figure and a letter. The
// regexps then run around these few places only.
func postcodeShaped(w string) bool {
	i := 1
	if isLetter(w[i]) {
		i++
	}
	i++ // the figure
	for j := i; j <= i+2 && j+1 < len(w); j++ {
		if isDigit(w[j]) && isLetter(w[j+1]) {
			return true
		}
		if !isAlnum(w[j]) && w[j] != ' ' {
			return false
		}
	}
	return false
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// findLoosePostcodes adds the UK and Canadian postcodes written in lower
// case or without the space; redaction only, as the model was not trained
// on them. Without the space, or in lower case and UK-shaped, one counts
// only in capitals or after a word like "postcode": "a1b2c3" and "x1 2tb"
// are prose. runs are the starts of the runs of figures in text.
func findLoosePostcodes(text string, runs []int, out []pii) []pii {
	at := letterDigitTriggers(text, runs)
	if len(at) == 0 {
		return out
	}
	out = findNear(text, at, 0, 10, rePostcodeUKLoose, KindPostalCode, func(text string, m []int) bool {
		return loosePostcode(text, m, true)
	}, out)
	return findNear(text, at, 0, 10, rePostcodeCALoose, KindPostalCode, func(text string, m []int) bool {
		return loosePostcode(text, m, false)
	}, out)
}

// loosePostcode accepts a postcode match m of findLoosePostcodes.
func loosePostcode(text string, m []int, uk bool) bool {
	s := text[m[0]:m[1]]
	spaced, lower := false, false
	for i := 0; i < len(s); i++ {
		spaced = spaced || s[i] == ' '
		lower = lower || s[i] >= 'a' && s[i] <= 'z'
	}
	switch {
	case !lower:
		return true
	case contextBefore(text, m[0], 24, "postcode", "post code", "postal", "zip"):
		return true
	case !spaced || leetNeighbour(text, m[0], m[1]):
		return false
	case uk:
		return !notInwardCode[string(lowerInto(nil, s[len(s)-2:]))]
	}
	return true
}

// leetNeighbour reports a word written in leetspeak ("k1ll", "wh3n")
// right before a or right after b: among them, "th3m 4ll" has a postcode's
// shape.
func leetNeighbour(text string, a, b int) bool {
	i := a
	for i > 0 && text[i-1] == ' ' {
		i--
	}
	s := i
	for s > 0 && !isSpaceByte(text[s-1]) {
		s--
	}
	j := b
	for j < len(text) && text[j] == ' ' {
		j++
	}
	e := j
	for e < len(text) && !isSpaceByte(text[e]) {
		e++
	}
	return leet(text[s:i]) || leet(text[j:e])
}

// leet reports a digit between two letters in w.
func leet(w string) bool {
	for k := 1; k+1 < len(w); k++ {
		if isDigit(w[k]) && isLetter(w[k-1]) && isLetter(w[k+1]) {
			return true
		}
	}
	return false
}

// lowerStreetTail is what follows a street in a lower-case address: a
// town of one to three words and the postcode that confirms it, UK,
// Canadian, Australian (after the state) or US (after the state).
const lowerStreetTail = `,?\s+(?:[a-z]+\s+){0,2}[a-z]+,?\s+(?:[a-pr-uwyz][a-hk-y]?\d[a-z\d]? ?\d[abd-hjlnp-uw-z]{2}|[abceghj-nprstvxy]\d[abceghj-nprstv-z] ?\d[abceghj-nprstv-z]\d|(?:nsw|vic|qld|sa|wa|tas|nt|act)\s+\d{4}|(?:al|ak|az|ar|ca|co|ct|de|dc|fl|ga|hi|id|il|in|ia|ks|ky|la|me|md|ma|mi|mn|ms|mo|mt|ne|nv|nh|nj|nm|ny|nc|nd|oh|ok|or|pa|ri|sc|sd|tn|tx|ut|vt|va|wa|wv|wi|wy)\s+\d{5}(?:-\d{4})?)\b`

// reLowerAddress is a whole address in lower case that ends on a postcode
// ("12 oak rd leeds ls1 4ap", "42 wallaby way sydney nsw 2000"); any
// street suffix counts, as the postcode says it is an address. The street
// finder reads lower-case streets only with the few suffixes that seldom
// follow a number in prose, and reAddrTail wants capitals.
var reLowerAddress = regexp.MustCompile(`(?i)\b[1-9]\d{0,4}[a-z]?\s+((?:[a-z]+\s+){1,3})(?:` + streetSuffixAlternation() + `)\.?` + lowerStreetTail)

// reLowerTail is lowerStreetTail after an address found already.
var reLowerTail = regexp.MustCompile(`(?i)^` + lowerStreetTail)

// streetSuffixAlternation returns the street suffixes as a regexp
// alternation, longest first.
func streetSuffixAlternation() string {
	var ss []string
	for s, ok := range streetSuffixes {
		if ok {
			ss = append(ss, s)
		}
	}
	slices.SortFunc(ss, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		if a < b {
			return -1
		}
		return 1
	})
	alt := ""
	for i, s := range ss {
		if i > 0 {
			alt += "|"
		}
		alt += s
	}
	return alt
}

// postcodeEndTriggers are where a lower-case address may end: the
// postcodes found already, and an Australian or US state in any case
// before four or five figures ("nsw 2000", "il 62704"); runs are the
// starts of the runs of figures in text.
func postcodeEndTriggers(text string, runs []int, found []pii) []int {
	var at []int
	for _, p := range found {
		if p.kind == KindPostalCode {
			at = append(at, p.start)
		}
	}
	for _, i := range runs {
		e := i
		for e < len(text) && isDigit(text[e]) {
			e++
		}
		if i < 4 || text[i-1] != ' ' || e-i < 4 || e-i > 5 || e < len(text) && isAlnum(text[e]) {
			continue
		}
		k := i - 1
		for k > 0 && text[k-1] == ' ' {
			k--
		}
		w := k
		for w > 0 && isLetter(text[w-1]) && k-w < 4 {
			w--
		}
		// Australian postcodes have four figures, US ZIP codes five: "in
		// 2019" is a year, not Indiana.
		var buf [3]byte
		if k-w >= 2 && k-w <= 3 && (w == 0 || !isAlnum(text[w-1])) && stateCodes[string(lowerInto(buf[:0], text[w:k]))] == e-i {
			at = append(at, i)
		}
	}
	slices.Sort(at)
	return at
}

// stateCodes are the Australian and US states lowerStreetTail reads,
// with the figures of their postcodes; "wa" is both, and taken for the
// US state, whose five figures the town before rules out less often.
var stateCodes = func() map[string]int {
	m := map[string]int{}
	for _, s := range strings.Fields("nsw vic qld sa tas nt act") {
		m[s] = 4
	}
	for _, s := range strings.Fields("al ak az ar ca co ct de dc fl ga hi id il in ia ks ky la me md ma mi mn ms mo mt ne nv nh nj nm ny nc nd oh ok or pa ri sc sd tn tx ut vt va wa wv wi wy") {
		m[s] = 5
	}
	return m
}()

// findLowerAddresses adds the lower-case addresses that end on a postcode,
// and the lower-case town and postcode after an address found already
// ("[ADDRESS] leeds ls1 4ap"); redaction only, as the model was not
// trained on them. runs are the starts of the runs of figures in text.
func findLowerAddresses(text string, runs []int, out []pii) []pii {
	for _, p := range out {
		if p.kind != KindStreetAddress || p.end >= len(text) {
			continue
		}
		if m := reLowerTail.FindStringIndex(text[p.end:min(len(text), p.end+64)]); m != nil {
			out = append(out, pii{KindStreetAddress, p.start, p.end + m[1]})
		}
	}
	at := postcodeEndTriggers(text, runs, out)
	if len(at) == 0 {
		return out
	}
	// The house number, up to three words and a suffix, a town of up to
	// three words: 96 bytes before the postcode hold most.
	for _, m := range matchesNear(text, at, 96, 10, reLowerAddress) {
		if streetWords(text[m[2]:m[3]]) {
			out = append(out, pii{KindStreetAddress, unitBefore(text, m[0]), m[1]})
		}
	}
	return out
}

// streetWords reports that the words between a house number and a suffix
// name a street: "5 hours down the road to austin tx 78701" is prose.
func streetWords(s string) bool {
	var w []byte
	for _, f := range strings.Fields(s) {
		if notStreetName[string(lowerInto(w[:0], f))] {
			return false
		}
	}
	return true
}
