package classifiers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

func newTestClassifier(t testing.TB, opts ...Option) *Classifier {
	t.Helper()
	c, err := New(config.Default().Classify, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func score(t testing.TB, c *Classifier, text string, quoted ...string) *msg.Scored {
	t.Helper()
	p := &msg.Post{ID: "t", Site: "test", Text: text, Quoted: quoted}
	s, err := c.Score(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("scored post does not validate: %v", err)
	}
	return s
}

func TestRedactReplacesPersonalDataWithTypedPlaceholders(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", in, got, want)
		}
	}
	f("lives at 15 Millrace Ln, Pruitt Hollow. go", "lives at [ADDRESS]. go")
	f("addy: 2750 Heron Glen Dr, Ridgemont Falls OH 45371 ok", "addy: [ADDRESS] ok")
	f("text her at (719) 555-0108 tonight", "text her at [PHONE] tonight")
	f("cell 614-555-0193", "cell [PHONE]")
	f("mobile +44 7911 123456 now", "mobile [PHONE] now")
	f("mail jo.park@briarwood-mail.example please", "mail [EMAIL] please")
	f("mail jo [at] briarwood-mail [dot] example please", "mail [EMAIL] please")
	f("write jo (at) briarwood (dot) co (dot) uk pls", "write [EMAIL] pls")
	f("her addy is jo [ at ] mail.briarwood.example ok", "her addy is [EMAIL] ok")
	f("JO AT BRIARWOOD [DOT] EXAMPLE", "[EMAIL]")
	f("SSN is in the leak, 923-55-0412, along", "SSN is in the leak, [SSN], along")
	f("number 219-09-9999 here", "number [SSN] here")
	f("DOB 07/30/1993.", "DOB [DOB].")
	f("born on March 3, 1990 in", "born on [DOB] in")
	f("TN plate 7K4-9QT, bumper", "TN plate [PLATE], bumper")
	f("her IP is 203.0.113.77, geolocates", "her IP is [IP], geolocates")
	f("at 45.52345, -122.67621 if", "at [COORDINATES] if")
	f("card 4111 1111 1111 1111 exp", "card [CARD] exp")
	f("Jonas Weber, Lindenstraße 14, 10115 Berlin.", "Jonas Weber, [ADDRESS].")
	f("Claire, 17 rue des Lilas, 69003 Lyon", "Claire, [ADDRESS]")
	f("flat 2, 14 Kingsley Road, Leeds LS6 1AA. mobile", "[ADDRESS]. mobile")
	f("post it to SW1A 1AA please", "post it to [POSTCODE] please")
	f("the apartment above the laundromat on Water St in Kestrel Bay", "the apartment above the laundromat on [STREET] in Kestrel Bay")
	// Not personal data: left alone.
	f("Nothing here at all.", "Nothing here at all.")
	f("look at example.com for the rules", "look at example.com for the rules")
	f("meet at 5 dot 30", "meet at 5 dot 30")
	f("It costs $150 and version 1.2.3 shipped in 1993 at 11pm.", "It costs $150 and version 1.2.3 shipped in 1993 at 11pm.")
	f("Score was 42-7 and the game is at 7:30.", "Score was 42-7 and the game is at 7:30.")
	f("the 1930s bank robberies, 50,000 soldiers", "the 1930s bank robberies, 50,000 soldiers")
	f("", "")
}

func TestRedactNeverPanicsAndKeepsValidUTF8(t *testing.T) {
	for _, in := range []string{"\xff\xfe 15 Main St", "名前 555-0100 住所", strings.Repeat("call 614-555-0193 ", 20000), "\u200b\u200d", "👍 🍕🔫"} {
		out := Redact(in)
		if utf8.ValidString(in) && !utf8.ValidString(out) {
			t.Errorf("Redact made invalid UTF-8 of %q", in[:min(len(in), 30)])
		}
		if strings.Contains(out, "614-555-0193") {
			t.Errorf("a phone number survived redaction of a long text")
		}
	}
}

