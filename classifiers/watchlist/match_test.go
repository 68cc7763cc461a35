package watchlist

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

var testKey = []byte("0123456789abcdef0123456789abcdef-test-key-1")

func loadTestFile(t testing.TB) *File {
	t.Helper()
	fh, err := os.Open("testdata/persons.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	f, err := ParseFile(fh, "persons.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// staticMatcher hashes f under one key and loads it without Redis.
func staticMatcher(t testing.TB, f *File, regions ...string) *Matcher {
	t.Helper()
	if len(regions) == 0 {
		regions = []string{"US", "GB"}
	}
	h, err := NewHasher("k1", testKey)
	if err != nil {
		t.Fatal(err)
	}
	a := &Admin{hashers: []*Hasher{h}, region: regions[0]}
	recs, _, err := a.hashAll(f, h)
	if err != nil {
		t.Fatal(err)
	}
	m := newMatcher([]*Hasher{h}, regions, nil, nil)
	s := newSnapshot(1, m.regions, m.hashers, map[string][]Record{"k1": recs})
	m.snap.Store(s)
	return m
}

func TestMatchingAcrossFormatsAndNearMisses(t *testing.T) {
	m := staticMatcher(t, loadTestFile(t))
	f := func(name, text, wantPerson string, wantKind Kind) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			got := m.Find(&msg.Post{Text: text})
			if wantKind == 0 {
				if len(got) > 0 {
					t.Fatalf("near miss matched: %+v", got)
				}
				return
			}
			for _, g := range got {
				if g.Person == wantPerson && g.Kind == wantKind {
					if g.Start < 0 || g.End > len(text) || g.Start >= g.End {
						t.Fatalf("bad span %d..%d", g.Start, g.End)
					}
					return
				}
			}
			t.Fatalf("want %s of %s, got %+v", wantKind, wantPerson, got)
		})
	}
	// Addresses.
	f("address as listed", "she lives at 123 Main Avenue, Apt 4 lol", "wl-0001", KindAddress)
	f("address abbreviated with unit", "123 main ave apartment 4, go knock", "wl-0001", KindAddress)
	f("address with punctuation", "123 Main Av., #4 Springfield", "wl-0001", KindAddress)
	f("address in capitals across a line break", "ADDRESS: 123 MAIN\nAVENUE", "wl-0001", KindAddress)
	f("address without street type", "she's at 123 Main, the blue door", "wl-0001", KindAddress)
	f("UK address with flat first", "14 rue haute st lindale", "wl-0002", KindAddress)
	f("UK address spelled out", "Flat 2, 14 Rue-Haute Street", "wl-0002", KindAddress)
	f("German street abbreviated", "wohnt in der Hofstr. 12", "wl-0003", KindAddress)
	f("German street without ß", "HOFSTRASSE 12, Berlin", "wl-0003", KindAddress)
	f("German street other number", "Hofstraße 13", "", 0)
	f("different house number", "124 Main Avenue, Apt 4", "", 0)
	f("same number on another street", "123 Maple Avenue", "", 0)
	f("street without number", "somewhere on Main Avenue", "", 0)
	// Phones.
	f("phone international", "call +1 555 010 4477 now", "wl-0001", KindPhone)
	f("phone national with parens", "(555) 010-4477", "wl-0001", KindPhone)
	f("phone with dots", "ring 555.010.4477!", "wl-0001", KindPhone)
	f("phone with 00 prefix", "0015550104477", "wl-0001", KindPhone)
	f("phone digits only after a year", "since 2019 5550104477", "wl-0001", KindPhone)
	f("UK phone international", "+44 20 7946 0958", "wl-0002", KindPhone)
	f("UK phone national", "her number is 020 7946 0958", "wl-0002", KindPhone)
	f("phone one digit off", "(555) 010-4478", "", 0)
	f("phone digits inside a longer number", "order 15550104477123", "", 0)
	// Emails.
	f("gmail with case and no dots", "mail her at CLARASORRENTI@GMAIL.COM", "wl-0001", KindEmail)
	f("gmail with dots moved and a tag", "clar.a.sorrenti+spam@googlemail.com", "wl-0001", KindEmail)
	f("email obfuscated", "clara [at] sorrenti [dot] example", "wl-0001", KindEmail)
	f("email obfuscated with a space inside the bracket", "clara [at ] sorrenti [dot] example", "wl-0001", KindEmail)
	f("email obfuscated without brackets", "mail: clara at sorrenti dot example", "wl-0001", KindEmail)
	f("email obfuscated without brackets, in capitals", "CLARA AT SORRENTI DOT EXAMPLE", "wl-0001", KindEmail)
	f("email with a bare at and a real dot", "reach her: clara at sorrenti.example", "wl-0001", KindEmail)
	f("bare at before a plain address", "write to bob at clara@sorrenti.example", "wl-0001", KindEmail)
	f("bare dot after a plain address", "clara@sorrenti.example dot matrix", "wl-0001", KindEmail)
	f("bare at in prose", "look at sorrenti dot example later", "", 0)
	f("plus-tagged email listed, plain in post", "ines@dalgaard.example", "wl-0002", KindEmail)
	f("dots count outside gmail", "c.lara@sorrenti.example", "", 0)
	f("other gmail user", "clarasorrenti1@gmail.com", "", 0)
	// Plates.
	f("plate with dash", "her car is ABC-1234", "wl-0001", KindPlate)
	f("plate with space lower case", "plate abc 1234", "wl-0001", KindPlate)
	f("plate without separator", "ABC1234 parked outside", "wl-0001", KindPlate)
	f("plate in three parts", "7-XYZ-123", "wl-0002", KindPlate)
	f("plate one character off", "ABC-1235", "", 0)
	// Relatives and workplaces.
	f("relative", "her brother marco sorrenti works nights", "wl-0001", KindRelative)
	f("relative initial is not the relative", "anna w. said hi", "", 0)
	f("relative full", "Anna West", "wl-0002", KindRelative)
	f("workplace", "she works at Canter Point Logistics", "wl-0001", KindWorkplace)
	f("workplace legal suffix spelled out", "Acme Corporation hires", "wl-0002", KindWorkplace)
	f("workplace one word is not enough", "canter is a word", "", 0)
	// Names and handles.
	f("name", "clara sorrenti is at it again", "wl-0001", KindName)
	f("name with accents", "Clára Sorrénti", "wl-0001", KindName)
	f("alias", "keffals posted again", "wl-0001", KindAlias)
	f("former name", "formerly Clara Whitlock", "wl-0001", KindFormerName)
	f("handle with @ and separator", "look at @claras_99 lol", "wl-0001", KindHandle)
	f("handle with a dot", "ping ines.d about it", "wl-0002", KindHandle)
	f("handle with a dash", "ClaraS-99", "wl-0001", KindHandle)
	f("other handle", "@claras_98", "", 0)
	f("first name alone", "clara said", "", 0)
}

