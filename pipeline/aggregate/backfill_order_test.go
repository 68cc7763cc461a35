package aggregate

import (
	"slices"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/level"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// A site whose first crawl reads history newest-first (Telegram channels,
// feeds, Reddit listings) must learn its normal from that backfill just as
// one read oldest-first does, even when the backfill is mostly quiet posts
// that add no weight.
func TestBackfillReadNewestFirstEndsLearning(t *testing.T) {
	for _, order := range []string{"oldest-first", "newest-first"} {
		t.Run(order, func(t *testing.T) {
			s := newStream(7)
			s.feed("tg", 0, 30*time.Hour, 20, 0, false, func(p *msg.Scored) { p.Post.Backfill = true })
			posts := s.sorted()
			if order == "newest-first" {
				slices.Reverse(posts)
			}
			e, err := NewEngine(defaults())
			if err != nil {
				t.Fatal(err)
			}
			// The crawl happens at the end of the history: the clock is there.
			out := e.Advance(at(30 * time.Hour))
			for _, p := range posts {
				out = append(out, e.Add(p)...)
			}
			// One live post after the crawl makes the site report its level.
			live := &msg.Scored{Schema: msg.SchemaScored,
				Post:   msg.Post{Schema: msg.SchemaPost, ID: "tg-live", Site: "tg", Published: at(30*time.Hour + 10*time.Minute)},
				Scores: map[msg.Signal]float64{msg.SignalThreat: 0.6}}
			out = append(out, e.Advance(live.Post.Published)...)
			out = append(out, e.Add(live)...)
			out = append(out, e.Advance(at(31*time.Hour))...)
			var last *msg.Level
			for _, o := range out {
				if o.Level != nil && o.Level.Site == "tg" && o.Level.Target == "" && o.Level.Time.After(at(30*time.Hour)) {
					last = o.Level
				}
			}
			if last == nil {
				t.Fatal("no level for the site after the live post")
			}
			if last.Name == level.Learning {
				t.Fatalf("after 30h of backfill read %s the site is still %q", order, last.Name)
			}
			if n := len(alerts(out, "")); n != 0 {
				t.Fatalf("a quiet backfill and one post paged %d times", n)
			}
		})
	}
}
