package classifiers

import (
	"context"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// A name was taken for one only when it began with an ASCII capital: one
// written in fullwidth forms ("Ｄａｎａ Ｋｏｗａｌｓｋｉ", to slip past
// filters) or beginning with an accented or non-Latin capital ("Élodie",
// "Þórsson") was no person, so the post named no target and the person's
// per-target level never rose.
func TestNamesBeyondASCIICapitalsAreTargets(t *testing.T) {
	c := leakClassifier(t)
	for _, tc := range []struct {
		text, name, ref string
	}{
		{"Ｄａｎａ Ｋｏｗａｌｓｋｉ lives at 4412 Larkspur Drive, Tessaly. Her cell is (541) 555-0137, go say hi.", "Ｄａｎａ Ｋｏｗａｌｓｋｉ", "dana kowalski"},
		{"Élodie Marchand lives at 4412 Larkspur Drive, Tessaly. Her cell is (541) 555-0137, go say hi.", "Élodie Marchand", "élodie marchand"},
		{"I am going to kill Ásgeir Þórsson tonight, he will not see it coming.", "Ásgeir Þórsson", "ásgeir þórsson"},
	} {
		s, err := c.Score(context.Background(), &msg.Post{ID: "p", Text: tc.text})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range s.Entities {
			if e.Kind == msg.EntityPerson && e.Name == tc.name && e.Target && e.Ref == msg.TargetRef(tc.ref) {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: entities %+v, want the target %q", tc.text, s.Entities, tc.name)
		}
	}
}

// Shouting is not a name, whatever the script: "ВНИМАНИЕ", "ÉCOUTE".
func TestShoutedWordsBeyondASCIIAreNotCapitalized(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"Dana", true}, {"WATCH", false}, {"Élodie", true}, {"ÉCOUTE", false},
		{"Ｄａｎａ", true}, {"ＤＡＮＡ", false}, {"Þórsson", true}, {"Мария", true}, {"ВНИМАНИЕ", false},
		{"dana", false}, {"élodie", false}, {"É", true}, {"9lives", false},
	} {
		if got := capitalized(tc.s); got != tc.want {
			t.Errorf("capitalized(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
