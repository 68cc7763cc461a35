package api

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Redactor replaces personal data in text with typed placeholders
// ("[ADDRESS]", "[PHONE]", "[EMAIL]"). The serve command passes the
// classifiers' redactor; FallbackRedact is used when none is given.
type Redactor func(string) string

var (
	reEmail = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)
	reURL   = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"']+`)
	reAddr  = regexp.MustCompile(`(?i)\b\d{1,6}[A-Za-z]?\s+(?:[A-Za-z][A-Za-z'.\-]*\s+){0,4}(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|court|ct|way|place|pl|terrace|ter|circle|cir|parkway|pkwy|highway|hwy|square|sq|crescent|close|row|alley)\b\.?(?:\s*(?:apt|apartment|unit|suite|#)\s*\w+)?`)
	rePhone = regexp.MustCompile(`(?:\+|\b)\d(?:[\s().\-]*\d){6,14}\b`)
	reIPv4  = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}\b`)
	reSSN   = regexp.MustCompile(`\b\d{3}-\d{2}-\d{4}\b`)
	reCard  = regexp.MustCompile(`\b(?:\d[ \-]?){13,19}\b`)
	reZip   = regexp.MustCompile(`\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b`)
	reGeo   = regexp.MustCompile(`-?\d{1,3}\.\d{4,}\s*,\s*-?\d{1,3}\.\d{4,}`)
)

// FallbackRedact is a conservative pattern redactor: emails, URLs, street
// addresses, coordinates, phone and card numbers, IPv4 addresses, US SSNs
// and UK postcodes. It cannot find names; the console therefore never shows
// free text to viewers at all.
func FallbackRedact(s string) string {
	if s == "" {
		return s
	}
	s = reEmail.ReplaceAllString(s, "[EMAIL]")
	s = reURL.ReplaceAllString(s, "[URL]")
	s = reGeo.ReplaceAllString(s, "[LOCATION]")
	s = reAddr.ReplaceAllString(s, "[ADDRESS]")
	s = reIPv4.ReplaceAllString(s, "[IP]")
	s = reSSN.ReplaceAllString(s, "[ID]")
	s = reCard.ReplaceAllString(s, "[NUMBER]")
	s = rePhone.ReplaceAllString(s, "[PHONE]")
	s = reZip.ReplaceAllString(s, "[POSTCODE]")
	return s
}

// Redaction levels, as reported in responses.
const (
	RedactFull = "full" // viewer: no free text at all
	RedactPII  = "pii"  // responder: personal data replaced by placeholders
	RedactNone = "none" // analyst: raw
)

func redactionFor(role string) string {
	switch role {
	case config.RoleAnalyst:
		return RedactNone
	case config.RoleResponder:
		return RedactPII
	}
	return RedactFull
}

// urlOrigin keeps only scheme and host: a path can carry a name.
func urlOrigin(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + "/"
}

// shapeContributors returns contributors as the role may see them.
func shapeContributors(cs []msg.Contributor, mode string, red Redactor) []msg.Contributor {
	if len(cs) == 0 || mode == RedactNone {
		return cs
	}
	out := make([]msg.Contributor, len(cs))
	for i, c := range cs {
		c.Snippet, c.Thread, c.URL = redactField(c.Snippet, mode, red), redactField(c.Thread, mode, red), ""
		if mode == RedactPII {
			c.URL = urlOrigin(cs[i].URL)
			c.ThreadID = red(c.ThreadID)
		} else {
			c.ThreadID = ""
		}
		out[i] = c
	}
	return out
}

func redactField(s, mode string, red Redactor) string {
	switch {
	case s == "":
		return ""
	case mode == RedactFull:
		return "[REDACTED]"
	case mode == RedactPII:
		return red(s)
	}
	return s
}

// safeLabels are label names whose values are identifiers the pipeline
// chose, shown as they are.
var safeLabels = map[string]bool{"alertname": true, "site": true, "signal": true, "severity": true}

// shapeLabels pseudonymizes the target and redacts any other free label;
// viewers get no free label at all. A label outside the fixed set is
// whatever a rule or an operator wrote, and no pattern finds a name in it:
// like free annotations, viewers do not get it even with placeholders.
func shapeLabels(l map[string]string, mode string, red Redactor) map[string]string {
	if mode == RedactNone || l == nil {
		return l
	}
	out := make(map[string]string, len(l))
	for k, v := range l {
		switch {
		case k == "target":
			out[k] = TargetID(v)
		case safeLabels[k]:
			out[k] = v
		case mode == RedactPII:
			out[k] = red(v)
		}
	}
	return out
}

// numericAnnotations are annotation keys whose values are numbers or
// named levels: viewers get only these, as free text may carry a name no
// pattern can find.
var numericAnnotations = map[string]bool{"level": true, "baseline": true, "score": true, "threat_level": true}

func shapeAnnotations(a map[string]string, mode string, red Redactor) map[string]string {
	if mode == RedactNone || a == nil {
		return a
	}
	out := make(map[string]string, len(a))
	for k, v := range a {
		switch {
		case mode == RedactPII:
			out[k] = red(v)
		case numericAnnotations[k]:
			out[k] = red(v)
		}
	}
	return out
}

// shapeMatcher shows a silence matcher. Viewers see a value only when
// known says it is an identifier the pipeline itself writes for that label
// (or a target pseudonym): a matcher is typed by a responder, and
// site="<a name>" is free text like any other.
func shapeMatcher(m string, name, value string, mode string, red Redactor, known func(name, value string) bool) string {
	switch {
	case mode == RedactNone:
		return m
	case mode == RedactPII:
		return red(m)
	case isTargetHash(value) || safeLabels[name] && known(name, value):
		return red(m)
	}
	return strings.Replace(m, strconv.Quote(value), `"[REDACTED]"`, 1)
}
