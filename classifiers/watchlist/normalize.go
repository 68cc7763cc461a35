package watchlist

import (
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// token is one word of a text: its byte span in the original and its two
// normalized forms, stored as ranges of the tokenizer's arena so that a post
// is tokenized without an allocation per word.
type token struct {
	start, end int
	// folded: lower case, accents removed, apostrophes dropped.
	fs, fe int
	// canon: folded, then street/unit/direction words abbreviated.
	cs, ce int
	// canonOnly marks tokens that exist only in the canonical stream ("#"
	// before a unit number reads as "apt").
	canonOnly bool
	// raw facts for plate candidates.
	hasDigit, hasLetter, upper bool
}

// tokenizer splits texts into tokens. It is reused; not safe for
// concurrent use.
type tokenizer struct {
	arena []byte
	toks  []token
}

// maxTokens caps the words considered per text field, so a pathological
// post costs bounded time. Longer texts are matched on their first part.
const maxTokens = 50000

// canon maps a folded word to its canonical abbreviation, so "123 Main
// Street, Apartment 4" and "123 main st apt 4" become the same tokens.
var canon = map[string]string{
	"street": "st", "str": "st", "avenue": "ave", "av": "ave", "avn": "ave",
	"road": "rd", "boulevard": "blvd", "boul": "blvd", "drive": "dr", "drv": "dr",
	"lane": "ln", "court": "ct", "crt": "ct", "place": "pl", "terrace": "ter", "terr": "ter",
	"circle": "cir", "highway": "hwy", "parkway": "pkwy", "pky": "pkwy", "square": "sq",
	"crescent": "cres", "trail": "trl", "alley": "aly", "plaza": "plz", "saint": "st",
	"north": "n", "south": "s", "east": "e", "west": "w",
	"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
	"apartment": "apt", "unit": "apt", "suite": "apt", "ste": "apt", "flat": "apt",
	"first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
	"sixth": "6th", "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th",
}

// canonMay[len][first letter] has bit (last letter) set when some canon
// key has that length, first and last letter: most words skip the map
// lookup (with the first letter alone, prose words like "the" and "some"
// did not).
var canonMay = func() (t [11][26]uint32) {
	for k := range canon {
		t[len(k)][k[0]-'a'] |= 1 << (k[len(k)-1] - 'a')
	}
	return t
}()

// unitWords are canonical unit designators: what follows them is a unit,
// not part of the street line.
func isUnit(s string) bool { return s == "apt" }

// streetSuffixes are canonical street-type words.
var streetSuffixes = map[string]bool{
	"st": true, "ave": true, "rd": true, "blvd": true, "dr": true, "ln": true, "ct": true, "pl": true,
	"ter": true, "cir": true, "hwy": true, "pkwy": true, "sq": true, "cres": true, "trl": true, "aly": true,
	"plz": true, "way": true,
}

// special folds letters that Unicode decomposition leaves alone.
var special = map[rune]string{
	'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'ł': "l", 'đ': "d", 'ð': "d", 'þ': "th", 'ı': "i",
}

func isApostrophe(r rune) bool { return r == '\'' || r == '\u2019' || r == '`' }

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// foldRune appends the folded form of r (lower case, no accents).
func foldRune(dst []byte, r rune) []byte {
	if r < utf8.RuneSelf {
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		return append(dst, byte(r))
	}
	if r < foldTableSize {
		ft := foldTable()
		return append(dst, ft.blob[ft.off[r]:ft.off[r+1]]...)
	}
	return foldRuneSlow(dst, r)
}

// foldTableSize bounds the runes whose folded forms are kept in a table:
// the alphabets of Europe, the Middle East and India, where a post's
// non-ASCII letters mostly come from. Decomposing a rune on every use cost
// more than the rest of tokenizing its word.
const foldTableSize = 0x3000

type foldTab struct {
	off  [foldTableSize + 1]uint32
	blob []byte
}

// foldTable is built from foldRuneSlow itself, so the two cannot
// disagree: about 4 ms, when a matcher is made (or on first use).
var foldTable = sync.OnceValue(func() *foldTab {
	ft := new(foldTab)
	for r := rune(0); r < foldTableSize; r++ {
		ft.off[r] = uint32(len(ft.blob))
		if r >= utf8.RuneSelf {
			ft.blob = foldRuneSlow(ft.blob, r)
		}
	}
	ft.off[foldTableSize] = uint32(len(ft.blob))
	return ft
})

// foldRuneSlow folds a non-ASCII rune through Unicode decomposition.
func foldRuneSlow(dst []byte, r rune) []byte {
	r = unicode.ToLower(r)
	if s, ok := special[r]; ok {
		return append(dst, s...)
	}
	var buf [utf8.UTFMax]byte
	n := utf8.EncodeRune(buf[:], r)
	// One rune's decomposition fits a small stack buffer (a norm.Iter
	// would escape to the heap on every non-ASCII rune of every post).
	var dec [64]byte
	seg := norm.NFKD.Append(dec[:0], buf[:n]...)
	for len(seg) > 0 {
		c, size := utf8.DecodeRune(seg)
		seg = seg[size:]
		if unicode.Is(unicode.Mn, c) {
			continue
		}
		if c < utf8.RuneSelf || unicode.IsLetter(c) || unicode.IsDigit(c) {
			dst = utf8.AppendRune(dst, unicode.ToLower(c))
		}
	}
	return dst
}

// ASCII classes for the tokenizer's fast path.
const (
	clsOther uint8 = iota
	clsLower
	clsUpper
	clsDigit
)

var asciiClass = func() (t [128]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = clsLower
		t[c-'a'+'A'] = clsUpper
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = clsDigit
	}
	return t
}()