func TestNoFalseMatchesOnOrdinaryText(t *testing.T) {
	m := staticMatcher(t, loadTestFile(t))
	texts := []string{
		"Main Avenue is closed for the parade on the 4th; take the 123 bus instead.",
		"Call the office at (555) 010-0000 for details.",
		"The Acme Co. anvil is a classic. Clara and Marco went to Springfield.",
		"ABC is a network; 1234 is a number.",
		"Sorrenti's pizza on Main is great. West side best side.",
	}
	for _, tx := range texts {
		if got := m.Find(&msg.Post{Text: tx}); len(got) > 0 {
			t.Errorf("%q: unexpected %+v", tx, got)
		}
	}
}

func TestEnrichMarksPrivateMatchesAsDoxxing(t *testing.T) {
	m := staticMatcher(t, loadTestFile(t))
	p := &msg.Post{ID: "s:1", Site: "s", Text: "lol @claras_99 lives at 123 main av apt 4, her cell is (555) 010-4477 and her brother is Marco Sorrenti",
		Quoted: []string{"who is keffals"}}
	s := &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{msg.SignalDoxxing: 0.2},
		Entities: []msg.Entity{{Kind: msg.EntityPerson, Name: "Marco Sorrenti", Ref: "marco sorrenti", Target: true}, {Kind: msg.EntityPerson, Name: "Bob"}},
		Evidence: []msg.Span{{Signal: msg.SignalDoxxing, Kind: "street_address", Snippet: "lives at 123 main av apt 4 (Clara Sorrenti)"}}}
	if err := m.Enrich(context.Background(), p, s); err != nil {
		t.Fatal(err)
	}
	if s.Scores[msg.SignalDoxxing] != 1 {
		t.Errorf("doxxing = %v, want 1", s.Scores[msg.SignalDoxxing])
	}
	kinds := map[string]bool{}
	for _, e := range s.Evidence {
		kinds[e.Kind] = true
		if strings.HasPrefix(e.Kind, EvidencePrefix) && (e.End <= e.Start || e.Field == "") {
			t.Errorf("span %+v has no position", e)
		}
	}
	for _, k := range []string{"watchlist:address", "watchlist:phone", "watchlist:relative", "watchlist:handle", "watchlist:name"} {
		if !kinds[k] {
			t.Errorf("no %s evidence in %+v", k, s.Evidence)
		}
	}
	var prot []msg.Entity
	for _, e := range s.Entities {
		if e.Kind == msg.EntityProtected {
			prot = append(prot, e)
		}
		if e.Name == "Marco Sorrenti" {
			t.Errorf("the relative's name was left as an entity")
		}
	}
	if len(prot) != 1 || prot[0].Name != "wl-0001" || prot[0].Ref != "wl-0001" || !prot[0].Target {
		t.Errorf("protected entities = %+v", prot)
	}
	if len(s.Entities) != 2 {
		t.Errorf("entities = %+v, want Bob and the protected person", s.Entities)
	}
	for _, e := range s.Evidence {
		for _, v := range []string{"123", "main av", "010", "4477", "Marco", "Sorrenti", "claras", "keffals"} {
			if strings.Contains(strings.ToLower(e.Snippet), strings.ToLower(v)) {
				t.Errorf("snippet %q shows %q", e.Snippet, v)
			}
		}
	}
	if !PrivateEvidence("watchlist:address") || PrivateEvidence("watchlist:name") || PrivateEvidence("street_address") {
		t.Error("PrivateEvidence misclassifies")
	}
}

