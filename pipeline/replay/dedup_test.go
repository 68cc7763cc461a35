package replay

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Live, the stages remember a post id for runner.dedup_ttl (7 days by
// default): a post sent again hours later (a re-crawl after the crawl
// state was lost, a producer that retried after a restart) counts once.
// Replay forgot ids after one hour of event time and counted such a post
// twice, so a replay could page where live did not.
func TestReplayDeduplicatesForTheLiveDedupTTL(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	scored := func(p *msg.Post) []byte {
		p.Normalize()
		b, err := msg.Encode(&msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// filler moves the stream on: a post of another site every ten
	// minutes from t0 to t0+span.
	filler := func(span time.Duration) [][]byte {
		var out [][]byte
		for at := t0; !at.After(t0.Add(span)); at = at.Add(10 * time.Minute) {
			out = append(out, scored(&msg.Post{Site: "other", SitePostID: fmt.Sprint(at.Unix()), Published: at, Text: "chatter"}))
		}
		return out
	}
	post := &msg.Post{Site: "forum", SitePostID: "7", Published: t0, Text: "see you there"}
	post.Normalize()
	id := post.ID
	// resent is the same post written again later, with its own published
	// time: it reaches replay behind newer posts, as it reached live.
	resent := func(span time.Duration) [][]byte {
		p := *post
		lines := append([][]byte{scored(&p)}, filler(span)...)
		q := *post
		return append(lines, scored(&q))
	}
	// refetched is a post the site gave no time for, fetched again
	// later: its event time is the fetch time.
	refetched := func(after, span time.Duration) [][]byte {
		p := &msg.Post{Site: "forum", SitePostID: "7", Fetched: t0, Text: "see you there"}
		q := &msg.Post{Site: "forum", SitePostID: "7", Fetched: t0.Add(after), Text: "see you there"}
		lines := append([][]byte{scored(p)}, filler(span)...)
		// Keep the file in event-time order: the copy goes where its fetch
		// time falls among the filler.
		k := 1 + int(after/(10*time.Minute))
		lines = append(lines[:k], append([][]byte{scored(q)}, lines[k:]...)...)
		return lines
	}
	defaults := config.Default()
	for _, tc := range []struct {
		name   string
		lines  [][]byte
		window time.Duration // Options.DedupWindow; 0: the default
		want   int           // times the engine is given the post
	}{
		{"a post sent again two hours later counts once", resent(3 * time.Hour), 0, 1},
		{"a post fetched again two hours later counts once", refetched(2*time.Hour, 3*time.Hour), 0, 1},
		{"a post fetched again six days later counts once", refetched(6*24*time.Hour, 7*24*time.Hour), 0, 1},
		{"a post fetched again eight days later counts again, as live forgot it", refetched(8*24*time.Hour, 9*24*time.Hour), 0, 2},
		{"with a dedup_ttl of one hour, a post sent again two hours later counts again", resent(3 * time.Hour), time.Hour, 2},
		{"with the configured dedup_ttl, a post fetched again two hours later counts once", refetched(2*time.Hour, 3*time.Hour), defaults.Runner.DedupTTL, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := Files([]string{writeTemp(t, "in.jsonl", tc.lines)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			eng := &addCounter{}
			o := Options{DedupWindow: tc.window}
			o.FromAggregate(defaults.Aggregate)
			st, err := Run(context.Background(), src, o, &Lane{Name: "t", Engine: eng})
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, a := range eng.added {
				if a == id {
					got++
				}
			}
			if got != tc.want {
				t.Errorf("the post was counted %d times, want %d (%d duplicates)", got, tc.want, st.Duplicates)
			}
			if want := int64(2 - tc.want); st.Duplicates != want {
				t.Errorf("%d duplicates, want %d", st.Duplicates, want)
			}
		})
	}
}

// The dedup set forgets ids in event-time order: what it holds is bounded
// by the posts of one dedup window, however long the replay.
func TestDedupHoldsOneWindowOfIDs(t *testing.T) {
	const window = time.Hour
	d := newDedup(window)
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	most := 0
	for i := range 10 * 60 {
		// One post a minute for ten hours, a few a little out of order.
		at := t0.Add(time.Duration(i)*time.Minute - time.Duration(i%3)*time.Minute)
		if d.duplicate(fmt.Sprint("p", i), at) {
			t.Fatalf("post %d taken for a duplicate", i)
		}
		most = max(most, d.size())
	}
	// 61 minutes of ids (the window is inclusive) plus the few out of order.
	if most > 64 {
		t.Errorf("held up to %d ids, want at most one window's (about 61)", most)
	}
}
