package classifiers

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalized is a post's text folded for matching: lower case, zero-width
// characters removed, homoglyphs, fullwidth and "fancy" letters mapped to
// ASCII, common HTML entities decoded. off maps each byte of s back to a
// byte offset of the original text, so evidence always points into what
// the author wrote. For pure-ASCII input off is nil and offsets are equal
// except for case.
type normalized struct {
	s   string
	off []int32 // len(s)+1 entries, or nil for identity
}

// orig maps a byte offset in the normalized text to the original.
func (n *normalized) orig(i int) int {
	if n.off == nil {
		return i
	}
	if i >= len(n.off) {
		return int(n.off[len(n.off)-1])
	}
	return int(n.off[i])
}

// htmlEntities are the entities scrapers most often leave behind.
var htmlEntities = map[string]byte{
	"&amp;": '&', "&quot;": '"', "&#39;": '\'', "&#x27;": '\'', "&apos;": '\'',
	"&nbsp;": ' ', "&lt;": '<', "&gt;": '>', "&#34;": '"',
}

func needsFolding(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || c == '&' {
			return true
		}
	}
	return false
}

// normalize folds text for matching. It never fails: invalid UTF-8 becomes
// a space.
func normalize(text string) normalized {
	if !needsFolding(text) {
		return normalized{s: lowerASCII(text)}
	}
	var b strings.Builder
	b.Grow(len(text))
	off := make([]int32, 0, len(text)+1)
	var fold [16]byte
	put := func(c byte, at int) {
		b.WriteByte(c)
		off = append(off, int32(at))
	}
	rev := reversals(text)
	for i := 0; i < len(text); {
		if len(rev) > 0 && i >= rev[0].start {
			if i < rev[0].end {
				off = appendReversed(&b, off, text, i, rev[0])
				i = rev[0].end
			}
			rev = rev[1:]
			continue
		}
		c := text[i]
		if c < utf8.RuneSelf {
			if c == '&' {
				if j := strings.IndexByte(text[i:min(len(text), i+8)], ';'); j > 0 {
					if v, ok := htmlEntities[strings.ToLower(text[i:i+j+1])]; ok {
						put(v, i)
						i += j + 1
						continue
					}
				}
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			put(c, i)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		if r == utf8.RuneError && size == 1 {
			put(' ', i)
			i++
			continue
		}
		if isInvisible(r) {
			i += size
			continue
		}
		if f, ok := foldRune(r); ok {
			for k := 0; k < len(f); k++ {
				put(f[k], i)
			}
			i += size
			continue
		}
		if isMark(r) {
			i += size
			continue
		}
		if f, ok := decomposeASCII(r, text[i:], &fold); ok {
			for k := 0; k < len(f); k++ {
				put(f[k], i)
			}
			i += size
			continue
		}
		r = unicode.ToLower(r)
		var buf [4]byte
		n := utf8.EncodeRune(buf[:], r)
		for k := 0; k < n; k++ {
			put(buf[k], i)
		}
		i += size
	}
	off = append(off, int32(len(text)))
	return normalized{s: b.String(), off: off}
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// isInvisible reports characters used to break up words without showing:
// Unicode's default-ignorable code points, which are zero-width spaces and
// joiners, bidi controls (embeddings, overrides, isolates, the Arabic
// letter mark), soft hyphens, variation selectors, fillers and tag
// characters. A renderer draws none of them, so "ki\u2066ll" reads "kill".
func isInvisible(r rune) bool {
	switch {
	case r < 0x00AD, r > 0x3164 && r < 0xFE00:
		return false // most text, Han and Hangul included: one test
	case r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2060 && r <= 0x206F,
		r == 0xFEFF, r == 0x00AD, r == 0x034F, r == 0x061C, r >= 0x180B && r <= 0x180F,
		r >= 0xFE00 && r <= 0xFE0F, r == 0x115F, r == 0x1160, r == 0x17B4, r == 0x17B5,
		r == 0x3164, r == 0xFFA0, r >= 0xFFF0 && r <= 0xFFF8, r >= 0x1BCA0 && r <= 0x1BCA3,
		r >= 0x1D173 && r <= 0x1D17A, r >= 0xE0000 && r <= 0xE0FFF:
		return true
	}
	return false
}

// isMark reports combining marks that sit on the letter before them:
// "Zalgo" and strike-through text (k̶i̶l̶l̶), enclosing circles and
// keycaps, accents typed as a letter plus a mark. A word keeps its letters
// without them; the marks are not read in any script the lexicon knows.
func isMark(r rune) bool {
	switch {
	case r >= 0x0300 && r <= 0x036F, r >= 0x20D0 && r <= 0x20FF:
		return true
	case r < 0x0483, r >= 0x048A && r <= 0x0590, r >= 0x2000 && r <= 0x20CF, r >= 0x4E00 && r <= 0x9FFF, r >= 0xAC00 && r <= 0xD7A3,
		r >= 0x1F300 && r <= 0x1FAFF:
		return false // letters of Cyrillic, Han and Hangul, emoji: the common non-Latin runes
	}
	return unicode.In(r, unicode.Mn, unicode.Me)
}

// decomposeASCII spells the first rune of s in ASCII letters and digits
// through its Unicode compatibility decomposition, marks dropped: the
// accented letters the homoglyph table does not list (ķ, ĩ, ḱ), superscript
// and modifier letters (ᵏⁱˡˡ), the letter-like symbols that stand in the
// gaps of the mathematical alphabets (ℎ, ℯ, ℊ, ℴ), ligatures (ﬁ). It
// answers false when any part of the decomposition is not such a letter
// or digit, so punctuation, other scripts and fractions keep their
// spelling. The answer is written into buf.
func decomposeASCII(r rune, s string, buf *[16]byte) (string, bool) {
	if !mayDecomposeToASCII(r) {
		return "", false
	}
	d := norm.NFKD.PropertiesString(s).Decomposition()
	if len(d) == 0 {
		return "", false
	}
	n := 0
	for k := 0; k < len(d); {
		r, size := utf8.DecodeRune(d[k:])
		k += size
		if isMark(r) {
			continue
		}
		var f string
		switch {
		case r < utf8.RuneSelf && ('a' <= r && r <= 'z' || '0' <= r && r <= '9'):
			f = asciiStrings[r]
		case 'A' <= r && r <= 'Z':
			f = asciiStrings[r+'a'-'A']
		default:
			var ok bool
			if f, ok = foldRune(r); !ok || !isASCIIAlnum(f) {
				return "", false
			}
		}
		if n+len(f) > len(buf) {
			return "", false
		}
		n += copy(buf[n:], f)
	}
	switch n {
	case 0:
		return "", false
	case 1:
		return asciiStrings[buf[0]], true
	}
	return string(buf[:n]), true
}

// mayDecomposeToASCII reports the blocks holding runes whose
// decomposition can be Latin letters or digits, so that Cyrillic, Han,
// kana, Hangul and emoji, most non-ASCII text, skip the table lookup.
func mayDecomposeToASCII(r rune) bool {
	switch {
	case r < 0x0400, r >= 0x1D00 && r <= 0x1FFF, r >= 0x2000 && r <= 0x2BFF, r >= 0x3200 && r <= 0x33FF,
		r >= 0xA700 && r <= 0xA7FF, r >= 0xFB00 && r <= 0xFB4F, r >= 0xFF00 && r <= 0xFFEF,
		r >= 0x1D400 && r <= 0x1D7FF, r >= 0x1F100 && r <= 0x1F1FF:
		return true
	}
	return false
}

func isASCIIAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return len(s) > 0
}

// homoglyphs maps letters of other scripts that look like Latin ones.
var homoglyphs = map[rune]string{
	// Cyrillic
	'а': "a", 'в': "b", 'е': "e", 'ё': "e", 'к': "k", 'м': "m", 'н': "h", 'о': "o", 'р': "p", 'с': "c",
	'т': "t", 'у': "y", 'х': "x", 'ѕ': "s", 'і': "i", 'ї': "i", 'ј': "j", 'ԁ': "d", 'ӏ': "l", 'ү': "y", 'ь': "b",
	'А': "a", 'В': "b", 'Е': "e", 'К': "k", 'М': "m", 'Н': "h", 'О': "o", 'Р': "p", 'С': "c", 'Т': "t",
	'Х': "x", 'Ѕ': "s", 'І': "i", 'Ј': "j", 'У': "y",
	// Greek
	'α': "a", 'β': "b", 'ε': "e", 'ι': "i", 'κ': "k", 'ν': "v", 'ο': "o", 'ρ': "p", 'τ': "t", 'υ': "u",
	'χ': "x", 'Α': "a", 'Β': "b", 'Ε': "e", 'Ζ': "z", 'Η': "h", 'Ι': "i", 'Κ': "k", 'Μ': "m", 'Ν': "n",
	'Ο': "o", 'Ρ': "p", 'Τ': "t", 'Υ': "y", 'Χ': "x",
	// Latin accents and ligatures
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'ā': "a", 'ą': "a", 'æ': "ae",
	'ç': "c", 'ć': "c", 'č': "c", 'ď': "d", 'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ē': "e", 'ę': "e", 'ě': "e",
	'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ī': "i", 'ı': "i", 'ł': "l", 'ñ': "n", 'ń': "n", 'ň': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'ō': "o", 'œ': "oe", 'ř': "r",
	'ś': "s", 'š': "s", 'ş': "s", 'ß': "ss", 'ť': "t", 'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ū': "u", 'ů': "u",
	'ý': "y", 'ÿ': "y", 'ź': "z", 'ż': "z", 'ž': "z",
	'À': "a", 'Á': "a", 'Â': "a", 'Ä': "a", 'Å': "a", 'Ç': "c", 'È': "e", 'É': "e", 'Ê': "e", 'Ë': "e",
	'Ì': "i", 'Í': "i", 'Î': "i", 'Ï': "i", 'Ñ': "n", 'Ò': "o", 'Ó': "o", 'Ô': "o", 'Ö': "o", 'Ø': "o",
	'Ù': "u", 'Ú': "u", 'Û': "u", 'Ü': "u", 'Ý': "y",
	'đ': "d", 'ħ': "h", 'ŀ': "l", 'Đ': "d", 'Ħ': "h",
	// Cherokee capitals and Lisu letters that look like Latin capitals,
	// offered by the same generators ("ᏦᎥᏞᏞ", "ꓗꓲꓡꓡ"), and the kra
	'Ꭰ': "d", 'Ꭱ': "r", 'Ꭲ': "t", 'Ꭵ': "i", 'Ꭹ': "y", 'Ꭺ': "a", 'Ꭻ': "j", 'Ꭼ': "e", 'Ꮃ': "w", 'Ꮇ': "m",
	'Ꮋ': "h", 'Ꮍ': "y", 'Ꮐ': "g", 'Ꮒ': "h", 'Ꮓ': "z", 'Ꮟ': "b", 'Ꮢ': "r", 'Ꮤ': "w", 'Ꮥ': "s", 'Ꮩ': "v",
	'Ꮪ': "s", 'Ꮮ': "l", 'Ꮯ': "c", 'Ꮲ': "p", 'Ꮶ': "k", 'Ꮷ': "d", 'Ᏼ': "b",
	'ꓐ': "b", 'ꓑ': "p", 'ꓒ': "d", 'ꓓ': "d", 'ꓔ': "t", 'ꓖ': "g", 'ꓗ': "k", 'ꓙ': "j", 'ꓚ': "c", 'ꓜ': "z",
	'ꓝ': "f", 'ꓟ': "m", 'ꓠ': "n", 'ꓡ': "l", 'ꓢ': "s", 'ꓣ': "r", 'ꓦ': "v", 'ꓧ': "h", 'ꓪ': "w", 'ꓫ': "x",
	'ꓬ': "y", 'ꓮ': "a", 'ꓰ': "e", 'ꓲ': "i", 'ꓳ': "o", 'ꓴ': "u", 'ĸ': "k",
	// small capitals, which "fancy text" generators offer as a font
	'ᴀ': "a", 'ʙ': "b", 'ᴄ': "c", 'ᴅ': "d", 'ᴇ': "e", 'ꜰ': "f", 'ɢ': "g", 'ʜ': "h", 'ɪ': "i", 'ᴊ': "j",
	'ᴋ': "k", 'ʟ': "l", 'ᴍ': "m", 'ɴ': "n", 'ᴏ': "o", 'ᴘ': "p", 'ʀ': "r", 'ꜱ': "s", 'ᴛ': "t", 'ᴜ': "u",
	'ᴠ': "v", 'ᴡ': "w", 'ʏ': "y", 'ᴢ': "z",
	// punctuation that matters for matching
	'‘': "'", '’': "'", '‛': "'", 'ʼ': "'", '′': "'", '“': "\"", '”': "\"", '„': "\"", '«': "\"", '»': "\"",
	'–': "-", '—': "-", '‐': "-", '‑': "-", '−': "-", '…': "...", '\u00a0': " ", '\u2009': " ", '\u202f': " ",
	'\u2028': "\n", '\u2029': "\n", '\u3000': " ",
}

// foldRune returns the ASCII spelling of r when one is known.
func foldRune(r rune) (string, bool) {
	if s, ok := homoglyphs[r]; ok {
		return s, true
	}
	switch {
	case r >= 0xFF01 && r <= 0xFF5E: // fullwidth ASCII
		c := byte(r - 0xFF01 + 0x21)
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		return asciiStrings[c], true
	case r >= 0x1D400 && r <= 0x1D6A3: // mathematical alphanumerics (bold, script, ...)
		k := (r - 0x1D400) % 52
		if k < 26 {
			return asciiStrings['a'+byte(k)], true
		}
		return asciiStrings['a'+byte(k-26)], true
	case r >= 0x1D7CE && r <= 0x1D7FF: // mathematical digits
		return asciiStrings['0'+byte((r-0x1D7CE)%10)], true
	case r >= 0x24B6 && r <= 0x24CF: // circled capitals
		return asciiStrings['a'+byte(r-0x24B6)], true
	case r >= 0x24D0 && r <= 0x24E9: // circled small letters
		return asciiStrings['a'+byte(r-0x24D0)], true
	case r >= 0x249C && r <= 0x24B5: // parenthesized small letters, ⒦⒤⒧⒧
		return asciiStrings['a'+byte(r-0x249C)], true
	case r >= 0x1F150 && r <= 0x1F189: // negative circled / squared capitals
		return asciiStrings['a'+byte((r-0x1F150)%26)], true
	case r >= 0x1F1E6 && r <= 0x1F1FF: // regional indicators
		return asciiStrings['a'+byte(r-0x1F1E6)], true
	}
	return "", false
}

var asciiStrings = func() [128]string {
	var a [128]string
	for i := range a {
		a[i] = string(rune(i))
	}
	return a
}()

// A reversal is a stretch of the original text, text[start:end], that a
// renderer draws in the opposite order from the one it is stored in: the
// letters after a right-to-left override, or upside-down ("flipped")
// text, which is also written back to front. Read in stored order, a
// threat behind either is no word ("llik"); normalize writes it in the
// order a reader sees it.
type reversal struct {
	start, end int
	flip       bool // each character is also read turned over: ʞ is k
}

// reversals returns the reversals of text in order, or nil.
func reversals(text string) []reversal {
	override, flip := mayReverse(text)
	var rs []reversal
	if override {
		rs = overrides(text, rs)
	}
	if flip {
		n := len(rs)
		rs = flips(text, rs)
		if n > 0 && len(rs) > n {
			// A flipped stretch inside an override is read by the override.
			kept := rs[:n]
			for _, f := range rs[n:] {
				if !slices.ContainsFunc(rs[:n], func(o reversal) bool { return f.start < o.end && o.start < f.end }) {
					kept = append(kept, f)
				}
			}
			rs = kept
			slices.SortFunc(rs, func(a, b reversal) int { return a.start - b.start })
		}
	}
	return rs
}

// reversalLead marks the leading bytes of a right-to-left override and
// of the characters flipDistinct knows, so that mayReverse passes over
// most text, Latin accents, Cyrillic and Han included, without decoding.
var reversalLead = func() (t [256]bool) {
	for _, c := range []byte{0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCE, 0xCF, 0xD4, 0xE1, 0xE2, 0xE3, 0xEA} {
		t[c] = true
	}
	return t
}()

// mayReverse reports whether text holds a right-to-left override, and
// whether it holds a character only upside-down text uses, in one pass.
func mayReverse(text string) (override, flip bool) {
	for i := 0; i < len(text); i++ {
		if !reversalLead[text[i]] {
			continue
		}
		r, _ := utf8.DecodeRuneInString(text[i:])
		override = override || r == 0x202E
		flip = flip || flipDistinct(r) != 0
		if override && flip {
			break
		}
	}
	return override, flip
}

// overrides appends the stretches right-to-left overrides (U+202E)
// reverse: from the override to its pop (U+202C), to the end of an
// isolate holding it (U+2069) or to the end of the paragraph, whichever
// comes first; a tab, which the bidi algorithm sets back to the
// paragraph's direction, splits a stretch in two. Embeddings nested in
// the override are read reversed with it, which for Latin letters is a
// simplification. A stretch holding an ASCII digit is left in stored
// order: the personal-data finders read addresses, phone numbers and
// dates in stored order, and must keep finding the ones written there.
func overrides(text string, rs []reversal) []reversal {
	for i := 0; i < len(text); {
		j := strings.Index(text[i:], "\u202e")
		if j < 0 {
			break
		}
		start := i + j + len("\u202e")
		end := overrideEnd(text, start)
		if !hasASCIIDigit(text[start:end]) {
			for a := start; a < end; {
				b := strings.IndexByte(text[a:end], '\t')
				if b < 0 {
					b = end
				} else {
					b += a
				}
				if b > a {
					rs = append(rs, reversal{start: a, end: b})
				}
				a = b + 1
			}
		}
		i = end
	}
	return rs
}

// overrideEnd returns where an override whose text starts at i ends.
func overrideEnd(text string, i int) int {
	embeddings, isolates := 0, 0
	for i < len(text) {
		c := text[i]
		if c < utf8.RuneSelf {
			if c == '\n' || c == '\r' {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		switch r {
		case 0x202A, 0x202B, 0x202D, 0x202E: // embeddings and overrides
			if isolates == 0 {
				embeddings++
			}
		case 0x202C: // pop directional formatting
			if isolates == 0 {
				if embeddings == 0 {
					return i
				}
				embeddings--
			}
		case 0x2066, 0x2067, 0x2068: // isolates
			isolates++
		case 0x2069: // pop directional isolate
			if isolates == 0 {
				return i
			}
			isolates--
		case 0x2029, 0x0085: // paragraph separators
			return i
		}
		i += size
	}
	return i
}

func hasASCIIDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			return true
		}
	}
	return false
}

// flipped maps the characters of upside-down text to what they read as
// turned over: the letters, including the ASCII ones that are other
// letters turned over (p for d, u for n) or themselves (o, s, x), and the
// punctuation. Turned over, 6 and 9 trade places; the other figures are
// most often kept as they are, or written with the letters listed (Ɛ, ㄣ).
var flipped = map[rune]string{
	'0': "0", '1': "1", '2': "2", '3': "3", '4': "4", '5': "5", '6': "9", '7': "7", '8': "8", '9': "6",
	'ɐ': "a", 'q': "b", 'ɔ': "c", 'p': "d", 'ǝ': "e", 'ɟ': "f", 'ƃ': "g", 'ᵷ': "g", 'ɥ': "h", 'ı': "i", 'ᴉ': "i",
	'ɾ': "j", 'ʞ': "k", 'l': "l", 'ɯ': "m", 'u': "n", 'o': "o", 'd': "p", 'b': "q", 'ɹ': "r", 's': "s", 'ʇ': "t",
	'n': "u", 'ʌ': "v", 'ʍ': "w", 'x': "x", 'ʎ': "y", 'z': "z",
	'∀': "a", 'ꓭ': "b", 'Ɔ': "c", 'ᗡ': "d", 'ꓷ': "d", 'Ǝ': "e", 'Ⅎ': "f", '⅁': "g", 'H': "h", 'I': "i", 'ſ': "j",
	'ꓘ': "k", '˥': "l", 'ꓶ': "l", 'W': "m", 'N': "n", 'O': "o", 'Ԁ': "p", 'ᴚ': "r", 'ꓤ': "r", 'S': "s", '⊥': "t",
	'ꓕ': "t", '∩': "u", 'Λ': "v", 'M': "w", 'X': "x", '⅄': "y", 'Z': "z",
	'Ɩ': "1", 'ᄅ': "2", 'Ɛ': "3", 'ㄣ': "4", 'ϛ': "5", 'ㄥ': "7",
	'˙': ".", '¡': "!", '¿': "?", ',': "'", '\'': ",", '(': ")", ')': "(", '[': "]", ']': "[", '{': "}", '}': "{",
	'<': ">", '>': "<",
}

// flippedASCII is flipped for the ASCII characters, a lookup for the
// common case of flipRead.
var flippedASCII = func() (a [utf8.RuneSelf]string) {
	for r, s := range flipped {
		if r < utf8.RuneSelf {
			a[r] = s
		}
	}
	return a
}()

// flipRead returns what r reads as turned over, if it is in flipped.
func flipRead(r rune) (string, bool) {
	if r < utf8.RuneSelf {
		s := flippedASCII[r]
		return s, s != ""
	}
	if flipDistinct(r) == 0 && r != 'ı' && r != 'ſ' && r != '˙' && r != '¡' && r != '¿' {
		return "", false
	}
	s, ok := flipped[r]
	return s, ok
}

// flipDistinct tells the characters seen only in upside-down text (and
// phonetics) from those of ordinary text: 1 for a lower-case letter, 2
// for a capital, figure or symbol, 0 for any other character.
func flipDistinct(r rune) int {
	switch r {
	case 'ɐ', 'ɔ', 'ǝ', 'ɟ', 'ƃ', 'ᵷ', 'ɥ', 'ᴉ', 'ɾ', 'ʞ', 'ɯ', 'ɹ', 'ʇ', 'ʌ', 'ʍ', 'ʎ':
		return 1
	case '∀', 'ꓭ', 'Ɔ', 'ᗡ', 'ꓷ', 'Ǝ', 'Ⅎ', '⅁', 'ꓘ', '˥', 'ꓶ', 'Ԁ', 'ᴚ', 'ꓤ', '⊥', 'ꓕ', '∩', 'Λ', '⅄',
		'Ɩ', 'ᄅ', 'Ɛ', 'ㄣ', 'ϛ', 'ㄥ':
		return 2
	}
	return 0
}

// flips appends the upside-down stretches of text: runs of words made
// only of characters that read turned over, on one line, that hold a
// lower-case letter seen only in upside-down text or two such other
// characters. Words all in ASCII ("so", "on") at either end of a run are
// left out, they are more likely the ordinary words around one flipped
// word, unless every word of the line can be read turned over: then the
// whole line is flipped, and the "I" it ends with starts it. Flipped full
// stops, exclamation and question marks next to the run are taken in.
func flips(text string, rs []reversal) []reversal {
	start, end, lower, other := -1, -1, 0, 0
	first, last, clean := -1, -1, true // the line's words so far, all read turned over
	flush := func(lineEnd bool) {
		if lineEnd && clean && start >= 0 {
			start, end = first, last
		}
		if start >= 0 && (lower > 0 || other >= 2) {
			a, b := start, end
			for a > 0 {
				r, size := utf8.DecodeLastRuneInString(text[:a])
				if r != '˙' && r != '¡' && r != '¿' {
					break
				}
				a -= size
			}
			for b < len(text) {
				r, size := utf8.DecodeRuneInString(text[b:])
				if r != '˙' && r != '¡' && r != '¿' {
					break
				}
				b += size
			}
			rs = append(rs, reversal{start: a, end: b, flip: true})
		}
		start, end, lower, other = -1, -1, 0, 0
	}
	for i := 0; i < len(text); {
		// The gap before the next word: a line break or a tab ends a run.
		r, size := utf8.DecodeRuneInString(text[i:])
		if !inWord(r) {
			if r == '\n' || r == '\r' || r == '\t' || r == 0x2028 || r == 0x2029 {
				flush(true)
				first, last, clean = -1, -1, true
			}
			i += size
			continue
		}
		w := i
		ok, ascii, lo, ot := true, true, 0, 0
		for i < len(text) {
			r, size := utf8.DecodeRuneInString(text[i:])
			if !inWord(r) {
				break
			}
			i += size
			if r >= utf8.RuneSelf {
				ascii = false
			}
			if unicode.IsMark(r) {
				continue
			}
			if _, in := flipRead(r); !in {
				ok = false
				continue
			}
			switch flipDistinct(r) {
			case 1:
				lo++
			case 2:
				ot++
			}
		}
		if !ok {
			flush(false)
			clean = false
			continue
		}
		if first < 0 {
			first = w
		}
		last = i
		if !ascii {
			if start < 0 {
				start = w
			}
			end = i
			lower += lo
			other += ot
		}
	}
	flush(true)
	return rs
}

// inWord reports the characters of a word of possibly upside-down text.
func inWord(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r|0x20 && r|0x20 <= 'z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || flipDistinct(r) != 0
}

// appendReversed writes text[from:rv.end] to b in the order a renderer
// draws it, each character folded as normalize folds it (and, for
// upside-down text, turned over first), and returns off extended for the
// bytes written. A monotone byte map cannot send reversed words back to
// their own bytes, so every byte written maps to an end of the stretch:
// the bytes a token can start with to its start, those that can only
// follow a token (spaces, punctuation) to its end. A symbol, which is a
// token of its own and can follow one, is set apart by spaces. A token
// read from the stretch then spans all of it, and the spans of
// consecutive tokens never run backwards.
func appendReversed(b *strings.Builder, off []int32, text string, from int, rv reversal) []int32 {
	var starts [64]int
	at := starts[:0]
	for i := from; i < rv.end; {
		_, size := utf8.DecodeRuneInString(text[i:rv.end])
		at = append(at, i)
		i += size
	}
	out := make([]byte, 0, rv.end-from+8)
	var fold [16]byte
	for k := len(at) - 1; k >= 0; k-- {
		s := text[at[k]:rv.end]
		r, size := utf8.DecodeRuneInString(s)
		f, ok := "", false
		if rv.flip {
			f, ok = flipRead(r)
		}
		switch {
		case ok:
		case r == utf8.RuneError && size == 1:
			f = " "
		case r < utf8.RuneSelf:
			c := byte(r)
			switch {
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			case c == '(' || c == '[' || c == '{' || c == '<' || c == ')' || c == ']' || c == '}' || c == '>':
				c = mirrorBracket(c)
			}
			f = asciiStrings[c]
		case isInvisible(r):
			continue
		default:
			if f, ok = foldRune(r); ok {
				break
			}
			if isMark(r) {
				continue
			}
			if f, ok = decomposeASCII(r, s, &fold); ok {
				break
			}
			r = unicode.ToLower(r)
			if unicode.IsSymbol(r) {
				out = append(out, ' ')
				out = utf8.AppendRune(out, r)
				out = append(out, ' ')
				continue
			}
			out = utf8.AppendRune(out, r)
			continue
		}
		out = append(out, f...)
	}
	for j := 0; j < len(out); {
		c := out[j]
		o, n := rv.end, 1
		switch {
		case isWordByte(c):
			o = from
		case c == '$':
			if j+1 < len(out) && 'a' <= out[j+1] && out[j+1] <= 'z' {
				o = from // "$hoot": the dollar starts the word
			}
		case c >= utf8.RuneSelf:
			var r rune
			r, n = utf8.DecodeRune(out[j:])
			if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.IsSymbol(r) {
				o = from
			}
		}
		b.Write(out[j : j+n])
		for range n {
			off = append(off, int32(o))
		}
		j += n
	}
	return off
}

// mirrorBracket returns the bracket a right-to-left renderer draws for c.
func mirrorBracket(c byte) byte {
	switch c {
	case '(':
		return ')'
	case ')':
		return '('
	case '[':
		return ']'
	case ']':
		return '['
	case '{':
		return '}'
	case '}':
		return '{'
	case '<':
		return '>'
	}
	return '<'
}
