package classifiers

import (
	"context"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// unchanged checks that Redact leaves each of ins as it is.
func unchanged(t *testing.T, ins ...string) {
	t.Helper()
	for _, in := range ins {
		if got := Redact(in); got != in {
			t.Errorf("Redact(%q) = %q, want it unchanged", in, got)
		}
	}
}

// Slashes and underscores between the groups of a number hid it from the
// phone finder, which knew only spaces, dashes, dots and brackets.
func TestRedactHidesPhonesWithSlashesOrUnderscores(t *testing.T) {
	hidden(t, "call her at 719/555/0108 tonight", "555/0108", "719/555")
	hidden(t, "her cell 719_555_0108 spam it", "555_0108", "719_555")
	hidden(t, "text 1/719/555/0108 all night", "555/0108")
	hidden(t, "her number: 07700/900123 flood it", "900123")
}

// Dates, fractions, scores, paths and identifiers with slashes or
// underscores are not phone numbers.
func TestRedactLeavesSlashedDatesFractionsAndPathsAlone(t *testing.T) {
	unchanged(t,
		"the match on 07/30/1993 was great",
		"on 2024/06/30 the forum moved",
		"add 1/2 cup of flour and 3/4 cup of sugar",
		"it went 100/200/300 in the tests",
		"see https://example.com/news/2024/555/01088 for it",
		"the file IMG_2024_0630_1234.jpg is gone",
		"rated 10/10 would call again",
		"log_719_555_0108_old is the name",
		"screen ratio 16/9, 1920/1080 pixels",
	)
}

// An e-mail address with spaces around its "@", or written with the
// full-width "＠" and "．", was left in clear.
func TestRedactHidesEmailsWithSpacedOrFullWidthAt(t *testing.T) {
	hidden(t, "email jane.roe @ example.com flood it", "jane.roe", "example.com")
	hidden(t, "her email: janeroe @ example.com", "janeroe", "example.com")
	hidden(t, "mail her jane.roe＠example．com lol", "jane.roe", "example")
	hidden(t, "jane.roe＠example.com is her inbox", "jane.roe", "example")
	hidden(t, "jane_roe @example.org spam", "jane_roe", "example")
}

// An address followed by a full stop, the end of its sentence, was left
// in clear: the stop was read as the start of a last, empty label.
func TestRedactHidesEmailsAtTheEndOfASentence(t *testing.T) {
	hidden(t, "her email is jane.roe@example.com. Flood it", "jane.roe", "example.com")
	hidden(t, "write to jane.roe@example.co.uk.", "jane.roe", "example.co")
	hidden(t, "spam jane.roe@example.com... she deserves it", "jane.roe", "example.com")
}

// "@" with spaces in prose is not an address.
func TestRedactLeavesSpacedAtInProseAlone(t *testing.T) {
	unchanged(t,
		"lol @ reddit.com mods today",
		"look @ google.com, it is down",
		"meet @ 5.30 at the station",
		"thanks @ mod.team",
	)
}

// A map link with its address percent-encoded ("%20" for spaces) kept the
// whole address in clear: its words run together with the code.
func TestRedactHidesPercentEncodedAddressesInLinks(t *testing.T) {
	hidden(t, "her house https://maps.google.com/maps?q=15%20Millrace%20Ln%2C%20Pruitt%20Hollow lol", "Millrace", "Pruitt")
	hidden(t, "https://www.google.com/maps/search/?api=1&query=15%20Millrace%20Ln%2C%20Pruitt%20Hollow%2C%20OH%2045371", "Millrace", "45371")
	hidden(t, "tel:%2B1%20719%20555%200108 call her", "555%200108")
}

// The pieces written around an address were left beside its placeholder:
// the unit before it, an Australian state and postcode after it, the
// house number on the line before its street.
func TestRedactHidesTheUnitStateAndHouseNumberAroundAnAddress(t *testing.T) {
	hidden(t, "her address: Flat 2, 14 Baker Street, London. dox her", "Flat 2")
	hidden(t, "she lives at apt 4B at 15 Millrace Ln tonight", "4B")
	hidden(t, "she lives at Unit 7/15 Millrace Ln tonight", "Unit 7")
	hidden(t, "she lives at 4/12 Smith St, Richmond VIC 3065 go", "4/", "3065")
	hidden(t, "she lives at 12 George Street, Sydney NSW 2000 go", "2000", "NSW")
	hidden(t, "she lives at 15\nMillrace Ln, Pruitt Hollow. go get her", "at 15")
}

// Numbers near an address that are not part of it stay.
func TestRedactLeavesNumbersBesideAnAddressAlone(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	f("I scored 4/12 then walked to 15 Millrace Ln", "I scored 4/12 then walked to [ADDRESS]")
	f("I counted 10 cars\nMillrace Ln is busy", "I counted 10 cars\n[STREET] is busy")
	f("flat 2 is hers, 15 Millrace Ln is mine", "flat 2 is hers, [ADDRESS] is mine")
	f("I'm 2, 15 Millrace Ln is mine", "I'm 2, [ADDRESS] is mine")
	f("we had 2 flats at 15 Millrace Ln", "we had 2 flats at [ADDRESS]")
	f("15 Millrace Ln, VIC is nice", "[ADDRESS], VIC is nice")
}

// Address words ("Flat", "Box", "Date Of Birth"), the town of an address
// and, with prose's NER, the street itself were taken for people, and so
// for a post's targets: every post giving a "Flat 2" address counted
// towards one target named "Flat".
func TestEntitiesLeaveAddressWordsAndTownsOutOfPeople(t *testing.T) {
	for _, ner := range []string{"off", "prose"} {
		cfg := testConfig()
		cfg.NER = ner
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		f := func(in string, notEntities ...string) {
			t.Helper()
			s, err := c.Score(context.Background(), &msg.Post{ID: "p", Text: in})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range s.Entities {
				for _, n := range notEntities {
					if strings.EqualFold(e.Name, n) && (e.Kind == msg.EntityPerson || e.Target) {
						t.Errorf("ner=%s %q: %q taken for a %s (target %v)", ner, in, e.Name, e.Kind, e.Target)
					}
				}
			}
		}
		f("her address: Flat 2, 14 Baker Street, London. dox her", "Flat")
		f("send the bricks to PO Box 4471, Pruitt Hollow, OH 45371 and tell her we know", "Box", "Pruitt Hollow")
		f("Date Of Birth: 07/30/1993, she lives at 15 Millrace Ln. go there", "Date Of Birth", "Date Of")
		f("she lives on Millrace Ln, Pruitt Hollow and we will find her", "Pruitt Hollow", "Millrace Ln", "Millrace")
		f("I know where Dana Reyes lives: 15 Millrace Ln in Pruitt Hollow. Go get her", "Pruitt Hollow")
	}
}

// The name of the person doxxed is still a target.
func TestEntitiesKeepThePersonBesideAnAddress(t *testing.T) {
	s, err := leakClassifier(t).Score(context.Background(), &msg.Post{ID: "p",
		Text: "I know where Dana Reyes lives: 15 Millrace Ln in Pruitt Hollow. Go get her"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range s.Entities {
		if e.Kind == msg.EntityPerson && e.Name == "Dana Reyes" && e.Target {
			return
		}
	}
	t.Errorf("entities %+v, want Dana Reyes as a target", s.Entities)
}

// A bare run of digits counts as a phone number for scoring only after a
// word like "call": a space after it made it count anywhere.
// scoredPII counts the personal data of kind that scoring finds in text.
func scoredPII(text, kind string) int {
	n := normalize(text)
	toks := tokenize(&n, text, nil)
	got := 0
	for _, p := range findPII(text, &n, toks, nil) {
		if p.kind == kind {
			got++
		}
	}
	return got
}

func TestScoringCountsABareNumberOnlyAfterAPhoneWord(t *testing.T) {
	f := func(in string, want int) {
		t.Helper()
		if got := scoredPII(in, KindPhone); got != want {
			t.Errorf("findPII(%q) holds %d phones, want %d", in, got, want)
		}
	}
	f("order 4155550123", 0)
	f("order 4155550123 shipped", 0)
	f("order 4155550123, shipped", 0)
	f("call 4155550123 now", 1)
	f("call 4155550123", 1)
	f("order 415 555 0123 shipped", 1)
}

// Scoring counts an e-mail address that ends a sentence, as redaction
// hides it: "her email is jane.roe@example.com." is the commonest way a
// dox gives one.
func TestScoringCountsAnEmailBeforeAFullStop(t *testing.T) {
	f := func(in string, want int) {
		t.Helper()
		if got := scoredPII(in, KindEmail); got != want {
			t.Errorf("findPII(%q) holds %d e-mails, want %d", in, got, want)
		}
	}
	f("her email is jane.roe@example.com. Flood it", 1)
	f("her email is jane.roe@example.com", 1)
	f("write to jane.roe@example.com.", 1)
	f("see example.com. Or not", 0)
}
