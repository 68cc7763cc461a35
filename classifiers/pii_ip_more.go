package classifiers

import (
	"net/netip"
	"regexp"
	"strings"
)

// reDefangedIPv4 is an IPv4 address written defanged, as threat-intel
// pastes and doxes copied from them do: "192[.]0[.]2[.]1", "10(.)0(.)0(.)7",
// "192[dot]168[dot]1[dot]1", also with only some dots defanged.
var reDefangedIPv4 = regexp.MustCompile(`(?i)\b\d{1,3}(?:(?:\.|\s?[\[\(\{](?:\.|dot)[\]\)\}]\s?)\d{1,3}){3}\b`)

// defangTriggers are the places reDefangedIPv4 may match around: each
// "[.]", "(.)", "{.}" or "[dot]" right after a digit.
func defangTriggers(text string) []int {
	return byteTriggers(text, "[({", func(c int) (int, bool) {
		i, k := c+1, c
		if k > 0 && text[k-1] == ' ' {
			k--
		}
		if k == 0 || !isDigit(text[k-1]) {
			return 0, false
		}
		return k, i < len(text) && text[i] == '.' || i+3 <= len(text) && strings.EqualFold(text[i:i+3], "dot")
	})
}

// findMoreIPs adds what findIPs, which scoring uses, does not read:
// defanged IPv4 addresses, and the zone after an IPv6 address
// ("fe80::1%eth0", "%25eth0" in a URL), which names the host's interface
// and was left beside the placeholder. Redaction only, as the model was
// not trained on them.
func findMoreIPs(text string, out []pii) []pii {
	for _, p := range out {
		if p.kind != KindIPAddress || p.end >= len(text) || text[p.end] != '%' || strings.IndexByte(text[p.start:p.end], ':') < 0 {
			continue
		}
		e := p.end + 1
		for e < len(text) && (isAlnum(text[e]) || text[e] == '.' || text[e] == '_' || text[e] == '-') {
			e++
		}
		for e > p.end+1 && text[e-1] == '.' {
			e--
		}
		if e > p.end+1 {
			out = append(out, pii{KindIPAddress, p.start, e})
		}
	}
	at := defangTriggers(text)
	if len(at) == 0 {
		return out
	}
	// Three groups and their defanged dots before the trigger take at most
	// 3*(3+7) bytes; the rest of the address after it as many.
	for _, m := range matchesNear(text, at, 32, 32, reDefangedIPv4) {
		if validDefangedIPv4(text[m[0]:m[1]]) {
			out = append(out, pii{KindIPAddress, m[0], m[1]})
		}
	}
	return out
}

// validDefangedIPv4 wants a defanged dot and four groups that make an
// address: "1[.]2[.]3[.]999" is not one, and one with none was read by
// findIPs already.
func validDefangedIPv4(s string) bool {
	if !strings.ContainsAny(s, "[({") {
		return false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			b.WriteByte(c)
		case c == '.':
			if i > 0 && isDigit(s[i-1]) && i+1 < len(s) && isDigit(s[i+1]) {
				b.WriteByte('.')
			}
		case c == ']' || c == ')' || c == '}':
			b.WriteByte('.')
		}
	}
	a, err := netip.ParseAddr(b.String())
	return err == nil && a.Is4() && !a.IsUnspecified()
}
