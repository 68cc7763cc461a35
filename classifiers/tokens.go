package classifiers

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// token is one word (or symbol) of the normalized text.
type token struct {
	// s is the lookup form: lower case, leetspeak and spacing undone.
	s          string
	start, end int32 // byte offsets into the normalized text
	sent       int32 // sentence index
	flags      uint8
}

const (
	tokQuoted    uint8 = 1 << iota // inside a quotation the author reports
	tokCap                         // starts with an upper-case letter in the original
	tokNum                         // digits only
	tokSymbol                      // an emoji or other symbol
	tokFolded                      // spelling was de-obfuscated
	tokLineStart                   // first token of a line
	tokCapI                        // a capital I after a lower-case letter in the original ("kilI": an l?)
)

// reportVerbs introduce a quotation of someone else's words.
var reportVerbs = map[string]bool{
	"said": true, "says": true, "wrote": true, "writes": true, "posted": true, "typed": true, "commented": true,
	"replied": true, "messaged": true, "tweeted": true, "saying": true, "quote": true, "quoted": true,
	"threatened": true, "dm'd": true, "dmed": true, "texted": true, "told": true, "stating": true, "claimed": true,
	"screaming": true, "yelled": true, "comment": true, "message": true, "post": true, "reads": true,
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_'
}

func isLeet(c byte) bool {
	switch c {
	case '0', '1', '3', '4', '5', '7', '8', '@', '$', '!', '|':
		return true
	}
	return false
}

var leetMap = [256]byte{'0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '8': 'b', '@': 'a', '$': 's', '!': 'i', '|': 'l'}

// tokenize splits normalized text into tokens and sentences. orig is the
// original text, used only to read capitalization.
func tokenize(n *normalized, orig string, toks []token) []token {
	s := n.s
	// Most texts hold no capital I inside a word: one vectorized scan
	// spares every token the check.
	capI := capIInside(orig, 0, len(orig))
	sent := int32(0)
	quoted := false    // inside a reported quotation
	lineQuote := false // inside a "> quoted" line
	lineStart := true
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\n':
			sent++
			lineQuote = false
			quoted = false
			lineStart = true
			i++
			continue
		case c == '.' || c == '!' || c == '?' || c == ';':
			// A full stop ends a sentence only when followed by space or the
			// end ("3.5", "e.g" stay inside one).
			if c != '.' || i+1 >= len(s) || s[i+1] == ' ' || s[i+1] == '\n' || s[i+1] == '"' {
				sent++
			}
			i++
			continue
		case c == '>' && lineStart:
			if i+1 < len(s) && s[i+1] == '>' {
				// ">>12345" is a reply reference, not a quotation.
				i += 2
				continue
			}
			lineQuote = true
			i++
			continue
		case c == '"':
			if quoted {
				quoted = false
			} else if precededByReportVerb(toks, sent) {
				quoted = true
			}
			i++
			continue
		}
		if c < utf8.RuneSelf && !isWordByte(c) {
			// "$hoot": a leading dollar sign starts a word.
			if !(c == '$' && i+1 < len(s) && 'a' <= s[i+1] && s[i+1] <= 'z' && (i == 0 || !isWordByte(s[i-1]))) {
				if c != ' ' && c != '\t' && c != '\r' {
					lineStart = false
				}
				i++
				continue
			}
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				if unicode.IsSymbol(r) {
					toks = append(toks, token{s: s[i : i+size], start: int32(i), end: int32(i + size), sent: sent, flags: tokSymbol | qflag(quoted || lineQuote)})
				}
				i += size
				continue
			}
		}
		j := i
		leetInside := false
		for j < len(s) {
			c := s[j]
			if isWordByte(c) {
				j++
				continue
			}
			if c == '\'' && j+1 < len(s) && isWordByte(s[j+1]) && j > i {
				j++
				continue
			}
			if isLeet(c) && j+1 < len(s) && isWordByte(s[j+1]) && (j > i || c == '$') {
				leetInside = true
				j++
				continue
			}
			if c == '|' && j > i && j-i >= 2 {
				// Bars for "l" at a word's end: "ki||".
				k := j
				for k < len(s) && s[k] == '|' {
					k++
				}
				if k-j <= 2 && (k == len(s) || !isWordByte(s[k])) {
					j = k
					continue
				}
			}
			if c >= utf8.RuneSelf {
				r, size := utf8.DecodeRuneInString(s[j:])
				if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) {
					j += size
					continue
				}
			}
			break
		}
		t := token{s: s[i:j], start: int32(i), end: int32(j), sent: sent, flags: qflag(quoted || lineQuote)}
		if lineStart {
			t.flags |= tokLineStart
			lineStart = false
		}
		// Capitalized, not shouted: "Dana", not "WATCH".
		if o := n.orig(i); o < len(orig) && (orig[o] < utf8.RuneSelf && 'A' <= orig[o] && orig[o] <= 'Z' && (o+1 >= len(orig) || !('A' <= orig[o+1] && orig[o+1] <= 'Z')) ||
			orig[o] >= utf8.RuneSelf && capitalized(orig[o:])) {
			t.flags |= tokCap
		}
		if capI && capIInside(orig, n.orig(i), n.orig(j)) {
			t.flags |= tokCapI
		}
		if allDigits(t.s) {
			t.flags |= tokNum
		} else if w := unjoin(t.s); w != "" {
			t.s = w
			t.flags |= tokFolded
		} else if leetInside || hasInnerLeet(t.s) {
			if f := unleet(t.s); f != t.s {
				t.s = f
				t.flags |= tokFolded
			}
		}
		toks = append(toks, t)
		i = j
	}
	return mergeSpelledOut(s, toks)
}

