package watchlist

import (
	"fmt"
	"hash"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// The reference matcher below restates what the matcher must find in the
// plainest way: its own rune-by-rune tokenizer, and an HMAC of every word
// sequence, handle run and plate candidate, with no prefilter tag, bitset
// or shortcut. The fast matcher must find exactly what it finds; the tests
// and the fuzz target compare the two.

type refTok struct {
	start, end                 int
	folded, canon              string
	canonOnly                  bool
	hasDigit, hasLetter, upper bool
}

func refTokenize(text string) []refTok {
	var out []refTok
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if !isWordRune(r) {
			if rest := strings.TrimLeft(text[i+1:], " \t\u00a0"); r == '#' && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
				out = append(out, refTok{start: i, end: i + 1, canon: "apt", canonOnly: true})
			}
			i += size
			continue
		}
		tk := refTok{start: i, upper: true}
		var f []byte
		for i < len(text) {
			r, size := utf8.DecodeRuneInString(text[i:])
			if isApostrophe(r) && len(f) > 0 && i+size < len(text) {
				if next, _ := utf8.DecodeRuneInString(text[i+size:]); unicode.IsLetter(next) {
					i += size
					continue
				}
			}
			if !isWordRune(r) {
				break
			}
			switch {
			case unicode.IsDigit(r):
				tk.hasDigit = true
			case unicode.IsLetter(r):
				tk.hasLetter = true
				tk.upper = tk.upper && unicode.IsUpper(r)
			}
			f = foldRune(f, r)
			i += size
		}
		tk.end = i
		if len(f) == 0 {
			continue
		}
		tk.folded, tk.canon = string(f), string(f)
		if c, ok := canon[tk.folded]; ok && !tk.hasDigit {
			tk.canon = c
		} else if len(f) > 7 && strings.HasSuffix(tk.folded, "strasse") {
			tk.canon = tk.folded[:len(f)-4]
		}
		out = append(out, tk)
	}
	return out
}

