package classifiers

import (
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Kinds of personal data the extractors find. They are evidence kinds and
// name the placeholders Redact writes.
const (
	KindStreetAddress = "street_address"
	KindStreetName    = "street_name"
	KindPostalCode    = "postal_code"
	KindPhone         = "phone"
	KindEmail         = "email"
	KindIPAddress     = "ip_address"
	KindCoordinates   = "coordinates"
	KindSSN           = "ssn"
	KindDOB           = "date_of_birth"
	KindPlate         = "plate"
	KindPaymentCard   = "payment_card"
)

// placeholders are the typed replacements Redact writes.
var placeholders = map[string]string{
	KindStreetAddress: "[ADDRESS]", KindStreetName: "[STREET]", KindPostalCode: "[POSTCODE]",
	KindPhone: "[PHONE]", KindEmail: "[EMAIL]", KindIPAddress: "[IP]", KindCoordinates: "[COORDINATES]",
	KindSSN: "[SSN]", KindDOB: "[DOB]", KindPlate: "[PLATE]", KindPaymentCard: "[CARD]",
}

// pii is one piece of personal data found in a text: original byte offsets.
type pii struct {
	kind       string
	start, end int
}

// hasDigit reports whether s has an ASCII digit; most extractors need one.
func hasDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			return true
		}
	}
	return false
}

// findPII returns the personal data in text, sorted and non-overlapping.
// toks (tokens of the normalized text) are used for street addresses.
func findPII(text string, n *normalized, toks []token, out []pii) []pii {
	out, _ = findPIIBudget(text, n, toks, out, -1)
	return out
}

// findPIIBudget is findPII with at most phoneBudget phone candidates parsed
// (negative: no limit); capped reports that the budget ran out.
func findPIIBudget(text string, n *normalized, toks []token, out []pii, phoneBudget int) (_ []pii, capped bool) {
	out, capped = findPIIIn(text, n, toks, out, phoneBudget)
	if strings.IndexByte(text, '%') >= 0 && hasDigit(text) {
		out = findPercentEncoded(text, out)
		out = dedupPII(text, out)
	}
	if hasFullwidth(text) {
		out = findFullwidth(text, out)
		out = dedupPII(text, out)
	}
	return out, capped
}

// findPIIIn is findPIIBudget without reading what links hold
// percent-encoded: findPercentEncoded calls it on what it decodes, which
// is not decoded again.
func findPIIIn(text string, n *normalized, toks []token, out []pii, phoneBudget int) (_ []pii, capped bool) {
	digits := hasDigit(text)
	if hasAt(text) {
		out = findEmails(text, out)
	}
	out = findNear(text, obfuscatedEmailTriggers(text), 72, 96, reObfuscatedEmail, KindEmail, validObfuscatedEmail, out)
	if digits {
		out = findSSNs(text, out)
		if countDigits(text) >= 13 {
			out = findCards(text, out)
		}
		out, capped = findPhones(text, out, phoneBudget)
		out = findIPs(text, out)
		out = findNear(text, coordTriggers(text), 24, 48, reCoords, KindCoordinates, validCoords, out)
		if strings.Contains(text, "°") {
			out = findRegexp(text, reDMS, KindCoordinates, nil, out)
		}
		out = findDOBs(text, n, out)
		out = findPlates(text, n, out)
		caps := capDigitTriggers(text)
		out = findNear(text, caps, 3, 10, rePostcodeUK, KindPostalCode, nil, out)
		out = findNear(text, caps, 3, 10, rePostcodeCA, KindPostalCode, nil, out)
		out = findNear(text, caps, 3, 10, rePlateUK, KindPlate, nil, out)
		out = findNear(text, zipTriggers(text), 4, 12, reZipUS, KindPostalCode, nil, out)
	}
	out = findStreets(text, n, toks, digits, out)
	if digits && hasCyrillic(text) {
		out = findCyrillicStreets(text, out)
	}
	return dedupPII(text, out), capped
}

// Bounds on the work findPercentEncoded does for one text: the words it
// decodes, and their length.
const (
	maxEncodedWords   = 16
	maxEncodedWordLen = 1024
)

// findPercentEncoded finds personal data in the links of text written with
// percent-encoding ("maps?q=15%20Millrace%20Ln%2C%20Pruitt%20Hollow"),
// whose words the codes run together: each word holding a code is decoded
// and read on its own (with no further decoding), and what is found in it
// is mapped back to the encoded bytes.
func findPercentEncoded(text string, out []pii) []pii {
	return findPercentEncodedWith(text, out, func(d string) []pii {
		if !hasDigit(d) {
			return nil
		}
		n := normalize(d)
		ps, _ := findPIIIn(d, &n, tokenize(&n, d, nil), nil, maxPhoneParses)
		return ps
	})
}

