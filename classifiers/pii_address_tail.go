package classifiers

import "regexp"

// reDirectionAfter is a direction written after the street, as Canadian
// and some US addresses are ("100 Queen St W", "Main Street North"), with
// the full stop of an abbreviated suffix before it ("Queen St. W").
var reDirectionAfter = regexp.MustCompile(`^\.?\s(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\b\.?`)

// reDirectionEnds is a direction at the end of an address found.
var reDirectionEnds = regexp.MustCompile(`\s(?:NE|NW|SE|SW|North|South|East|West)$`)

// findAddressTails extends each address found over a direction after the
// street, and over the full stop after an abbreviated suffix when a comma
// follows ("1234 Elm St., Springfield"), and then over the town, state and
// postcode after them: reAddrTail, which scoring uses, stopped at either,
// and left the town and postcode in clear. Redaction only, as the model
// was not trained on them.
func findAddressTails(text string, out []pii) []pii {
	for _, p := range out {
		if p.kind != KindStreetAddress || p.end >= len(text) {
			continue
		}
		e := p.end
		if reDirectionEnds.MatchString(text[max(p.start, e-7):e]) {
			// reAddrTail took the direction for the town ("Main Street
			// North, Springfield") and stopped: the town comes after.
			if t := extendAddress(text, e); t > e {
				out = append(out, pii{KindStreetAddress, p.start, t})
				continue
			}
		}
		if m := reDirectionAfter.FindStringIndex(text[e:min(len(text), e+8)]); m != nil {
			e += m[1]
		}
		// A full stop with a comma after it ends an abbreviation, not a
		// sentence.
		if e+1 < len(text) && text[e] == '.' && text[e+1] == ',' {
			e++
		}
		if e > p.end {
			out = append(out, pii{KindStreetAddress, p.start, extendAddress(text, e)})
		}
	}
	return out
}