func TestEnrichNamesOnlyMakeATargetWithoutDoxxing(t *testing.T) {
	m := staticMatcher(t, loadTestFile(t))
	p := &msg.Post{ID: "s:2", Site: "s", Text: "Keffals is streaming again, anyone watching @ClaraS_99?"}
	s := &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{msg.SignalDoxxing: 0.1}}
	if err := m.Enrich(context.Background(), p, s); err != nil {
		t.Fatal(err)
	}
	if s.Scores[msg.SignalDoxxing] != 0.1 {
		t.Errorf("doxxing = %v, want unchanged 0.1", s.Scores[msg.SignalDoxxing])
	}
	if tg := s.Targets(); len(tg) != 1 || tg[0].Ref != "wl-0001" || tg[0].Kind != msg.EntityProtected {
		t.Errorf("targets = %+v", tg)
	}
	for _, e := range s.Evidence {
		if e.Kind != "watchlist:name" && e.Kind != "watchlist:handle" {
			t.Errorf("evidence %s", e.Kind)
		}
	}
}

func TestEnrichLeavesUnrelatedPostsAlone(t *testing.T) {
	m := staticMatcher(t, loadTestFile(t))
	p := &msg.Post{ID: "s:3", Site: "s", Text: "nice weather in Springfield today"}
	s := &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{msg.SignalDoxxing: 0}}
	_ = m.Enrich(context.Background(), p, s)
	if len(s.Evidence) != 0 || len(s.Entities) != 0 || s.Scores[msg.SignalDoxxing] != 0 {
		t.Errorf("changed: %+v", s)
	}
}

func TestRedactedSnippetHidesTheValueAndItsContext(t *testing.T) {
	text := "ok so the address is 123 Main Avenue apt 4 and she drives plate ZZZ 999 see https://x.example/p @friend"
	ms := []match{{start: 21, end: 36, kind: KindAddress}}
	got := redactedSnippet(text, ms, ms[0])
	for _, bad := range []string{"123", "Main", "999", "https", "@friend"} {
		if strings.Contains(got, bad) {
			t.Errorf("snippet %q shows %q", got, bad)
		}
	}
	if !strings.Contains(got, "[ADDRESS]") {
		t.Errorf("snippet %q has no placeholder", got)
	}
}

func TestParseFileRejectsBadInputWithoutEchoingIt(t *testing.T) {
	f := func(name, in, want string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			file, err := ParseFile(strings.NewReader(in), "in.yaml")
			if err == nil {
				h, _ := NewHasher("k1", testKey)
				a := &Admin{hashers: []*Hasher{h}, region: "US"}
				_, _, err = a.hashAll(file, h)
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want it to mention %q", err, want)
			}
			for _, secret := range []string{"Secret Person", "999 Hidden", "hidden@example.com", "12345", "SecretPerson", "secret_person", "hidden.one"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q echoes a value", err)
				}
			}
		})
	}
	f("unknown field", "persons:\n  - id: a1\n    nicknames: [Secret Person]\n", "nicknames")
	f("missing id", "persons:\n  - names: [Secret Person]\n", "id is required")
	f("duplicate id", "persons:\n  - id: a1\n  - id: a1\n", "also persons[0]")
	f("id spelling the name", "persons:\n  - id: SecretPerson\n    names: [Secret Person]\n", "persons[0]: id must be opaque")
	f("id spelling a handle", "persons:\n  - id: a1\n  - id: secret_person\n    handles: [\"@Secret_Person\"]\n", "persons[1]: id must be opaque")
	f("id spelling an email", "persons:\n  - id: hidden.one\n    emails: [hidden.one@example.com]\n", "persons[0]: id must be opaque")
	f("duplicate id spelling the name", "persons:\n  - id: SecretPerson\n  - id: SecretPerson\n    names: [Secret Person]\n", "persons[1]: id is also persons[0]")
	f("bad phone", "persons:\n  - id: a1\n    phones: [\"12345\"]\n", "phones[0]")
	f("bad email", "persons:\n  - id: a1\n    emails: [hidden-at-example.com]\n", "emails[0]")
	f("single-word relative", "persons:\n  - id: a1\n    relatives: [Secret]\n", "relatives[0]")
	f("mapping where a person goes", "persons:\n  - 999 Hidden\n", "…")
	f("bad region", "region: QQ\npersons: []\n", "region")
	f("a value where the region goes", "region: 999 Hidden\npersons: []\n", "region is not a region code")
	f("a value where a field name goes", "persons:\n  - id: a1\n    999 Hidden St: Apt 4\n", "field … not found")
	f("a value as a field name in JSON", `{"persons": [{"id": "a1", "Secret Person": 1}]}`, "field … not found")
	f("a name where the id goes", "persons:\n  - id: Secret Person\n", "persons[0]: id is not valid")
	f("a value as a duplicate key", "persons:\n  - id: a1\n    Secret Person: 1\n    Secret Person: 2\n", "already defined")
	f("a value as an anchor", "persons:\n  - id: a1\n    names: *Secret_Person_12345\n", "unknown anchor '…'")
}

