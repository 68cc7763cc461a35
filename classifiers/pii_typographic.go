package classifiers

import "strings"

// typographicSeparator returns the ASCII separator that the rune at
// text[i:] stands for between the groups of a number, and its length:
// the dashes word processors and phones put there ("555–123–4567") and the
// no-break spaces web pages do. It returns 0 for anything else.
func typographicSeparator(text string, i int) (byte, int) {
	switch {
	case i+1 < len(text) && text[i] == 0xC2 && text[i+1] == 0xA0: // U+00A0
		return ' ', 2
	case i+2 < len(text) && text[i] == 0xE2 && text[i+1] == 0x80:
		switch c := text[i+2]; {
		case c >= 0x90 && c <= 0x95: // U+2010..U+2015, hyphens and dashes
			return '-', 3
		case c == 0x87 || c == 0x89 || c == 0x8A || c == 0xAF: // figure, thin, hair, narrow no-break spaces
			return ' ', 3
		}
	case i+2 < len(text) && text[i] == 0xE2 && text[i+1] == 0x88 && text[i+2] == 0x92: // U+2212, minus
		return '-', 3
	}
	return 0, 0
}

// hasTypographicSeparator reports a typographic separator right after a
// digit or a closing bracket. Most text holds neither lead byte, or holds
// them only in quotes and dashes between words: two vectorized scans and
// a look at each lead byte say so.
func hasTypographicSeparator(text string) bool {
	for _, lead := range []byte{0xE2, 0xC2} {
		for i := 0; ; {
			j := strings.IndexByte(text[i:], lead)
			if j < 0 {
				break
			}
			i += j
			if i > 0 && (isDigit(text[i-1]) || text[i-1] == ')') {
				if c, _ := typographicSeparator(text, i); c != 0 {
					return true
				}
			}
			i++
		}
	}
	return false
}

// findTypographicPhones finds the phone and social security numbers whose
// groups are set apart by typographic dashes or no-break spaces
// ("555–123–4567", "+44\u00a07700\u00a0900123"): the text is read again
// with each such separator narrowed to its ASCII form, and what is found
// is mapped back to the original bytes. Redaction only, as scoring reads
// ASCII separators.
func findTypographicPhones(text string, out []pii) []pii {
	if !hasTypographicSeparator(text) {
		return out
	}
	narrow, src := narrowed(text, func(text string, i int) (byte, int) {
		if c, size := typographicSeparator(text, i); c != 0 {
			return c, size
		}
		return 0, 0
	})
	ps := findSSNs(narrow, nil)
	// A number in two groups counts only when valid: an en dash between
	// two is more often a range ("pp. 1123–1145", "10000–20000").
	ps, _ = findPhonesWith(narrow, ps, -1, func(c string) bool {
		return validPhone(c) || phoneShaped(c) && len(digitGroups(c)) >= 3
	}, true)
	for _, p := range ps {
		out = append(out, pii{p.kind, src[p.start], src[p.end]})
	}
	return out
}
