package watchlist

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

func addressesMatcher(t *testing.T) *Matcher {
	t.Helper()
	fh, err := os.Open("testdata/addresses.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	file, err := ParseFile(fh, "addresses.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return staticMatcher(t, file)
}

// A post that gives the listed building with another unit still matches:
// the protection team needs to know the building was posted. The match
// says whether the unit the post names is the listed one, another one, or
// could not be compared (the post names none, or the list gives none).
func TestAnotherUnitOfTheBuildingMatchesAndSaysSo(t *testing.T) {
	m := addressesMatcher(t)
	f := func(text, person string, want UnitMatch) {
		t.Helper()
		t.Run(text, func(t *testing.T) {
			var got []Match
			for _, g := range m.Find(&msg.Post{Text: text}) {
				if g.Kind == KindAddress {
					got = append(got, g)
				}
			}
			if len(got) != 1 || got[0].Person != person {
				t.Fatalf("matched %+v, want %s", got, person)
			}
			if got[0].Unit != want {
				t.Fatalf("unit %v, want %v", got[0].Unit, want)
			}
		})
	}
	// The unit after the street line.
	f("she is at 12 Oak St Apt 7 lol", "ad-apt-after", UnitOther)
	f("12 Oak St Apt 4", "ad-apt-after", UnitSame)
	f("12 oak street, suite 4", "ad-apt-after", UnitSame)
	f("12 Oak St #4", "ad-apt-after", UnitSame)
	f("12 Oak St unit 5", "ad-apt-after", UnitOther)
	f("12 Oak St. Apartment hunting is hard", "ad-apt-after", UnitNotCompared)
	f("12 Oak, apt 40", "ad-apt-after", UnitOther)
	f("12 Oak St", "ad-apt-after", UnitNotCompared)
	f("12 Oak St apt", "ad-apt-after", UnitNotCompared)
	f("12 Oak St Apt 4 - call me", "ad-apt-after", UnitSame)
	f("Kerkstraat 12 - call me", "ad-nl-addition", UnitNotCompared)
	// The unit before it.
	f("Apt 7, 12 Oak St", "ad-apt-after", UnitOther)
	f("#4 12 Oak St", "ad-apt-after", UnitSame)
	f("7/12 Oak St", "ad-apt-after", UnitOther)
	f("4-12 Oak St", "ad-apt-after", UnitSame)
	f("Apt 9 77 Oak Road", "ad-unit-first", UnitSame)
	f("77 Oak Rd Apt 10", "ad-unit-first", UnitOther)
	f("Unit 5/123 Wattle Parade", "ad-unit-slash", UnitOther)
	f("4/123 Wattle Parade", "ad-unit-slash", UnitSame)
	f("5-123 Maple Grove Rd", "ad-ca-dash", UnitOther)
	f("4-123 Maple Grove Rd", "ad-ca-dash", UnitSame)
	f("123 Maple Grove Rd, unit 4", "ad-ca-dash", UnitSame)
	f("Flat 3 14 Rue-Haute Street", "ad-flat-first", UnitOther)
	f("flat 2, 14 rue haute st", "ad-flat-first", UnitSame)
	// The unit in a part of its own in the file.
	f("55 Cedar Ct Apt 12B", "ad-apt-part", UnitSame)
	f("55 Cedar Ct apt 12-b", "ad-apt-part", UnitSame)
	f("55 Cedar Ct apt 12C", "ad-apt-part", UnitOther)
	f("55 Cedar Ct apt 12", "ad-apt-part", UnitOther)
	// After the house number of a street-first address.
	f("Kerkstraat 12-4", "ad-nl-addition", UnitOther)
	f("Kerkstraat 12-3", "ad-nl-addition", UnitSame)
	f("Kerkstr. 12-3", "ad-nl-addition", UnitSame)
	f("Mariahilfer Straße 45/2/14", "ad-stiege", UnitOther)
	f("Mariahilfer Str. 45/2/13", "ad-stiege", UnitSame)
	f("Mariahilfer Straße 45/3/13", "ad-stiege", UnitOther)
	// A unit written "# 5", a space after the hash, in the post or the file.
	f("12 Oak St # 4", "ad-apt-after", UnitSame)
	f("12 Oak St # 7", "ad-apt-after", UnitOther)
	f("12 Oak St Apt # 7", "ad-apt-after", UnitOther)
	f("12 Oak St Unit # 4", "ad-apt-after", UnitSame)
	f("# 4 12 Oak St", "ad-apt-after", UnitSame)
	f("# 7, 12 Oak St", "ad-apt-after", UnitOther)
	f("55 Cedar Ct Unit # 12B", "ad-apt-part", UnitSame)
	f("40 Pine Rd # 5", "ad-hash-space", UnitSame)
	f("40 Pine Rd #5", "ad-hash-space", UnitSame)
	f("40 pine road unit 5", "ad-hash-space", UnitSame)
	f("40 Pine Rd Apt 6", "ad-hash-space", UnitOther)
	f("19 Cherry Ln Apt 5B", "ad-hash-space-first", UnitSame)
	f("19 Cherry Lane # 5B", "ad-hash-space-first", UnitSame)
	f("19 Cherry Ln # 6", "ad-hash-space-first", UnitOther)
	// No commas in the file: the unit after the street type is still its unit.
	f("123 Main St Apt 4", "ad-no-commas", UnitNotCompared)
	// No unit listed: nothing to compare.
	f("2214 1/2 Elm Street Apt 3", "ad-half", UnitNotCompared)
	f("Berliner Straße 5-2", "ad-strasse", UnitNotCompared)
}

// The snippet of a match that names another unit says so, so the page
// tells the team it is their person's building and not (as far as the
// post says) their door; the evidence's Unit says so without words.
func TestTheSnippetSaysTheUnitDiffered(t *testing.T) {
	m := addressesMatcher(t)
	f := func(text string, other bool, unit msg.SpanUnit) {
		t.Helper()
		t.Run(text, func(t *testing.T) {
			p := &msg.Post{ID: "s:1", Site: "s", Text: text}
			s := &msg.Scored{Post: *p}
			if err := m.Enrich(context.Background(), p, s); err != nil {
				t.Fatal(err)
			}
			if s.Scores[msg.SignalDoxxing] != 1 {
				t.Fatalf("doxxing = %v, want 1", s.Scores[msg.SignalDoxxing])
			}
			var snip string
			var got msg.SpanUnit
			for _, e := range s.Evidence {
				if e.Kind == "watchlist:address" {
					snip, got = e.Snippet, e.Unit
				}
			}
			// Machine-readable too, so the aggregator and the API can tell
			// the listed door from another one without reading snippets.
			if got != unit {
				t.Errorf("evidence unit %q, want %q", got, unit)
			}
			if got := strings.Contains(snip, otherUnitPlaceholder); got != other {
				t.Fatalf("snippet %q: other unit said %v, want %v", snip, got, other)
			}
			if !strings.Contains(snip, "[ADDRESS") {
				t.Fatalf("snippet %q has no address placeholder", snip)
			}
			for _, v := range []string{"12", "Oak", "7", "4"} {
				if strings.Contains(snip, v) {
					t.Errorf("snippet %q shows %q", snip, v)
				}
			}
		})
	}
	f("she moved to 12 Oak St Apt 7 last week", true, msg.SpanUnitOther)
	f("she moved to 12 Oak St Apt 4 last week", false, msg.SpanUnitSame)
	f("she moved to 12 Oak St last week", false, "")
	f("she moved to 12 Oak St # 7 last week", true, msg.SpanUnitOther)
}
