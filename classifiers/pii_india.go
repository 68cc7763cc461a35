package classifiers

import "regexp"

// rePINBefore is what comes before an Indian PIN code that says it is
// one: its word ("PIN", "pincode", "PIN code no."), or a state, union
// territory or large city ("Haryana 122001", "Mumbai - 400050").
var rePINBefore = regexp.MustCompile(`(?i)(?:\b(?:pin|pin ?code|postal code)(?:\s*(?:no\.?|number|is|#))?\s*[:#-]?|\b(?:andhra pradesh|arunachal pradesh|assam|bihar|chhattisgarh|goa|gujarat|haryana|himachal pradesh|jharkhand|karnataka|kerala|madhya pradesh|maharashtra|manipur|meghalaya|mizoram|nagaland|odisha|orissa|punjab|rajasthan|sikkim|tamil nadu|telangana|tripura|uttar pradesh|uttarakhand|west bengal|delhi|chandigarh|puducherry|pondicherry|ladakh|jammu|kashmir|mumbai|bombay|bengaluru|bangalore|chennai|madras|kolkata|calcutta|hyderabad|pune|ahmedabad|jaipur|lucknow|gurgaon|gurugram|noida|kochi|cochin|indore|bhopal|nagpur|surat|patna|thane|coimbatore|visakhapatnam|vadodara)\s*,?\s*(?:[-–]\s*)?)\s*$`)

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