// A text too long to analyze at once is redacted in pieces: personal data
// that straddles the end of a piece must still be found.
func TestRedactFindsDataAcrossTheCutsOfAHugeText(t *testing.T) {
	for _, tc := range []struct{ value, placeholder string }{
		{"15 Millrace Ln", "[ADDRESS]"},
		{"+1 (719) 555-0108", "[PHONE]"},
		{"jane.roe@example.com", "[EMAIL]"},
		{"45.52345, -122.67621", "[COORDINATES]"},
	} {
		for shift := 0; shift < len(tc.value)+6; shift++ {
			// The value starts shift bytes before the first piece's end.
			pre := strings.Repeat("word ", (MaxAnalyzedBytes-shift)/5-2)
			pre += strings.Repeat("x", MaxAnalyzedBytes-shift-len(pre)-1) + " "
			out := Redact(pre + tc.value + " and then some words after it")
			if strings.Contains(out, tc.value) || !strings.Contains(out, tc.placeholder) {
				t.Errorf("%s starting %d bytes before the cut: left %q", tc.value, shift, out[len(pre)-20:len(pre)+40])
			}
		}
	}
}

func TestObfuscatedThreatsScoreLikePlainOnes(t *testing.T) {
	c := newTestClassifier(t)
	plain := score(t, c, "I will kill you tonight, you know who this is").Scores[msg.SignalThreat]
	if plain < 0.5 {
		t.Fatalf("plain threat scored %.2f, want >= 0.5", plain)
	}
	for _, text := range []string{
		"I will k1ll you tonight, you know who this is",
		"I will k i l l you tonight, you know who this is",
		"I will k.i.l.l you tonight, you know who this is",
		"I will ki\u200bll you tonight, you know who this is",
		"I will kіll yоu tonight, you know who this is", // Cyrillic і and о
		"I will ｋｉｌｌ you tonight, you know who this is",
		"I will KILL you tonight, you know who this is",
		"I will kiiiill you tonight, you know who this is",
	} {
		got := score(t, c, text).Scores[msg.SignalThreat]
		if got < plain-0.15 {
			t.Errorf("%q scored %.2f, the plain spelling %.2f", text, got, plain)
		}
	}
}

func TestHardNegativesStayBelowThreshold(t *testing.T) {
	c := newTestClassifier(t)
	f := func(sig msg.Signal, text string) {
		t.Helper()
		if got := score(t, c, text).Scores[sig]; got >= 0.5 {
			t.Errorf("%s %.2f for %q", sig, got, text)
		}
	}
	f(msg.SignalThreat, "Nobody should hurt her over a review. Leave her alone.")
	f(msg.SignalThreat, "My mom is going to kill me when she sees the car.")
	f(msg.SignalThreat, "That joke killed me, I was crying.")
	f(msg.SignalThreat, "I'm going to kill this raid boss tonight, need a healer.")
	f(msg.SignalThreat, "We're going to destroy them in the playoffs, go Hawks!")
	f(msg.SignalThreat, "Run kill -9 on the process and restart the daemon.")
	f(msg.SignalThreat, "In the novel the detective shoots the killer on the pier.")
	// Moderators and regulars write "your last" and "your next" all day.
	f(msg.SignalThreat, "Reverted your last change to the FAQ, see the talk page.")
	f(msg.SignalThreat, "Mods here: your next thread about crypto gets locked.")
	f(msg.SignalThreat, "Last weekend the whole guild finally cleared the dungeon.")
	f(msg.SignalThreat, "She kept a promise she made to her grandfather.")
	f(msg.SignalSwatting, "My toddler keeps swatting the dog on the nose.")
	f(msg.SignalSwatting, "If you hear gunshots, call 911 right away and stay inside.")
	f(msg.SignalSwatting, "A man was sentenced to 20 years for swatting calls, the news said.")
	f(msg.SignalDoxxing, "Selling my couch, $150, pickup at 1180 Kittredge Ave, text me at (719) 555-0108.")
	f(msg.SignalDoxxing, "City hall is at 1 Municipal Plaza, public comment opens at 6.")
	f(msg.SignalDoxxing, "The county clerk's office number is (541) 555-0100.")
}