// A file saved in another encoding than UTF-8 (Latin-1 or Windows-1252
// from a spreadsheet, UTF-16 without a byte order mark) is refused with
// the line to fix and what to do, never the bytes; a byte order mark and
// CRLF line ends are read as they are meant.
func TestParseFileNamesTheLineThatIsNotUTF8(t *testing.T) {
	const body = "region: US\npersons:\n  - id: a1\n    names: [Zo\u00eb Hidden]\n    phones: [\"+1 555 010 4477\"]\n"
	utf16 := func(s string) string {
		var b []byte
		for _, r := range s {
			b = append(b, byte(r), byte(r>>8))
		}
		return string(b)
	}
	f := func(name, in, want string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			file, err := ParseFile(strings.NewReader(in), "in.yaml")
			if want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if len(file.Persons) != 1 || file.Persons[0].Names[0] != "Zo\u00eb Hidden" {
					t.Fatalf("read %+v", file.Persons)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrFile) || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want it to mention %q", err, want)
			}
			if strings.Contains(err.Error(), "Hidden") || strings.Contains(err.Error(), "Zo") {
				t.Fatalf("error %q echoes a value", err)
			}
		})
	}
	f("UTF-8", body, "")
	f("UTF-8 with a byte order mark", "\ufeff"+body, "")
	f("CRLF line ends", strings.ReplaceAll(body, "\n", "\r\n"), "")
	f("UTF-16 with a byte order mark", utf16("\ufeff"+body), "")
	f("Latin-1", strings.ReplaceAll(body, "\u00eb", "\xeb"), "line 4 is not UTF-8")
	f("Latin-1 with CRLF", strings.ReplaceAll(strings.ReplaceAll(body, "\u00eb", "\xeb"), "\n", "\r\n"), "line 4 is not UTF-8")
	f("Latin-1 in a comment", "# Zo\xeb Hidden\n"+body, "line 1 is not UTF-8")
	f("UTF-16 without a byte order mark", utf16(body), "line 1 holds a NUL byte")
}

// A phone number followed by its extension is the number, however the
// extension is glued on ("x12", "ext.12"); digits glued to other letters
// are still no phone number.
func TestPhonesWithAGluedExtensionMatch(t *testing.T) {
	m := staticMatcher(t, loadTestFile(t))
	f := func(text string, want bool) {
		t.Helper()
		t.Run(text, func(t *testing.T) {
			got := false
			for _, g := range m.Find(&msg.Post{Text: text}) {
				if g.Person == "wl-0001" && g.Kind == KindPhone {
					got = true
					if s := text[g.Start:g.End]; strings.ContainsAny(s, "xX") {
						t.Fatalf("span %q takes in the extension", s)
					}
				}
			}
			if got != want {
				t.Fatalf("matched %v, want %v", got, want)
			}
			agree(t, m.snap.Load(), text)
		})
	}
	f("call 555-010-4477x12", true)
	f("call 555-010-4477X12 today", true)
	f("(555) 010-4477ext12", true)
	f("+1 555 010 4477 ext.12", true)
	f("555-010-4477 x12", true)
	f("555-010-4478x12", false)
	f("555-010-4477abc", false)
	f("555-010-4477x", false)
	f("5550104477xyz", false)
}

// Web pages keep a phone number on one line with no-break spaces, French
// typography groups digits with narrow ones, and word processors turn
// hyphens into dashes: a number written with any of them is the number.
func TestPhonesWithTypographicSeparatorsMatch(t *testing.T) {
	m := staticMatcher(t, loadTestFile(t))
	f := func(name, text, wantPerson string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, g := range m.Find(&msg.Post{Text: text}) {
				if g.Kind == KindPhone {
					got = append(got, g.Person)
				}
			}
			if wantPerson == "" && len(got) > 0 || wantPerson != "" && (len(got) != 1 || got[0] != wantPerson) {
				t.Fatalf("matched %v, want %q", got, wantPerson)
			}
			agree(t, m.snap.Load(), text)
		})
	}
	f("no-break spaces", "call 555\u00a0010\u00a04477", "wl-0001")
	f("narrow no-break spaces", "+1\u202f555\u202f010\u202f4477", "wl-0001")
	f("thin spaces", "+44\u200920\u20097946\u20090958", "wl-0002")
	f("en dashes", "555\u2013010\u20134477", "wl-0001")
	f("non-breaking hyphens", "555\u2011010\u20114477", "wl-0001")
	f("a no-break space after a parenthesis", "(555)\u00a0010-4477", "wl-0001")
	f("one digit off", "555\u00a0010\u00a04478", "")
	f("a figure, an em dash and a figure", "2019\u2014555 010", "")
}