// wordFlags has flagLower, flagUpper or flagDigit for an ASCII letter or
// digit, and 0 for any other byte (non-ASCII bytes too).
var wordFlags = func() (t [256]uint8) {
	for c, cls := range asciiClass {
		switch cls {
		case clsLower:
			t[c] = flagLower
		case clsUpper:
			t[c] = flagUpper
		case clsDigit:
			t[c] = flagDigit
		}
	}
	return t
}()

const (
	flagLower uint8 = 1 << iota
	flagUpper
	flagDigit
)

// tokenize splits text into tokens, replacing t.toks.
//
// The arena starts with a copy of the text: a word of ASCII letters and
// digits (most words), with apostrophes between its letters, is folded in
// place, at its own offsets, so that it costs one table lookup a byte and
// no copy of its own. A word that goes on with a non-ASCII rune is folded
// rune by rune at the end of the arena (through the fold table, or
// Unicode decomposition above it).
func (t *tokenizer) tokenize(text string) []token {
	t.arena = append(t.arena[:0], text...)
	t.toks = t.toks[:0]
	i := 0
	for i < len(text) && len(t.toks) < maxTokens {
		c := text[i]
		if wordFlags[c] == 0 {
			if c < utf8.RuneSelf {
				if c == '#' && i+1 < len(text) && wordFlags[text[i+1]] == flagDigit {
					s := len(t.arena)
					t.arena = append(t.arena, "apt"...)
					t.toks = append(t.toks, token{start: i, end: i + 1, cs: s, ce: len(t.arena), canonOnly: true})
				}
				i++
				continue
			}
			if r, size := utf8.DecodeRuneInString(text[i:]); !isWordRune(r) {
				i += size
				continue
			}
		}
		// The word's facts live in locals until the token is appended: a
		// token whose address is taken is built field by field in memory.
		// An ASCII word is folded in place as it is read (a capital is
		// lowered by or-ing its flag, shifted onto 0x20: no second pass
		// over the word for its capitals); an apostrophe between ASCII
		// letters ("don't") is dropped by writing the rest of the word
		// one byte back.
		start, j, w := i, i, i
		var seen uint8
		// The arena in a local: written through t, its slice header would
		// be loaded again for every byte (the write might change it).
		arena := t.arena
		for {
			for j < len(text) {
				c := text[j]
				f := wordFlags[c]
				if f == 0 {
					break
				}
				seen |= f
				arena[w] = c | (f&flagUpper)<<4
				w++
				j++
			}
			if w > start && j+1 < len(text) && (text[j] == '\'' || text[j] == '`') && wordFlags[text[j+1]]&(flagLower|flagUpper) != 0 {
				j++
				continue
			}
			break
		}
		fs, fe := start, w
		i = j
		// The rest is folded rune by rune only where it may go on: a
		// non-ASCII rune, or an apostrophe before one ("l'été").
		if i < len(text) && (text[i] >= utf8.RuneSelf ||
			(text[i] == '\'' || text[i] == '`') && i+1 < len(text) && text[i+1] >= utf8.RuneSelf) {
			fs = len(t.arena)
			t.arena = append(t.arena, t.arena[start:w]...)
			i, seen = t.foldRest(text, i, fs, seen)
			fe = len(t.arena)
			if fe == fs {
				continue // only combining marks
			}
		}
		hasDigit := seen&flagDigit != 0
		cs, ce := fs, fe
		if n := fe - fs; n >= 2 && n <= 10 && !hasDigit {
			a, z := t.arena[fs]-'a', t.arena[fe-1]-'a'
			if a < 26 && z < 26 && canonMay[n][a]&(1<<z) != 0 {
				if c, ok := canon[string(t.arena[fs:fe])]; ok {
					cs = len(t.arena)
					t.arena = append(t.arena, c...)
					ce = len(t.arena)
				}
			}
		}
		if n := fe - fs; n > 7 && cs == fs && string(t.arena[fe-7:fe]) == "strasse" {
			// German compounds: "Hauptstraße" and "Hauptstr." are one street.
			cs = len(t.arena)
			t.arena = append(t.arena, t.arena[fs:fe-4]...)
			ce = len(t.arena)
		}
		n := len(t.toks)
		if n == cap(t.toks) {
			t.toks = append(t.toks, token{})
		}
		t.toks = t.toks[:n+1]
		tk := &t.toks[n]
		tk.start, tk.end, tk.fs, tk.fe, tk.cs, tk.ce = start, i, fs, fe, cs, ce
		tk.canonOnly, tk.hasDigit, tk.hasLetter, tk.upper = false, hasDigit, seen&(flagLower|flagUpper) != 0, seen&flagLower == 0
	}
	// Room for packWord to load 16 bytes from any word of the arena.
	t.arena = slices.Grow(t.arena, 16)
	return t.toks
}

