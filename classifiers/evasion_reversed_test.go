package classifiers

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// readsAsPlain checks that text, which a reader sees as plainText, scores
// a threat within 0.15 of it, and that one threat span in the original
// text covers hidden, the bytes the author wrote for the threat word.
func readsAsPlain(t *testing.T, c *Classifier, plainText, text, hidden string) {
	t.Helper()
	plain := score(t, c, plainText).Scores[msg.SignalThreat]
	if plain < 0.5 {
		t.Fatalf("the plain threat %q scored %.2f, want >= 0.5", plainText, plain)
	}
	s := score(t, c, text)
	if got := s.Scores[msg.SignalThreat]; got < plain-0.15 {
		t.Errorf("%q scored %.2f, %q %.2f", text, got, plainText, plain)
	}
	covered := false
	for _, e := range s.Evidence {
		if e.Start < 0 || e.End > len(text) || e.Start > e.End {
			t.Fatalf("%q: span %d:%d outside the text", text, e.Start, e.End)
		}
		span := text[e.Start:e.End]
		if !utf8.ValidString(span) {
			t.Errorf("%q: span %d:%d cuts a rune: %q", text, e.Start, e.End, span)
		}
		covered = covered || e.Signal == msg.SignalThreat && strings.Contains(span, hidden)
	}
	if !covered {
		t.Errorf("%q: no threat evidence covers %q: %+v", text, hidden, s.Evidence)
	}
}

// A right-to-left override (U+202E) makes a renderer draw the letters
// after it in reverse order, up to the pop (U+202C), the end of an
// isolate holding it, or the end of the line: "\u202ellik\u202c" shows
// "kill". The override was dropped as an invisible character and the
// letters read in the order stored, "llik", so a threat written backwards
// behind one scored as small talk.
func TestARightToLeftOverrideDoesNotHideAThreat(t *testing.T) {
	c := newTestClassifier(t)
	const plain = "I will kill her tonight"
	f := func(text, hidden string) { t.Helper(); readsAsPlain(t, c, plain, text, hidden) }
	f("I will \u202ellik\u202c her tonight", "llik")
	f("I will \u202ereh llik\u202c tonight", "reh llik")
	f("\u202ethginot reh llik lliw I", "llik")
	f("I will \u2067\u202ellik\u2069 her tonight", "llik")
	f("nice weather\n\u202ethginot reh llik lliw I\nbye", "llik")
}

// Upside-down text, which "flip text" generators make by turning each
// letter over and the whole text around ("llıʞ" is "kill", "ʇɐǝɹɥʇ"
// "threat"), was left as written: no word of it read.
func TestUpsideDownTextIsRead(t *testing.T) {
	c := newTestClassifier(t)
	f := func(plain, text, hidden string) { t.Helper(); readsAsPlain(t, c, plain, text, hidden) }
	f("I will kill her tonight", "I will llıʞ her tonight", "llıʞ")
	f("I will kill her tonight", "I will llᴉʞ her tonight", "llᴉʞ")
	f("I will kill her tonight", "ʇɥƃıuoʇ ɹǝɥ llıʞ llıʍ I", "llıʞ")
	f("I will kill her tonight.", "˙ʇɥƃıuoʇ ɹǝɥ llıʞ llıʍ I", "llıʞ")
	f("I will shoot her tonight", "I will ʇooɥs her tonight", "ʇooɥs")
	f("I will kill her tonight", "I will ˥˥Iꓘ her tonight", "˥˥Iꓘ")
	// The classify stage reads only posts in scripts the classifiers know.
	for _, text := range []string{"˙ʇɥƃıuoʇ ɹǝɥ llıʞ llıʍ I", "\u202ethginot reh llik lliw I"} {
		if got := Script(text); got != ScriptLatin {
			t.Errorf("Script(%q) = %q, want %q", text, got, ScriptLatin)
		}
	}
}

// Parenthesized letters (U+249C-U+24B5), which the fancy-text generators
// offer beside the circled ones, were left as written: "⒦⒤⒧⒧" read as no
// word.
func TestParenthesizedLettersAreRead(t *testing.T) {
	c := newTestClassifier(t)
	readsAsPlain(t, c, "I will kill her tonight", "I will ⒦⒤⒧⒧ her tonight", "⒦⒤⒧⒧")
}

