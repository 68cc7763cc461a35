package classifiers

import (
	"regexp"
	"slices"
	"strings"
)

// reSpelledEmail is an e-mail address with its "@" written out as a bare
// word, and its dots as "dot" or "." ("jane dot roe at gmail dot com",
// "janeroe at example.com"), ending in a common top-level domain: the way
// addresses are posted to get past filters, with no brackets to mark them
// (reObfuscatedEmail needs "(at)" or "[dot]").
var reSpelledEmail = regexp.MustCompile(`(?i)\b[a-z0-9][a-z0-9._+-]*(?:\s+dot\s+[a-z0-9][a-z0-9_+-]*)*\s+at\s+[a-z0-9][a-z0-9-]*(?:(?:\s+dot\s+|\.)[a-z0-9][a-z0-9-]*)*(?:\s+dot\s+|\.)(?:` + spelledTLDs + `)\b`)

// spelledTLDs are the top-level domains an address with its dots written
// out must end in: "dot com" is an address, "dot matrix" is not.
const spelledTLDs = `com|org|net|edu|gov|mil|info|biz|io|co|me|us|uk|ca|au|de|fr|nl|it|es|ru|jp|ch|se|no|dk|fi|pl|be|at|ie|nz|in|br|mx|xyz|online|email|mail`

// reAtSpelledDots is an address with a real "@" and its dots written out
// or set apart by spaces ("jane@gmail dot com", "jane @ gmail . com"),
// which findEmails reads as an address without a domain, and
// reSpelledEmail, wanting the word "at", not at all.
var reAtSpelledDots = regexp.MustCompile(`(?i)\b[a-z0-9][a-z0-9._%+-]*\s?@\s?[a-z0-9][a-z0-9-]*(?:(?:\s*\.\s*|\s+dot\s+)[a-z0-9][a-z0-9-]*)*(?:\s+\.\s*|\s*\.\s+|\s+dot\s+)(?:` + spelledTLDs + `)\b`)

// notALocalPart are words that stand before "at" in prose ("look at
// example.com", "mad at reddit dot com"): a sentence, not an address.
var notALocalPart = map[string]bool{
	"look": true, "looking": true, "looked": true, "looks": true, "stare": true, "staring": true, "glance": true,
	"laugh": true, "laughing": true, "mad": true, "angry": true, "good": true, "bad": true, "great": true,
	"is": true, "was": true, "are": true, "were": true, "be": true, "been": true, "am": true,
	"it": true, "this": true, "that": true, "me": true, "us": true, "him": true, "her": true, "them": true, "you": true,
	"here": true, "there": true, "up": true, "out": true, "back": true, "over": true, "posted": true, "post": true,
	"work": true, "works": true, "worked": true, "working": true, "met": true, "meet": true, "live": true, "lives": true,
	"found": true, "find": true, "check": true, "see": true, "seen": true, "saw": true, "read": true, "arrive": true, "arrived": true,
	"go": true, "went": true, "hosted": true, "available": true, "online": true, "anyone": true, "someone": true,
	"and": true, "or": true, "but": true, "not": true, "only": true, "also": true, "even": true, "just": true, "site": true, "website": true,
}

// spelledEmailTriggers are the places reSpelledEmail may match around:
// each " at " (any case) whose next word is followed at once by a "."
// and a letter, or by " dot ": "at gmail.com", "at gmail dot com". A
// looser test (a "." anywhere after) ran the regexp around most "at"s of
// English prose, which end their sentence soon after.
func spelledEmailTriggers(text string) []int {
	var at []int
	// Three vectorized searches beat a loop over every byte.
	for _, word := range []string{"at ", "AT ", "At "} {
		for i := 1; i < len(text); {
			j := strings.Index(text[i:], word)
			if j < 0 {
				break
			}
			i += j
			if isSpaceByte(text[i-1]) {
				k := i + 3
				for k < len(text) && isSpaceByte(text[k]) {
					k++
				}
				w := k
				for k < len(text) && (isAlnum(text[k]) || text[k] == '-') {
					k++
				}
				if k > w && domainGoesOn(text[k:]) {
					at = append(at, i)
				}
			}
			i += 3
		}
	}
	slices.Sort(at)
	return at
}

// domainGoesOn reports whether s, what follows a word, goes on as a
// domain: a "." and a letter or digit, or " dot " (any case).
func domainGoesOn(s string) bool {
	if len(s) >= 2 && s[0] == '.' && isAlnum(s[1]) {
		return true
	}
	j := 0
	for j < len(s) && isSpaceByte(s[j]) {
		j++
	}
	return j > 0 && j+4 <= len(s) && s[j]|0x20 == 'd' && s[j+1]|0x20 == 'o' && s[j+2]|0x20 == 't' && isSpaceByte(s[j+3])
}

// validSpelledEmail refuses a match whose word before "at" is prose.
func validSpelledEmail(text string, m []int) bool {
	s := strings.ToLower(text[m[0]:m[1]])
	k := strings.Index(s, " at ")
	for k >= 0 && !isAtWord(s, k) {
		n := strings.Index(s[k+1:], " at ")
		if n < 0 {
			k = -1
			break
		}
		k += 1 + n
	}
	if k < 0 {
		// "at" after other spaces (tabs, two spaces): take the last word
		// before the first "at" word.
		fields := strings.Fields(s)
		for i, f := range fields {
			if f == "at" && i > 0 {
				return !notALocalPart[fields[i-1]]
			}
		}
		return false
	}
	fields := strings.Fields(s[:k])
	return len(fields) > 0 && !notALocalPart[fields[len(fields)-1]]
}

func isAtWord(s string, k int) bool { return k+3 < len(s) && s[k+1:k+3] == "at" }

// findSpelledEmails adds the addresses reSpelledEmail finds; redaction
// only: scoring leaves them out, as the bare word "at" is too common to
// count toward a dox.
func findSpelledEmails(text string, out []pii) []pii {
	return findNear(text, spelledEmailTriggers(text), 96, 128, reSpelledEmail, KindEmail, validSpelledEmail, out)
}

// findAtSpelledDots adds the addresses reAtSpelledDots finds; redaction
// only, as scoring was not trained on them.
func findAtSpelledDots(text string, out []pii) []pii {
	var at []int
	for i := 0; ; i++ {
		k := strings.IndexByte(text[i:], '@')
		if k < 0 {
			break
		}
		i += k
		at = append(at, i)
	}
	return findNear(text, at, 64, 64, reAtSpelledDots, KindEmail, nil, out)
}
