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

// findFullwidth finds personal data written in fullwidth forms
// ("５４１-５５５-０１３７", "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"), as an East Asian
// keyboard types them or a poster does to slip past filters. The
// extractors read ASCII digits and punctuation; the text is read again
// with every fullwidth character narrowed, and what is found there is
// mapped back to the fullwidth bytes.
func findFullwidth(text string, out []pii) []pii {
	var b strings.Builder
	b.Grow(len(text))
	src := make([]int, 0, len(text)+1)
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			b.WriteByte(byte(r - 0xFEE0))
			src = append(src, i)
		case r == 0x3000:
			b.WriteByte(' ')
			src = append(src, i)
		default:
			// Kept byte for byte, each mapped to itself.
			b.WriteString(text[i : i+size])
			for k := 0; k < size; k++ {
				src = append(src, i+k)
			}
		}
		i += size
	}
	src = append(src, len(text))
	narrow := b.String()
	n := normalize(narrow)
	ps, _ := findPIIIn(narrow, &n, tokenize(&n, narrow, nil), nil, maxPhoneParses)
	for _, p := range ps {
		out = append(out, pii{p.kind, src[p.start], src[p.end]})
	}
	return out
}