// TestCanonKeysPassThePrefilter keeps the canon table and its prefilter in
// step: a key the prefilter cannot see (too long, or not starting and
// ending in a-z) would silently never be canonicalized.
func TestCanonKeysPassThePrefilter(t *testing.T) {
	for k, v := range canon {
		var tok tokenizer
		toks := tok.tokenize(k)
		if len(toks) != 1 {
			t.Errorf("canon key %q is %d tokens, want 1", k, len(toks))
			continue
		}
		if got := string(tok.arena[toks[0].cs:toks[0].ce]); got != v {
			t.Errorf("%q canonicalizes to %q, want %q", k, got, v)
		}
	}
}

// TestWordCacheAnswersAsTheTags holds the negative word cache to the
// tags it stands for: on first sight and from the cache, under two key
// sets at once (a rotation), and after a reload that lists a word the
// cache had seen as unlisted.
func TestWordCacheAnswersAsTheTags(t *testing.T) {
	f := syntheticFile(300, 7)
	two := benchMatcher(t, f, 2).snap.Load()
	small := staticMatcher(t, &File{Region: "US", Persons: f.Persons[:1]}).snap.Load()
	big := staticMatcher(t, &File{Region: "US", Persons: f.Persons[:200]}).snap.Load()
	var ws [][]byte
	for _, p := range f.Persons {
		for _, s := range append(append(append(p.Names, p.Relatives...), p.Addresses...), p.Workplace...) {
			for _, w := range words(s, false) {
				ws = append(ws, []byte(w))
			}
			for _, w := range words(s, true) {
				ws = append(ws, []byte(w))
			}
		}
		ws = append(ws, []byte(normalizePlate(p.Plates[0])), []byte(normalizeHandle(p.Handles[0])))
	}
	for _, text := range agreementTexts {
		for _, w := range words(text, false) {
			ws = append(ws, []byte(w))
		}
	}
	sc := getScratch()
	defer putScratch(sc)
	check := func(ks *keySet) {
		t.Helper()
		for _, w := range ws {
			want := ks.tagMask(ks.h.tag(w))
			if got := ks.maskOf(sc.wordCache(ks), w); got != want {
				t.Fatalf("mask of %q is %#x, want %#x", w, got, want)
			}
		}
	}
	for round := 0; round < 2; round++ {
		check(two.keys[0])
		check(two.keys[1])
	}
	check(small.keys[0])
	check(big.keys[0])
	check(small.keys[0])
}

// TestPackWordIsTheBytesAndLength holds packWord's masked and overlapping
// loads to a plain copy of the bytes with the length in the top byte.
func TestPackWordIsTheBytesAndLength(t *testing.T) {
	src := []byte("\x80abcdefghijklmnopqrs\xff")
	for n := 0; n <= 17; n++ {
		// With room past the word (bytes that must be masked off) and
		// without.
		for _, w := range [][]byte{src[1 : 1+n], src[1 : 1+n : 1+n]} {
			w0, w1, ok := packWord(w)
			if ok != (n >= 1 && n <= 15) {
				t.Fatalf("packWord of %d bytes: ok %v", n, ok)
			}
			if !ok {
				continue
			}
			var b [16]byte
			copy(b[:], w)
			b[15] = byte(n)
			if w0 != binary.LittleEndian.Uint64(b[:8]) || w1 != binary.LittleEndian.Uint64(b[8:]) {
				t.Errorf("packWord(%q, cap %d) = %#x %#x, want the bytes of %q", w, cap(w), w0, w1, b)
			}
		}
	}
}

func TestDottedQuadsAreIPv4AddressesOnly(t *testing.T) {
	f := func(s string, want bool) {
		t.Helper()
		if got := isDottedQuad(s); got != want {
			t.Errorf("isDottedQuad(%q) = %v, want %v", s, got, want)
		}
	}
	f("70.100.229.154", true)
	f("10.0.0.1", true)
	f("255.255.255.255", true)
	f("0.0.0.0", true)
	f("256.1.1.1", false)        // above 255
	f("70.100.229", false)       // three groups
	f("70.100.229.154.1", false) // five groups
	f("02.123.45.67", false)     // a trunk prefix's leading zero: Belgian style phone
	f("212.555.0147", false)     // a group of four digits
	f("70..100.229.154", false)  // two dots
	f("70-100-229-154", false)   // other separators
	f("+70.100.229.154", false)  // an international prefix
	f("70.100.229.1544", false)  // a group of four digits
	f("", false)
}

