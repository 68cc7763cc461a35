package classifiers

import (
	"regexp"
	"strings"
)

// rePlateMore is what follows the first two groups of a plate of three or
// four, as Indian, French and Dutch plates are written ("KA 01 AB 1234",
// "AB-123-CD", "7-ABC-123"): rePlate, which scoring uses, reads two groups
// and left the rest beside the placeholder.
var rePlateMore = regexp.MustCompile(`^(?:[- ][A-Z0-9]{1,4}){1,2}\b`)

// findPlateGroups extends each plate found to the groups after it;
// redaction only, as the model was not trained on them.
func findPlateGroups(text string, out []pii) []pii {
	for _, p := range out {
		if p.kind != KindPlate || p.end >= len(text) || text[p.end] != ' ' && text[p.end] != '-' {
			continue
		}
		w := text[p.end:min(len(text), p.end+12)]
		m := rePlateMore.FindStringIndex(w)
		if m == nil {
			continue
		}
		// The groups of a plate are set apart alike: "plate AB-123 ON
		// Friday" keeps its "ON".
		sep := byte(0)
		if k := strings.IndexAny(text[p.start:p.end], " -"); k >= 0 {
			sep = text[p.start+k]
		}
		// The longest run of groups that still reads as a plate.
		for e := p.end + m[1]; e > p.end; {
			if plate := text[p.start:e]; plateLike(plate) && plateGroups(plate) && onlySep(text[p.end:e], sep) && !plateStopWords[lastGroup(plate)] {
				out = append(out, pii{KindPlate, p.start, e})
				break
			}
			for e > p.end && text[e-1] != ' ' && text[e-1] != '-' {
				e--
			}
			e--
		}
	}
	return out
}

// plateGroups wants groups that read as a plate's, not as a plate and the
// words after it ("plate KA01 IS OUT"): groups of letters and groups of
// figures in turn, as the plates of several groups are written; a group
// may mix them ("MH12 AB 1234").
func plateGroups(p string) bool {
	prev := 0 // 1: letters, 2: figures, 3: both
	for i := 0; i <= len(p); {
		j := i
		kind := 0
		for j < len(p) && p[j] != ' ' && p[j] != '-' {
			if isDigit(p[j]) {
				kind |= 2
			} else {
				kind |= 1
			}
			j++
		}
		if kind == 0 || kind == prev && kind != 3 {
			return false
		}
		prev = kind
		i = j + 1
	}
	return true
}

// onlySep reports that the separators in s are all sep (any, when sep is
// 0).
func onlySep(s string, sep byte) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] == ' ' || s[i] == '-') && sep != 0 && s[i] != sep {
			return false
		}
	}
	return true
}

// plateStopWords are words written in capitals after a plate that are
// not a group of it ("plate ABC 1234 IS hers").
var plateStopWords = map[string]bool{
	"A": true, "I": true, "AM": true, "AN": true, "AND": true, "ARE": true, "AS": true, "AT": true, "BUT": true,
	"BY": true, "FOR": true, "IN": true, "IS": true, "IT": true, "LOL": true, "MY": true, "NO": true, "NOT": true,
	"OF": true, "OK": true, "ON": true, "OR": true, "SO": true, "THE": true, "TO": true, "WAS": true, "WTF": true,
	"YES": true, "OMG": true, "FYI": true, "BTW": true, "IMO": true, "HER": true, "HIS": true, "GO": true,
}

// lastGroup returns the last group of a plate.
func lastGroup(p string) string {
	return p[strings.LastIndexAny(p, " -")+1:]
}

// rePlateMore reads, after the words rePlate starts at (and the German
// "Kennzeichen"), the plates rePlate does not: German plates whose first
// groups are letters only ("B MW 1234", "M-AB 123", "HH-XY 99E", with the
// E of an electric car or the H of a historic one), which rePlate took
// for two words without a figure; and plates of ten to twelve letters and
// figures run together ("KA01AB1234"), past rePlate's nine.
var rePlateMoreForms = regexp.MustCompile(`(?i)\b(?:plates?|tags?|licen[cs]e(?: plate)?(?: number| no\.?)?|reg(?:istration)?(?: number)?|kennzeichen|nummernschild)(?:\s*(?:#|no\.?|number|is|was|reads|lautet|:|-))*\s*["']?((?-i:[A-ZÄÖÜ]{1,3}[- ][A-Z]{1,2}[- ]?[1-9]\d{0,3}[EH]?)|[A-Z0-9]{10,12})\b`)

// findMorePlates adds the plates rePlateMoreForms reads; redaction only,
// as the model was not trained on them.
func findMorePlates(text string, out []pii) []pii {
	at := foldWordTriggers(text, "plate", "tag", "licen", "reg", "kennzeichen", "nummernschild")
	for _, m := range matchesNear(text, at, 0, 48, rePlateMoreForms) {
		if p := text[m[2]:m[3]]; plateLike(p) {
			out = append(out, pii{KindPlate, m[2], m[3]})
		}
	}
	return out
}

// foldWordTriggers returns, in order, where any of words (in lower case)
// starts a word of text, in any case.
func foldWordTriggers(text string, words ...string) []int {
	var at []int
	for i := 0; i < len(text); i++ {
		if i > 0 && isAlnum(text[i-1]) || !isLetter(text[i]) {
			continue
		}
		for _, w := range words {
			if len(text)-i >= len(w) && strings.EqualFold(text[i:i+len(w)], w) {
				at = append(at, i)
				break
			}
		}
	}
	return at
}
