package watchlist

import (
	"encoding/binary"
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
	// w0, w1 are the folded form packed for the word cache (as packWord
	// packs it), when plain is set: the tokenizer has the word in
	// registers already.
	w0, w1     uint64
	start, end int32
	// folded: lower case, accents removed, apostrophes dropped.
	fs, fe int32
	// canon: folded, then street/unit/direction words abbreviated.
	cs, ce int32
	// canonOnly marks tokens that exist only in the canonical stream ("#"
	// before a unit number reads as "apt").
	canonOnly bool
	// seen has flagLower, flagUpper and flagDigit for what the word holds
	// (a non-ASCII letter that is not upper case counts as lower): the
	// raw facts for plate candidates.
	seen uint8
	// plain: packed (w0, w1), and its own canonical form; most words.
	plain bool
}

func (tk *token) hasDigit() bool  { return tk.seen&flagDigit != 0 }
func (tk *token) hasLetter() bool { return tk.seen&(flagLower|flagUpper) != 0 }

// upper reports a word without lower-case letters.
func (tk *token) upper() bool { return tk.seen&flagLower == 0 }

// tokenizer splits texts into tokens. It is reused; not safe for
// concurrent use.
type tokenizer struct {
	arena []byte
	toks  []token
	// marked holds the indices of the tokens with a digit or written in
	// capitals, in order: where plate candidates are.
	marked []int32
	// ats holds the indices of the tokens that are the word "at" (any
	// case), in order: where bare obfuscated emails may be.
	ats []int32
}

// maxTokens caps the words considered per text field, so a pathological
// post costs bounded time. Longer texts are matched on their first part.
const maxTokens = 50000

// maxScanBytes caps the bytes of one text that are matched: token offsets
// are 32-bit.
const maxScanBytes = 1 << 30

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

// canonPacked holds the keys of canon packed as the tokenizer packs a word
// (packWord), each in a slot of its own: one load and compare tells
// whether a packed word has a canonical form.
var canonPacked = func() (t struct {
	ent  [canonSlots]canonEntry
	mult uint64
}) {
	// A multiplier under which no two keys share a slot; the search is
	// deterministic, and the test TestCanonPackedHoldsEveryKey checks it.
	for mult := uint64(0x9e3779b97f4a7c15); ; mult += 2 {
		clear(t.ent[:])
		t.mult = mult
		ok := true
		for k := range canon {
			w0, w1, _ := packWord([]byte(k))
			e := &t.ent[canonSlotWith(mult, w0, w1)]
			if e.w1 != 0 {
				ok = false
				break
			}
			*e = canonEntry{w0, w1}
		}
		if ok {
			return t
		}
	}
}()

const canonSlots = 256

// canonEntry is a canon key, packed. The tokenizer only asks whether a
// word is a key (t.word then reads its abbreviation from canon), so the
// abbreviation is not kept here and the table takes 4 KiB.
type canonEntry struct {
	w0, w1 uint64 // 0 in an empty slot: a packed word's length is at least 1
}

func canonSlot(w0, w1 uint64) uint64 { return canonSlotWith(canonPacked.mult, w0, w1) }