// findPercentEncodedWith is findPercentEncoded with its own finder for
// what each word decodes to.
func findPercentEncodedWith(text string, out []pii, find func(string) []pii) []pii {
	var dec []byte
	var src []int
	words := 0
	for i := 0; i < len(text) && words < maxEncodedWords; {
		k := strings.Index(text[i:], "%")
		if k < 0 {
			break
		}
		k += i
		if k+2 >= len(text) || !isHex(text[k+1]) || !isHex(text[k+2]) {
			i = k + 1
			continue
		}
		a, b := k, k
		for a > 0 && !isSpaceByte(text[a-1]) {
			a--
		}
		for b < len(text) && !isSpaceByte(text[b]) {
			b++
		}
		i = b
		if b-a > maxEncodedWordLen {
			continue
		}
		words++
		dec, src = dec[:0], src[:0]
		for j := a; j < b; {
			if text[j] == '%' && j+2 < b && isHex(text[j+1]) && isHex(text[j+2]) {
				dec, src = append(dec, unhex(text[j+1])<<4|unhex(text[j+2])), append(src, j)
				j += 3
				continue
			}
			dec, src = append(dec, text[j]), append(src, j)
			j++
		}
		src = append(src, b)
		for _, p := range find(string(dec)) {
			out = append(out, pii{p.kind, src[p.start], src[p.end]})
		}
	}
	return out
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// dedupPII sorts spans and removes overlaps. A span inside another is
// dropped. Of two that overlap in part, the longer is kept whole and the
// other keeps only what lies outside it (up to or from its next letter,
// digit or non-ASCII byte). Keeping only the longer, as before, left the
// other's bytes outside it in clear: "15 Millrace Ln Aa..." gives an
// address and, overlapping its tail, a longer street name; the house
// number and street stayed unredacted.
func dedupPII(text string, ps []pii) []pii {
	if len(ps) < 2 {
		return ps
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].start != ps[j].start {
			return ps[i].start < ps[j].start
		}
		return ps[i].end > ps[j].end
	})
	plain := func(i int) bool { return text[i] < utf8.RuneSelf && !isAlnum(text[i]) }
	out := ps[:1]
	for _, p := range ps[1:] {
		last := &out[len(out)-1]
		if p.start < last.end {
			if p.end <= last.end {
				continue
			}
			if p.end-p.start > last.end-last.start {
				last.end = p.start
				for last.end > last.start && plain(last.end-1) {
					last.end--
				}
				if last.end == last.start {
					out = out[:len(out)-1]
				}
			} else {
				p.start = last.end
				for p.start < p.end && plain(p.start) {
					p.start++
				}
				if p.start == p.end {
					continue
				}
			}
		}
		out = append(out, p)
	}
	return out
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isEmailLocal(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

// Full-width forms of "@" and "." (U+FF20, U+FF0E), which some write to
// dodge scrapers.
const (
	fullWidthAt  = "\uff20"
	fullWidthDot = "\uff0e"
)

// hasAt reports whether text may hold an e-mail address.
func hasAt(text string) bool {
	return strings.IndexByte(text, '@') >= 0 || strings.Contains(text, fullWidthAt)
}

// findEmails finds e-mail addresses, also with spaces around the "@"
// ("jane.roe @ example.com") and in full-width forms ("jane.roe＠example．
// com"). Spaced, "name @ host.com" is an address only when the name holds a
// dot, a digit or another mark of one, or follows a word like "email": "lol
// @ reddit.com" is prose.
func findEmails(text string, out []pii) []pii {
	return findEmailsWith(text, out, false)
}

// findEmailsWith is findEmails; wide also reads into the local part the
// apostrophes and non-ASCII letters that names hold ("jane.o'brien",
// "josé.garcía"), as redaction wants and scoring was not trained on.
func findEmailsWith(text string, out []pii, wide bool) []pii {
	for i := 0; i < len(text); i++ {
		w := 0
		switch {
		case text[i] == '@':
			w = 1
		case text[i] == fullWidthAt[0] && strings.HasPrefix(text[i:], fullWidthAt):
			w = len(fullWidthAt)
		default:
			continue
		}
		a := i
		for k := 0; k < 2 && a > 0 && (text[a-1] == ' ' || text[a-1] == '\t'); k++ {
			a--
		}
		spaced := a < i
		at := a
		for a > 0 && isEmailLocal(text[a-1]) {
			a--
		}
		if wide {
			a = wideEmailLocalStart(text, a)
		}
		b := i + w
		for k := 0; k < 2 && b < len(text) && (text[b] == ' ' || text[b] == '\t'); k++ {
			b++
		}
		spaced = spaced || b > i+w
		host := b
		// The host's labels, and tld, where its last one starts. A dot
		// after the last is the end of a sentence: taken for the start
		// of an empty label, it left every address followed by a full
		// stop in clear.
		tld, next := -1, -1
		for b < len(text) {
			switch {
			case isAlnum(text[b]) || text[b] == '-':
				if next >= 0 {
					tld, next = next, -1
				}
				b++
				continue
			case text[b] == '.':
				next = b + 1
				b++
				continue
			case text[b] == fullWidthDot[0] && strings.HasPrefix(text[b:], fullWidthDot):
				next = b + len(fullWidthDot)
				b += len(fullWidthDot)
				continue
			case wide && text[b] >= utf8.RuneSelf && letterAfter(text, b):
				// A host with non-ASCII letters ("münchen.de"):
				// stopped at the first, the address was no address
				// and stayed whole.
				if next >= 0 {
					tld, next = next, -1
				}
				_, size := utf8.DecodeRuneInString(text[b:])
				b += size
				continue
			}
			break
		}
		for b > host && !(isAlnum(text[b-1]) || text[b-1] == '-') {
			b--
		}
		if a == at || tld < 0 || b-tld < 2 || hasDigit(text[tld:b]) {
			continue
		}
		if spaced && !strings.ContainsAny(text[a:at], "._%+-0123456789") && !contextBefore(text, a, 24, "mail", "inbox", "contact") {
			continue
		}
		out = append(out, pii{KindEmail, a, b})
		i = b - 1
	}
	return out
}

// reObfuscatedEmail finds addresses written to dodge scrapers: "name [at]
// host [dot] com" (any brackets, any spaces, any case, "." or "[dot]"
// between labels; "[@]" and "[.]" as in defanged threat-intel pastes), and
// "name at host [dot] com", whose bare "at" counts only with a bracketed
// "dot": "look at example.com" is prose, not an address. The fully bare "name at host dot com" is not looked for here:
// finding the word "dot" in every post cost the classifier more than 1% of
// its time (the watchlist, which notes each "at" as it tokenizes, matches
// it).
var reObfuscatedEmail = regexp.MustCompile(`(?i)[a-z0-9][a-z0-9._%+-]*(?:\s*[\[\(\{]\s*(?:at|@)\s*[\]\)\}]\s*[a-z0-9-]+(?:(?:\.|\s*[\[\(\{]\s*(?:dot|\.)\s*[\]\)\}]\s*)[a-z0-9-]+)+|\s+at\s+[a-z0-9-]+(?:\.[a-z0-9-]+)*\s*[\[\(\{]\s*(?:dot|\.)\s*[\]\)\}]\s*[a-z0-9-]+(?:(?:\.|\s*[\[\(\{]\s*(?:dot|\.)\s*[\]\)\}]\s*)[a-z0-9-]+)*)`)

// obfuscatedEmailTriggers are the places reObfuscatedEmail may match
// around, in order: each "at", "dot", "@" or "." between brackets (and
// any spaces). IndexByte is vectorized, and prose seldom holds brackets. The
// regexp then runs on a window around each, not on the whole post: over
// a long post it costs a thousand times more.
func obfuscatedEmailTriggers(text string) []int {
	return byteTriggers(text, "])}", func(c int) (int, bool) {
		k := c
		for k > 0 && isSpaceByte(text[k-1]) {
			k--
		}
		w := 0
		switch {
		case k >= 2 && text[k-1]|0x20 == 't' && text[k-2]|0x20 == 'a':
			w = 2
		case k >= 3 && text[k-1]|0x20 == 't' && text[k-2]|0x20 == 'o' && text[k-3]|0x20 == 'd':
			w = 3
		case k >= 1 && (text[k-1] == '@' || text[k-1] == '.'):
			w = 1
		default:
			return 0, false
		}
		// The word stands between brackets: "(at)", "[ dot ]".
		o := k - w
		for o > 0 && isSpaceByte(text[o-1]) {
			o--
		}
		return k - w, o > 0 && (text[o-1] == '[' || text[o-1] == '(' || text[o-1] == '{')
	})
}

// byteTriggers returns, in order, the places trigger reports for the
// bytes of text that are in set (trigger gets each one's index): a
// vectorized IndexByte per byte of set finds the rare bytes a costly
// pattern needs, so the pattern runs on windows around them only.
func byteTriggers(text, set string, trigger func(i int) (int, bool)) []int {
	var at []int
	for b := 0; b < len(set); b++ {
		for i := 0; ; i++ {
			j := strings.IndexByte(text[i:], set[b])
			if j < 0 {
				break
			}
			i += j
			if k, ok := trigger(i); ok {
				at = append(at, k)
			}
		}
	}
	if len(at) > 1 {
		slices.Sort(at)
	}
	return at
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }

// validObfuscatedEmail wants a top-level label of letters, as findEmails
// does: "meet at [dot] 5" is not an address.
func validObfuscatedEmail(text string, m []int) bool {
	s := text[m[0]:m[1]]
	i := len(s)
	for i > 0 && (isAlnum(s[i-1]) || s[i-1] == '-') {
		i--
	}
	tld := s[i:]
	return len(tld) >= 2 && !hasDigit(tld)
}

var reSSN = regexp.MustCompile(`\b(\d{3})[- ](\d{2})[- ](\d{4})\b`)

// findSSNs finds US social security numbers: the format, with the issuing
// rules (no area 000, 666 or 900-999, no group 00, no serial 0000), or any
// number of that shape, or nine figures run together, right after
// "SSN"/"social security".
func findSSNs(text string, out []pii) []pii {
	var at []int
	for i := 0; i+11 <= len(text); i++ {
		if isDigit(text[i]) && isDigit(text[i+1]) && isDigit(text[i+2]) && (text[i+3] == '-' || text[i+3] == ' ') && isDigit(text[i+4]) {
			at = append(at, i)
			i += 3
		}
	}
	for _, m := range matchesNear(text, at, 1, 12, reSSN) {
		area, group, serial := text[m[2]:m[3]], text[m[4]:m[5]], text[m[6]:m[7]]
		valid := area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000"
		if !valid && !contextBefore(text, m[0], 40, "ssn", "social security", "social sec", "ss#") {
			continue
		}
		out = append(out, pii{KindSSN, m[0], m[1]})
	}
	// Nine figures run together are an SSN only right after its label
	// ("SSN: 123456789"); elsewhere they are any number.
	for i := 0; i < len(text); i++ {
		if !isDigit(text[i]) {
			continue
		}
		j := i
		for j < len(text) && isDigit(text[j]) {
			j++
		}
		if j-i == 9 && (i == 0 || !isAlnum(text[i-1])) && (j == len(text) || !isAlnum(text[j])) &&
			contextBefore(text, i, 24, "ssn", "social security", "social sec", "ss#") {
			out = append(out, pii{KindSSN, i, j})
		}
		i = j
	}
	return out
}

// contextBefore reports whether any of words occurs (case-insensitively)
// in the n bytes before i.
func contextBefore(text string, i, n int, words ...string) bool {
	w := strings.ToLower(text[max(0, i-n):i])
	for _, x := range words {
		if strings.Contains(w, x) {
			return true
		}
	}
	return false
}

var reCard = regexp.MustCompile(`\b[3-6]\d{3}(?:[ -]?\d{3,4}){2,4}\b`)

func findCards(text string, out []pii) []pii {
	for _, m := range reCard.FindAllStringIndex(text, -1) {
		var d []byte
		for i := m[0]; i < m[1]; i++ {
			if text[i] >= '0' && text[i] <= '9' {
				d = append(d, text[i])
			}
		}
		if len(d) >= 13 && len(d) <= 19 && luhn(d) {
			out = append(out, pii{KindPaymentCard, m[0], m[1]})
		}
	}
	return out
}

func luhn(d []byte) bool {
	sum := 0
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if (len(d)-1-i)%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// phoneRegions are tried, in order, for numbers written without a country
// code.
var phoneRegions = []string{"US", "GB", "DE", "FR", "AU", "NL", "IT"}

// findPhones finds runs of digits and phone punctuation and keeps those
// the phone-number library accepts as valid numbers. A bare run of digits
// with no separators counts only after a word like "phone" or "call".
func findPhones(text string, out []pii, budget int) ([]pii, bool) {
	// Scoring reads a run none of whose first groups is a number no
	// further, as the model was trained on.
	return findPhonesWith(text, out, budget, validPhone, false)
}

// findPhonesWith is findPhones with its own test of a candidate; goOn
// reads a run of figures none of whose first groups is a number again
// from after its first group, as a number may follow other figures
// ("3.50 719-555-0108"), and the groups before or after a fraction or a
// score beside a number ("719-555-0108 24/7", "5/5 719-555-0108"):
// skipped whole, such runs left the number in clear.
func findPhonesWith(text string, out []pii, budget int, accept func(string) bool, goOn bool) ([]pii, bool) {
	for i := 0; i < len(text); i++ {
		if budget == 0 {
			return out, true
		}
		c := text[i]
		if !(c >= '0' && c <= '9' || c == '+' || c == '(') {
			continue
		}
		// A WhatsApp link ("wa.me/447700900123") holds a number in
		// international form without its plus; other digits in a path
		// are not numbers.
		wa := whatsAppLinkAt(text, i)
		if i > 0 && !wa && (isAlnum(text[i-1]) || text[i-1] == '-' || text[i-1] == '.' || text[i-1] == '/' || text[i-1] == '_' || text[i-1] == '$') {
			for i < len(text) && isAlnum(text[i]) {
				i++
			}
			continue
		}
		j, ndig, seps := i, 0, 0
		prevSep := false
		// slashes counts the slashes and underscores between digits
		// ("719/555/0108", "719_555_0108"), which slashedPhone checks.
		slashes := 0
		for j < len(text) {
			c := text[j]
			if c >= '0' && c <= '9' {
				ndig++
				prevSep = false
				j++
				continue
			}
			if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '+' && j == i) && !prevSep || c == ')' && prevSep {
				if c != '+' {
					seps++
				}
				prevSep = c != ')'
				j++
				continue
			}
			if (c == '/' || c == '_') && j > i && isDigit(text[j-1]) && j+1 < len(text) && isDigit(text[j+1]) {
				seps++
				slashes++
				j++
				continue
			}
			break
		}
		for j > i && !(text[j-1] >= '0' && text[j-1] <= '9') {
			// A separator after the last digit is not one: counted, it
			// made a bare number followed by a space ("order 4155550123
			// shipped") skip the test for a word like "call" before it.
			if text[j-1] != '+' {
				seps--
			}
			j--
		}
		if j < len(text) && !extensionAt(text, j) && (isAlnum(text[j]) || text[j] == '/' || text[j] == '_' || text[j] == '-' && j+1 < len(text) && isAlnum(text[j+1])) {
			// The run goes on into a word ("555-0108 0A"): its last group
			// belongs to that word. What comes before it may still be a
			// number.
			k := j
			for k > i && text[k-1] >= '0' && text[k-1] <= '9' {
				k--
			}
			for k > i && !(text[k-1] >= '0' && text[k-1] <= '9') {
				k--
			}
			if k == i {
				i = j
				continue
			}
			j = k
			ndig, seps = digitsAndSeps(text[i:j])
			slashes = strings.Count(text[i:j], "/") + strings.Count(text[i:j], "_")
		}
		cand := text[i:j]
		if slashes > 0 && goOn && !slashedPhone(cand) {
			// A fraction or a score beside a number ("719-555-0108
			// 24/7"): the groups before the one with the first slash
			// may be the number, or those after it.
			k := i + strings.IndexAny(cand, "/_")
			for k > i && isDigit(text[k-1]) {
				k--
			}
			for k > i && !isDigit(text[k-1]) {
				k--
			}
			if k == i {
				// The slash is in the first group ("5/5
				// 719-555-0108"): go on after the group after it.
				e := i + strings.IndexAny(cand, "/_") + 1
				for e < j && isDigit(text[e]) {
					e++
				}
				i = e - 1
				continue
			}
			j, cand, slashes = k, text[i:k], 0
			ndig, seps = digitsAndSeps(cand)
		}
		if slashes > 0 {
			if !slashedPhone(cand) {
				i = j
				continue
			}
			// The phone-number library reads a slash between groups but
			// not an underscore.
			cand = strings.ReplaceAll(cand, "_", "-")
		}
		if ndig > 15 && seps > 0 {
			// Numbers written one after another ("719-555-0108
			// 719-555-0109") make one run too long for a number: read
			// the longest run of whole groups from its start that is
			// one, then go on after it (or after the first group).
			var next int
			var found bool
			out, next, found, budget = firstPhoneIn(text, i, j, false, out, budget, accept)
			if !found && budget == 0 {
				return out, true
			}
			i = next - 1
			continue
		}
		if ndig < 7 || ndig > 15 {
			i = max(i, j-1)
			continue
		}
		if reSSN.MatchString(cand) && len(cand) == 11 {
			i = j
			continue
		}
		// The label's expression runs only where the cheap look found a
		// word like "number" or "#": most bare runs have none.
		if seps == 0 && c != '+' && !wa && (!contextBefore(text, i, 30, "phone", "call", "text", "cell", "number", "tel", "mobile", "ph:", "whatsapp", "#") || referenceLabelBefore(text, i)) {
			i = j
			continue
		}
		if sameDigitRun(cand, 6) {
			i = j
			continue
		}
		budget--
		if wa && c != '+' {
			cand = "+" + cand
		}
		if accept(cand) {
			out = append(out, pii{KindPhone, i, j})
		} else if seps > 0 && ndig > 7 {
			// A number with more figures after it ("555-0108 0.0"): its
			// first groups alone may be the number.
			var found bool
			var next int
			out, next, found, budget = firstPhoneIn(text, i, j, true, out, budget, accept)
			if found || goOn {
				i = next - 1
				continue
			}
		}
		i = j
	}
	return out, false
}

// slashedPhone accepts a run of digit groups set apart by slashes or
// underscores as a phone number only when it reads as one and not as a
// date, a fraction, a score or a size ("07/30/1993", "2024/06/30",
// "1920/1080"): one kind of separator throughout, groups of three digits
// or more after the first (which may be a country code before three more
// groups), four or more in the last. Two groups must also make a valid
// number ("07700/900123").
func slashedPhone(cand string) bool {
	var sep byte
	for k := len(cand) - len(strings.TrimPrefix(cand, "+")); k < len(cand); k++ {
		if c := cand[k]; !isDigit(c) {
			if sep != 0 && c != sep || c != '/' && c != '_' {
				return false
			}
			sep = c
		}
	}
	g := digitGroups(cand)
	if len(g) < 2 || g[len(g)-1] < 4 || g[0] < 3 && len(g) < 4 {
		return false
	}
	for _, n := range g[1:] {
		if n < 3 {
			return false
		}
	}
	return len(g) > 2 || validPhone(strings.ReplaceAll(cand, "_", "-"))
}

// reReferenceLabel is the label of a ticket, an order or a booking
// right before its number, with its "#", "no." or "number": "ticket
// #", "order no. ", "Ref. No. ", "tracking number: ".
var reReferenceLabel = regexp.MustCompile(`(?i)(?:^|[^a-z0-9])(?:ticket|order|invoice|case|tracking|confirmation|booking|reservation|transaction|txn|receipt|ref|reference|claim|incident|issue|bug|pnr|awb|shipment|parcel|consignment|item|sku|serial)\.?\s*(?:(?:#|no\.?|nr\.?|number|num|id|:)\s*){0,3}$`)

// referenceLabelBefore reports a ticket's or an order's label right
// before a bare run of figures at i ("ticket #4815162342"): the "#" or
// "number" in it made the run read as a phone number. A number written
// with separators after such a label is still read as one, as phone
// numbers are written that way and references seldom are.
func referenceLabelBefore(text string, i int) bool {
	return reReferenceLabel.MatchString(text[max(0, i-40):i])
}

// extensionAt reports an extension run on after a number at j: "x22",
// "ext22", "ext.22". The number before it is whole; read as a run going on
// into a word, it lost its last group and was left in clear.
func extensionAt(text string, j int) bool {
	switch {
	case j < len(text) && text[j]|0x20 == 'x':
		j++
	case j+3 <= len(text) && strings.EqualFold(text[j:j+3], "ext"):
		j += 3
		if j < len(text) && text[j] == '.' {
			j++
		}
	default:
		return false
	}
	return j < len(text) && isDigit(text[j])
}

// whatsAppLinkAt reports a number at i that follows "wa.me/" (with or
// without its plus).
func whatsAppLinkAt(text string, i int) bool {
	const link = "wa.me/"
	return i >= len(link) && strings.EqualFold(text[i-len(link):i], link) && (i == len(link) || !isAlnum(text[i-len(link)-1]))
}

// firstPhoneIn looks for a number at the start of the digit run
// text[i:j], which holds more digits than one number: the longest prefix of
// whole digit groups with 7 to 15 digits that accept takes, first among
// the prefixes that end before a space (numbers in a list are set apart by
// spaces more often than by dashes), then among the rest; with shorter,
// only prefixes shorter than the whole run (which was tried already). It
// returns where scanning goes on: after that number, or after the run's
// first group when none is taken.
func firstPhoneIn(text string, i, j int, shorter bool, out []pii, budget int, accept func(string) bool) ([]pii, int, bool, int) {
	type groupEnd struct{ at, digits int }
	var ends []groupEnd
	ndig := 0
	for k := i; k < j; k++ {
		if text[k] >= '0' && text[k] <= '9' {
			ndig++
			if k+1 == j || !(text[k+1] >= '0' && text[k+1] <= '9') {
				ends = append(ends, groupEnd{k + 1, ndig})
			}
		}
	}
	for _, spaced := range [2]bool{true, false} {
		for g := len(ends) - 1; g >= 0; g-- {
			e := ends[g]
			if e.digits > 15 || shorter && e.at == j || (e.at == j || text[e.at] == ' ') != spaced {
				continue
			}
			if e.digits < 7 || budget == 0 {
				break
			}
			budget--
			if accept(text[i:e.at]) {
				return append(out, pii{KindPhone, i, e.at}), e.at, true, budget
			}
		}
	}
	return out, ends[0].at, false, budget
}

// digitsAndSeps counts the digits and the separators (all but '+') of a
// phone candidate.
func digitsAndSeps(cand string) (ndig, seps int) {
	for i := 0; i < len(cand); i++ {
		switch c := cand[i]; {
		case c >= '0' && c <= '9':
			ndig++
		case c != '+':
			seps++
		}
	}
	return ndig, seps
}

// maxPhoneParses bounds the candidates one text gives the phone-number
// library (each costs microseconds per region tried): a paste of hundreds
// of numbers is flagged long before the last one is parsed.
const maxPhoneParses = 32

// sameDigitRun reports n or more equal digits in a row ("0000000"), which
// no real number has.
func sameDigitRun(s string, n int) bool {
	run := 0
	var last byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) {
			continue
		}
		if c == last {
			run++
		} else {
			run, last = 1, c
		}
		if run >= n {
			return true
		}
	}
	return false
}

