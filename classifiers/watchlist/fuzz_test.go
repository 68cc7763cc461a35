package watchlist

import (
	"context"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// FuzzEnrich: any bytes as a post never panic, spans stay inside their
// field, and snippets never show a matched value.
func FuzzEnrich(f *testing.F) {
	for _, s := range []string{
		"123 Main Av. #4 call (555) 010-4477", "\xff\xfe#9@", "Clára O'Brien-Smith ß", "+44 20 7946 0958",
		"clara [at] sorrenti [dot] example", "ABC-1234 7-XYZ-123", strings.Repeat("1 ", 300), "##1#", "@_._-",
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
