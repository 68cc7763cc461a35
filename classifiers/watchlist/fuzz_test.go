package watchlist

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// FuzzEnrich: any bytes as a post never panic, spans stay inside their
// field, and snippets never show a matched value.
func FuzzEnrich(f *testing.F) {
	for _, s := range []string{
		"123 Main Av. #4 call (555) 010-4477", "\xff\xfe#9@", "Clára O'Brien-Smith ß", "+44 20 7946 0958",
		"clara [at] sorrenti [dot] example", "clara at sorrenti dot example", "bob at clara@sorrenti.example", "ABC-1234 7-XYZ-123", strings.Repeat("1 ", 300), "##1#", "@_._-", "123 Main Ave Unit # 4B", "#  \u00a0",
	} {
		f.Add(s, "quoted 123 main ave")
	}
	m := staticMatcher(f, loadTestFile(f))
	f.Fuzz(func(t *testing.T, text, quoted string) {
		p := &msg.Post{ID: "s:f", Text: text, Quoted: []string{quoted}}
		s := &msg.Scored{Post: *p}
		if err := m.Enrich(context.Background(), p, s); err != nil {
			t.Fatal(err)
		}
		for _, e := range s.Evidence {
			field := text
			if e.Field == "quoted" {
				field = p.QuotedText()
			}
			if e.Start < 0 || e.End > len(field) || e.Start >= e.End {
				t.Fatalf("span %d..%d outside %d bytes", e.Start, e.End, len(field))
			}
			if v := field[e.Start:e.End]; len(strings.TrimSpace(v)) > 3 && strings.Contains(e.Snippet, v) {
				t.Fatalf("snippet %q shows the match %q", e.Snippet, v)
			}
		}
	})
}

// FuzzEmailPrefiltersAreNecessary: the cheap checks that let scanEmails
// skip the regexps never skip a text emailRE matches, and the windows
// bareEmailRE is run in find exactly the matches (and submatches) it
// finds in the whole text. The matcher's agreement with the reference
// shows this only for listed addresses; this shows it for every address.
func FuzzEmailPrefiltersAreNecessary(f *testing.F) {
	for _, s := range agreementTexts {
		f.Add(s)
	}
	for _, s := range []string{
		"x at y.z", "x AT y DOT z", "x at\ty [dot] z", "x at y(dot)z", "x at ſ.z", "x [at ] y.z", "x ( at\t) y.z", "x {at}y.z",
		"a at b.c_d at e.f", "x at y.z at w.v", "x at y dot at dot com", "dot at dot.com", "a%b at c.d at e", "é at b.c", "x at y.z.",
	} {
		f.Add(s)
	}
	var tz tokenizer
	if toks := tz.tokenize("at"); len(toks) != 1 || !toks[0].plain || toks[0].w0 != packedAt0 || toks[0].w1 != packedAt1 {
		f.Fatalf("the tokenizer packs \"at\" as %+v, not as packedAt0, packedAt1", toks)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 4096 {
			return
		}
		if emailRE.MatchString(text) && !mayHaveEmail(text) {
			t.Fatalf("emailRE matches %q, mayHaveEmail says no", text)
		}
		want := bareEmailRE.FindAllStringSubmatchIndex(text, 64)
		var got [][]int
		bareEmailWindows(text, tz.tokenize(text), tz.ats, func(from, to int) (int, bool) {
			loc := bareEmailRE.FindStringSubmatchIndex(text[from:to])
			if loc == nil {
				return -1, true
			}
			for k := range loc {
				loc[k] += from
			}
			got = append(got, loc)
			return loc[1], len(got) < 64
		})
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("bareEmailRE on %q: windows give %v, the whole text %v", text, got, want)
		}
	})
}

// FuzzParseFileNeverEchoesAValue: whatever the file, no error from reading
// or hashing it quotes a value. Values in the seeds carry the marker
// "Q@Z", which nothing an error may name can hold (field names, person
// ids and region codes have no "@"), and the fuzzer moves them into every
// position: keys, anchors, ids, regions, broken quoting.
func FuzzParseFileNeverEchoesAValue(f *testing.F) {
	const mark = "Q@Z"
	for _, s := range []string{
		"persons:\n  - id: a1\n    names: [Q@Z Secret Person]\n    phones: [\"Q@Z 12345\"]\n",
		"region: Q@Z\npersons: []\n",
		"persons:\n  - id: Q@Z Secret\n",
		"persons:\n  - id: a1\n    Q@Z 999 Hidden St: Apt 4\n",
		"persons:\n  - id: a1\n    Q@Z Secret: 1\n    Q@Z Secret: 2\n",
		"persons:\n  - id: a1\n    names: *Q@Z_Secret\n",
		"persons:\n  - id: a1\n    emails: [hidden-Q@Z]\n    relatives: [Q@Z]\n",
		`{"persons": [{"id": "a1", "Q@Z Secret": 1, "addresses": ["Q@Z 999 Hidden"]}]}`,
		"persons:\n - id: a1\n   names: [\"Q@Z \\q\"]\n",
		"persons: [{id: a1, plates: [Q@Z], workplace: {Q@Z: x}}]\n",
	} {
		f.Add([]byte(s))
	}
	h, err := NewHasher("k1", testKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		file, err := ParseFile(strings.NewReader(string(in)), "in.yaml")
		if err == nil {
			a := &Admin{hashers: []*Hasher{h}, region: "US"}
			_, _, err = a.hashAll(file, h)
		}
		if err != nil && strings.Contains(err.Error(), mark) {
			t.Fatalf("error quotes a value: %v", err)
		}
	})
}