func validPhone(cand string) bool {
	if strings.HasPrefix(cand, "+") {
		n, err := phonenumbers.Parse(cand, "ZZ")
		return err == nil && phonenumbers.IsValidNumber(n)
	}
	// Dotted version or decimal numbers ("1.2.3", "3.14159") are not phones.
	if strings.Count(cand, ".") > 0 && strings.Count(cand, ".") != 2 {
		return false
	}
	if calendarDate(cand) {
		return false
	}
	groups := digitGroups(cand)
	if cand[0] == '0' {
		// A national number: try the countries whose numbers start with a
		// trunk prefix.
		for _, r := range phoneRegions[1:] {
			n, err := phonenumbers.Parse(cand, r)
			if err == nil && phonenumbers.IsValidNumber(n) {
				return true
			}
		}
		return false
	}
	// North American numbers are written 3-3-4 (or 1-3-3-4, or run
	// together); "2026 1993 11" is not a phone number.
	if !nanpShape(groups) {
		return false
	}
	n, err := phonenumbers.Parse(cand, "US")
	return err == nil && phonenumbers.IsValidNumber(n)
}

// calendarDate reports a date written day, month and year (or month, day
// and year) with one kind of dot, dash or slash between them, the year of
// two figures or four from 1900 to 2099: "03.12.2026", "01-05-1990". With
// a leading zero such a date is also a valid national number in some
// country, but a reader takes it for a date.
func calendarDate(cand string) bool {
	var v [3]int
	var n [3]int
	g, sep := 0, byte(0)
	for i := 0; i < len(cand); i++ {
		c := cand[i]
		switch {
		case isDigit(c):
			v[g], n[g] = v[g]*10+int(c-'0'), n[g]+1
		case (c == '.' || c == '-' || c == '/') && (sep == 0 || c == sep) && g < 2 && n[g] > 0:
			sep, g = c, g+1
		default:
			return false
		}
	}
	if g != 2 || n[0] > 2 || n[1] > 2 || !(n[2] == 2 || n[2] == 4 && v[2] >= 1900 && v[2] < 2100) {
		return false
	}
	dayMonth := func(d, m int) bool { return d >= 1 && d <= 31 && m >= 1 && m <= 12 }
	return dayMonth(v[0], v[1]) || dayMonth(v[1], v[0])
}