func TestAnIPv4AddressIsNotAPhoneNumber(t *testing.T) {
	// 701 002 2915 written as a dotted quad has the digits of a listed
	// phone; written as a phone it still matches.
	m := staticMatcher(t, &File{Persons: []Person{{ID: "wl-0100", Phones: StringList{"+1 701 002 2915"}}}})
	for text, want := range map[string]bool{
		"edit by 70.100.229.15 (talk)": false,
		// A signature: the address and then the time, in one run of
		// digit groups.
		"edit by 70.100.229.15  17:50, 7 May": false,
		"call 701.002.2915":                   true,
		"call 701-002-2915":                   true,
		"from 10.0.0.1 / 701 002 2915":        true,
		"70.100.229.15.17 is no address":      true,
	} {
		got := false
		for _, g := range m.Find(&msg.Post{Text: text}) {
			got = got || g.Kind == KindPhone
		}
		if got != want {
			t.Errorf("%q: phone match %v, want %v", text, got, want)
		}
	}
}

// The table of folded runes is an optimization only: every rune it holds
// folds as decomposition folds it.
func TestFoldTableIsTheSlowFold(t *testing.T) {
	for r := rune(utf8.RuneSelf); r < foldTableSize; r++ {
		if got, want := string(foldRune(nil, r)), string(foldRuneSlow(nil, r)); got != want {
			t.Fatalf("%U folds to %q, decomposition gives %q", r, got, want)
		}
	}
	for _, c := range []struct {
		r    rune
		want string
	}{{'É', "e"}, {'ß', "ss"}, {'Ł', "l"}, {'ﬁ', "fi"}, {'Ω', "ω"}, {'\u0301', ""}} {
		if got := string(foldRune(nil, c.r)); got != c.want {
			t.Errorf("%U folds to %q, want %q", c.r, got, c.want)
		}
	}
}

func TestIPv4GroupsInsideALongerRun(t *testing.T) {
	groupsOf := func(s string) []digitGroup {
		var gs []digitGroup
		for i := 0; i < len(s); {
			if s[i] < '0' || s[i] > '9' {
				i++
				continue
			}
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			gs = append(gs, digitGroup{i, j, j - i})
			i = j
		}
		return gs
	}
	for _, c := range []struct {
		run  string
		want uint32
	}{
		{"70.100.229.154  04 28", 0b001111},
		{"555 10.0.0.1", 0b11110},
		{"1.2.3.4 5.6.7.8", 0b11111111},
		{"1.2.3.4.5", 0},         // five dotted groups: a version, not an address
		{"70.100.229.1544 1", 0}, // a group of four digits
		{"212.555.0147 12", 0},
		{"555 867 5309", 0},
		{"+32.2.123.45 6", 0}, // an international number
		{"+32 1.2.3.4", 0b11110},
	} {
		if got := ipv4Groups(c.run, groupsOf(c.run), strings.HasPrefix(c.run, "+")); got != c.want {
			t.Errorf("ipv4Groups(%q) = %b, want %b", c.run, got, c.want)
		}
	}
}

// A word that recurs in a post takes the tag its first occurrence
// computed (see pendingBit): every occurrence must still start its
// matches, and no pending entry may outlive the post.
func TestRepeatedWordsInAPostAllMatch(t *testing.T) {
	m := staticMatcher(t, loadTestFile(t))
	s := m.snap.Load()
	// One scratch throughout, so that the check for pending entries below
	// looks at the cache the posts went through.
	sc := getScratch()
	defer putScratch(sc)
	count := func(text string, kind Kind) int {
		n := 0
		for _, g := range s.find(sc, text) {
			if s.persons[g.person] == "wl-0001" && g.kind == kind {
				n++
			}
		}
		return n
	}
	for range 2 { // the second round finds the word cache filled by the first
		text := "Clara Sorrenti, yes clara sorrenti, CLARA SORRENTI. clara said clara clara. Clara Sorrenti"
		if got := count(text, KindName); got != 4 {
			t.Fatalf("%d name matches in %q, want 4", got, text)
		}
		text = "123 main ave and 123 main ave, 123 Main Avenue, 124 main ave"
		if got := count(text, KindAddress); got != 3 {
			t.Fatalf("%d address matches in %q, want 3", got, text)
		}
		if got := count("clara clara clara", KindName); got != 0 {
			t.Fatalf("first name alone matched %d times", got)
		}
		if got := count("then Clara Sorrenti again", KindName); got != 1 {
			t.Fatalf("name after the repeats: %d matches, want 1", got)
		}
	}
	c := sc.wordCache(s.keys[0])
	used := 0
	for k, e := range c.ent {
		if e[1]&pendingBit != 0 {
			t.Fatalf("entry %d is still pending after the posts", k)
		}
		if e[1] != 0 {
			used++
		}
	}
	if used == 0 {
		t.Fatal("the posts left nothing in the word cache: the check above looked at the wrong cache")
	}
}