func canonSlotWith(mult, w0, w1 uint64) uint64 {
	return ((w0 ^ w1>>3) * mult) >> (64 - 8)
}

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
// The arena starts with a copy of the text. Most words are ASCII letters
// and digits that end at a space or punctuation: such a word is found by
// one table lookup a byte, and folded in place only if it holds a capital
// (one OR over at most two 8-byte words: every ASCII letter and digit
// folds by setting bit 0x20). A word that goes on with an apostrophe or a
// non-ASCII byte takes slowWord. (One loop: split into a loop that finds
// words and functions that add them, it took 40% more instructions.)
func (t *tokenizer) tokenize(text string) []token {
	if len(text) > maxScanBytes {
		text = text[:maxScanBytes]
	}
	t.arena = append(t.arena[:0], text...)
	// Room for 16-byte loads and stores from any word of the arena.
	t.arena = slices.Grow(t.arena, 16)
	t.toks = t.toks[:0]
	t.marked = t.marked[:0]
	t.ats = t.ats[:0]
	i := 0
	for i < len(text) {
		c := text[i]
		if wordFlags[c] == 0 {
			if c < utf8.RuneSelf {
				if c == '#' {
					if i = t.hash(text, i); len(t.toks) == maxTokens {
						break
					}
					continue
				}
				i++
				continue
			}
			if r, size := utf8.DecodeRuneInString(text[i:]); !isWordRune(r) {
				i += size
				continue
			}
		}
		start, j := i, i
		var seen uint8
		for j < len(text) {
			f := wordFlags[text[j]]
			if f == 0 {
				break
			}
			seen |= f
			j++
		}
		// The usual word: ASCII letters and digits, under 16 bytes, that
		// ends at a separator and has no canonical form of its own. Its
		// token is written here; every other word takes t.word. (Kept
		// apart, the usual path holds fewer values across calls, which
		// the compiler otherwise spills and reloads for every word.)
		n := j - start
		if n == 0 || n >= 16 || j < len(text) && wordGoesOn[text[j]] {
			if i = t.word(text, start, j, seen); len(t.toks) == maxTokens {
				break
			}
			continue
		}
		// Folded (when it has a capital) and packed for the word cache in
		// two 8-byte words, masked to the word: the arena has room for 16
		// bytes past any word of the text's copy.
		a := t.arena[start : start+16 : start+16]
		o0, o1 := binary.LittleEndian.Uint64(a), binary.LittleEndian.Uint64(a[8:])
		m := &packMasks[n]
		if seen&flagUpper != 0 {
			o0 |= 0x2020202020202020 & m[0]
			o1 |= 0x2020202020202020 & m[1]
			binary.LittleEndian.PutUint64(a, o0)
			binary.LittleEndian.PutUint64(a[8:], o1)
		}
		w0, w1 := o0&m[0], o1&m[1]|uint64(n)<<56
		// Canon keys have no digits; the packed table answers for every
		// packed word in one probe.
		if e := &canonPacked.ent[canonSlot(w0, w1)]; e.w0 == w0 && e.w1 == w1 ||
			n > 7 && string(a[n-7:n]) == "strasse" {
			if i = t.word(text, start, j, seen); len(t.toks) == maxTokens {
				break
			}
			continue
		}
		k := len(t.toks)
		if k == cap(t.toks) {
			t.toks = append(t.toks, token{})
		}
		t.toks = t.toks[:k+1]
		tk := &t.toks[k]
		tk.w0, tk.w1, tk.plain = w0, w1, true
		tk.start, tk.end, tk.fs, tk.fe, tk.cs, tk.ce = int32(start), int32(j), int32(start), int32(j), int32(start), int32(j)
		tk.canonOnly, tk.seen = false, seen
		if seen&flagDigit != 0 || seen&flagLower == 0 && seen&flagUpper != 0 {
			t.marked = append(t.marked, int32(k))
		}
		if w0 == packedAt0 && w1 == packedAt1 {
			t.ats = append(t.ats, int32(k))
		}
		i = j
		if k+1 == maxTokens {
			break
		}
	}
	// Room for packWord to load 16 bytes from any word of the arena.
	t.arena = slices.Grow(t.arena, 16)
	return t.toks
}

// hash adds the token of the "#" at text[i] when it reads as a unit
// word (hashUnit): "apt", in the canonical stream only. It returns where
// tokenize goes on. Not inlined, and followed by a continue in tokenize
// as t.word is: the check written inline, or a call whose path merged
// with every other separator's, added 3 to 4 instructions to each of
// them (callgrind, Jigsaw comments).
//
//go:noinline
func (t *tokenizer) hash(text string, i int) int {
	if hashUnit(text, i+1) {
		s := len(t.arena)
		t.arena = append(t.arena, "apt"...)
		t.toks = append(t.toks, token{start: int32(i), end: int32(i + 1), cs: int32(s), ce: int32(len(t.arena)), canonOnly: true})
	}
	return i + 1
}

