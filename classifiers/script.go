package classifiers

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The lexicons, the address patterns and the model of this package are
// English. A post written in Cyrillic or in Chinese scores near zero
// whatever it says: a doxxing post with a death threat in Russian scores
// as calm as small talk. Script tells the classify stage which posts those
// are, so that a site in a language the classifiers do not read is counted
// and alerted on as unread, not shown as calm.

// ScriptLatin and ScriptNone are the two answers of Script that mean the
// classifiers read the text: it is in the Latin script (English, or
// another language written in it, which they read only in part), or it
// has no letters at all.
const (
	ScriptLatin = "latin"
	ScriptNone  = "none"
)

// scriptSample bounds the bytes Script reads: the start of a post tells
// its script, and a 256 KiB post must not cost more than a short one.
const scriptSample = 8 << 10

// scripts are the writing systems Script names; any other letter counts
// as "other". Hiragana and katakana are one, since Japanese mixes them.
var scripts = []struct {
	name  string
	table *unicode.RangeTable
}{
	{ScriptLatin, unicode.Latin},
	{"cyrillic", unicode.Cyrillic},
	{"han", unicode.Han},
	{"kana", unicode.Hiragana},
	{"kana", unicode.Katakana},
	{"hangul", unicode.Hangul},
	{"arabic", unicode.Arabic},
	{"hebrew", unicode.Hebrew},
	{"greek", unicode.Greek},
	{"devanagari", unicode.Devanagari},
	{"thai", unicode.Thai},
}

// Script returns the writing system most of a text's letters are in:
// ScriptLatin, ScriptNone for a text without letters, a lower-case
// script name ("cyrillic", "han", "kana", "hangul", "arabic", "hebrew",
// "greek", "devanagari", "thai") or "other". Only the first 8 KiB of the
// text are read.
func Script(text string) string {
	if len(text) > scriptSample {
		text = text[:scriptSample]
	}
	if ascii, letter := asciiOnly(text); ascii {
		if letter {
			return ScriptLatin
		}
		return ScriptNone
	}
	var counts [16]int // by index into scripts; the last is "other"
	for start := 0; start < len(text); {
		// Word by word, so that links and addresses, Latin in any language,
		// do not outvote the words around them.
		end := start
		for end < len(text) && !isSpaceByte(text[end]) {
			end++
		}
		if w := text[start:end]; !isLink(w) {
			countLetters(w, &counts)
		}
		start = end + 1
	}
	best, bestN := -1, 0
	for k, n := range counts {
		// Kana's two tables add up.
		if k < len(scripts) && k > 0 && scripts[k].name == scripts[k-1].name {
			n += counts[k-1]
		}
		if n > bestN {
			best, bestN = k, n
		}
	}
	switch {
	case best < 0:
		return ScriptNone
	case best == len(counts)-1:
		return "other"
	}
	return scripts[best].name
}

// Reads reports whether the classifiers read text written in a script
// Script returned.
func Reads(script string) bool { return script == ScriptLatin || script == ScriptNone }

// asciiOnly reports whether text is all ASCII, and whether it has a letter.
func asciiOnly(text string) (ascii, letter bool) {
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c >= utf8.RuneSelf {
			return false, false
		}
		letter = letter || ('a' <= c|0x20 && c|0x20 <= 'z')
	}
	return true, letter
}

func isLink(w string) bool {
	return strings.Contains(w, "://") || strings.HasPrefix(w, "www.") || strings.ContainsRune(w, '@')
}

func countLetters(w string, counts *[16]int) {
	const other = len(counts) - 1
	for i := 0; i < len(w); {
		c := w[i]
		if c < utf8.RuneSelf {
			if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') {
				counts[0]++
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(w[i:])
		i += n
		if k := blockScript(r); k >= 0 {
			counts[k]++
			continue
		}
		if !unicode.IsLetter(r) {
			continue
		}
		if r >= 0x1D400 && r <= 0x1D6A3 || r >= 0x2100 && r <= 0x214F {
			// Mathematical and letter-like Latin letters (𝐤𝐢𝐥𝐥, ℎℯ𝓇), the
			// "fancy fonts" of harassers, are of the common script in
			// Unicode's tables; the normalizer reads them as Latin.
			counts[0]++
			continue
		}
		k := other
		for j, s := range scripts {
			if unicode.Is(s.table, r) {
				k = j
				break
			}
		}
		counts[k]++
	}
}

// blockScript places a rune of the common alphabetic blocks by its code
// point alone (the index of its script, or -1), which is several times
// faster than the range tables. The few punctuation marks inside these
// blocks count as letters: they cannot change which script has most.
func blockScript(r rune) int {
	switch {
	case r >= 0xC0 && r <= 0x24F && r != 0xD7 && r != 0xF7:
		return 0 // Latin-1 Supplement, Latin Extended-A and -B
	case r >= 0x400 && r <= 0x52F:
		return 1 // Cyrillic
	case r >= 0x4E00 && r <= 0x9FFF:
		return 2 // CJK Unified Ideographs
	case r >= 0x3041 && r <= 0x309F:
		return 3 // Hiragana
	case r >= 0x30A0 && r <= 0x30FA:
		return 4 // Katakana
	case r >= 0xAC00 && r <= 0xD7A3:
		return 5 // Hangul Syllables
	}
	return -1
}
