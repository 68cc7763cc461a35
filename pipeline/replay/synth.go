package replay

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// SyntheticScored writes n scored posts as JSON lines, for benchmarks: a
// realistic mix (about 600 bytes a line, text, scores, some evidence and
// targets) over sites forum sites, in event-time order, one post every
// 500 ms of event time. The same n, sites and seed give the same bytes.
func SyntheticScored(w io.Writer, n, sites int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	mw := msg.NewWriter(w)
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	texts := []string{
		"anyone else think the new patch broke matchmaking again, queue times are terrible tonight",
		"selling my old gpu, pm me if interested, shipping only within the country",
		"that streamer deserves whatever is coming to him, somebody should show up at his place",
		"does anyone have the address of the guy who runs that channel? asking for a friend",
		"lol this thread is gold, mods please pin it",
	}
	for i := range n {
		site := fmt.Sprintf("forum-%03d.example", rng.IntN(max(sites, 1)))
		at := t0.Add(time.Duration(i) * 500 * time.Millisecond)
		kind := rng.IntN(100)
		text := texts[rng.IntN(2)]
		if kind >= 95 {
			text = texts[2+rng.IntN(2)]
		}
		s := &msg.Scored{
			Schema: msg.SchemaScored,
			Post: msg.Post{
				Schema: msg.SchemaPost, Site: site, Engine: "discourse", SitePostID: fmt.Sprint(i),
				URL:      fmt.Sprintf("https://%s/t/%d/%d", site, i%5000, i),
				ThreadID: fmt.Sprint(i % 5000), Thread: "general discussion", Author: fmt.Sprintf("user%d", rng.IntN(50000)),
				Published: at, Fetched: at.Add(time.Duration(30+rng.IntN(600)) * time.Second), Text: text,
			},
			Scores: map[msg.Signal]float64{
				msg.SignalDoxxing:  float64(rng.IntN(30)) / 100,
				msg.SignalSwatting: float64(rng.IntN(20)) / 100,
				msg.SignalThreat:   float64(rng.IntN(40)) / 100,
			},
			Classifier: "threatwatch", Version: "1.0.0", ScoredAt: at.Add(15 * time.Minute),
		}
		if kind >= 95 {
			s.Scores[msg.SignalThreat] = 0.6 + float64(rng.IntN(40))/100
			s.Evidence = []msg.Span{{Signal: msg.SignalThreat, Kind: "intent_to_harm", Field: "text", Start: 10, End: 60,
				Snippet: "deserves whatever is coming to [NAME]", Weight: s.Scores[msg.SignalThreat]}}
			s.Entities = []msg.Entity{{Kind: msg.EntityHandle, Name: fmt.Sprintf("@streamer%d", rng.IntN(200)), Ref: fmt.Sprintf("streamer%d", rng.IntN(200)), Target: true}}
		}
		s.Post.Normalize()
		if err := mw.Write(s); err != nil {
			return err
		}
	}
	return mw.Flush()
}
