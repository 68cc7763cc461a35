package classifiers

import (
	"net/netip"
	"regexp"
	"slices"
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
// defanged IPv4 addresses, IPv4 addresses with leading zeros, with spaced
// dots or with commas (findSpacedIPv4), IPv6
// addresses and prefixes ending in "::", and the zone after an IPv6 address
// ("fe80::1%eth0", "%25eth0" in a URL), which names the host's interface
// and was left beside the placeholder. Redaction only, as the model was
// not trained on them.
func findMoreIPs(text string, runs []int, out []pii) []pii {
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
	out = findSpacedIPv4(text, runs, out)
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

// ipWords are the words before an address that say it is an IP address.
// Words such as "server" or "address" also count users and houses.
var ipWords = map[string]bool{
	"ip": true, "ips": true, "ipv4": true, "router": true, "gateway": true, "vpn": true, "proxy": true, "dns": true,
}

// ipWordBefore reports one of ipWords among the words in the 24 bytes
// before i, as a whole word ("tip" is not "ip").
func ipWordBefore(text string, i int) bool {
	a := max(0, i-24)
	for k := a; k < i; {
		if !isAlnum(text[k]) {
			k++
			continue
		}
		e := k
		for e < i && isAlnum(text[e]) {
			e++
		}
		if (k == 0 || !isAlnum(text[k-1])) && ipWords[strings.ToLower(text[k:e])] {
			return true
		}
		k = e
	}
	return false
}

// findSpacedIPv4 finds IPv4 addresses written with spaces around their
// dots ("192 . 168 . 1 . 20") or with commas for dots ("192,168,1,20"),
// which findIPs reads as four numbers. Commas also make lists, so a run
// with commas counts only written tight, out of order, with a figure over
// 100 ("10,20,30,40", "5,3,8,1" and the scores "85,92,100,78" are lists),
// and with no group
// of a number with thousands separators ("1,000,000,000") or currency
// before it. Spaced dots need a figure of 10 or more ("1. 2. 3. 4." is a
// numbered list). Any other spacing, spaced commas or spaces alone, counts
// only after a word like "ip" or "router". Four figures in a longer run of
// them are a list. Phone numbers found within such an address are dropped:
// the address is the better name for it. runs are where the runs of
// figures in text start (digitRunStarts): an address starts at one, and
// reading them spares a look at every byte.
func findSpacedIPv4(text string, runs []int, out []pii) []pii {
	n := len(out)
	sepEnd := func(j int) (int, byte, bool) {
		k, c, space := j, byte(' '), false
		for k < len(text) && (text[k] == ' ' || text[k] == '\t') {
			k, space = k+1, true
		}
		if k < len(text) && (text[k] == '.' || text[k] == ',') {
			c = text[k]
			k++
			for k < len(text) && (text[k] == ' ' || text[k] == '\t') {
				k, space = k+1, true
			}
		}
		return k, c, space
	}
	next := 0 // where the last four groups read end: no address starts inside them
	for _, i := range runs {
		if i < next || i > 0 && (isAlnum(text[i-1]) || text[i-1] == '.' || text[i-1] == ',') {
			continue
		}
		// A run of figures before, set apart the same way: a list.
		b := i
		for b > 0 && (text[b-1] == ' ' || text[b-1] == '\t') {
			b--
		}
		if b > 0 && isDigit(text[b-1]) {
			continue
		}
		var g [4]int
		var seps [3]byte
		spaced, j, ok := false, i, true
		for k := 0; k < 4 && ok; k++ {
			e, v := j, 0
			for e < len(text) && e-j < 4 && isDigit(text[e]) {
				v = v*10 + int(text[e]-'0')
				e++
			}
			if e == j || e-j > 3 || v > 255 || e-j > 1 && text[j] == '0' {
				ok = false
				break
			}
			g[k], j = v, e
			if k == 3 {
				break
			}
			s, c, sp := sepEnd(j)
			if s == j || s >= len(text) || !isDigit(text[s]) {
				ok = false
				break
			}
			seps[k], spaced, j = c, spaced || sp, s
		}
		if !ok {
			continue
		}
		next = j
		if j < len(text) && isAlnum(text[j]) {
			continue
		}
		if s, c, sp := sepEnd(j); s < len(text) && isDigit(text[s]) && (c == seps[2] || c == ' ' && sp) {
			// Figures go on after the fourth: a list.
			continue
		}
		if !spacedIPv4(text, i, g, seps, spaced) {
			continue
		}
		out = append(out, pii{KindIPAddress, i, j})
	}
	if len(out) == n {
		return out
	}
	added := slices.Clone(out[n:])
	return slices.DeleteFunc(out, func(p pii) bool {
		if p.kind != KindPhone {
			return false
		}
		for _, a := range added {
			if a.start <= p.start && p.end <= a.end {
				return true
			}
		}
		return false
	})
}

// spacedIPv4 judges four figures g at i, set apart by seps (each '.', ','
// or ' '), spaced or not, as findSpacedIPv4 describes.
func spacedIPv4(text string, i int, g [4]int, seps [3]byte, spaced bool) bool {
	if g[0] == 0 {
		return false
	}
	if ipWordBefore(text, i) {
		return true
	}
	same := seps[0] == seps[1] && seps[1] == seps[2]
	switch {
	case same && seps[0] == '.' && spaced:
		return max(g[0], g[1], g[2], g[3]) >= 10
	case same && seps[0] == ',' && !spaced:
		for _, cur := range []string{"$", "€", "£", "¥", "₹"} {
			if strings.HasSuffix(text[:i], cur) {
				return false
			}
		}
		up := g[0] <= g[1] && g[1] <= g[2] && g[2] <= g[3]
		down := g[0] >= g[1] && g[1] >= g[2] && g[2] >= g[3]
		return !up && !down && max(g[0], g[1], g[2], g[3]) > 100
	}
	return false
}