func TestClearPositivesScoreAboveThreshold(t *testing.T) {
	c := newTestClassifier(t)
	f := func(sig msg.Signal, text string) {
		t.Helper()
		if got := score(t, c, text).Scores[sig]; got < 0.5 {
			t.Errorf("%s %.2f for %q", sig, got, text)
		}
	}
	f(msg.SignalThreat, "Dana, I'm going to find you and I'm going to kill you.")
	f(msg.SignalThreat, "someone should put a bullet in that judge's head")
	f(msg.SignalThreat, "Savor your last breath tonight, Corbin.")
	f(msg.SignalThreat, "Not a threat, that's a promise: your family won't make it home.")
	f(msg.SignalSwatting, "call in a hostage situation at his house tonight, tell them he has a gun")
	f(msg.SignalSwatting, "Marek got swatted last night, three cruisers outside his place lol")
	f(msg.SignalDoxxing, "Tobin Greer lives at 15 Millrace Ln, Pruitt Hollow. His cell is (423) 555-0119.")
	f(msg.SignalDoxxing, "anyone got her new address? she moved out of her parents' place")
}

func TestQuotedTextIsScoredApartAndWeighsLess(t *testing.T) {
	c := newTestClassifier(t)
	threat := "I'm going to find you and put a bullet in your head, Dana."
	own := score(t, c, threat).Scores[msg.SignalThreat]
	s := score(t, c, "Reported this to the mods and the police.", threat)
	q := s.Scores[msg.SignalThreat]
	if q >= own || q >= 0.5 {
		t.Errorf("quoted threat scored %.2f, own %.2f: quoting must weigh less and stay below threshold", q, own)
	}
	for _, e := range s.Evidence {
		if e.Signal == msg.SignalThreat && e.Field != "quoted" {
			t.Errorf("evidence %+v points at the author's text", e)
		}
	}
}

func TestEvidenceIsRedactedAndPointsIntoTheText(t *testing.T) {
	c := newTestClassifier(t)
	text := "Brynn Castellano addy: 2750 Heron Glen Dr, Ridgemont Falls OH 45371 phone: (937) 555-0162 email brynn@bakes.example plate JRQ 5530 dob 04/01/1999 @brynnbakes"
	s := score(t, c, text)
	if s.Scores[msg.SignalDoxxing] < 0.5 {
		t.Fatalf("dox drop scored %.2f", s.Scores[msg.SignalDoxxing])
	}
	kinds := map[string]bool{}
	for _, e := range s.Evidence {
		kinds[e.Kind] = true
		if e.Start < 0 || e.End > len(text) || e.Start > e.End {
			t.Errorf("span %d..%d outside the text", e.Start, e.End)
		}
		for _, raw := range []string{"2750", "555-0162", "brynn@bakes.example", "JRQ 5530", "04/01/1999", "Castellano", "brynnbakes"} {
			if strings.Contains(e.Snippet, raw) {
				t.Errorf("snippet %q leaks %q", e.Snippet, raw)
			}
		}
	}
	for _, k := range []string{KindStreetAddress, KindPhone, KindEmail, KindPlate, KindDOB} {
		if !kinds[k] {
			t.Errorf("no %s evidence in %v", k, kinds)
		}
	}
	if s.Classifier != Name || s.Version == "" {
		t.Errorf("classifier %q version %q", s.Classifier, s.Version)
	}
}

func TestEntitiesNameTheTarget(t *testing.T) {
	c := newTestClassifier(t)
	s := score(t, c, "Tobin Greer lives at 15 Millrace Ln, Pruitt Hollow. go make him regret every word. cc @percyrook_2")
	var person, handle *msg.Entity
	for i, e := range s.Entities {
		switch {
		case e.Kind == msg.EntityPerson && e.Ref == "tobin greer":
			person = &s.Entities[i]
		case e.Kind == msg.EntityHandle:
			handle = &s.Entities[i]
		}
	}
	if person == nil || !person.Target {
		t.Errorf("want target person tobin greer, got %+v", s.Entities)
	}
	if handle == nil || handle.Ref != "percyrook_2" {
		t.Errorf("want handle percyrook_2, got %+v", s.Entities)
	}
}

type raiseDoxxing struct{ seen float64 }

func (r *raiseDoxxing) Enrich(_ context.Context, p *msg.Post, s *msg.Scored) error {
	r.seen = s.Scores[msg.SignalThreat] + 1 // the built-in scores are already there
	if strings.Contains(p.Text, "protected") {
		s.Scores[msg.SignalDoxxing] = 1.7
		s.Evidence = append(s.Evidence, msg.Span{Signal: msg.SignalDoxxing, Kind: "watchlist:address", Field: "text"})
		s.Entities = append(s.Entities, msg.Entity{Kind: msg.EntityProtected, Name: "wl-1", Ref: "wl-1", Target: true})
	}
	return nil
}

