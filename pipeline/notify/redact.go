package notify

import (
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/threatwatch/threatwatch/classifiers"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// redactText replaces personal data in s with typed placeholders. Every
// piece of alert text passes through it before any sink sees the alert.
//
// classifiers.Redact applies the same extractors the doxxing signal uses,
// so alerts and classifier snippets are redacted by the same rules; the
// fallback rules then catch what is left in forms it does not know, as a
// second line of defence (they only ever add placeholders).
func redactText(s string) string { return fallbackRedact(classifiers.Redact(s)) }

// The fallback rules: e-mail addresses, phone numbers (at least nine digits
// in the usual separators, or NNN-NNNN), and street addresses (a house
// number, up to four words, a street type). They err on the side of
// redacting: an IP address or a long reference number becomes [PHONE].
var (
	reEmail   = regexp.MustCompile(`(?i)[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}`)
	reAddress = regexp.MustCompile(`(?i)\b\d{1,6}[a-z]?\s+(?:[a-z0-9][\w'.\-]*\s+){0,4}(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|ter|circle|cir|parkway|pkwy|highway|hwy|square|sq|close|crescent|row)\b\.?(?:,?\s*(?:apt|apartment|unit|suite|ste|#)\.?\s*[\w\-]+)?`)
	rePhone   = regexp.MustCompile(`\+?\(?\d[\d\s().\-]{5,}\d`)
	reShort   = regexp.MustCompile(`\b\d{3}-\d{4}\b`)
)

func fallbackRedact(s string) string {
	if s == "" {
		return s
	}
	s = reEmail.ReplaceAllString(s, "[EMAIL]")
	s = reAddress.ReplaceAllString(s, "[ADDRESS]")
	s = rePhone.ReplaceAllStringFunc(s, func(m string) string {
		digits := 0
		for _, r := range m {
			if r >= '0' && r <= '9' {
				digits++
			}
		}
		if digits >= 9 {
			return "[PHONE]"
		}
		return m
	})
	return reShort.ReplaceAllString(s, "[PHONE]")
}

// identityLabels are labels whose values identify the alert and are, by the
// aggregator's contract, free of personal data (target is a hashed ref).
// They are kept as they are so routing, silences and fingerprints still
// work; every other label value is redacted.
var identityLabels = map[string]bool{"alertname": true, "site": true, "signal": true, "severity": true, "target": true, "rule": true}

// fingerprintAnnotations name another alert of the same episode by its
// fingerprint (an escalation and the alert it supersedes). A fingerprint
// is a hash the aggregator made, and its digit runs must not be read as a
// phone number: the link between the two would be lost.
var fingerprintAnnotations = map[string]bool{"escalates": true, "superseded_by": true}

// isFingerprint reports a lower-case hex string of a fingerprint's length.
func isFingerprint(v string) bool {
	if len(v) < 8 || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Redact returns a deep copy of a with every free-text field redacted:
// annotations, evidence snippets, thread titles and URLs, and labels other
// than the identity labels. The input is not modified.
func Redact(a *msg.Alert) *msg.Alert {
	// The texts quote the alert's own identity ("target tgt-0123456789ab"),
	// and a hashed ref can look like a phone number. Those quotes are kept
	// out of the redactor's sight and put back after.
	var keep []string
	for k, v := range a.Labels {
		if identityLabels[k] && len(v) >= 6 {
			keep = append(keep, v)
		}
	}
	sort.Slice(keep, func(i, j int) bool { return len(keep[i]) > len(keep[j]) })
	redactText := func(s string) string { return redactKeeping(s, keep) }
	c := *a
	c.Labels = make(map[string]string, len(a.Labels))
	for k, v := range a.Labels {
		if !identityLabels[k] {
			v = redactText(v)
		}
		c.Labels[k] = v
	}
	if a.Annotations != nil {
		c.Annotations = make(map[string]string, len(a.Annotations))
		for k, v := range a.Annotations {
			if !(fingerprintAnnotations[k] && isFingerprint(v)) {
				v = redactText(v)
			}
			c.Annotations[k] = v
		}
	}
	if a.Signals != nil {
		c.Signals = make(map[msg.Signal]float64, len(a.Signals))
		for k, v := range a.Signals {
			c.Signals[k] = v
		}
	}
	if a.Evidence != nil {
		c.Evidence = make([]msg.Contributor, len(a.Evidence))
		for i, e := range a.Evidence {
			e.Snippet = redactText(e.Snippet)
			e.Thread = redactText(e.Thread)
			e.URL = redactURL(e.URL, keep)
			if e.Scores != nil {
				sc := make(map[msg.Signal]float64, len(e.Scores))
				for k, v := range e.Scores {
					sc[k] = v
				}
				e.Scores = sc
			}
			c.Evidence[i] = e
		}
	}
	c.GeneratorURL = redactURL(a.GeneratorURL, keep)
	return &c
}

// redactURL redacts personal data a URL may carry in its path or query
// (forum slugs often repeat a thread title), keeping it a usable link
// where nothing was found.
//
// The host is redacted as text too: an evidence link is not always the
// monitored site's (a feed item links anywhere), and a host can be a
// victim's own address or domain. Only a loopback host is kept, which
// names no one (a forum on this machine, as in the demo). Userinfo, which
// may be a name or a password, is dropped. Percent escapes are kept whole:
// a rule that took in the "9" of "%A9" made the link invalid.
func redactURL(u string, keep []string) string {
	host := ""
	if pu, err := url.Parse(u); err == nil && pu.Host != "" && pu.Scheme != "" {
		if pu.User != nil {
			pu.User = nil
			u = pu.String()
		}
		if authority := pu.Scheme + "://" + pu.Host; loopbackHost(pu.Hostname()) && strings.HasPrefix(u, authority) {
			host, u = authority, u[len(authority):]
		}
	}
	if escapes := percentEscape.FindAllString(u, -1); len(escapes) > 0 {
		slices.Sort(escapes)
		keep = append(slices.Clip(keep), slices.Compact(escapes)...)
	}
	r := redactKeeping(u, keep)
	if r == u {
		return host + u
	}
	return host + strings.NewReplacer("[", "%5B", "]", "%5D").Replace(r)
}

var percentEscape = regexp.MustCompile(`%[0-9A-Fa-f]{2}`)

// loopbackHost reports a host name that can only mean this machine.
func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// redactKeeping redacts s except for the occurrences of keep, which are
// swapped for letter-only markers no rule matches, then restored.
func redactKeeping(s string, keep []string) string {
	if len(keep) == 0 || s == "" {
		return redactText(s)
	}
	var pairs, back []string
	for i, k := range keep {
		if !strings.Contains(s, k) {
			continue
		}
		m := "QQKEEP" + string(rune('A'+i%26)) + string(rune('A'+i/26%26)) + "QQ"
		pairs = append(pairs, k, m)
		back = append(back, m, k)
	}
	if len(pairs) == 0 {
		return redactText(s)
	}
	return strings.NewReplacer(back...).Replace(redactText(strings.NewReplacer(pairs...).Replace(s)))
}
