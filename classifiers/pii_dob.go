package classifiers

import (
	"regexp"
	"strings"
)

// reDOBMore finds the dates of birth that reDOB, which scoring uses, does
// not read: year first with slashes or dots ("dob 1990/03/14"), the
// month's name between dashes or with a two-figure year ("14-Mar-1990",
// "14 Mar 90"), "the 14th of March, 1990", a label followed by "=" or
// "D.O.B.:", and eight figures run together right after the label ("dob:
// 03141990").
var reDOBMore = regexp.MustCompile(`(?i)\b(?:dob|d\.o\.b|date of birth|born|birthday|bday|b-day|birth[ -]?date)\b[.:=\s\-]*(?:is\s+|was\s+|on\s+)?(?:the\s+)?(\d{4}[/.\-]\d{1,2}[/.\-]\d{1,2}\b|\d{1,2}(?:st|nd|rd|th)?(?:\s+of\s+|[\s-]+)(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,?[\s-]+(?:\d{4}|\d{2})\b|\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})\b|[01]\d[0-3]\d(?:19|20)\d\d\b|(?:19|20)\d\d[01]\d[0-3]\d\b)`)

// dobTriggers are the starts of the words reDOBMore starts with: every one
// holds a "b", which two vectorized scans find. Searching the normalized
// text for each word, as findDOBs does, cost redaction 7% more.
func dobTriggers(text string) []int {
	return byteTriggers(text, "bB", func(i int) (int, bool) {
		// Most "b"s start or end no such word: one look at their
		// neighbours says so.
		prev, next := byte(0), byte(0)
		if i > 0 {
			prev = text[i-1] | 0x20
		}
		if i+1 < len(text) {
			next = text[i+1] | 0x20
		}
		if prev != 'o' && prev != '.' && next != 'o' && next != 'i' && next != 'd' && next != '-' {
			return 0, false
		}
		s := -1
		switch {
		case i >= 2 && strings.EqualFold(text[i-2:i+1], "dob"):
			s = i - 2
		case i >= 4 && strings.EqualFold(text[i-4:i+1], "d.o.b"):
			s = i - 4
		case hasPrefixFold(text[i:], "birth"):
			s = i
			if i >= 8 && strings.EqualFold(text[i-8:i], "date of ") {
				s = i - 8
			}
		case hasPrefixFold(text[i:], "born"), hasPrefixFold(text[i:], "bday"), hasPrefixFold(text[i:], "b-day"):
			s = i
		}
		// Every date reDOBMore reads has a figure within its window.
		return s, s >= 0 && (s == 0 || !isAlnum(text[s-1])) && hasDigit(text[s:min(len(text), s+60)])
	})
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// findMoreDOBs adds the dates of birth reDOBMore finds; redaction only,
// as the model was not trained on them.
func findMoreDOBs(text string, out []pii) []pii {
	for _, m := range matchesNear(text, dobTriggers(text), 0, 60, reDOBMore) {
		out = append(out, pii{KindDOB, m[2], m[3]})
	}
	return out
}