func digitGroups(s string) []int {
	var g []int
	run := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			run++
			continue
		}
		if run > 0 {
			g = append(g, run)
			run = 0
		}
	}
	if run > 0 {
		g = append(g, run)
	}
	return g
}

func nanpShape(g []int) bool {
	eq := func(want ...int) bool {
		if len(g) != len(want) {
			return false
		}
		for i := range g {
			if g[i] != want[i] {
				return false
			}
		}
		return true
	}
	return eq(3, 3, 4) || eq(1, 3, 3, 4) || eq(10) || eq(11) || eq(3, 7)
}

func findIPs(text string, out []pii) []pii {
	for i := 0; i < len(text); i++ {
		c := text[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':') {
			continue
		}
		if i > 0 && (isAlnum(text[i-1]) || text[i-1] == '.' || text[i-1] == ':') {
			continue
		}
		j := i
		dots, colons := 0, 0
		for j < len(text) && (isHex(text[j]) || text[j] == '.' || text[j] == ':') {
			if text[j] == '.' {
				dots++
			}
			if text[j] == ':' {
				colons++
			}
			j++
		}
		for j > i && (text[j-1] == '.' || text[j-1] == ':') {
			if text[j-1] == '.' {
				dots--
			} else {
				colons--
			}
			j--
		}
		if dots == 3 && colons == 1 {
			// An IPv4 address with its port ("203.0.113.45:22"): the
			// address alone. Left out, its first figures were read as a
			// phone number and the rest stayed in clear.
			if c := strings.IndexByte(text[i:j], ':'); strings.Count(text[i:i+c], ".") == 3 {
				j, colons = i+c, 0
			}
		}
		if j < len(text) && isAlnum(text[j]) || !(dots == 3 && colons == 0 || colons >= 2) {
			i = j
			continue
		}
		a, err := netip.ParseAddr(text[i:j])
		if err == nil && !a.IsUnspecified() && (a.Is4() || colons >= 3 || strings.Contains(text[i:j], "::") && len(text[i:j]) > 4) {
			out = append(out, pii{KindIPAddress, i, j})
		}
		i = j
	}
	return out
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

var (
	reCoords     = regexp.MustCompile(`(-?\d{1,2}\.\d{3,})(?:°?\s*[NSns]\b\s*[,;/]?|\s*[,;/&]|\s)\s*(?:(?:m?lon|lng|long)\s*[:=]?\s*)?(-?\d{1,3}\.\d{3,})(?:°?\s*[EWew]\b)?`)
	reDMS        = regexp.MustCompile(`\d{1,2}°\s?\d{1,2}['′]\s?(?:\d{1,2}(?:\.\d+)?["″]\s?)?[NS][, ]*\d{1,3}°\s?\d{1,2}['′]\s?(?:\d{1,2}(?:\.\d+)?["″]\s?)?[EW]`)
	rePostcodeUK = regexp.MustCompile(`\b(?:[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?) \d[ABD-HJLNP-UW-Z]{2}\b`)
	rePostcodeCA = regexp.MustCompile(`\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] \d[ABCEGHJ-NPRSTV-Z]\d\b`)
	reZipUS      = regexp.MustCompile(`\b(?:A[LKZR]|C[AOT]|D[EC]|FL|GA|HI|I[DLNA]|K[SY]|LA|M[EDAINSOT]|N[EVHJMYCD]|O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[TA]|W[AVIY]) \d{5}(?:-\d{4})?\b`)
	reDOB        = regexp.MustCompile(`(?i)\b(?:dob|d\.o\.b\.?|date of birth|born on|born|birthday|bday|b-day|birth[ -]?date)\b[:\s\-]*(?:is\s+|was\s+|on\s+)?((?:\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2}))|\d{4}-\d{2}-\d{2}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4}|\d{1,2}(?:st|nd|rd|th)? (?:of )?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*,? \d{4})`)
	rePlate      = regexp.MustCompile(`(?i)\b(?:plates?|tags?|licen[cs]e(?: plate)?(?: number| no\.?)?|reg(?:istration)?(?: number)?)(?:\s*(?:#|no\.?|number|is|was|reads|:|-))*\s*["']?([A-Z0-9]{1,4}[- ]?[A-Z0-9]{2,5})\b`)
	rePlateUK    = regexp.MustCompile(`\b[A-Z]{2}\d{2} ?[A-Z]{3}\b`)
)

// validCoords wants a latitude and a longitude in range. reCoords reads
// them as people write them: "45.52345, -122.67621", "45.52345N
// 122.67621W", "lat 45.52345 lon -122.67621", "mlat=45.52345&mlon=…".
func validCoords(text string, m []int) bool {
	lat, lon := text[m[2]:m[3]], text[m[4]:m[5]]
	return absLE(lat, 90) && absLE(lon, 180)
}

func absLE(s string, limit int) bool {
	s = strings.TrimPrefix(s, "-")
	whole := s
	if k := strings.IndexByte(s, '.'); k >= 0 {
		whole = s[:k]
	}
	v := 0
	for i := 0; i < len(whole); i++ {
		v = v*10 + int(whole[i]-'0')
	}
	return v < limit
}

func findRegexp(text string, re *regexp.Regexp, kind string, ok func(string, []int) bool, out []pii) []pii {
	for _, m := range re.FindAllStringSubmatchIndex(text, -1) {
		if ok != nil && !ok(text, m) {
			continue
		}
		out = append(out, pii{kind, m[0], m[1]})
	}
	return out
}

// keywordTriggers returns the original offsets, in order, where any of
// words starts in the normalized (lower-case) text.
func keywordTriggers(n *normalized, words ...string) []int {
	var at []int
	for _, w := range words {
		for k := 0; ; {
			j := strings.Index(n.s[k:], w)
			if j < 0 {
				break
			}
			if k+j == 0 || !isWordByte(n.s[k+j-1]) {
				at = append(at, n.orig(k+j))
			}
			k += j + len(w)
		}
	}
	// matchesNear wants them in order: it skips what lies before the end
	// of its last match, which for a later word's trigger handled first
	// was every earlier trigger ("born 03/04/1991 ... dob ..." left the
	// first date in clear).
	slices.Sort(at)
	return at
}

func findDOBs(text string, n *normalized, out []pii) []pii {
	// "date of birth" is a trigger of its own: the window of its "birth"
	// starts after "date of", where reDOB cannot match the phrase.
	at := keywordTriggers(n, "dob", "d.o.b", "born", "birth", "bday", "b-day", "date of birth")
	if len(at) == 0 {
		return out
	}
	for _, m := range matchesNear(text, at, 0, 60, reDOB) {
		out = append(out, pii{KindDOB, m[2], m[3]})
	}
	return out
}

func findPlates(text string, n *normalized, out []pii) []pii {
	at := keywordTriggers(n, "plate", "tag", "licen", "reg")
	for _, m := range matchesNear(text, at, 0, 48, rePlate) {
		if plateLike(text[m[2]:m[3]]) {
			out = append(out, pii{KindPlate, m[2], m[3]})
		}
	}
	return out
}

// matchesNear runs re on a window around each trigger offset and returns
// the distinct matches with offsets into text: a regexp over a whole post
// costs far more than over the few places that could match.
func matchesNear(text string, at []int, before, after int, re *regexp.Regexp) [][]int {
	var out [][]int
	lastEnd := -1
	for _, p := range at {
		a, b := max(0, p-before), min(len(text), p+after)
		if a < lastEnd {
			a = lastEnd
		}
		if a >= b {
			continue
		}
		for _, m := range re.FindAllStringSubmatchIndex(text[a:b], -1) {
			for i := range m {
				if m[i] >= 0 {
					m[i] += a
				}
			}
			out = append(out, m)
			lastEnd = max(lastEnd, m[1])
		}
	}
	return out
}

func findNear(text string, at []int, before, after int, re *regexp.Regexp, kind string, ok func(string, []int) bool, out []pii) []pii {
	if len(at) == 0 {
		return out
	}
	for _, m := range matchesNear(text, at, before, after, re) {
		if ok != nil && !ok(text, m) {
			continue
		}
		out = append(out, pii{kind, m[0], m[1]})
	}
	return out
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

// coordTriggers are the starts of decimal numbers with three or more
// decimals ("45.52345").
func coordTriggers(text string) []int {
	var at []int
	for i := 1; i+3 < len(text); i++ {
		if text[i] == '.' && isDigit(text[i-1]) && isDigit(text[i+1]) && isDigit(text[i+2]) && isDigit(text[i+3]) {
			k := i - 1
			for k > 0 && (isDigit(text[k-1]) || text[k-1] == '-') {
				k--
			}
			at = append(at, k)
			i += 3
		}
	}
	return at
}

// capDigitTriggers are upper-case letters followed by a digit, where UK and
// Canadian postcodes and UK plates start.
func capDigitTriggers(text string) []int {
	var at []int
	for i := 0; i+1 < len(text); i++ {
		if text[i] >= 'A' && text[i] <= 'Z' && isDigit(text[i+1]) {
			at = append(at, i)
		}
	}
	return at
}

// zipTriggers are five-digit runs after a space.
func zipTriggers(text string) []int {
	var at []int
	for i := 4; i+5 <= len(text); i++ {
		if text[i-1] == ' ' && isDigit(text[i]) && isDigit(text[i+1]) && isDigit(text[i+2]) && isDigit(text[i+3]) && isDigit(text[i+4]) &&
			text[i-2] >= 'A' && text[i-2] <= 'Z' {
			at = append(at, i)
		}
	}
	return at
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// plateLike accepts upper-case letters and digits with at least one digit,
// the shape of most licence plates, and rejects ordinary words.
func plateLike(p string) bool {
	digits, letters, lower := 0, 0, 0
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'A' && c <= 'Z':
			letters++
		case c >= 'a' && c <= 'z':
			lower++
		}
	}
	return lower == 0 && digits > 0 && digits+letters >= 4 && !(letters == 0 && digits == 4 && len(p) == 4)
}

// streetSuffixes end a street name in English-speaking countries.
var streetSuffixes = map[string]bool{
	"st": true, "street": true, "rd": true, "road": true, "ave": true, "av": true, "avenue": true, "ln": true, "lane": true,
	"dr": true, "drive": true, "ct": true, "court": true, "blvd": true, "boulevard": true, "way": true, "loop": true,
	"pl": true, "place": true, "ter": true, "terrace": true, "cir": true, "circle": true, "pkwy": true, "parkway": true,
	"hwy": true, "highway": true, "trl": true, "trail": true, "sq": true, "square": true, "crescent": true, "cres": true,
	"close": true, "grove": true, "gardens": true, "row": true, "mews": true, "walk": true, "pike": true, "alley": true,
	"crossing": true, "commons": true, "heights": true, "run": true, "path": true, "cove": true, "bend": true, "hollow": false, "wynd": true, "rise": true, "parade": true, "esplanade": true,
}

// streetLead start a street name in French, Spanish, Italian, Portuguese.
var streetLead = map[string]bool{
	"rue": true, "avenue": true, "boulevard": true, "bd": true, "chemin": true, "allee": true, "impasse": true, "quai": true,
	"calle": true, "avenida": true, "via": true, "viale": true, "piazza": true, "plaza": true, "carrer": true, "rua": true, "cours": true,
}

// germanSuffixes end a street name in German.
var germanSuffixes = []string{"strasse", "str", "weg", "allee", "gasse", "platz", "ring", "damm", "ufer", "chaussee", "straat", "laan", "gracht", "vej", "gatan", "gata"}

func houseNumber(t token) bool {
	s := t.s
	if len(s) == 0 || len(s) > 6 || s[0] < '1' || s[0] > '9' {
		return false
	}
	k := 0
	for k < len(s) && s[k] >= '0' && s[k] <= '9' {
		k++
	}
	return k == len(s) || k == len(s)-1 && s[k] >= 'a' && s[k] <= 'z'
}

func isWordTok(t token) bool {
	if t.flags&(tokNum|tokSymbol) != 0 || len(t.s) == 0 {
		return false
	}
	return t.s[0] >= 'a' && t.s[0] <= 'z'
}

// findStreets finds street addresses (with a house number) and street names
// (without), in English, French, Spanish, Italian and German word orders.
func findStreets(text string, n *normalized, toks []token, digits bool, out []pii) []pii {
	span := func(kind string, a, b int) {
		s, e := n.orig(int(toks[a].start)), n.orig(int(toks[b].end))
		if kind == KindStreetAddress {
			s, e = unitBefore(text, s), extendAddress(text, e)
		}
		out = append(out, pii{kind, s, e})
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if digits && houseNumber(t) {
			// 15 Millrace Ln / 221b Baker Street
			for k := i + 1; k < len(toks) && k <= i+5 && toks[k].sent == t.sent && isWordTok(toks[k]); k++ {
				if streetSuffixes[toks[k].s] && k > i+1 && (toks[k].flags&tokCap != 0 || toks[k-1].flags&tokCap != 0 || lowerStreet(toks[i+1:k+1])) {
					span(KindStreetAddress, i, k)
					i = k
					break
				}
				if k == i+1 && streetLead[toks[k].s] {
					// 12 rue de la Paix
					e := k + 1
					for e < len(toks) && e <= k+5 && toks[e].sent == t.sent && isWordTok(toks[e]) && (toks[e].flags&tokCap != 0 || len(toks[e].s) <= 3) {
						e++
					}
					if e > k+1 {
						span(KindStreetAddress, i, e-1)
						i = e - 1
					}
					break
				}
			}
			continue
		}
		if !isWordTok(t) {
			continue
		}
		if t.flags&tokCap == 0 {
			continue // every street form below starts with a capital
		}
		if digits && streetLead[t.s] {
			// Calle Mayor 5 / Via Roma 12
			for k := i + 1; k < len(toks) && k <= i+5 && toks[k].sent == t.sent; k++ {
				if houseNumber(toks[k]) {
					if k > i+1 {
						span(KindStreetAddress, i, k)
						i = k
					}
					break
				}
				if !isWordTok(toks[k]) {
					break
				}
			}
			continue
		}
		if digits && i+1 < len(toks) && houseNumber(toks[i+1]) && toks[i+1].sent == t.sent && germanStreet(t.s) {
			span(KindStreetAddress, i, i+1)
			i++
			continue
		}
		// Water St / Shoreham Rd: a capitalized name and a suffix, no number.
		if i > 0 && toks[i-1].flags&tokCap != 0 && toks[i-1].sent == t.sent && isWordTok(toks[i-1]) &&
			streetSuffixes[t.s] && !commonCapital[toks[i-1].s] {
			a := i - 1
			if a > 0 && toks[a-1].sent == t.sent && isWordTok(toks[a-1]) && toks[a-1].flags&tokCap != 0 && !commonCapital[toks[a-1].s] {
				a--
			}
			if digits && a > 0 && houseNumber(toks[a-1]) && lineBreakOnly(n.s[toks[a-1].end:toks[a].start]) {
				// The house number ends the line before ("lives at 15\n
				// Millrace Ln"): one address, split where it was typed.
				span(KindStreetAddress, a-1, i)
				continue
			}
			span(KindStreetName, a, i)
		}
	}
	return out
}

// lowerStreetSuffixes end a street written all in lower case ("123 main
// st"), as doxxes often are: the suffixes that seldom follow a number and a
// word in other senses ("a 2 hour walk", "5 people run").
var lowerStreetSuffixes = map[string]bool{
	"st": true, "street": true, "rd": true, "road": true, "ave": true, "avenue": true, "ln": true, "lane": true,
	"dr": true, "drive": true, "ct": true, "blvd": true, "boulevard": true, "pkwy": true, "parkway": true,
	"ter": true, "terrace": true, "cres": true, "crescent": true,
}

// notStreetName are words between a number and a suffix that make them
// something other than an address: "2 hours down the road", "a 20 minute
// drive", "4 houses on our street".
var notStreetName = map[string]bool{
	"the": true, "a": true, "an": true, "on": true, "in": true, "at": true, "of": true, "to": true, "for": true,
	"and": true, "or": true, "but": true, "my": true, "your": true, "her": true, "his": true, "their": true,
	"our": true, "its": true, "this": true, "that": true, "these": true, "those": true, "down": true, "up": true,
	"across": true, "from": true, "by": true, "with": true, "into": true, "onto": true, "over": true, "off": true,
	"along": true, "out": true, "more": true, "other": true, "new": true, "wrong": true, "same": true, "is": true,
	"are": true, "was": true, "were": true, "people": true, "guys": true, "cars": true, "car": true, "times": true,
	"second": true, "seconds": true, "sec": true, "secs": true, "minute": true, "minutes": true, "min": true,
	"mins": true, "hour": true, "hours": true, "hr": true, "hrs": true, "day": true, "days": true, "week": true,
	"weeks": true, "month": true, "months": true, "year": true, "years": true, "mile": true, "miles": true,
	"mi": true, "km": true, "kms": true, "meter": true, "meters": true, "metre": true, "metres": true, "ft": true,
	"feet": true, "foot": true, "yard": true, "yards": true, "block": true, "blocks": true, "lanes": true,
}

// lowerStreet reports whether ts, the words after a house number up to a
// suffix, read as a street in lower case: one or two words that are not
// common words, units or suffixes themselves ("a 2 lane road").
func lowerStreet(ts []token) bool {
	if len(ts) < 2 || len(ts) > 3 || !lowerStreetSuffixes[ts[len(ts)-1].s] {
		return false
	}
	for _, t := range ts[:len(ts)-1] {
		if len(t.s) < 2 || notStreetName[t.s] || streetSuffixes[t.s] || lowerStreetSuffixes[t.s] {
			return false
		}
	}
	return true
}

func germanStreet(s string) bool {
	for _, suf := range germanSuffixes {
		if strings.HasSuffix(s, suf) && len(s) > len(suf)+2 {
			return true
		}
	}
	return false
}

// commonCapital are capitalized words that do not name a street.
var commonCapital = map[string]bool{
	"the": true, "a": true, "on": true, "at": true, "in": true, "my": true, "our": true, "his": true, "her": true,
	"i": true, "main": false, "and": true, "to": true, "of": true, "off": true, "by": true, "near": true,
}

// reAddrTail matches what follows a street: a unit, a town, a state, a
// postcode (an Indian PIN code of six figures too: read as a ZIP code of
// five, its sixth was left beside the placeholder). The unit word is read
// in any case and wants a number or a letter after it: matched in lower
// case only, "Apt 4B" was read as a town named "Apt" and its number left
// in clear.
var reAddrTail = regexp.MustCompile(`^(?:,?\s*(?:(?i:apt|apartment|unit|suite|ste|flat)\.?\s*#?\s*(?:[A-Za-z]{0,2}\d[A-Za-z0-9-]{0,4}|[A-Za-z]\b)|#\s*[A-Za-z0-9-]{1,5}))?(?:,?\s+\d{4,5}\s+[A-Z][\pL]+(?:[ -][A-Z][\pL]+)?|(?:,?\s+[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2})?(?:,?\s+(?:NSW|VIC|QLD|SA|WA|TAS|NT|ACT)\s+\d{4}\b|(?:,?\s+[A-Z]{2}\b)?(?:,?\s+\d{5}(?:-\d{4})?\b|(?:,?\s+|\s?[-–]\s?)[1-9]\d{2} ?\d{3}\b)?)(?:,?\s+[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}\b)?)`)

// reUnitBefore matches, at the end of what precedes a house number, the
// flat or unit written before it: "Flat 2, ", "apt 4B at ", "Unit 7/",
// "#12 ", and the Australian "4/" of "4/12 Smith St".
var reUnitBefore = regexp.MustCompile(`(?i)(?:(?:^|[^a-z0-9])(?:flat|apt|apartment|unit|suite|ste|room|rm)\.?\s*(?:no\.?\s*|#\s*)?|(?:^|[^a-z0-9#])#\s*)?(?:(?:^|[^a-z0-9/])(?:[a-z]?\d{1,4}[a-z]?|[a-z])/|(?:[a-z]?\d{1,4}[a-z]?|[a-z]\b)\s*(?:,\s*|\s+at\s+|\s+|-\s*))$`)

// unitBefore returns where an address starting at s starts with the flat
// or unit written before its house number. Left out, it stayed beside the
// placeholder ("Flat 2, [ADDRESS]").
func unitBefore(text string, s int) int {
	w := text[max(0, s-24):s]
	if w == "" || !(isDigit(w[len(w)-1]) || w[len(w)-1] == '/' || isSpaceByte(w[len(w)-1]) || w[len(w)-1] == ',' || w[len(w)-1] == '-') {
		return s
	}
	m := reUnitBefore.FindStringSubmatchIndex(w)
	if m == nil {
		return s
	}
	a := s - len(w) + m[0]
	for a < s && !isAlnum(text[a]) && text[a] != '#' {
		a++
	}
	if strings.IndexByte(text[a:s], '/') < 0 && !unitWordAt(text, a) {
		// A bare number before another ("2 15 Millrace Ln") is not a unit.
		return s
	}
	return a
}

// unitWordAt reports a word for a flat or unit at i, or a "#".
func unitWordAt(text string, i int) bool {
	if text[i] == '#' {
		return true
	}
	j := i
	for j < len(text) && j-i < 10 && isAlnum(text[j]) {
		j++
	}
	switch strings.ToLower(text[i:j]) {
	case "flat", "apt", "apartment", "unit", "suite", "ste", "room", "rm":
		return true
	}
	return false
}

// lineBreakOnly reports that s, what lies between two words, is a line
// break and spaces.
func lineBreakOnly(s string) bool {
	return strings.IndexByte(s, '\n') >= 0 && strings.Trim(s, " \t\r\n") == ""
}

// extendAddress takes in a unit, town, state and ZIP after a street.
func extendAddress(text string, e int) int {
	if e >= len(text) {
		return e
	}
	w := text[e:min(len(text), e+80)]
	if strings.IndexByte(w, '+') >= 0 {
		// A map link joins the words with "+" ("15+Millrace+Ln,+Pruitt+
		// Hollow,+OH+45371"); read them as spaces, byte for byte.
		w = strings.ReplaceAll(w, "+", " ")
	}
	m := reAddrTail.FindStringIndex(w)
	if m == nil {
		return e
	}
	return e + m[1]
}

// reDateShaped matches digit groups that read as a date, which a phone
// number written with separators can look like.
var reDateShaped = regexp.MustCompile(`^(\d{4}[-./ ]\d{1,2}[-./ ]\d{1,2}|\d{1,2}[-./ ]\d{1,2}[-./ ]\d{2,4})$`)

// phoneShaped accepts what a person would read as a phone number even when
// the phone-number library does not (fictional 555 numbers, a mistyped
// exchange, a local number without its area code). Redaction uses it: a
// leaked digit is worse than a redacted date, so it errs towards hiding.
func phoneShaped(cand string) bool {
	if reDateShaped.MatchString(cand) || yearRange(cand) {
		return false
	}
	if dots := strings.Count(cand, "."); dots > 0 && dots != 2 {
		return false
	}
	return !screenSize(cand)
}

// screenAspects are the proportions of displays and videos, wider side
// first: 4:3, 5:4, 3:2, 16:10, 16:9, 21:9 (as 64:27, 43:18, 12:5 and
// 7:3), 2:1, 19.5:9, 20:9, 19:9.
var screenAspects = [][2]int{{4, 3}, {5, 4}, {3, 2}, {8, 5}, {16, 9}, {64, 27}, {43, 18}, {12, 5}, {7, 3}, {2, 1}, {13, 6}, {20, 9}, {19, 9}}

// screenSizesOddAspect are common sizes in no proportion of screenAspects,
// wider side first.
var screenSizesOddAspect = [][2]int{{1366, 768}, {1360, 768}, {1024, 600}, {1334, 750}, {1792, 828}, {2436, 1125}, {2532, 1170}, {2556, 1179}, {2688, 1242}, {2778, 1284}, {2796, 1290}}

// screenSize reports two groups of three or four figures, one space
// between them, whose sides are exactly a screen's proportions or a common
// screen size, either way round: "1920 1080", "1366 768", "1080 1920".
// Those are local numbers too in shape, but the halves of a number fall
// into an exact proportion only by chance.
func screenSize(cand string) bool {
	k := strings.IndexByte(cand, ' ')
	if k < 3 || k > 4 || len(cand)-k-1 < 3 || len(cand)-k-1 > 4 || cand[0] == '0' || cand[k+1] == '0' {
		return false
	}
	w, h := figures(cand[:k]), figures(cand[k+1:])
	if w < h {
		w, h = h, w
	}
	if h < 240 {
		return false
	}
	for _, a := range screenAspects {
		if w*a[1] == h*a[0] {
			return true
		}
	}
	for _, sz := range screenSizesOddAspect {
		if w == sz[0] && h == sz[1] {
			return true
		}
	}
	return false
}

// redactablePhone accepts a candidate redaction hides as a phone number:
// one the phone-number library takes, or one a reader would.
func redactablePhone(cand string) bool { return phoneShaped(cand) || validPhone(cand) }

// yearRange reports a range of years ("2019-2024", "1939-1945"): two
// groups of four figures, each a year from 1800 to 2099, the second the
// later. Eight figures in two groups are also the shape of a local number
// in some countries, but a range of years is far the commoner in prose.
func yearRange(cand string) bool {
	if len(cand) != 9 || cand[4] != '-' {
		return false
	}
	a, b := figures(cand[:4]), figures(cand[5:])
	return a >= 1800 && a < 2100 && b > a && b < 2100
}

// figures is the value of s, a short run of ASCII figures; -1 when s holds
// anything else.
func figures(s string) int {
	v := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return -1
		}
		v = v*10 + int(s[i]-'0')
	}
	return v
}

