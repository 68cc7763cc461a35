package classifiers

import (
	"regexp"
	"strings"
)

// reDMSMore finds coordinates in degrees that reDMS, which scoring uses,
// does not read: minutes with decimals, as GPS units and geocachers write
// them ("40°26.767′N 79°58.933′W", "N 40° 26.767 W 079° 58.933"), the
// hemisphere before the figures ("N40°26'46\" W79°58'56\""), and a "+"
// between latitude and longitude, as in a shared map link. Minutes are
// required: "N 40° is too steep" and "40°C" are not places.
var reDMSMore = regexp.MustCompile(`\d{1,2}°\s?\d{1,2}(?:\.\d+)?['′]?\s?(?:\d{1,2}(?:\.\d+)?["″]\s?)?[NS][,;+\s]*\d{1,3}°\s?\d{1,2}(?:\.\d+)?['′]?\s?(?:\d{1,2}(?:\.\d+)?["″]\s?)?[EW]\b|\b[NS]\s?\d{1,2}°\s?\d{1,2}(?:\.\d+)?['′]?(?:\s?\d{1,2}(?:\.\d+)?["″])?[,;+\s]*[EW]\s?\d{1,3}°\s?\d{1,2}(?:\.\d+)?['′]?(?:\s?\d{1,2}(?:\.\d+)?["″])?`)

// findDMSCoords adds the coordinates reDMSMore finds, also in a link that
// percent-encodes them ("40%C2%B026'46.0%22N+79%C2%B058'56.0%22W", as a
// dropped map pin is shared); redaction only, as the model was not trained
// on them.
func findDMSCoords(text string, out []pii) []pii {
	if strings.Contains(text, "°") {
		out = findRegexp(text, reDMSMore, KindCoordinates, nil, out)
	}
	if strings.IndexByte(text, '%') >= 0 && (strings.Contains(text, "%C2%B0") || strings.Contains(text, "%c2%b0")) {
		out = findPercentEncodedWith(text, out, func(d string) []pii {
			return findRegexp(d, reDMSMore, KindCoordinates, nil, nil)
		})
	}
	return out
}
