package classifiers

import (
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// An intent reached a harm only within six words: "I'm going to find you,
// tie you up and then kill you" (the harm the third of a list of things
// the author says they will do) scored as a threat to nobody in
// particular. The intent now carries through a chain of coordinated verb
// phrases of its sentence, as long as no other subject takes over ("and
// he will...", ", you...").
func TestAnIntentCarriesThroughCoordinatedVerbs(t *testing.T) {
	score := func(text string) float64 { t.Helper(); return scoreOf(t, text, msg.SignalThreat) }
	for _, text := range []string{
		"I'm going to find you, tie you up and then kill you.",
		"I'm gonna drive over there tonight, wait outside and shoot him.",
		"I'll find out where you live, break in, and stab you.",
	} {
		if got := score(text); got < 0.5 {
			t.Errorf("%q scores %.3f, want a threat", text, got)
		}
	}
	for _, text := range []string{
		"I'm going to go to the store, buy some milk and then kill some time.",
		"I will track down the bug, fix it and then kill the process.",
		"I'm going to the game tonight, and they will kill us, the defence is awful.",
		"I'll find the charger, and you will kill the battery again anyway.",
		"I'm going to bed, because those exams will kill me.",
		"I'll phone the cops from a burner, and say Marek stabbed his neighbour.",
		"I'm going to call him tomorrow. His dog bit the mailman and they shot the dog.",
	} {
		if got := score(text); got >= 0.5 {
			t.Errorf("%q scores %.3f as a threat", text, got)
		}
	}
}