// What the reversal reads, and where its tokens point: every token's span
// lies inside the original text, in order, and a reversed word points at
// the bytes it was written with. Text that only resembles flipped text
// (Turkish, phonetics, a formula) and overrides holding figures, which the
// personal-data finders read in stored order, are left as they were.
func TestReversedTextReadsInDisplayOrderWithSpansInTheOriginal(t *testing.T) {
	f := func(in, want string, spans ...string) {
		t.Helper()
		n := normalize(in)
		if n.s != want {
			t.Errorf("normalize(%q) = %q, want %q", in, n.s, want)
		}
		if n.off != nil && (len(n.off) != len(n.s)+1 || int(n.off[len(n.off)-1]) != len(in)) {
			t.Fatalf("normalize(%q): %d offsets for %d bytes", in, len(n.off), len(n.s))
		}
		toks := tokenize(&n, in, nil)
		var got []string
		last := 0
		for _, tk := range toks {
			a, b := n.orig(int(tk.start)), n.orig(int(tk.end))
			if a > b || b > len(in) || a < 0 {
				t.Fatalf("normalize(%q): token %q spans %d:%d", in, tk.s, a, b)
			}
			if b < last {
				t.Errorf("normalize(%q): token %q ends at %d, before %d", in, tk.s, b, last)
			}
			last = b
			if !utf8.ValidString(in[a:b]) {
				t.Errorf("normalize(%q): token %q spans %q, cutting a rune", in, tk.s, in[a:b])
			}
			got = append(got, in[a:b])
		}
		if spans != nil && strings.Join(got, "|") != strings.Join(spans, "|") {
			t.Errorf("normalize(%q): token spans %q, want %q", in, got, spans)
		}
	}
	f("go \u202ellik\u202c now", "go kill now", "go", "llik\u202c", "now")
	f("go \u202e(reh) llik\u202c now", "go kill (her) now", "go", "(reh) llik", "(reh) llik", "now")
	f("\u202ellik\nkill", "kill\nkill", "llik", "kill")
	f("a \u2066\u202eb c\u2069 d", "a c b d")
	f("go llıʞ now", "go kill now", "go", "llıʞ", "now")
	f("¡ʇɥƃıuoʇ ɹǝɥ llıʞ llıʍ I", "i will kill her tonight!")
	f("do llıʞ on sight", "do kill on sight", "do", "llıʞ", "on", "sight")
	f("her address: 91 ʇǝǝɹʇS ꓘɐO", "her address: 91 oak street")
	f("61 ʇǝǝɹʇS ꓘɐO ʇɐ sǝʌıl ǝɥS", "she lives at oak street 19")
	// Left in stored order.
	f("ılık su", "ilik su")
	f("A ∩ B, ∀x", "a ∩ b, ∀x")
	f("call \u202e719 555 0108\u202c", "call 719 555 0108")
}

// BenchmarkNormalize measures the normalizer alone on plain ASCII, on
// accented text and on text holding each evasion this file reads.
func BenchmarkNormalize(b *testing.B) {
	for _, tc := range []struct{ name, text string }{
		{"ascii", strings.Repeat("I know where you live and I will be there tonight. ", 8)},
		{"accented", strings.Repeat("Je sais où tu habites, j'y serai ce soir à minuit. ", 8)},
		{"override", strings.Repeat("I know where you live and I will \u202ellik\u202c you. ", 8)},
		{"upside-down", strings.Repeat("˙ʇɥƃıuoʇ ǝɹǝɥʇ ǝq llıʍ I puɐ ǝʌıl noʎ ǝɹǝɥʍ ʍouʞ I ", 8)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.text)))
			b.ReportAllocs()
			for b.Loop() {
				_ = normalize(tc.text)
			}
		})
	}
}

// FuzzReversedTextSpans: whatever surrounds an override or flipped text,
// every token's span lies inside the original text, on rune starts, and
// never ends before the previous token's; Score keeps its spans inside
// the text too.
func FuzzReversedTextSpans(f *testing.F) {
	for _, s := range []string{
		"I will \u202ellik\u202c her", "\u202e(a) [b] c$d\u202c", "a \u2066\u202eb\tc\u2069 d", "\u202e\u202d\u202c\u202c",
		"˙ʇɥƃıuoʇ ɹǝɥ llıʞ llıʍ I", "so llıʞ\u200b on 🔪$x", "ɐ\u0301ʞ\n∀x ∩ y", "\u202e¡ʞ\xff",
	} {
		f.Add(s)
	}
	c := newTestClassifier(f)
	f.Fuzz(func(t *testing.T, text string) {
		n := normalize(text)
		if n.off != nil && (len(n.off) != len(n.s)+1 || int(n.off[len(n.off)-1]) != len(text)) {
			t.Fatalf("%q: %d offsets for %d bytes", text, len(n.off), len(n.s))
		}
		last := 0
		for _, tk := range tokenize(&n, text, nil) {
			a, b := n.orig(int(tk.start)), n.orig(int(tk.end))
			if a < 0 || a > b || b > len(text) {
				t.Fatalf("%q: token %q spans %d:%d", text, tk.s, a, b)
			}
			if a < len(text) && !utf8.RuneStart(text[a]) || b < len(text) && !utf8.RuneStart(text[b]) {
				t.Fatalf("%q: token %q spans %d:%d, inside a rune", text, tk.s, a, b)
			}
			if b < last {
				t.Fatalf("%q: token %q ends at %d, before %d", text, tk.s, b, last)
			}
			last = b
		}
		for _, e := range score(t, c, text).Evidence {
			if e.Start < 0 || e.Start > e.End || e.End > len(text) {
				t.Fatalf("%q: span %+v outside the text", text, e)
			}
		}
	})
}

// flipRead answers from flipped for every character it lists: its
// shortcut for the characters outside flipped must not skip one.
func TestFlipReadAgreesWithTheTable(t *testing.T) {
	for r, want := range flipped {
		if got, ok := flipRead(r); !ok || got != want {
			t.Errorf("flipRead(%q) = %q, %v; want %q", r, got, ok, want)
		}
	}
	for _, r := range "aceéдk😀" {
		if got, ok := flipRead(r); ok {
			t.Errorf("flipRead(%q) = %q, want none", r, got)
		}
	}
}
