package classifiers

import (
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
	for i := 0; i < len(text); {
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
