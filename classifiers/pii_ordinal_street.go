package classifiers

import "regexp"

// reOrdinalStreet is a house number before a street named by an ordinal,
// with or without a direction: "1234 5th Avenue", "22 W 42nd St", "400
// east 3rd street". findStreets misses them: it wants a word after the
// house number, and "5th" starts with a digit. The suffixes that also
// rank things in prose ("2 3rd place finishes", "4 1st way") count only
// capitalized.
var reOrdinalStreet = regexp.MustCompile(`\b[1-9]\d{0,5}[A-Za-z]?(?:-\d{1,5})?\s+(?:(?i:n|s|e|w|ne|nw|se|sw|north|south|east|west)\.?\s+)?\d{1,3}(?i:st|nd|rd|th)\s+(?:(?i:st|street|ave|av|avenue|rd|road|blvd|boulevard|ln|lane|dr|drive|ter|terrace|pkwy|parkway|hwy|highway)|Place|Pl|Way|Court|Ct|Circle|Cir|Square|Sq)\b`)

// ordinalTriggers are the starts of ordinals written in figures ("5th",
// "42nd", "1ST"), where reOrdinalStreet may match around.
func ordinalTriggers(text string) []int {
	var at []int
	for i := 0; i+3 <= len(text); i++ {
		if !isDigit(text[i]) {
			continue
		}
		a, b := text[i+1]|0x20, text[i+2]|0x20
		if (a == 's' && b == 't' || a == 'n' && b == 'd' || a == 'r' && b == 'd' || a == 't' && b == 'h') &&
			(i+3 == len(text) || !isAlnum(text[i+3])) {
			at = append(at, i)
		}
	}
	return at
}

// findOrdinalStreets adds the addresses on streets named by an ordinal,
// with the unit before them and the town, state and ZIP after them;
// redaction only, as the model was not trained on them.
func findOrdinalStreets(text string, out []pii) []pii {
	at := ordinalTriggers(text)
	if len(at) == 0 {
		return out
	}
	// The house number, a direction and the spaces before the ordinal
	// take at most 6+1+6+1+5+3 bytes; the ordinal and the suffix after it
	// at most 3+2+1+9, with spaces.
	for _, m := range matchesNear(text, at, 28, 24, reOrdinalStreet) {
		out = append(out, pii{KindStreetAddress, unitBefore(text, m[0]), extendAddress(text, m[1])})
	}
	return out
}