type failing struct{}

func (failing) Enrich(context.Context, *msg.Post, *msg.Scored) error { return errors.New("store away") }

func TestEnrichersRunAfterTheScorersAndMayRaiseScores(t *testing.T) {
	r := &raiseDoxxing{}
	c := newTestClassifier(t, WithEnrichers(r))
	s := score(t, c, "a post about a protected person")
	if r.seen == 0 {
		t.Error("enricher ran before the scorers filled scores")
	}
	if s.Scores[msg.SignalDoxxing] != 1 {
		t.Errorf("doxxing %.2f after the enricher raised it (clamped to 1 expected)", s.Scores[msg.SignalDoxxing])
	}
	if len(s.Targets()) == 0 {
		t.Error("the enricher's target entity was dropped")
	}
	c = newTestClassifier(t, WithEnrichers(failing{}))
	if _, err := c.Score(context.Background(), &msg.Post{ID: "x", Text: "hi"}); err == nil {
		t.Error("an enricher error must fail the post")
	}
}

func TestBadInputGetsAScoreAndNoPanic(t *testing.T) {
	c := newTestClassifier(t)
	big := strings.Repeat("I will find you. 15 Main St. call 614-555-0193 ", 1<<20/48)
	for name, text := range map[string]string{
		"empty":         "",
		"1 MB":          big,
		"invalid UTF-8": "\xff\xfe\xfd kill \xc3\x28 you \xa0\xa1",
		"other scripts": "Я тебя найду. 我会找到你。 سأجدك. नमस्ते",
		"emoji":         "🍕🔫🚓 ☠️☠️ 💀 swat 🚨",
		"zero-width":    "\u200b\u200c\u200d\ufeff\u2060",
		"HTML remnants": "<p>I&#39;ll&nbsp;kill you</p><br/>&amp;&lt;script&gt;",
		"only digits":   strings.Repeat("1234567890 ", 500),
		"punctuation":   strings.Repeat("!?.,;:\"'()[]{}<>", 300),
		"long word":     strings.Repeat("a", 200000),
	} {
		t.Run(name, func(t *testing.T) {
			s := score(t, c, text, text[:min(len(text), 5000)])
			for _, sig := range msg.Signals {
				if _, ok := s.Scores[sig]; !ok {
					t.Errorf("no %s score", sig)
				}
			}
			for _, e := range s.Evidence {
				src := text
				if e.Field == "quoted" {
					src = text[:min(len(text), 5000)]
				}
				if e.Start < 0 || e.End > len(src) || e.Start > e.End {
					t.Errorf("span %+v outside the %s", e, e.Field)
				}
			}
		})
	}
}

func TestScoreIsSafeForConcurrentUse(t *testing.T) {
	c := newTestClassifier(t)
	posts := SamplePosts(64, 20, 3)
	want := make([]map[msg.Signal]float64, len(posts))
	for i, p := range posts {
		s, err := c.Score(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = s.Scores
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, p := range posts {
				s, err := c.Score(context.Background(), p)
				if err != nil {
					errs <- err
					return
				}
				for sig, v := range want[i] {
					if s.Scores[sig] != v {
						errs <- fmt.Errorf("post %d %s: %v concurrently, %v alone", i, sig, s.Scores[sig], v)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestScoreStopsOnACancelledContext(t *testing.T) {
	c := newTestClassifier(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Score(ctx, &msg.Post{ID: "x", Text: "hello"}); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestPhonesNeedARealNumber(t *testing.T) {
	f := func(text string, want int) {
		t.Helper()
		if got := scoredPII(text, KindPhone); got != want {
			t.Errorf("%q: %d phones, want %d", text, got, want)
		}
	}
	f("call (719) 555-0108 now", 1)
	f("+49 151 23456789", 1)
	f("order 2026 1993 11 shipped", 0)
	f("ISBN 978-3-16-148410-0", 0)
	f("from 1990-2020 the price rose", 0)
	f("ssn 923-55-0412", 0)
	f("tel 4155550166", 1)
	f(strings.Repeat("call (719) 555-0108 ", 100), 100)
	f("id 4155550166", 0)
}

// testConfig is the default configuration with NER off, for tests that
// score many posts.
func testConfig() config.Classify {
	c := config.Default().Classify
	c.NER = "off"
	return c
}