// TestCanonPackedHoldsEveryKey holds the tokenizer's packed canon table to
// the canon map: every key in its own slot, and no other word.
func TestCanonPackedHoldsEveryKey(t *testing.T) {
	listed := func(w string) bool {
		w0, w1, ok := packWord([]byte(w))
		if !ok {
			return false
		}
		e := &canonPacked.ent[canonSlot(w0, w1)]
		return e.w0 == w0 && e.w1 == w1
	}
	for k := range canon {
		if !listed(k) {
			t.Errorf("%q is a canon key but not in the table", k)
		}
	}
	for _, w := range []string{"the", "st", "apt", "ave", "streets", "stree", "avenues", "a", "north1", "xstreet", "streetx"} {
		if listed(w) {
			t.Errorf("%q is not a canon key but the table holds it", w)
		}
	}
}

// Past the token cap the tokenizer stops reading, so it cannot say which
// punctuation the rest holds: the email and handle scans still read the
// whole text.
func TestEmailsAndHandlesPastTheTokenCapStillMatch(t *testing.T) {
	m := staticMatcher(t, loadTestFile(t))
	text := strings.Repeat("a ", maxTokens+10) + "mail clara.sorrenti@gmail.com or @ClaraS_99"
	kinds := map[Kind]bool{}
	for _, g := range m.Find(&msg.Post{Text: text}) {
		if g.Person == "wl-0001" {
			kinds[g.Kind] = true
		}
	}
	if !kinds[KindEmail] || !kinds[KindHandle] {
		t.Fatalf("past the token cap: matched %v, want the email and the handle", kinds)
	}
}

// The tokenizer stops at maxTokens, whichever kind of token reaches it.
func TestTokenizerStopsAtTheCap(t *testing.T) {
	for _, unit := range []string{"a ", "Don't ", "#1 ", "straße ", "abcdefghijklmnopq "} {
		var tz tokenizer
		text := strings.Repeat(unit, maxTokens+3)
		toks := tz.tokenize(text)
		if len(toks) != maxTokens {
			t.Fatalf("%q: %d tokens, want %d", unit, len(toks), maxTokens)
		}
		if last := toks[len(toks)-1]; int(last.end) > len(text) || int(last.start) < len(text)/3 {
			t.Fatalf("%q: last token at %d..%d of %d bytes", unit, last.start, last.end, len(text))
		}
	}
}

// An address's street line is what is stored, wherever the file puts the
// unit: before the street line in the same part ("Apt 9 77 Oak Road",
// Australia's "Unit 4/123 Wattle Parade" and "6/18 Banksia Crescent") as
// well as after it. The city and postcode are never the street line. A
// German street written with "Straße" as a word of its own matches its
// abbreviation "Str." both ways.
func TestAddressesMatchWhereverTheUnitIsAndHoweverStraßeIsWritten(t *testing.T) {
	f := addressChecker(t)
	f("she lives at 77 Oak Road", "ad-unit-first")
	f("77 oak rd apt 9", "ad-unit-first")
	f("Apt 9 77 Oak Road", "ad-unit-first")
	f("78 Oak Road", "")
	f("everyone in Springfield, IL 62704 got the flyer", "")
	f("123 Wattle Parade, Sydney", "ad-unit-slash")
	f("Unit 4/123 Wattle Parade", "ad-unit-slash")
	f("4/123 Wattle Parade", "ad-unit-slash")
	f("124 Wattle Parade", "")
	f("the Sydney NSW 2000 office", "")
	f("18 Banksia Crescent", "ad-slash")
	f("6/18 Banksia Cres", "ad-slash")
	f("Unit 6, 18 Banksia Crescent", "ad-slash")
	f("6 18 Banksia Crescent", "ad-slash")
	f("19 Banksia Crescent", "")
	f("14 Rue-Haute Street", "ad-flat-first")
	f("flat 2, 14 rue haute st", "ad-flat-first")
	f("301 Birch Lane #5", "ad-hash-first")
	f("301 Birch Ln", "ad-hash-first")
	f("Berliner Str. 5", "ad-strasse")
	f("berliner str 5", "ad-strasse")
	f("Berliner Strasse 5", "ad-strasse")
	f("Berliner Straße 5", "ad-strasse")
	f("Berliner Straße 6", "")
	f("Lindenauer Straße 27", "ad-str")
	f("Lindenauer Str. 27", "ad-str")
	f("Lindenauer Straße 28", "")
	f("Mariahilfer Straße 45", "ad-stiege")
	f("Mariahilfer Str. 45/2/13", "ad-stiege")
	f("Mariahilfer Straße 46", "")
	f("2214 1/2 Elm Street", "ad-half")
	f("2214 Elm Street", "")
}