// findRedactableExtras adds what redaction hides but scoring leaves out,
// because the model was not trained on it or could not weigh it: e-mail
// addresses followed by a full stop; the phone-shaped runs that
// findPhones, wanting valid numbers only, does not take, also with
// typographic separators; numbers spelled out in words ("five five five
// zero one zero eight"); post-office boxes and rural routes, which shops
// and charities post as often as doxxers do; addresses on streets named by
// an ordinal; coordinates in degrees and decimal minutes; dates of birth
// in the forms reDOB does not read; e-mail addresses with an apostrophe or
// non-ASCII letters; UK and Canadian postcodes in lower case or without
// the space; the town after a direction or "St.,", and lower-case
// addresses that end on a postcode; plates of three or four groups; IPv6
// zones and defanged IPv4 addresses, and IPv6 addresses and prefixes
// ending in "::", IPv4 addresses with spaced dots or commas; German
// plates and plates run together; Indian PIN codes and localities; area
// codes in square brackets; and all of these disguised by
// invisible characters, other scripts' digits, markup, entities or a line
// break (findDisguised). It leaves alone the ISBNs taken for phone
// numbers.
func findRedactableExtras(text string, out []pii) []pii {
	out = findRedactableExtrasIn(text, out)
	n := len(out)
	out = findDisguised(text, out)
	if len(out) > n {
		out = dedupPII(text, out)
	}
	return withoutISBNs(text, out)
}

