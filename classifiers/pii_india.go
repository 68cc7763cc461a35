package classifiers

import (
	"math/bits"
	"regexp"
	"strings"
)

// rePINBefore is what comes before an Indian PIN code that says it is
// one: its word ("PIN", "pincode", "PIN code no."), or a state, union
// territory or large city ("Haryana 122001", "Mumbai - 400050"), also
// written as one word ("Tamilnadu"), with "India" after it, a colon, a
// bracket or a dash of any length between; or a state's two-letter code
// in capitals ("Noida, UP 201301"), leaving out those that are words or
// other countries' codes (AS, OR, LA, UK, CH).
var rePINBefore = regexp.MustCompile(`(?i)(?:\b(?:pin|pin ?code|postal code)(?:\s*(?:no\.?|number|is|#))?\s*[:#-]?|(?:\b(?:` + indianPlaces + `)|\b(?-i:AP|AR|BR|CG|DL|GA|GJ|HP|HR|JH|JK|KA|KL|MH|ML|MN|MP|MZ|NL|OD|PB|PY|RJ|SK|TG|TN|TR|TS|UP|WB))(?:\s*,?\s*india\b)?\s*[,:]?\s*(?:[-–—]\s*)?\(?)\s*$`)

// indianPlaces are India's states and union territories and its large
// cities, in lower case, for regular expressions.
const indianPlaces = `andhra ?pradesh|arunachal ?pradesh|assam|bihar|chhattisgarh|goa|gujarat|haryana|himachal ?pradesh|jharkhand|karnataka|kerala|madhya ?pradesh|maharashtra|manipur|meghalaya|mizoram|nagaland|odisha|orissa|punjab|rajasthan|sikkim|tamil ?nadu|telangana|tripura|uttar ?pradesh|uttarakhand|west ?bengal|delhi|chandigarh|puducherry|pondicherry|ladakh|jammu|kashmir|mumbai|bombay|bengaluru|bangalore|chennai|madras|kolkata|calcutta|hyderabad|pune|ahmedabad|jaipur|lucknow|gurgaon|gurugram|noida|kochi|cochin|indore|bhopal|nagpur|surat|patna|thane|coimbatore|visakhapatnam|vadodara`

// findPINCodes finds Indian PIN codes, six figures ("560001", also "560
// 001"), after their word or a state or city; redaction only, as the
// model was not trained on them. Six figures elsewhere are any number.
func findPINCodes(text string, out []pii) []pii {
	for i := 0; i+6 <= len(text); i++ {
		if text[i] < '1' || text[i] > '9' || i > 0 && (isAlnum(text[i-1]) || text[i-1] == '.') {
			continue
		}
		j := i
		for j < len(text) && isDigit(text[j]) {
			j++
		}
		e := -1
		switch {
		case j-i == 6:
			e = j
		case j-i == 3 && j+4 <= len(text) && text[j] == ' ' && isDigit(text[j+1]) && isDigit(text[j+2]) && isDigit(text[j+3]):
			e = j + 4
		}
		if e < 0 || e < len(text) && (isAlnum(text[e]) || text[e] == '-' && e+1 < len(text) && isDigit(text[e+1])) {
			i = j
			continue
		}
		if rePINBefore.MatchString(text[max(0, i-40):i]) {
			out = append(out, pii{KindPostalCode, i, e})
		}
		i = e
	}
	return out
}

// indianLocalityWord reports whether w, in lower case, ends the name of a
// locality or a street in India: "Lajpat Nagar", "Nehru Marg", "Shanti
// Colony", "Vasant Vihar", "HSR Layout", "Gandhi Chowk". Indian addresses
// name the locality more often than a street. english marks the words
// that are English words too ("Plymouth Colony", "Keyboard Layout"):
// without a house number those count only before a town or a PIN code. A
// switch, as a map's hash cost more than the rest of the look at a word.
func indianLocalityWord(w string) (english, ok bool) {
	switch w {
	case "nagar", "marg", "vihar", "puram", "bagh", "chowk", "gali", "salai", "peth":
		return false, true
	case "colony", "layout", "enclave":
		return true, true
	}
	return false, false
}

// reIndianHouseBefore is a house number at the end of what precedes a
// locality, with its label: "12 ", "B-12, ", "A4 ", "12/3 ", "12-3-456, ",
// "#12, ", "No. 12, ", "House No. 45, ", "H.No. 7/3, ", "flat 302, ".
// Group 1 is where it starts.
var reIndianHouseBefore = regexp.MustCompile(`(?i)(?:^|[^a-z0-9/.#-])((?:(?:house|plot|door|flat|shop|block|h\.?\s?no)\.?\s*(?:no\.?|number)?\s*[.:#]?\s*|no\.?\s*|#\s*)?(?:[a-z]{1,2}-?)?[1-9]\d{0,4}[a-z]?(?:[/-]\d{1,5}[a-z]?){0,3}),?\s+$`)

// reLocalityAfter is what may follow a locality's name: a part or a
// phase ("Lajpat Nagar II", "Lajpat Nagar-IV", "Vasant Vihar Phase 2",
// "Rajouri Garden Extension").
var reLocalityAfter = regexp.MustCompile(`^(?:[ -](?:I{1,3}|IV|V|VI)\b|\s(?:Phase|Block|Sector)\s?-?\s?(?:[IVX]{1,4}|\d{1,2})\b|\s(?:Extension|Extn\.?|East|West|North|South)\b)?`)

