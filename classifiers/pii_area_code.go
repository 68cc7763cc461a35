package classifiers

// findBracketedAreaCodes extends each phone number over an area code in
// square or curly brackets right before it ("[212] 555 0147"): the phone
// finder starts a number at a round bracket only, and left the area code
// beside the placeholder. Redaction only.
func findBracketedAreaCodes(text string, out []pii) []pii {
	for _, p := range out {
		if p.kind != KindPhone || p.start < 4 {
			continue
		}
		k := p.start
		if text[k-1] == ' ' {
			k--
		}
		if c := text[k-1]; c != ']' && c != '}' && c != ')' {
			continue
		}
		k--
		d := k
		for d > 0 && isDigit(text[d-1]) {
			d--
		}
		if k-d < 2 || k-d > 5 || d == 0 {
			continue
		}
		if c := text[d-1]; c == '[' || c == '{' || c == '(' {
			out = append(out, pii{KindPhone, d - 1, p.end})
		}
	}
	return out
}
