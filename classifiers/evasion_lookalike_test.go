package classifiers

import (
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Cherokee and Lisu capitals and the Latin kra (ĸ) look like Latin
// letters and were read as no word: "I will ᏦᎥᏞᏞ you" scored as
// harmless as small talk. They are read as the letters they look like.
func TestCherokeeAndLisuLookalikesAreRead(t *testing.T) {
	score := func(text string) float64 { t.Helper(); return scoreOf(t, text, msg.SignalThreat) }
	plain := score("I am going to kill you tonight, Marek.")
	for _, text := range []string{
		"I am going to ᏦᎥᏞᏞ you tonight, Marek.",
		"I am going to ꓗꓲꓡꓡ you tonight, Marek.",
		"I am going to ĸill you tonight, Marek.",
		"I am going to ᏦIꓡL you tonight, Marek.",
	} {
		if got := score(text); got < plain-0.05 {
			t.Errorf("%q scores %.3f, the plain sentence %.3f", text, got, plain)
		}
	}
	// Real Cherokee and Lisu text is not taken for English words.
	for _, text := range []string{"ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ", "ꓡꓲ-ꓢꓴ"} {
		if got := score(text); got >= 0.5 {
			t.Errorf("%q scores %.3f as a threat", text, got)
		}
	}
}