// findRedactableExtrasIn is findRedactableExtras without reading through
// disguises: findDisguised calls it on the text it has read through.
func findRedactableExtrasIn(text string, out []pii) []pii {
	n := len(out)
	if hasAt(text) {
		// With those scoring left out before a full stop, and the
		// local parts with an apostrophe or a non-ASCII letter; the
		// others come again, and go with the overlaps.
		out = findEmailsWith(text, out, true)
		out = findAtSpelledDots(text, out)
	}
	out = findSpelledPhones(text, out)
	out = findSpelledEmails(text, out)
	out = findIndianLocalities(text, out)
	if hasDigit(text) {
		out, _ = findPhonesWith(text, out, -1, redactablePhone, true)
		out = findTypographicPhones(text, out)
		out = findPOBoxes(text, out)
		out = findOrdinalStreets(text, out)
		out = findDMSCoords(text, out)
		out = findMoreDOBs(text, out)
		runs := digitRunStarts(text)
		out = findLoosePostcodes(text, runs, out)
		out = findAddressTails(text, out)
		out = findLowerAddresses(text, runs, out)
		out = findMorePlates(text, out)
		out = findPlateGroups(text, out)
		out = findMoreIPs(text, runs, out)
		out = findPINCodes(text, out)
		out = findBracketedAreaCodes(text, out)
	}
	if len(out) == n {
		return out
	}
	return dedupPII(text, out)
}