// reSector is a sector of a planned Indian city ("Sector 62", "Sector-
// 15A"), which stands for the locality in Noida, Gurgaon or Chandigarh.
var reSector = regexp.MustCompile(`^(?:Sector|SECTOR)\s?-?\s?[1-9]\d{0,2}[A-Z]?\b`)

// rePlaceAfter is a town or a PIN code after a locality: what tells an
// Indian locality from words of the same shape ("Sector 7 is closed").
var rePlaceAfter = regexp.MustCompile(`^(?:,\s*[A-Z][a-z]+|,?\s+(?i:` + indianPlaces + `)\b|,?\s*(?:[-–]\s*)?[1-9]\d{2} ?\d{3}\b)`)

// findIndianLocalities finds Indian addresses that name a locality: a
// house number, one to three capitalized words and a locality word
// ("B-12, Lajpat Nagar II", "21 Nehru Marg"), or a sector ("House No. 45,
// Sector 12"), with the town and PIN code after them, as [ADDRESS];
// without a house number, the locality alone ("Gandhi Nagar") as
// [STREET], a sector only before a town or a PIN code ("Sector 62,
// Noida"). Redaction only, as the model was not trained on them.
func findIndianLocalities(text string, out []pii) []pii {
	var w [8]byte
	for i := nextCapital(text, 0); i < len(text); i = nextCapital(text, i) {
		// Only a capital that starts a word can start one of the words
		// sought: skipping to the capitals, where reading every word to
		// its end made most of the cost of this rule.
		if i > 0 && isAlnum(text[i-1]) {
			i++
			continue
		}
		e := i + 1
		for e < len(text) && isAlnum(text[e]) {
			e++
		}
		if e-i < 4 || e-i > 7 {
			i = e
			continue
		}
		lw := lowerInto(w[:0], text[i:e])
		english, locality := indianLocalityWord(string(lw))
		sector := string(lw) == "sector"
		if !locality && !sector {
			i = e
			continue
		}
		start, end := i, e
		if sector {
			m := reSector.FindStringIndex(text[i:])
			if m == nil {
				i = e
				continue
			}
			end = i + m[1]
		} else {
			start = localityNameStart(text, i)
			if start == i {
				i = e
				continue
			}
			end += reLocalityAfter.FindStringIndex(text[end:])[1]
		}
		if m := reIndianHouseBefore.FindStringSubmatchIndex(text[max(0, start-40):start]); m != nil {
			out = append(out, pii{KindStreetAddress, max(0, start-40) + m[2], extendAddress(text, end)})
		} else if !(sector || english) || rePlaceAfter.MatchString(text[end:]) {
			out = append(out, pii{KindStreetName, start, end})
		}
		i = end
	}
	return out
}

// notLocalityName are capitalized words before a locality word that make
// it a person's name ("Dear Marg", "Mr Nagar") or start a sentence.
var notLocalityName = map[string]bool{
	"dear": true, "hi": true, "hey": true, "hello": true, "thanks": true, "mr": true, "mrs": true, "ms": true,
	"miss": true, "dr": true, "sir": true, "madam": true, "shri": true, "sri": true, "smt": true, "yesterday": true,
	"today": true, "tomorrow": true, "tonight": true, "then": true, "now": true, "when": true, "where": true,
}

// localityNameStart returns where the one to three capitalized words
// before the locality word at i start ("Lajpat" of "Lajpat Nagar"), or i
// when there are none: "The Colony" is no locality.
func localityNameStart(text string, i int) int {
	start := i
	for n := 0; n < 3; n++ {
		b := start
		for b > 0 && text[b-1] == ' ' {
			b--
		}
		if b == start || b == 0 {
			break
		}
		a := b
		for a > 0 && isAlnum(text[a-1]) {
			a--
		}
		if a == b || b-a < 2 || text[a] < 'A' || text[a] > 'Z' || a > 0 && (text[a-1] == '.' || text[a-1] == '-') || commonCapital[strings.ToLower(text[a:b])] || notLocalityName[strings.ToLower(text[a:b])] {
			break
		}
		lower, upper := true, true
		for k := a + 1; k < b; k++ {
			lower = lower && text[k] >= 'a' && text[k] <= 'z'
			upper = upper && text[k] >= 'A' && text[k] <= 'Z'
		}
		if !lower && !upper {
			break
		}
		start = a
	}
	return start
}

// nextCapital returns where the first ASCII capital in text at or after i
// is, or len(text). It reads eight bytes at a time: capitals are few, and
// a look at each byte made most of the cost of findIndianLocalities.
func nextCapital(text string, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(text); i += 8 {
		b := text[i : i+8]
		x := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		// A byte's high bit is set in m when the byte is under 0x80,
		// below 'Z'+1 and above 'A'-1, each test on the byte's own
		// seven low bits so that none borrows from or carries into
		// its neighbour.
		t := x &^ highs
		m := ((127+'Z'+1)*ones - t) &^ x & (t + (127-('A'-1))*ones) & highs
		if m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(text); i++ {
		if text[i]-'A' <= 'Z'-'A' {
			return i
		}
	}
	return len(text)
}
