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
// defanged IPv4 addresses, IPv4 addresses with leading zeros, IPv6
// addresses and prefixes ending in "::", and the zone after an IPv6 address
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
	out = findIPv6DoubleColonEnd(text, out)
	out = findZeroPaddedIPv4(text, out)
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

// findIPv6DoubleColonEnd finds IPv6 addresses and prefixes that end in
// "::" ("2001:db8::", "2001:db8:85a3::/48"): findIPs trims a colon at the
// end as punctuation, and what is left is no address. Two groups or more
// before the "::", one with a figure, as "Foo::Bar::" and "std::" in code
// have neither.
func findIPv6DoubleColonEnd(text string, out []pii) []pii {
	for i := 0; ; {
		k := strings.Index(text[i:], "::")
		if k < 0 {
			return out
		}
		k += i
		e := k + 2
		i = e
		if e < len(text) && (isAlnum(text[e]) || text[e] == ':' || text[e] == '%') {
			continue
		}
		s := k
		for s > 0 && (isHex(text[s-1]) || text[s-1] == ':') {
			s--
		}
		if s == k || s > 0 && (isAlnum(text[s-1]) || text[s-1] == '.' || text[s-1] == '_') {
			continue
		}
		cand := text[s:e]
		if strings.Count(cand, ":") < 3 || !hasDigit(cand) {
			continue
		}
		if a, err := netip.ParseAddr(cand); err == nil && a.Is6() && !a.IsUnspecified() {
			out = append(out, pii{KindIPAddress, s, e})
		}
	}
}

// findZeroPaddedIPv4 finds IPv4 addresses written with leading zeros
// ("203.0.113.045", "192.168.001.010"), which the address parser refuses:
// four groups of one to three figures set apart by dots, each at most
// 255, one with a leading zero.
func findZeroPaddedIPv4(text string, out []pii) []pii {
	for i := 0; i < len(text); i++ {
		if !isDigit(text[i]) || i > 0 && (isAlnum(text[i-1]) || text[i-1] == '.') {
			continue
		}
		j, groups, padded := i, 0, false
		for groups < 4 {
			k, v := j, 0
			for k < len(text) && k-j < 4 && isDigit(text[k]) {
				v = v*10 + int(text[k]-'0')
				k++
			}
			if k == j || k-j > 3 || v > 255 {
				break
			}
			padded = padded || k-j > 1 && text[j] == '0'
			groups++
			j = k
			if groups < 4 {
				if j+1 >= len(text) || text[j] != '.' || !isDigit(text[j+1]) {
					break
				}
				j++
			}
		}
		if groups == 4 && padded && (j == len(text) || !isAlnum(text[j]) && !(text[j] == '.' && j+1 < len(text) && isDigit(text[j+1]))) {
			out = append(out, pii{KindIPAddress, i, j})
		}
		for i < len(text) && (isDigit(text[i]) || text[i] == '.') {
			i++
		}
	}
	return out
}
