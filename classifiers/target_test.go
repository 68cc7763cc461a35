package classifiers

import (
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

func TestHarmObjectTellsPeopleFromThings(t *testing.T) {
	c := newTestClassifier(t)
	f := func(text string, want harmObject) {
		t.Helper()
		d := &Document{}
		c.prepare(d, text, "text")
		if len(d.byCue[cHarmStrong]) == 0 {
			t.Fatalf("%q: no harm verb found", text)
		}
		if got := d.objectOf(d.hits[d.byCue[cHarmStrong][0]]); got != want {
			t.Errorf("%q: object %d, want %d", text, got, want)
		}
	}
	f("I am going to kill @streamerjane", objPerson)
	f("gonna kill u/quietfox88 tonight", objPerson)
	f("I will kill Jane Doe when I find her", objPerson)
	f("I'll stab that bitch", objPerson)
	f("gonna strangle my ex", objPerson)
	f("I will kill her", objPerson)
	f("I will kill your whole family", objPerson)
	f("gonna kill the final boss tonight", objThing)
	f("I'm going to kill the raid boss Vorgath", objThing)
	f("we're gonna kill it at the tournament", objThing)
	f("gonna kill her character in the next patch", objThing)
	f("I'm gonna kill my mom's spider plant", objThing)
	f("my sister is going to kill me", objThing)
	f("I'm going to kill time at the mall", objThing)
}

func TestHuntingNeedsHuntingContext(t *testing.T) {
	c := newTestClassifier(t)
	f := func(text string, want float64) {
		t.Helper()
		d := &Document{}
		c.prepare(d, text, "text")
		if got := d.huntingContext(); got != want {
			t.Errorf("%q: hunting %v, want %v", text, got, want)
		}
	}
	f("I will kill Jane Doe when I find her", 0)
	f("I'm going to hunt her down", 0)
	f("going deer hunting, rifle season opens saturday", 3)
	f("took the bow to the range", 3)
}

func TestDirectThreatsAgainstAPersonScoreHigh(t *testing.T) {
	c := newTestClassifier(t)
	f := func(text string, atLeast, below float64) {
		t.Helper()
		s := score(t, c, text).Scores[msg.SignalThreat]
		if s < atLeast || s >= below {
			t.Errorf("%q: threat %.2f, want in [%.2f, %.2f)", text, s, atLeast, below)
		}
	}
	f("I am going to kill @streamerjane when I find her, she deserves to bleed", 0.7, 1.01)
	f("I am going to kill @streamerjane", 0.7, 1.01)
	f("I will kill Jane Doe when I find her", 0.7, 1.01)
	f("that boss fight killed me lol, gonna kill the final boss tonight", 0, 0.5)
	f(`Nobody should hurt her, threats like "I will kill you" are disgusting and I reported them`, 0, 0.5)
}

// One person written with a composed accent or a combining one is one
// target: the per-target level gathers what each site says about them.
func TestATargetsRefDoesNotDependOnHowItsLettersAreEncoded(t *testing.T) {
	c := newTestClassifier(t)
	refs := map[string]bool{}
	for _, name := range []string{"Zoé Marchetti", "Zoe\u0301 Marchetti"} {
		s := score(t, c, name+" lives at 15 Millrace Ln, Pruitt Hollow. go make her regret every word.")
		found := ""
		for _, e := range s.Entities {
			if e.Kind == msg.EntityPerson && e.Target {
				found = e.Ref
			}
		}
		if found == "" {
			t.Fatalf("%q: no target person in %+v", name, s.Entities)
		}
		refs[found] = true
	}
	if len(refs) != 1 {
		t.Fatalf("one person, %d target refs: %v", len(refs), refs)
	}
}
