package classifiers

import (
	"context"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// FuzzScore feeds arbitrary text and quotes to Score and Redact: no panic,
// every score in [0,1], every span inside its field.
func FuzzScore(f *testing.F) {
	for _, s := range []string{
		"", "I will k1ll you", "k i l l", "15 Millrace Ln, Pruitt Hollow OH 45371", "(719) 555-0108",
		"\xff\xfe\x00", "\u200bki\u200dll", "🍕🔫🚓", "<b>&amp;&#39;</b>", "SSN 923-55-0412 DOB 07/30/1993",
		"> quoted\n>>123 reply", "\"said \"kill\"", "45.52345, -122.67621", "Lindenstraße 14, 10115 Berlin",
	} {
		f.Add(s, s)
	}
	c, err := New(testConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text, quoted string) {
		p := &msg.Post{ID: "f", Text: text}
		if quoted != "" {
			p.Quoted = []string{quoted}
		}
		s, err := c.Score(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		for _, e := range s.Evidence {
			src := text
			if e.Field == "quoted" {
				src = quoted
			}
			if e.Start < 0 || e.End > len(src) || e.Start > e.End {
				t.Fatalf("span %+v outside %q", e, src)
			}
		}
		_ = Redact(text)
	})
}

// FuzzObfuscatedEmailPrefilter: running reObfuscatedEmail only around its
// triggers finds every address it finds in the whole text, up to the
// windows' reach: each whole-text match of up to 60 bytes is covered by
// the matches found near the triggers.
func FuzzObfuscatedEmailPrefilter(f *testing.F) {
	for _, s := range []string{
		"jo [at] host [dot] com", "jo at host dot com", "JO AT HOST [DOT] COM", "jo ( at\t) host.com", "jo at host[dot]com",
		"jo at h0st [d0t] com", "jo at host.mail\t(dot)\ncom", "jo {AT} host.example", "a at b.c [dot] d", "x jo at host [dot] com y at z (dot) org",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 4096 {
			return
		}
		want := reObfuscatedEmail.FindAllStringIndex(text, -1)
		if len(want) == 0 {
			return
		}
		got := findNear(text, obfuscatedEmailTriggers(text), 72, 96, reObfuscatedEmail, KindEmail, nil, nil)
		covered := make([]bool, len(text))
		for _, p := range got {
			for i := p.start; i < p.end; i++ {
				covered[i] = true
			}
		}
		for _, m := range want {
			if m[1]-m[0] > 60 {
				continue
			}
			for i := m[0]; i < m[1]; i++ {
				if !covered[i] {
					t.Fatalf("%q: the whole text's match %q is not covered near the triggers (found %v)", text, text[m[0]:m[1]], got)
				}
			}
		}
	})
}

// FuzzRedactHidesPlantedData: an address, a phone number, an e-mail and
// coordinates set between spaces in any text never survive Redact.
func FuzzRedactHidesPlantedData(f *testing.F) {
	f.Add("lives at", "call now", uint8(0))
	f.Add("\xff\xfe", "(", uint8(1))
	f.Add("Apt", "#4 tonight", uint8(2))
	f.Add("12", "34", uint8(3))
	values := []string{"15 Millrace Ln", "+1 (719) 555-0108", "jane.roe@example.com", "45.52345, -122.67621", "ул. Ленина, д. 5, кв. 12"}
	f.Fuzz(func(t *testing.T, before, after string, which uint8) {
		v := values[int(which)%len(values)]
		out := Redact(before + " " + v + " " + after)
		if strings.Contains(out, v) {
			t.Fatalf("%q survived: %q", v, out)
		}
	})
}

// FuzzSnippetsHidePlantedData: the same planted data in a post that reads
// as a dox never shows in an evidence snippet or an entity.
func FuzzSnippetsHidePlantedData(f *testing.F) {
	f.Add("she lives at", "go there tonight and make her pay", uint8(0))
	f.Add("call her at", "and tell her we know where she lives", uint8(1))
	f.Add("her email is", "flood it", uint8(2))
	f.Add("she is at", "swat her", uint8(3))
	c, err := New(testConfig())
	if err != nil {
		f.Fatal(err)
	}
	values := []string{"15 Millrace Ln", "+1 (719) 555-0108", "jane.roe@example.com", "45.52345, -122.67621", "ул. Ленина, д. 5, кв. 12"}
	f.Fuzz(func(t *testing.T, before, after string, which uint8) {
		v := values[int(which)%len(values)]
		s, err := c.Score(context.Background(), &msg.Post{ID: "f", Text: before + " " + v + " " + after})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range s.Evidence {
			if strings.Contains(e.Snippet, v) {
				t.Fatalf("snippet %q shows %q", e.Snippet, v)
			}
		}
		for _, e := range s.Entities {
			if strings.Contains(e.Name, v) {
				t.Fatalf("entity %q holds %q", e.Name, v)
			}
		}
	})
}