// foldRest folds the rest of a word from text[i:], appending to the arena
// (whose word so far starts at fs), and returns where the word ends and
// what it has seen (flagLower, flagUpper, flagDigit: a non-ASCII letter
// that is not upper case counts as lower).
func (t *tokenizer) foldRest(text string, i, fs int, seen uint8) (int, uint8) {
	for i < len(text) {
		c := text[i]
		if c < utf8.RuneSelf {
			if f := wordFlags[c]; f != 0 {
				if f == flagUpper {
					c += 'a' - 'A'
				}
				t.arena = append(t.arena, c)
				seen |= f
				i++
				continue
			}
			if (c == '\'' || c == '`') && t.apostropheInWord(text, i, 1, fs) {
				i++
				continue
			}
			return i, seen
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		if isApostrophe(r) && t.apostropheInWord(text, i, size, fs) {
			i += size
			continue
		}
		if !isWordRune(r) {
			return i, seen
		}
		if unicode.IsDigit(r) {
			seen |= flagDigit
		} else if unicode.IsLetter(r) {
			if unicode.IsUpper(r) {
				seen |= flagUpper
			} else {
				seen |= flagLower
			}
		}
		t.arena = foldRune(t.arena, r)
		i += size
	}
	return i, seen
}

// apostropheInWord reports whether the apostrophe at text[i:i+size] sits
// inside a word ("O'Brien"), where it is dropped rather than splitting.
func (t *tokenizer) apostropheInWord(text string, i, size, fs int) bool {
	if len(t.arena) == fs || i+size >= len(text) {
		return false
	}
	nr, _ := utf8.DecodeRuneInString(text[i+size:])
	return unicode.IsLetter(nr)
}

func (t *tokenizer) folded(tk *token) []byte { return t.arena[tk.fs:tk.fe] }
func (t *tokenizer) canonical(tk *token) []byte {
	return t.arena[tk.cs:tk.ce]
}

// words returns the folded (or canonical) words of s, for normalizing
// watchlist entries with exactly the tokenizer posts go through.
func words(s string, canonical bool) []string {
	var t tokenizer
	toks := t.tokenize(s)
	out := make([]string, 0, len(toks))
	for i := range toks {
		tk := &toks[i]
		switch {
		case canonical:
			out = append(out, string(t.canonical(tk)))
		case !tk.canonOnly:
			out = append(out, string(t.folded(tk)))
		}
	}
	return out
}

// normalizeHandle folds a handle: lower case, no leading @ or u/, and no
// separators, so "@Clara_S", "clara.s" and "ClaraS" are one handle.
func normalizeHandle(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "@")
	if len(s) > 2 && (s[:2] == "u/" || s[:2] == "U/") {
		s = s[2:]
	}
	var b []byte
	for _, r := range s {
		if isWordRune(r) {
			b = foldRune(b, r)
		}
	}
	return string(b)
}

