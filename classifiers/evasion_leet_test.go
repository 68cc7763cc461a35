package classifiers

import (
	"context"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Leet at the end of a word was left as it was: "ki11" and "ki||" (ones
// and bars for the "l"s) read as no word, so "I am going to ki11 you"
// scored as harmless as small talk, and "kill th3m 4ll" missed "all".
// Each "1", "|" or "!" may stand for an "l" or an "i"; the lexicon says
// which spelling is a word.
func TestLeetAtAWordsEndIsRead(t *testing.T) {
	score := func(text string) float64 { t.Helper(); return scoreOf(t, text, msg.SignalThreat) }
	plain := score("I am going to kill you, Marek.")
	for _, text := range []string{
		"I am going to ki11 you, Marek.",
		"I am going to ki|| you, Marek.",
		"I am going to kil| you, Marek.",
		"I am going to k1ll you, Marek.",
	} {
		if got := score(text); got < plain-0.05 {
			t.Errorf("%q scores %.3f, %q %.3f", text, got, "kill", plain)
		}
	}
	for _, text := range []string{
		"ill be there at 11, bring the bills",
		"the skill is real, 10|10 would watch again",
		"Gunn and Bill went up the hill at 4",
		"a|b testing for the kiln, 1!1",
	} {
		if got := score(text); got >= 0.5 {
			t.Errorf("%q scores %.3f as a threat", text, got)
		}
	}
}

// scoreOf is text's score for sig under the default classifier.
func scoreOf(t *testing.T, text string, sig msg.Signal) float64 {
	t.Helper()
	s, err := leakClassifier(t).Score(context.Background(), &msg.Post{ID: "p", Text: text})
	if err != nil {
		t.Fatal(err)
	}
	return s.Scores[sig]
}

// A capital I inside a word stands for an l in most fonts: "kilI", "kiIl"
// read as "kill" and scored as "kili" (nothing). Where the original has
// a capital I after a lower-case letter, the lexicon tries it as an l.
// Camel-case names (LinkedIn, McIntyre) and a name that is a word of its
// own (Kili) stay what they are.
func TestACapitalIInsideAWordMayBeAnL(t *testing.T) {
	plain := scoreOf(t, "I am going to kill you, Marek.", msg.SignalThreat)
	for _, text := range []string{
		"I am going to kilI you, Marek.",
		"I am going to kiIl you, Marek.",
		"I am going to kiII you, Marek.",
	} {
		if got := scoreOf(t, text, msg.SignalThreat); got < plain-0.05 {
			t.Errorf("%q scores %.3f, %q %.3f", text, got, "kill", plain)
		}
	}
	for _, text := range []string{
		"my LinkedIn and McIntyre say hi",
		"Kili is my favourite dwarf",
		"the iPhone and the WiFi are fine",
	} {
		if got := scoreOf(t, text, msg.SignalThreat); got >= 0.5 {
			t.Errorf("%q scores %.3f as a threat", text, got)
		}
	}
}