// Canada writes the unit first, joined to the house number by a dash
// ("4-123 Maple Grove Rd": unit 4 at number 123), and the Netherlands
// glue the street type to the name ("Kerkstraat", abbreviated "Kerkstr.")
// and add the unit after the house number with a dash ("Kerkstraat 12-3").
// Either way the building is the street line a post gives. Queens writes
// house numbers with a dash too ("107-12 Queens Blvd" is number 107-12):
// there the part after the dash is two digits, and it is never read as a
// unit, so "12 Queens Blvd" does not page.
func TestUnitFirstAndDutchAddressesMatchTheBuildingOnly(t *testing.T) {
	f := addressChecker(t)
	// Canada: unit-dash-number.
	f("she is at 123 Maple Grove Rd now", "ad-ca-dash")
	f("123 maple grove road", "ad-ca-dash")
	f("123 Maple Grove, the corner unit", "ad-ca-dash")
	f("4-123 Maple Grove Rd", "ad-ca-dash")
	f("Unit 4, 123 Maple Grove Road", "ad-ca-dash")
	f("Apt 9 123 Maple Grove Rd", "ad-ca-dash")
	f("124 Maple Grove Rd", "")
	f("4-124 Maple Grove Rd", "")
	f("4 Maple Grove Rd", "")
	f("123 Maple Ave", "")
	f("Toronto ON M5V 2T6", "")
	// Queens: the dash is part of the house number.
	f("107-12 Queens Blvd", "ad-queens")
	f("107-12 Queens Boulevard, Forest Hills", "ad-queens")
	f("12 Queens Blvd", "")
	f("107-14 Queens Blvd", "")
	f("107 Queens Blvd", "")
	// The Netherlands: street type glued on, unit after a dash.
	f("Kerkstraat 12", "ad-nl-addition")
	f("kerkstraat 12-3", "ad-nl-addition")
	f("KERKSTRAAT 12 - 3", "ad-nl-addition")
	f("Kerkstr. 12", "ad-nl-addition")
	f("kerkstr 12-3", "ad-nl-addition")
	f("Kerkstraat 13", "")
	f("Kerkstraat 3", "")
	f("Kerkweg 12", "")
	f("Kerk 12", "")
	f("1017 GC Amsterdam", "")
	f("Molenstraat 8", "ad-nl-abbrev")
	f("Molenstr. 8", "ad-nl-abbrev")
	f("Molenstraße 8", "ad-nl-abbrev")
	f("Molenstraat 9", "")
	f("Molenweg 8", "")
	f("Lindenweg 3", "ad-weg")
	f("lindenweg 3, Hamburg", "ad-weg")
	f("Lindenweg 4", "")
	f("Lindenstraße 3", "")
}

// A file that writes the address on one line without commas ("123 Main
// Street Springfield IL 62701") has its street line end where it would
// end at a comma: after the street type, a direction abbreviation right
// after it ("Ave NW") and a unit; what follows is the city, state and
// postcode. A street type right after the house number is the street's
// name ("31 St Marks Place"), and street types in a row are one street
// ("Old Court Rd"). Street-first, the line ends at the house number
// before a postcode.
func TestAnAddressWithoutCommasEndsItsStreetLineAfterTheStreetType(t *testing.T) {
	f := addressChecker(t)
	f("123 Main St, Springfield", "ad-no-commas")
	f("123 main street apt 4", "ad-no-commas")
	f("she's at 123 MAIN ST lol", "ad-no-commas")
	f("123 Main Street Springfield IL 62701", "ad-no-commas")
	f("124 Main Street Springfield IL 62701", "")
	f("124 Main St, Springfield", "")
	f("123 Elm Street", "")
	f("everyone in Springfield IL 62701 got the flyer", "")
	f("1600 Pennsylvania Ave NW", "ad-no-commas-dir")
	f("1600 Pennsylvania Avenue Northwest, Washington", "ad-no-commas-dir")
	f("1601 Pennsylvania Ave NW", "")
	f("Washington DC 20500", "")
	f("31 St Marks Pl", "ad-no-commas-saint")
	f("31 Saint Marks Place, NYC", "ad-no-commas-saint")
	f("32 St Marks Pl", "")
	f("New York NY 10003", "")
	f("1 Old Court Road", "ad-no-commas-two-types")
	f("2 Old Court Rd", "")
	f("I have 1 old car", "")
	f("Gartenstraße 14", "ad-no-commas-de")
	f("Gartenstr. 14, 3. OG", "ad-no-commas-de")
	f("Gartenstraße 15", "")
	f("80331 München", "")
	f("40 Pine Rd", "ad-hash-space")
	f("40 Pine Road #5", "ad-hash-space")
	f("41 Pine Road", "")
	f("19 Cherry Lane", "ad-hash-space-first")
	f("19 Cherry Ln # 5B", "ad-hash-space-first")
	f("20 Cherry Lane", "")
	f("Austin TX 78701", "")
}

// addressChecker returns f(text, want): the persons whose address a post
// of text matches against testdata/addresses.yaml must be want alone
// ("": none, a near miss).
func addressChecker(t *testing.T) func(text, want string) {
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
	m := staticMatcher(t, file)
	return func(text, want string) {
		t.Helper()
		t.Run(text, func(t *testing.T) {
			var got []string
			for _, g := range m.Find(&msg.Post{Text: text}) {
				if g.Kind == KindAddress {
					got = append(got, g.Person)
				}
			}
			switch {
			case want == "" && len(got) > 0:
				t.Fatalf("near miss matched %v", got)
			case want != "" && (len(got) != 1 || got[0] != want):
				t.Fatalf("matched %v, want %s", got, want)
			}
		})
	}
}
