package classifiers

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Redaction must hide what a reader takes for a phone number even when the
// phone-number library calls it invalid (fictional 555 numbers, a local
// number without its area code), and must not eat dates or versions.
func TestRedactHidesPhoneShapedNumbersTheLibraryRejects(t *testing.T) {
	f := func(in, leak, want string) {
		t.Helper()
		got := Redact(in)
		if leak != "" && strings.Contains(got, leak) {
			t.Errorf("Redact(%q) = %q still holds %q", in, got, leak)
		}
		if !strings.Contains(got, want) {
			t.Errorf("Redact(%q) = %q, want it to contain %q", in, got, want)
		}
	}
	f("her number is 555-0142 call now", "0142", "[PHONE]")
	f("text him at (555) 014-2323", "2323", "[PHONE]")
	f("call 555.014.2323 after six", "2323", "[PHONE]")
	f("release 2.4.1 is out", "", "2.4.1")
	f("on 2026-03-01 the forum moved", "", "2026-03-01")
	f("meet on 03/01/2026 at the park", "", "03/01/2026")
	// A number whose run goes on into a word: the word's digits are not
	// the number's, and the number is still one.
	f("0 +1 (719) 555-0108 0A", "555-0108", "[PHONE]")
	f("call 719-555-0108 2nd line", "555-0108", "[PHONE]")
	// Numbers one after another make a run too long for one number.
	f("call 719-555-0108 719-555-0109", "555-01", "[PHONE] [PHONE]")
	f("numbers: 719 555 0108 719 555 0109", "0108", "[PHONE] [PHONE]")
	f("(719) 555-0110 (719) 555-0111 all night", "555-01", "[PHONE] [PHONE]")
	f("X +1 (719) 555-0108 0.0", "555-0108", "[PHONE]")
}

func TestEvidenceSnippetsHidePhoneShapedNumbers(t *testing.T) {
	c, err := New(config.Default().Classify)
	if err != nil {
		t.Fatal(err)
	}
	p := &msg.Post{Site: "s", SitePostID: "1", Text: "Jane Doe lives at 1423 Maple Street, Springfield, her number is 555-0142. Someone call in a hostage situation at her house tonight and send SWAT."}
	p.Normalize()
	s, err := c.Score(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Evidence) == 0 {
		t.Fatal("no evidence for a dox-and-swat post")
	}
	for _, ev := range s.Evidence {
		if strings.Contains(ev.Snippet, "0142") || strings.Contains(ev.Snippet, "1423 Maple") {
			t.Errorf("snippet leaks PII: %q", ev.Snippet)
		}
	}
}

// The doxxing signal reads each of several numbers written one after
// another, valid numbers only, and spends its parse budget on them.
func TestFindPhonesReadsNumbersOneAfterAnother(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"call 719-555-0108 719-555-0109 now", []string{"719-555-0108", "719-555-0109"}},
		{"numbers: 719 555 0108 719 555 0109", []string{"719 555 0108", "719 555 0109"}},
		{"0 +1 (719) 555-0108 0A", []string{"(719) 555-0108"}},
		{"call (719) 555-0108 0.0 tonight", []string{"(719) 555-0108"}},
		{"order 12345 67890 11111 22222 shipped", nil},
	} {
		ps, _ := findPhones(tc.text, nil, maxPhoneParses)
		var got []string
		for _, p := range ps {
			got = append(got, tc.text[p.start:p.end])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("findPhones(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}
