package classifiers

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Text a renderer shows as plain letters must read as plain letters: every
// form below displays "kill her" (or close enough that a reader sees it),
// and each was scoring as calm small talk.
func TestMarksFillersAndFancyLettersDoNotHideAThreat(t *testing.T) {
	c := newTestClassifier(t)
	const plainText = "I will kill her tonight"
	plain := score(t, c, plainText).Scores[msg.SignalThreat]
	if plain < 0.5 {
		t.Fatalf("the plain threat scored %.2f, want >= 0.5", plain)
	}
	f := func(name, word, hidden string) {
		t.Helper()
		text := strings.Replace(plainText, word, hidden, 1)
		s := score(t, c, text)
		if got := s.Scores[msg.SignalThreat]; got < plain-0.15 {
			t.Errorf("%s: %q scored %.2f, the plain spelling %.2f", name, text, got, plain)
		}
		// Evidence points at the bytes the author wrote: whole runes, and
		// one span covers the whole hidden word with its marks.
		covered := false
		for _, e := range s.Evidence {
			span := text[e.Start:e.End]
			if !utf8.ValidString(span) {
				t.Errorf("%s: span %d:%d cuts a rune: %q", name, e.Start, e.End, span)
			}
			covered = covered || e.Signal == msg.SignalThreat && strings.Contains(span, hidden)
		}
		if !covered {
			t.Errorf("%s: no threat evidence covers %q in %q: %+v", name, hidden, text, s.Evidence)
		}
	}
	f("strike-through marks", "kill", "k\u0336i\u0336l\u0336l\u0336")
	f("Zalgo marks", "kill", "k\u0301\u0336\u0489i\u0352\u0300l\u033el\u0353\u0328")
	f("enclosing squares", "kill", "k\u20dei\u20del\u20del\u20de")
	f("an accent typed as a mark", "kill", "ki\u0301ll")
	f("accented letters the table lacks", "kill", "ķįļļ")
	f("script letters with their letter-like gaps", "kill her", "𝓀𝒾𝓁𝓁 𝒽ℯ𝓇")
	f("the italic h", "her", "ℎer")
	f("superscript letters", "kill", "ᵏⁱˡˡ")
	f("small capitals", "kill", "ᴋɪʟʟ")
	f("a bidi isolate inside the word", "kill", "ki\u2066ll")
	f("the Arabic letter mark", "kill", "ki\u061cll")
	f("a tag character", "kill", "ki\U000E0041ll")
	f("the Hangul filler", "kill", "ki\u3164ll")
	f("a supplementary variation selector", "kill", "ki\U000E0100ll")
}

// The byte map stays a map into the original: one entry per normalized
// byte plus one, never decreasing, every entry at the start of a rune.
func TestNormalizeKeepsOffsetsOnRuneStarts(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		n := normalize(in)
		if n.s != want {
			t.Errorf("normalize(%q) = %q, want %q", in, n.s, want)
		}
		if n.off == nil {
			return
		}
		if len(n.off) != len(n.s)+1 || int(n.off[len(n.off)-1]) != len(in) {
			t.Fatalf("normalize(%q): %d offsets for %d bytes, last %d", in, len(n.off), len(n.s), n.off[len(n.off)-1])
		}
		for i, o := range n.off {
			if i > 0 && o < n.off[i-1] {
				t.Errorf("normalize(%q): offset %d goes back to %d", in, i, o)
			}
			if int(o) < len(in) && !utf8.RuneStart(in[o]) {
				t.Errorf("normalize(%q): offset %d = %d is inside a rune", in, i, o)
			}
		}
	}
	f("K\u0336ILL", "kill")
	f("e\u0301te\u0301", "ete")
	f("ķįļļ ᴋɪʟʟ ᵏⁱˡˡ", "kill kill kill")
	f("𝒽ℯ𝓇 ℎer", "her her")
	f("ﬁnd ™", "find tm")
	f("k\u2066i\u2069ll\U000E0041", "kill")
	f("⒦⒤⒧⒧", "kill")
	// Left as written: punctuation, other scripts, fractions, emoji.
	f("½ ⑴", "½ ⑴")
	f("дом й 家 한국", "дom й 家 한국")
	f("がんばって", "がんばって")
	f("1️⃣ 👍🏽", "1 👍🏽")
}

// A word spelled out letter by letter reads as the word whatever stands
// between the letters: a bullet is one character though three bytes, and
// underscores and apostrophes, which the tokenizer keeps inside words,
// hide it as well as spaces do.
func TestSpelledOutWordsReadWhateverSeparatesTheLetters(t *testing.T) {
	c := newTestClassifier(t)
	const plainText = "I will kill her tonight"
	plain := score(t, c, plainText).Scores[msg.SignalThreat]
	f := func(hidden string) {
		t.Helper()
		text := strings.Replace(plainText, "kill", hidden, 1)
		s := score(t, c, text)
		if got := s.Scores[msg.SignalThreat]; got < plain-0.15 {
			t.Errorf("%q scored %.2f, the plain spelling %.2f", text, got, plain)
		}
		for _, e := range s.Evidence {
			if e.Kind == KindObfuscatedHarm && text[e.Start:e.End] != hidden {
				t.Errorf("%q: the obfuscated word's evidence is %q", text, text[e.Start:e.End])
			}
		}
	}
	f("k_i_l_l")
	f("k'i'l'l")
	f("k•i•l•l")
	f("k\u2024i\u2024l\u2024l")
	// Words that only look like it are left alone.
	g := func(text, want string) {
		t.Helper()
		n := normalize(text)
		var got []string
		for _, tk := range tokenize(&n, text, nil) {
			got = append(got, tk.s)
		}
		if strings.Join(got, " ") != want {
			t.Errorf("tokens of %q: %q, want %q", text, got, want)
		}
	}
	g("set my_var_name and a_b", "set my_var_name and a_b")
	g("o'er y'all i'd", "o'er y'all i'd")
	g("a • b", "a b")
	g("x_y_z", "xyz")
}
