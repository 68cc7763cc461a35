package classifiers

import (
	"unicode"
	"unicode/utf8"
)

// wideEmailLocalStart returns where the local part of an e-mail address
// that findEmails read back to a starts, reading on over non-ASCII letters
// ("josé.garcía") and over an apostrophe between letters ("jane.o'brien",
// also typographic). Stopped at them, findEmails left the first part of
// the address, often the person's name, beside the placeholder.
func wideEmailLocalStart(text string, a int) int {
	for a > 0 {
		r, size := utf8.DecodeLastRuneInString(text[:a])
		switch {
		case r < utf8.RuneSelf && isEmailLocal(byte(r)):
		case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)):
		case r == '\'' || r == '’':
			// An apostrophe counts only inside a name: "o'brien", not
			// the quote that opens "'jane@example.com'".
			if !letterBefore(text, a-size) || !letterAfter(text, a) {
				return a
			}
		default:
			return a
		}
		a -= size
	}
	return a
}

// letterBefore reports a letter or digit right before i.
func letterBefore(text string, i int) bool {
	r, _ := utf8.DecodeLastRuneInString(text[:i])
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// letterAfter reports a letter or digit at i.
func letterAfter(text string, i int) bool {
	r, _ := utf8.DecodeRuneInString(text[i:])
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}