// normalizeEmail folds an address: lower case, a +tag dropped, and for
// Gmail (where dots do not count) dots in the local part removed.
func normalizeEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", false
	}
	local, domain := s[:at], strings.TrimSuffix(s[at+1:], ".")
	if !strings.Contains(domain, ".") || strings.ContainsAny(local, " \t@") || strings.ContainsAny(domain, " \t@") {
		return "", false
	}
	if p := strings.IndexByte(local, '+'); p >= 0 {
		local = local[:p]
	}
	if domain == "googlemail.com" {
		domain = "gmail.com"
	}
	if domain == "gmail.com" {
		local = strings.ReplaceAll(local, ".", "")
	}
	if local == "" {
		return "", false
	}
	return local + "@" + domain, true
}

// normalizePlate keeps a plate's letters and digits, upper case.
func normalizePlate(s string) string {
	var b []byte
	for _, r := range s {
		if isWordRune(r) {
			b = foldRune(b, r)
		}
	}
	return strings.ToUpper(string(b))
}

// legalSuffixes pairs the long and short forms of company suffixes, so a
// workplace given as "Acme Corp" matches "Acme Corporation".
var legalSuffixes = map[string]string{
	"corp": "corporation", "corporation": "corp", "inc": "incorporated", "incorporated": "inc",
	"co": "company", "company": "co", "ltd": "limited", "limited": "ltd",
}

// addressForms returns the canonical token sequences an address is matched
// by: its street line (house number, street, type: "123 main ave"), and
// without the street type ("123 main") when that leaves two words or more.
// Any post that contains the full address contains its street line, so the
// street line is what is stored; the city and postcode add nothing but
// would be more to leak.
func addressForms(s string) [][]string {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == ';' })
	var line []string
	for _, p := range parts {
		w := words(p, true)
		if len(w) == 0 || isUnit(w[0]) {
			continue // "Apt 4" given as its own part
		}
		for i, x := range w {
			if isUnit(x) {
				w = w[:i]
				break
			}
		}
		if len(w) >= 2 && hasDigit(w) {
			line = w
			break
		}
	}
	if line == nil {
		// No house number found: the whole address, as written.
		line = words(s, true)
		if len(line) < 2 {
			return nil
		}
		return [][]string{line}
	}
	forms := [][]string{line}
	if n := len(line); n >= 3 && streetSuffixes[line[n-1]] {
		forms = append(forms, line[:n-1])
	}
	return forms
}

func hasDigit(w []string) bool {
	for _, x := range w {
		for i := 0; i < len(x); i++ {
			if x[i] >= '0' && x[i] <= '9' {
				return true
			}
		}
	}
	return false
}