// hashUnit reports whether the "#" before text[i:] reads as a unit word:
// a figure follows at once ("#5") or after spaces ("# 5", "Apt # 5").
// A space is a space, a tab or a no-break space, as posts copied from
// web pages carry them. Each space is looked at by the one "#" before
// it at most, so this keeps tokenizing linear.
func hashUnit(text string, i int) bool {
	for i < len(text) {
		switch {
		case text[i] == ' ' || text[i] == '\t':
			i++
		case text[i] == 0xc2 && i+1 < len(text) && text[i+1] == 0xa0:
			i += 2
		default:
			return wordFlags[text[i]] == flagDigit
		}
	}
	return false
}

// word adds the token of any word but tokenize's usual one: a word that
// starts with a non-ASCII rune or goes on with one or with an apostrophe
// (slowWord), one of 16 bytes or more, one with a canonical form. The
// word's ASCII letters and digits run from start to j, with seen their
// flags; it returns where the word ends.
func (t *tokenizer) word(text string, start, j int, seen uint8) int {
	fs, fe := start, j
	var w0, w1 uint64
	packed := false
	if j < len(text) && wordGoesOn[text[j]] || j == start {
		var ok bool
		if fs, fe, j, seen, ok = t.slowWord(text, start); !ok {
			return j // only combining marks
		}
	} else if n := fe - fs; n < 16 {
		// A canon key or a German compound, folded in place by tokenize.
		w0, w1, packed = packWord(t.arena[fs:fe])
	} else if seen&flagUpper != 0 {
		for k := fs; k < fe; k++ {
			t.arena[k] |= 0x20
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
	t.toks = append(t.toks, token{w0: w0, w1: w1, plain: packed && cs == fs,
		start: int32(start), end: int32(j), fs: int32(fs), fe: int32(fe), cs: int32(cs), ce: int32(ce),
		seen: seen})
	if hasDigit || seen&flagLower == 0 && seen&flagUpper != 0 {
		t.marked = append(t.marked, int32(len(t.toks)-1))
	}
	return j
}

// wordGoesOn marks the bytes after a run of ASCII letters and digits where
// the word may go on: an apostrophe ("don't", "l'été") or a non-ASCII rune.
var wordGoesOn = func() (t [256]bool) {
	t['\''], t['`'] = true, true
	for c := utf8.RuneSelf; c < 256; c++ {
		t[c] = true
	}
	return t
}()

// slowWord reads the word at text[start:] rune by rune where it may go
// on past its ASCII letters and digits: an apostrophe between ASCII
// letters ("don't") is dropped by writing the rest of the word one byte
// back in place; a word that goes on with a non-ASCII rune, or an
// apostrophe before one ("l'été"), is folded at the end of the arena. It
// returns the folded form's range, where the word ends and what it has
// seen; ok is false when it folds to nothing (only combining marks).
func (t *tokenizer) slowWord(text string, start int) (fs, fe, i int, seen uint8, ok bool) {
	j, w := start, start
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
	fs, fe = start, w
	i = j
	if i < len(text) && (text[i] >= utf8.RuneSelf ||
		(text[i] == '\'' || text[i] == '`') && i+1 < len(text) && text[i+1] >= utf8.RuneSelf) {
		fs = len(t.arena)
		t.arena = append(t.arena, t.arena[start:w]...)
		i, seen = t.foldRest(text, i, fs, seen)
		fe = len(t.arena)
		if fe == fs {
			return 0, 0, i, seen, false
		}
	}
	return fs, fe, i, seen, true
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
// would be more to leak. A German street written with "Straße" as a word
// of its own, or abbreviated "Str.", is stored in both spellings, since
// posts write either ("Berliner Str. 5"); so is a Dutch "-straat" and its
// "-str.". unit is the unit the address names, wherever it is written
// ("Apt 4" in the street line or a part of its own, "4/123", "4-123",
// "Kerkstraat 12-3"), folded; "" when it names none. It is not part of
// any form: a post that gives the building with another unit still
// matches, and the unit only says whether it is the listed one.
func addressForms(s string) (forms [][]string, unit string) {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == ';' })
	var line, alt []string
	for _, p := range parts {
		w, a, u := streetWords(p)
		if len(w) >= 2 && hasDigit(w) {
			line, alt, unit = w, a, u
			break
		}
	}
	if line == nil {
		// No house number found: the whole address, as written.
		line = words(s, true)
		if len(line) < 2 {
			return nil, ""
		}
		return [][]string{line}, ""
	}
	if unit == "" {
		// "123 Main Avenue, Apt 4, Springfield": the unit in a part of
		// its own.
		for _, p := range parts {
			if u := leadingUnit(p); u != "" {
				unit = u
				break
			}
		}
	}
	forms = [][]string{line}
	if n := len(line); n >= 3 && streetSuffixes[line[n-1]] {
		forms = append(forms, line[:n-1])
	}
	if alt != nil {
		forms = append(forms, alt)
	}
	return forms, unit
}

// leadingUnit returns the unit a part of an address starts with ("Apt
// 4", "#4", "Flat 2B"), or "".
func leadingUnit(p string) string {
	var t tokenizer
	toks := t.tokenize(p)
	i := 0
	for i < len(toks) && isUnit(string(t.canonical(&toks[i]))) {
		i++
	}
	if i == 0 || i >= len(toks) || !unitLike(&t, &toks[i]) {
		return ""
	}
	return string(t.folded(&toks[i]))
}

// unitLike reports a word that can be a unit after a unit word: one with
// a figure ("4", "12B"), a single letter, or a short word in capitals
// ("PH", "III"). "12 Oak St. Apartment hunting is hard" names no unit.
func unitLike(t *tokenizer, tk *token) bool {
	if tk.canonOnly {
		return false
	}
	n := len(t.folded(tk))
	return tk.hasDigit() || n == 1 || tk.upper() && n <= 4
}

// streetWords returns the canonical words of one part of an address from
// its house number on, up to a unit, the same with the street word in its
// other spelling (nil when it has none), and the unit (folded; "" when the
// part names none). A unit written before the street line is left out as
// one written after it is: "Apt 9 77 Oak Road", the Australian "Unit
// 4/123 Wattle Parade" and "4/123 Wattle Parade", and the Canadian
// "4-123 Maple Grove Rd" would otherwise store no street line a post gives
// ("123 Maple Grove Rd"), or none at all, and the next part
// ("Springfield, IL 62704") would be taken for it, paging on every mention
// of the postcode. So is the staircase and door of an Austrian
// "Mariahilfer Straße 45/2/13", and the unit of a Dutch "Kerkstraat 12-3"
// or "12-III". A slash between two figures that follow nothing else but
// figures ("2214 1/2 Elm Street") stays, and so does a dash before a
// number of two digits ("107-12 Queens Blvd"): that is how Queens writes
// house numbers, and read as unit 107 at number 12 it would page on every
// "12 Queens Blvd".
func streetWords(p string) (w, alt []string, unit string) {
	var t tokenizer
	toks := t.tokenize(p)
	canonAt := func(i int) string { return string(t.canonical(&toks[i])) }
	i := 0
	if i < len(toks) && isUnit(canonAt(i)) {
		for i < len(toks) && isUnit(canonAt(i)) {
			i++ // "Apt #4" is two unit words
		}
		if i < len(toks) && unitLike(&t, &toks[i]) {
			unit = string(t.folded(&toks[i]))
		}
		i++ // the unit's number or letter
	}
	if k, ok := unitFirst(p, &t, toks, i); ok {
		if unit == "" {
			unit = string(t.folded(&toks[i]))
		}
		i = k
	}
	var alt1 []string // w with street words in their other spelling
	swapped := false
	for ; i < len(toks); i++ {
		c := canonAt(i)
		if isUnit(c) {
			if unit == "" {
				unit, _ = unitAfter(p, &t, toks, i)
			}
			break
		}
		w = append(w, c)
		a := c
		// Only a word written so: an "St" that is a street or a saint
		// has no German spelling.
		f := string(t.folded(&toks[i]))
		switch {
		case f == "str" || f == "strasse":
			a = map[string]string{"st": "strasse", "strasse": "st"}[c]
		case len(f) > len("straat") && strings.HasSuffix(f, "straat"):
			// Dutch: "Kerkstraat" is written "Kerkstr." too.
			a = f[:len(f)-len("aat")]
		case len(f) > len("str") && strings.HasSuffix(f, "str"):
			// "Kerkstr." in the file: posts write "Kerkstraat" as well.
			// (A German "Hauptstr." gains a Dutch spelling no post uses.)
			a = f + "aat"
		}
		swapped = swapped || a != c
		alt1 = append(alt1, a)
		if u, ok := unitAfterNumber(p, &t, toks, i, w); ok {
			if unit == "" {
				unit = u
			}
			break
		}
		if streetTypeEnds(&t, toks, i, w) {
			// Written without commas ("123 Main Street Springfield IL
			// 62701"): the line ends here as it would at a comma. A
			// direction right after the type is part of it ("Ave NW": DC
			// has the same number on each side), a unit after that is
			// its unit, and the rest is the city, state and postcode.
			if i+1 < len(toks) && directionAbbrev(&t, &toks[i+1]) {
				i++
				w, alt1 = append(w, canonAt(i)), append(alt1, canonAt(i))
			}
			if unit == "" && i+1 < len(toks) && isUnit(canonAt(i+1)) {
				unit, _ = unitAfter(p, &t, toks, i+1)
			}
			break
		}
		if postcodeAfterNumber(&t, toks, i, w) {
			// "Gartenstraße 14 80331 München": a street written first
			// ends at its house number.
			break
		}
	}
	if swapped {
		alt = alt1
	}
	return w, alt, unit
}

// streetTypeEnds reports whether the street line w, which ends with
// token i, ends there though more words follow in its part: w starts
// with the house number, its last word is a street type, a word of the
// street's name comes before the type (in "31 St Marks Place" the first
// "St" is the name), and the next word is not a street type too ("1 Old
// Court Rd" is one street; cut at "Court", it would store "1 old", which
// pages on "1 old car"). Each part of an address with commas ends its
// line the same way, at the end of the part.
func streetTypeEnds(t *tokenizer, toks []token, i int, w []string) bool {
	n := len(w)
	if n < 3 || i+1 >= len(toks) || !streetSuffixes[w[n-1]] || !hasDigit(w[:1]) {
		return false
	}
	named := false
	for _, x := range w[1 : n-1] {
		named = named || !hasDigit([]string{x})
	}
	return named && !streetSuffixes[string(t.canonical(&toks[i+1]))]
}

// directionAbbrev reports a direction written as an abbreviation ("NW",
// "E"): after a street type it is part of the street line. One written
// out ("North Springfield") is more likely the city's name.
func directionAbbrev(t *tokenizer, tk *token) bool {
	switch string(t.folded(tk)) {
	case "n", "s", "e", "w", "ne", "nw", "se", "sw":
		return !tk.canonOnly
	}
	return false
}

// postcodeAfterNumber reports whether token i, the last of the street
// line w of a street written first ("Gartenstraße 14"), is its house
// number and a postcode follows it: four or five figures ("80331",
// "1017 GC").
func postcodeAfterNumber(t *tokenizer, toks []token, i int, w []string) bool {
	if hasDigit(w[:1]) || i+1 >= len(toks) || !houseNumber(t.folded(&toks[i])) || toks[i+1].canonOnly {
		return false
	}
	pc := t.folded(&toks[i+1])
	return (len(pc) == 4 || len(pc) == 5) && leadingDigits(pc) == len(pc)
}

// sepBetween returns the separator between tokens i and i+1 of p, spaces
// trimmed, with any dash read as "-"; "" when there is none or either is
// a "#" that reads as a unit word.
func sepBetween(p string, toks []token, i int) string {
	if i < 0 || i+1 >= len(toks) || toks[i].canonOnly || toks[i+1].canonOnly {
		return ""
	}
	s := strings.TrimSpace(p[toks[i].end:toks[i+1].start])
	if isDash(s) {
		return "-"
	}
	return s
}

// unitFirst reports a unit joined to the house number after it, at token
// i: "4/123 Wattle Parade" (Australia) or "4-123 Maple Grove Rd"
// (Canada), and returns where the house number is. A dash before a house
// number of two digits is Queens' ("107-12 Queens Blvd"), not a unit.
func unitFirst(p string, t *tokenizer, toks []token, i int) (int, bool) {
	if i+1 >= len(toks) || !toks[i].hasDigit() || !toks[i+1].hasDigit() {
		return 0, false
	}
	switch sepBetween(p, toks, i) {
	case "/":
		return i + 1, true
	case "-":
		h := t.folded(&toks[i+1])
		if i+2 < len(toks) && len(t.folded(&toks[i])) <= 5 && houseNumber(h) && leadingDigits(h) != 2 {
			return i + 1, true
		}
	}
	return 0, false
}

// unitAfterNumber reports a unit joined to a house number at token i
// (the last of w, the street line so far) by a slash or, where the street
// comes first, by a dash: "Mariahilfer Straße 45/2/13", "Kerkstraat
// 12-3". The street line ends there; the unit, folded, is "" when what
// follows does not look like one (unitLike).
func unitAfterNumber(p string, t *tokenizer, toks []token, i int, w []string) (string, bool) {
	if !toks[i].hasDigit() {
		return "", false
	}
	streetFirst := !hasDigit(w[:1])
	switch sep := sepBetween(p, toks, i); {
	case sep == "/" && toks[i+1].hasDigit() && slices.ContainsFunc(w, func(x string) bool { return !hasDigit([]string{x}) }):
	case sep == "-" && streetFirst && houseNumber(t.folded(&toks[i])):
	default:
		return "", false
	}
	if !unitLike(t, &toks[i+1]) {
		return "", true
	}
	return unitChain(p, t, toks, i+1), true
}

// unitAfter returns the unit named by the unit words at token i ("Apt
// 4", "#4", "Suite 4-B"), folded, and whether there is one.
func unitAfter(p string, t *tokenizer, toks []token, i int) (string, bool) {
	for i < len(toks) && isUnit(string(t.canonical(&toks[i]))) {
		i++
	}
	if i >= len(toks) || !unitLike(t, &toks[i]) {
		return "", false
	}
	return unitChain(p, t, toks, i), true
}

// unitChain returns the unit that starts at token i, with the words
// joined to it by dashes or slashes that look like units too ("2/13",
// "4-B", not "4 - call me"): folded, a letter and a figure written
// together ("4-B" is "4b"), anything else separated by a space.
func unitChain(p string, t *tokenizer, toks []token, i int) string {
	u := append([]byte(nil), t.folded(&toks[i])...)
	for ; ; i++ {
		if s := sepBetween(p, toks, i); s != "-" && s != "/" || !unitLike(t, &toks[i+1]) {
			return string(u)
		}
		next := t.folded(&toks[i+1])
		if isDigitByte(u[len(u)-1]) == isDigitByte(next[0]) {
			u = append(u, ' ')
		}
		u = append(u, next...)
	}
}

func isDigitByte(c byte) bool { return c >= '0' && c <= '9' }

// isDash reports a separator that joins a unit to a house number: a
// hyphen-minus or a typographic dash.
func isDash(s string) bool {
	switch s {
	case "-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212":
		return true
	}
	return false
}

// houseNumber reports a word that may be a house number: one to four
// digits, perhaps with letters after them ("12", "12a"), so that a
// postcode with a suffix ("62704-1234") is not taken for one.
func houseNumber(w []byte) bool {
	n := leadingDigits(w)
	return n >= 1 && n <= 4
}

// leadingDigits counts the ASCII digits w starts with.
func leadingDigits(w []byte) int {
	n := 0
	for n < len(w) && w[n] >= '0' && w[n] <= '9' {
		n++
	}
	return n
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
