package classifiers

import (
	"strings"
	"unicode/utf8"
)

// hasFullwidth reports whether text holds a fullwidth form of an ASCII
// character (U+FF01..U+FF5E, UTF-8 EF BC 81..EF BD 9E) or the ideographic
// space (U+3000), and something the extractors need (a digit or an "@",
// either width). Chinese and Japanese text is full of fullwidth
// punctuation ("，", "（"); without a digit or an "@" nothing the second
// reading could find is there, and it is not worth its cost.
func hasFullwidth(text string) bool {
	// Most text holds neither lead byte: two vectorized scans say so.
	if strings.IndexByte(text, 0xEF) < 0 && strings.IndexByte(text, 0xE3) < 0 {
		return false
	}
	wide, need := false, hasDigit(text) || strings.IndexByte(text, '@') >= 0
	for i := 0; i+2 < len(text) && !(wide && need); i++ {
		switch text[i] {
		case 0xEF:
			switch c := text[i+1]; {
			case c == 0xBC:
				wide = true
				// Fullwidth digits are EF BC 90..99, "＠" EF BC A0.
				if d := text[i+2]; d >= 0x90 && d <= 0x99 || d == 0xA0 {
					need = true
				}
			case c == 0xBD:
				wide = true
			}
		case 0xE3:
			if text[i+1] == 0x80 && text[i+2] == 0x80 {
				wide = true
			}
		}
	}
	return wide && need
}

// narrowed is text with the characters narrow maps (to an ASCII byte, and
// the character's size) replaced by that byte, and for each byte of it the
// offset in text it came from (one more at the end): what is found in the
// narrowed text is mapped back to the original bytes.
func narrowed(text string, narrow func(text string, i int) (byte, int)) (string, []int) {
	var b strings.Builder
	b.Grow(len(text))
	src := make([]int, 0, len(text)+1)
	for i := 0; i < len(text); {
		if c, size := narrow(text, i); size > 0 {
			b.WriteByte(c)
			src = append(src, i)
			i += size
			continue
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		b.WriteString(text[i : i+size])
		for k := 0; k < size; k++ {
			src = append(src, i+k)
		}
		i += size
	}
	return b.String(), append(src, len(text))
}

// findFullwidth finds personal data written in fullwidth forms
// ("５４１-５５５-０１３７", "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"), as an East Asian
// keyboard types them or a poster does to slip past filters. The
// extractors read ASCII digits and punctuation; the text is read again
// with every fullwidth character narrowed, and what is found there is
// mapped back to the fullwidth bytes.
func findFullwidth(text string, out []pii) []pii {
	narrow, src := narrowed(text, func(text string, i int) (byte, int) {
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			return byte(r - 0xFEE0), size
		case r == 0x3000:
			return ' ', size
		}
		return 0, 0
	})
	n := normalize(narrow)
	ps, _ := findPIIIn(narrow, &n, tokenize(&n, narrow, nil), nil, maxPhoneParses)
	for _, p := range ps {
		out = append(out, pii{p.kind, src[p.start], src[p.end]})
	}
	return out
}
