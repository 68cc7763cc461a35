package classifiers

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// samplePlain and samplePositive are sentences SamplePosts builds posts
// from: ordinary forum chatter (including rude and figurative talk, game
// and sport), and the kind of sentence the signals exist for.
var samplePlain = []string{
	"Anyone else having trouble with the latest driver update since Tuesday?",
	"The new season is so much better than the last one, the pacing finally works.",
	"My cat knocked a full glass of water onto my keyboard this morning, somehow it still works.",
	"Thanks everyone for the advice on the interview, I got the offer and start in two weeks.",
	"The farmers market had the first strawberries of the year today and I bought far too many.",
	"Switched to an NVMe drive and boot time went from 45 seconds to about 8.",
	"That referee was blind tonight, three missed calls in the second half alone.",
	"I'm going to kill this raid boss tonight if it takes till 4am, who's in?",
	"My mom is going to kill me when she sees the dent in the car.",
	"This is the dumbest take I've read all week, are you even trying?",
	"Honestly the customer service there is garbage and the manager is an idiot.",
	"Run kill -9 on the stuck process and restart the daemon, that fixed it for me.",
	"The comedian absolutely killed it last night, best set I've seen in years.",
	"We're going to crush them on Friday, our defense is stacked this year.",
	"Does anyone know a good mechanic in the north end of town?",
	"The library moved its weekday hours to 10 until 8, which is great for students.",
	"Rewatched the trilogy over the weekend and the practical effects hold up.",
	"My tomato plants are finally producing but the squirrels take one bite out of each.",
	"Please keep memes out of the help channel and use off-topic for those.",
	"Read a documentary review about the 1930s bank robberies, wild era.",
	"Can someone explain the difference between the two tax forms like I'm five?",
	"Our team got knocked out in the quarterfinal but we'll be back next season.",
	"Going to the range Saturday to sight in the new scope before deer season.",
	"Swatting is a crime that has killed people, report anyone planning it.",
	"The news said a man was sentenced for hoax calls to police last year.",
	"Selling my old road bike, text me if you want it, pickup only.",
	"I hate Mondays, everything broke at once and my coffee went cold.",
	"Stop reverting my edits without reading the talk page first, it is rude.",
	"The final boss destroyed me for three hours before I switched builds.",
	"If you see someone threatening people online, screenshot it and report it.",
	"Happy birthday to my amazing wife, twelve years together today 🎉",
	"Huge storm last night, a tree fell on the fence but everyone is fine.",
	"Is it normal for a new furnace to bang when it starts up in the morning?",
	"Just finished the audiobook about the embassy hostage crisis, heartbreaking.",
	"In the novel the detective confronts the killer on the pier, great ending.",
	"The bakery on Elm Street is closing after forty years, go while you can.",
}

var samplePositive = []string{
	"Dana Kowalski lives at 4412 Larkspur Drive, her cell is (541) 555-0137, go say hi.",
	"someone call in a hostage situation at her place tonight, tell them he has a gun.",
	"I'm going to find you and put a bullet in your head, you know who this is.",
	"anyone know where Aaron lives now? he moved out of his parents' place last month.",
	"Colt you have until Friday, after that I'm coming to your house with a bat.",
	"pizza with extra SWAT for Jolene tonight 🍕🚔 who has the dispatch number?",
	"Her plate is 8KRT221 and she parks behind the library every weekday at 8.",
	"Someone should wait for her after her shift and teach her a lesson.",
}

// SamplePosts returns n posts for benchmarks: 50 to 400 words each, mostly
// ordinary chatter, with about positivePct percent carrying one sentence of
// doxxing, swatting or threat. The same seed gives the same posts.
func SamplePosts(n int, positivePct float64, seed uint64) []*msg.Post {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]*msg.Post, n)
	for i := range out {
		words := 50 + r.IntN(351)
		var b strings.Builder
		positive := r.Float64()*100 < positivePct
		at := -1
		if positive {
			at = r.IntN(max(1, words/15))
		}
		k := 0
		for count := 0; count < words; k++ {
			s := samplePlain[r.IntN(len(samplePlain))]
			if k == at {
				s = samplePositive[r.IntN(len(samplePositive))]
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(s)
			count += strings.Count(s, " ") + 1
		}
		p := &msg.Post{
			Site: fmt.Sprintf("forum-%d", i%8), SitePostID: fmt.Sprint(i), Engine: "sample",
			Published: t0.Add(time.Duration(i) * time.Second), Fetched: t0.Add(time.Duration(i) * time.Second),
			Text: b.String(),
		}
		p.Normalize()
		out[i] = p
	}
	return out
}