var refHandleRE = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9._-]*`)

// refFind is the reference matcher: every candidate hashed, every posting
// of its digest checked.
func refFind(s *snapshot, text string) []match {
	var found []match
	for _, ks := range s.keys {
		mac := ks.h.pool.Get().(hash.Hash)
		lookup := func(dom byte, form string, stream, n, start, end int) {
			mac.Reset()
			mac.Write(append([]byte{dom, 0}, form...))
			var d Digest
			copy(d[:], mac.Sum(nil))
			for i, ok := ks.full[d.hi()]; ok && i >= 0; i = ks.post[i].next {
				if p := ks.post[i]; p.lo == d.lo() && kindInStream(p.kind, stream, n) {
					found = append(found, match{start: start, end: end, person: p.person, kind: p.kind})
				}
			}
		}
		toks := refTokenize(text)
		var folded []refTok
		for _, t := range toks {
			if !t.canonOnly {
				folded = append(folded, t)
			}
		}
		for _, c := range []struct {
			toks   []refTok
			stream int
		}{{folded, streamFolded}, {toks, streamCanon}} {
			for i := range c.toks {
				var form []string
				for n := 1; n <= maxWords && i+n <= len(c.toks); n++ {
					t := c.toks[i+n-1]
					if c.stream == streamCanon {
						form = append(form, t.canon)
					} else {
						form = append(form, t.folded)
					}
					lookup(domWords, strings.Join(form, " "), c.stream, n, c.toks[i].start, t.end)
				}
			}
		}
		for _, loc := range refHandleRE.FindAllStringIndex(text, -1) {
			run := strings.TrimRight(text[loc[0]:loc[1]], "._-")
			if len(run) < 3 || !strings.ContainsAny(run, "._-") {
				continue
			}
			form := strings.Map(func(r rune) rune {
				if r == '.' || r == '_' || r == '-' {
					return -1
				}
				return unicode.ToLower(r)
			}, run)
			lookup(domWords, form, streamHandle, 1, loc[0], loc[0]+len(run))
		}
		// Emails: every match of emailRE in the whole text, then every
		// match of bareEmailRE that overlaps none of them.
		var spans [][2]int
		for _, loc := range emailRE.FindAllStringSubmatchIndex(text, 64) {
			spans = append(spans, [2]int{loc[0], loc[1]})
			addr := text[loc[2]:loc[3]] + "@" + dotRE.ReplaceAllString(text[loc[4]:loc[5]], ".")
			if n, ok := normalizeEmail(addr); ok {
				lookup(domEmail, n, streamEmail, 1, loc[0], loc[1])
			}
		}
	bare:
		for _, loc := range bareEmailRE.FindAllStringSubmatchIndex(text, 64) {
			for _, sp := range spans {
				if loc[0] < sp[1] && sp[0] < loc[1] {
					continue bare
				}
			}
			addr := text[loc[2]:loc[3]] + "@" + dotRE.ReplaceAllString(text[loc[4]:loc[5]], ".")
			if n, ok := normalizeEmail(addr); ok {
				lookup(domEmail, n, streamEmail, 1, loc[0], loc[1])
			}
		}
		for i, t := range toks {
			if t.canonOnly {
				continue
			}
			var form string
			digit, upper := false, true
			for k := 0; k < 3 && i+k < len(toks); k++ {
				tk := toks[i+k]
				if tk.canonOnly {
					break
				}
				if k > 0 {
					if gap := text[toks[i+k-1].end:tk.start]; gap != " " && gap != "-" && gap != "." {
						break
					}
				}
				form += strings.ToUpper(tk.folded)
				if len(form) > 10 {
					break
				}
				digit = digit || tk.hasDigit
				upper = upper && (tk.upper || !tk.hasLetter)
				if len(form) >= 2 && (digit || upper && len(form) >= 4) {
					lookup(domPlate, form, streamPlate, 1, t.start, tk.end)
				}
			}
		}
		refPhones(text, func(num string, start, end int) int {
			if strings.HasPrefix(num, "00") {
				num = "+" + num[2:]
			}
			regions := s.regions
			if num[0] == '+' {
				regions = []string{""}
			}
			for _, r := range regions {
				if pn, err := phonenumbers.Parse(num, r); err == nil && phonenumbers.IsPossibleNumber(pn) {
					lookup(domPhone, phonenumbers.Format(pn, phonenumbers.E164), streamPhone, 1, start, end)
				}
			}
			return len(regions)
		})
		ks.h.pool.Put(mac)
	}
	if len(found) == 0 {
		return nil
	}
	return tidy(found)
}

// refPhones is the phone scanner as it read every byte, kept as the
// reference for the one that skips from digit to digit: it calls try
// with each digit span worth parsing, and try says how many parses it
// spent.
func refPhones(text string, try func(num string, start, end int) int) {
	seen := map[string]bool{}
	tries := 0
	var groups [12]digitGroup
	i := 0
	for i < len(text) && tries < maxPhoneTries {
		c := text[i]
		if !(c >= '0' && c <= '9') {
			i++
			continue
		}
		// A run must not continue a word ("A1234567") or a longer token.
		if i > 0 && isWordRune(rune(text[i-1])) {
			for i < len(text) && text[i] >= '0' && text[i] <= '9' {
				i++
			}
			continue
		}
		runStart := i
		if runStart > 0 && text[runStart-1] == '+' {
			runStart--
		} else if runStart > 0 && text[runStart-1] == '(' {
			runStart--
		}
		g := 0
		for i < len(text) && g < len(groups) {
			s := i
			for i < len(text) && text[i] >= '0' && text[i] <= '9' {
				i++
			}
			groups[g] = digitGroup{s, i, i - s}
			g++
			// Up to three separators between groups ("555) 867", " - ").
			j := i
			for n := 0; n < 3; n++ {
				k := phoneSepLen(text, j)
				if k == 0 {
					break
				}
				j += k
			}
			if j == i || j >= len(text) || !(text[j] >= '0' && text[j] <= '9') {
				break
			}
			i = j
		}
		if i < len(text) && isWordRune(rune(text[i])) && i > 0 && text[i-1] >= '0' && text[i-1] <= '9' && !gluedExtension(text, i) {
			continue // digits glued to letters: not a phone number
		}
		if isDottedQuad(text[runStart:groups[g-1].end]) {
			continue // an IPv4 address
		}
		// "00" international prefixes are handled by tryPhone.
		intl := text[runStart] == '+'
		ip := ipv4Groups(text, groups[:g], intl)
		// Try the longest digit spans first; sub-spans catch a number
		// written right after another figure ("since 2019 555 867 5309").
		for a := 0; a < g && tries < maxPhoneTries; a++ {
			digits := 0
			for b := a; b < g && tries < maxPhoneTries && ip&(1<<b) == 0; b++ {
				digits += groups[b].digits
				if digits < 7 || digits > 15 {
					continue
				}
				var buf [20]byte
				num := buf[:0]
				if a == 0 && intl {
					num = append(num, '+')
				}
				for k := a; k <= b; k++ {
					num = append(num, text[groups[k].start:groups[k].end]...)
				}
				start := groups[a].start
				if a == 0 {
					start = runStart
				}
				if !seen[string(num)] {
					seen[string(num)] = true
					tries += try(string(num), start, groups[b].end)
				}
			}
		}
	}
}

// agree fails t when the matcher and the reference differ on text.
func agree(t testing.TB, s *snapshot, text string) {
	t.Helper()
	sc := getScratch()
	got := s.find(sc, text)
	putScratch(sc)
	// The reference finds what is listed; the unit a post names at an
	// address is compared afterwards, on the tokens of what was found
	// (TestAnotherUnitOfTheBuildingMatchesAndSaysSo holds that).
	for i := range got {
		got[i].ti, got[i].tn, got[i].unit = 0, 0, UnitNotCompared
	}
	want := refFind(s, text)
	if !slices.Equal(got, want) {
		t.Fatalf("matcher and reference differ on %q:\n got %v\nwant %v", text, got, want)
	}
}

// agreementTexts are near misses and variants for the small test list.
var agreementTexts = []string{
	"she lives at 123 Main Avenue, Apt 4 lol", "123 main ave apartment 4, go knock", "123 Main Av., #4 Springfield",
	"ADDRESS: 123 MAIN\nAVENUE", "she's at 123 Main, the blue door", "14 rue haute st lindale", "Flat 2, 14 Rue-Haute Street",
	"wohnt in der Hofstr. 12", "HOFSTRASSE 12, Berlin", "Hofstraße 13", "124 Main Avenue, Apt 4", "123 Maple Avenue",
	"call +1 555 010 4477 now", "(555) 010-4477", "ring 555.010.4477!", "0015550104477", "since 2019 5550104477",
	"+44 20 7946 0958", "her number is 020 7946 0958", "(555) 010-4478", "order 15550104477123",
	"mail her at CLARASORRENTI@GMAIL.COM", "clar.a.sorrenti+spam@googlemail.com", "clara [at] sorrenti [dot] example",
	"clara at sorrenti dot example", "CLARA At Sorrenti DOT example", "clara at sorrenti.example", "clara\tat\n sorrenti  dot\texample",
	"write to bob at clara@sorrenti.example", "clara@sorrenti.example dot matrix", "look at sorrenti dot example later",
	"clara at ſorrenti.example", "at at at dot dot example", "clara at sorrenti [dot] example", "clara at sorrenti(dot)example at x.y",
	"clara a't sorrenti.example", " at x.y", "clara at -.example", "clara at sorrenti .example", "clara at sorrenti\u00a0dot example",
	"ines@dalgaard.example", "c.lara@sorrenti.example", "her car is ABC-1234", "plate abc 1234", "ABC1234 parked outside",
	"7-XYZ-123", "7 xyz 123", "7.XYZ.123 and ABC-1235", "her brother marco sorrenti works nights", "anna w. said hi", "Anna West",
	"she works at Canter Point Logistics", "Acme Corporation hires", "Acme Corp. and acme co", "clara sorrenti is at it again",
	"Clára Sorrénti", "CLARA SORRENTI", "clara  sorrenti", "clara-sorrenti", "keffals posted again", "formerly Clara Whitlock",
	"look at @claras_99 lol", "ping ines.d about it", "ClaraS-99", "@claras_98", "ines.d.", "..ines.d..", "clara said",
	"O'Brien and Clara Sorrenti’s car", "Clara Sorrenti's", "‘Clara’ Sorrenti", "Clara\u0301 Sorrenti", "ines.dalgaard", "é5550104477 ×555 010 4477", "x5550104477 y 555-010-4477z", "ABC 1234 XYZ 123 7 XYZ 123",
	"abc 1234 ABC. 1234 ab c1234 ABC1234X", "# 7 xyz 123 #7 XYZ 123", "١٢٣ Main Avenue 555٠104477", "__ines.d__", "x.ines.d", "ines..d", "-claras-99-", "ab-", "a-b", "I.N.E.S.D", "off-topic ines-d. ok", "clara [at] sorrenti [dot] example", "clara (at)sorrenti(dot)example",
	"x clara { at }  sorrenti [ dot ] example, y", "clara [at ] sorrenti [dot] example", "a@b.c@d.e ines+x@dalgaard.example",
	"mail: Clara.Sorrenti@GMail.com; or clara @ sorrenti.example", "\u212aeffals@x.example clara\tat\tsorrenti",
	"#4 123 Main Ave", "123 main ave #4", "# 4 123 Main Ave", "123 main ave apt # 4", "123 Main Ave #\t4 #\u00a04 # x # ", "ABC # 1234", "##1#", "\xff\xfeClara Sorrenti\xff", "Ínes Dálgaard", "INES DALGAARD",
	"clara sorrenti clara sorrenti 123 main avenue 123 main avenue", strings.Repeat("clara ", 40) + "sorrenti",
}

func TestMatcherAgreesWithReference(t *testing.T) {
	t.Run("small list, variants and near misses", func(t *testing.T) {
		s := staticMatcher(t, loadTestFile(t)).snap.Load()
		for _, text := range agreementTexts {
			agree(t, s, text)
		}
	})
	t.Run("10,000 persons, generated posts with doxes", func(t *testing.T) {
		if testing.Short() {
			t.Skip("hashes 10,000 persons")
		}
		f := syntheticFile(10000, 1)
		s := benchMatcher(t, f, 1).snap.Load()
		posts := generatedPosts(f)
		for i := 0; i < len(posts); i += 7 {
			agree(t, s, posts[i].Text)
		}
		for i := 7; i < len(posts); i += 50 {
			agree(t, s, posts[i].Text)
		}
		// Every detail of some persons, written as the file gives it.
		for _, p := range f.Persons[:40] {
			agree(t, s, fmt.Sprintf("%s %v %v %v %v %v %v %v %v", p.Names[0], p.Handles, p.Aliases, p.FormerNames, p.Emails,
				p.Plates, p.Relatives, p.Workplace, strings.Join(append(p.Addresses, p.Phones...), " / ")))
		}
	})
}

// FuzzMatchAgreesWithReference: on any text the matcher finds exactly what
// the reference finds.
func FuzzMatchAgreesWithReference(f *testing.F) {
	for _, s := range agreementTexts {
		f.Add(s)
	}
	s := staticMatcher(f, loadTestFile(f)).snap.Load()
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 4096 {
			return
		}
		agree(t, s, text)
	})
}

// FuzzTokenizerAgreesWithReference holds the tokenizer's fast path (ASCII
// words found with a table and folded in place) to the reference's
// rune-by-rune tokenizer, token by token: offsets, both forms and the
// plate facts.
func FuzzTokenizerAgreesWithReference(f *testing.F) {
	for _, s := range agreementTexts {
		f.Add(s)
	}
	for _, s := range []string{
		"abcdefghijklmnop qrstuvwxyz", "abcdefgH abcdefg1 abcdefg' abcdefgé abcdefgh'ijk", "ABCDEFGHIJ abcdefghijklmnopq`rs",
		"Straße hauptstrasse HAUPTSTRASSE strasse", "apartment, Suite #12 #a ＃1", "o'brien O’BRIEN don't 'quote' x'", "ǅemal İstanbul ﬁne",
		"a\u0301\u0301 \u0301\u0301 e\u0301tude", "\xffabc\xfe def\x80ghijklmn", "{|}~`@[\\]^_ 0a9z AZ",
		// Each byte next to the ranges of letters and digits, inside a word.
		"ab`cdefghij ab{cdefghij ab@cdefghij abZcdefghij ab[cdefghij ab\x80cdefghi ab\xe1cdefghi ab9cdefghij ab/cdefghij ab:cdefghi",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 4096 {
			return
		}
		var tz tokenizer
		got := tz.tokenize(text)
		want := refTokenize(text)
		if len(got) != len(want) {
			t.Fatalf("%q: %d tokens, reference %d", text, len(got), len(want))
		}
		for i, w := range want {
			g := &got[i]
			folded := ""
			if !g.canonOnly {
				folded = string(tz.folded(g))
			}
			if int(g.start) != w.start || int(g.end) != w.end || g.canonOnly != w.canonOnly || folded != w.folded ||
				string(tz.canonical(g)) != w.canon || !g.canonOnly && (g.hasDigit() != w.hasDigit || g.hasLetter() != w.hasLetter || g.upper() != w.upper) {
				t.Fatalf("%q: token %d is %+v (%q, %q), reference %+v", text, i, *g, folded, tz.canonical(g), w)
			}
			if marked := !g.canonOnly && (w.hasDigit || w.upper && w.hasLetter); marked != slices.Contains(tz.marked, int32(i)) {
				t.Fatalf("%q: token %d (%+v) marked for plates: %v, want %v", text, i, w, !marked, marked)
			}
			if g.plain {
				if w0, w1, ok := packWord([]byte(w.folded)); !ok || w0 != g.w0 || w1 != g.w1 {
					t.Fatalf("%q: token %d (%q) packed as %x %x, packWord gives %x %x (%v)", text, i, w.folded, g.w0, g.w1, w0, w1, ok)
				}
			}
		}
	})
}