var rePOBox = regexp.MustCompile(`(?i)\b(?:p\.?\s?o\.?\s?|post office\s+|(?:rural route|r\.?r\.?|hc)\s*#?\s*\d{1,4}\s*,?\s*)box\s*#?\s*\d{1,6}\b`)

// findPOBoxes finds "PO Box 4471", "P.O. Box 88", "post office box 9013"
// and "RR 2 Box 152", with the town, state and ZIP after them.
func findPOBoxes(text string, out []pii) []pii {
	var at []int
	for i := 0; i+3 <= len(text); i++ {
		if text[i]|0x20 == 'b' && text[i+1]|0x20 == 'o' && text[i+2]|0x20 == 'x' && (i == 0 || !isAlnum(text[i-1])) {
			at = append(at, i)
		}
	}
	for _, m := range matchesNear(text, at, 24, 16, rePOBox) {
		out = append(out, pii{KindStreetAddress, m[0], extendAddress(text, m[1])})
	}
	return out
}

// Kinds of words people spell a number with.
const (
	spelledUnit    = iota + 1 // "zero", "oh", "one" … "nine": one figure
	spelledTeen               // "ten" … "nineteen": two
	spelledTens               // "twenty" … "ninety": two, or with a unit after it
	spelledRepeat             // "double", "triple": the next unit two or three times
	spelledHundred            // "hundred" after a unit: two more
)

