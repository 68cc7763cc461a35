package alert

import (
	"regexp"
	"testing"
)

// RedactNames must do what the pattern `(?i)@?NAME` replaced with [TARGET]
// did, which it replaced for speed.
func TestRedactNamesMatchesThePatternItReplaced(t *testing.T) {
	f := func(s string, names ...string) {
		t.Helper()
		want := s
		for _, n := range names {
			if len(n) >= 3 {
				want = regexp.MustCompile(`(?i)@?`+regexp.QuoteMeta(n)).ReplaceAllString(want, "[TARGET]")
			}
		}
		if got := RedactNames(s, names); got != want {
			t.Errorf("RedactNames(%q, %q) = %q, want %q", s, names, got, want)
		}
	}
	f("Jane Doe lives here, jane doe again, JANE DOE", "Jane Doe")
	f("ping @streamerjane and @StreamerJane@streamerjane", "streamerjane")
	f("no names here", "Someone")
	f("Ünïcödé ÜNÏCÖDÉ name", "ünïcödé")
	f("İstanbul resident İSTANBUL", "istanbul")
	f("short", "ab")
	f("a@@jane", "jane")
}

func TestRedactSkipsTextWithNothingToFind(t *testing.T) {
	in := "[PERSON] lives at [ADDRESS], call [PHONE]"
	if got := Redact(in); got != in {
		t.Fatalf("Redact changed %q to %q", in, got)
	}
	if got := Redact("mail a.b@c.example or 10.0.0.1"); got != "mail [EMAIL] or [IP]" {
		t.Fatalf("Redact = %q", got)
	}
}