// spelledGap reports a gap between two letters of a spelled-out word: at
// most two characters, none a line break.
func spelledGap(g string) bool {
	return len(g) <= 8 && utf8.RuneCountInString(g) <= 2 && strings.IndexByte(g, '\n') < 0
}

func qflag(q bool) uint8 {
	if q {
		return tokQuoted
	}
	return 0
}

func precededByReportVerb(toks []token, sent int32) bool {
	for k := len(toks) - 1; k >= 0 && k >= len(toks)-4; k-- {
		if toks[k].sent != sent {
			return false
		}
		if reportVerbs[toks[k].s] {
			return true
		}
	}
	return false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// hasInnerLeet reports a digit standing between letters ("k1ll", "m4k3").
func hasInnerLeet(s string) bool {
	seenLetter := false
	pending := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z':
			if pending && seenLetter {
				return true
			}
			seenLetter = true
			pending = false
		case isLeet(c):
			pending = true
		default:
			pending = false
		}
	}
	return false
}

func unleet(s string) string {
	b := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		if m := leetMap[s[i]]; m != 0 {
			b[i] = m
		} else {
			b[i] = s[i]
		}
	}
	return string(b)
}

// unjoin returns the letters of a word spelled out with underscores or
// apostrophes between single letters ("k_i_l_l", "k'i'l'l"), which the
// tokenizer keeps as one word, or "" for any other word.
func unjoin(w string) string {
	if len(w) < 5 || len(w)%2 == 0 || w[1] != '_' && w[1] != '\'' {
		return ""
	}
	b := make([]byte, 0, len(w)/2+1)
	for i := 0; i < len(w); i++ {
		c := w[i]
		if i%2 == 1 {
			if c != '_' && c != '\'' {
				return ""
			}
			continue
		}
		if c < 'a' || c > 'z' {
			return ""
		}
		b = append(b, c)
	}
	return string(b)
}

// mergeSpelledOut joins runs of three or more single letters separated by
// at most two characters of punctuation or space ("k i l l", "k.i.l.l",
// "k•i•l•l") into one token, which is how a word is hidden from keyword
// filters. The gap is counted in characters, not bytes: a bullet is one
// character of three bytes.
func mergeSpelledOut(s string, toks []token) []token {
	out := toks[:0]
	for i := 0; i < len(toks); {
		j := i
		for j < len(toks) && len(toks[j].s) == 1 && toks[j].flags&(tokNum|tokSymbol) == 0 &&
			(j == i || (spelledGap(s[toks[j-1].end:toks[j].start]) && toks[j].sent == toks[i].sent)) {
			j++
		}
		if j-i >= 3 {
			var b strings.Builder
			for k := i; k < j; k++ {
				b.WriteString(toks[k].s)
			}
			t := toks[i]
			t.s = b.String()
			t.end = toks[j-1].end
			t.flags |= tokFolded
			out = append(out, t)
			i = j
			continue
		}
		out = append(out, toks[i])
		i++
	}
	return out
}

// capitalized reports whether s starts with an upper-case letter that an
// upper-case letter does not follow: "Dana", "Élodie", "Ｄａｎａ" (a name in
// fullwidth forms), not "WATCH".
func capitalized(s string) bool {
	if c := s[0]; c < utf8.RuneSelf {
		return 'A' <= c && c <= 'Z' && (len(s) < 2 || !('A' <= s[1] && s[1] <= 'Z'))
	}
	r, size := utf8.DecodeRuneInString(s)
	if !unicode.IsUpper(r) && !unicode.IsTitle(r) {
		return false
	}
	if size >= len(s) {
		return true
	}
	next, _ := utf8.DecodeRuneInString(s[size:])
	return !unicode.IsUpper(next)
}

// capIInside reports a capital I right after a lower-case ASCII letter in
// orig[a:b].
func capIInside(orig string, a, b int) bool {
	b = min(b, len(orig))
	for k := max(a, 0) + 1; k < b; {
		j := strings.IndexByte(orig[k:b], 'I')
		if j < 0 {
			return false
		}
		k += j
		if 'a' <= orig[k-1] && orig[k-1] <= 'z' {
			return true
		}
		k++
	}
	return false
}