// spelledWords are the words people spell a number with, and their kinds.
var spelledWords = map[string]int{
	"zero": spelledUnit, "oh": spelledUnit, "one": spelledUnit, "two": spelledUnit, "three": spelledUnit,
	"four": spelledUnit, "five": spelledUnit, "six": spelledUnit, "seven": spelledUnit, "eight": spelledUnit,
	"nine": spelledUnit,
	"ten":  spelledTeen, "eleven": spelledTeen, "twelve": spelledTeen, "thirteen": spelledTeen,
	"fourteen": spelledTeen, "fifteen": spelledTeen, "sixteen": spelledTeen, "seventeen": spelledTeen,
	"eighteen": spelledTeen, "nineteen": spelledTeen,
	"twenty": spelledTens, "thirty": spelledTens, "forty": spelledTens, "fourty": spelledTens, "fifty": spelledTens,
	"sixty": spelledTens, "seventy": spelledTens, "eighty": spelledTens, "ninety": spelledTens,
	"double": spelledRepeat, "triple": spelledRepeat, "hundred": spelledHundred,
}

// findSpelledPhones finds runs of 7 to 15 figures written at least partly
// in words ("seven one nine, five five five, oh one oh eight", "Seven-
// One-Nine 555 0108"), with at least three of them in words: counting
// aloud seldom runs that long. After a word like "call", one word is
// enough ("call 2 one 2 555 0147"). Numbers are read as they are said, in
// pairs ("five fifty five"), with "double" and "triple" ("triple five")
// and hundreds ("nine hundred"): read word by word only, such numbers
// were cut short and left in clear.
func findSpelledPhones(text string, out []pii) []pii {
	start, end, digits, words := -1, -1, 0, 0
	prev, repeat := 0, 0 // the kind of the last word, and "double" or "triple" before a unit
	flush := func() {
		if start >= 0 && digits >= 7 && digits <= 15 && (words >= 3 || words >= 1 && contextBefore(text, start, 30, phoneWords...)) {
			out = append(out, pii{KindPhone, start, end})
		}
		start, digits, words, prev, repeat = -1, 0, 0, 0, 0
	}
	var w [9]byte
	for i := 0; i < len(text); {
		if !isAlnum(text[i]) {
			switch text[i] {
			case ' ', '-', '.', ',', '(', ')', '\t':
			default:
				flush()
			}
			i++
			continue
		}
		j := i
		for j < len(text) && isAlnum(text[j]) {
			j++
		}
		kind := 0
		if j-i >= 2 && j-i <= 9 {
			kind = spelledWords[string(lowerInto(w[:0], text[i:j]))]
		}
		switch {
		case isDigit(text[i]) && countDigits(text[i:j]) == j-i:
			if start < 0 {
				start = i
			}
			digits += j - i
			end = j
			prev, repeat = 0, 0
		case kind == spelledHundred && prev != spelledUnit && prev != spelledTeen,
			kind == spelledRepeat && repeat > 0:
			flush()
		case kind != 0:
			if start < 0 {
				start = i
			}
			words++
			switch kind {
			case spelledUnit:
				switch {
				case repeat > 0:
					digits += repeat
				case prev != spelledTens:
					digits++
				}
				repeat = 0
			case spelledTeen, spelledTens, spelledHundred:
				digits += 2
			case spelledRepeat:
				repeat = 2
				if text[i]|0x20 == 't' {
					repeat = 3
				}
			}
			if kind != spelledRepeat {
				end = j
			}
			prev = kind
		default:
			flush()
		}
		i = j
	}
	flush()
	return out
}

// lowerInto appends s in ASCII lower case to b.
func lowerInto(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		b = append(b, s[i]|0x20)
	}
	return b
}
