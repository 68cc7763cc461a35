package replay

import (
	"context"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// addCounter is an engine that records the posts it is given.
type addCounter struct{ added []string }

func (a *addCounter) Add(s *msg.Scored) []Output {
	a.added = append(a.added, s.Post.DedupID())
	return nil
}

func (a *addCounter) Advance(time.Time) []Output { return nil }

// An edit of a post (same id, Edited, a new content hash) is new input to
// the live stages, which deduplicate on the post's DedupID, and the
// aggregate engine counts its rise in weight. Replay dropped it as a
// duplicate of the original (same id, same published time), so a post
// edited into a threat paged live and not in its replay.
func TestAnEditedPostIsReplayedAsTheLiveStagesHandleIt(t *testing.T) {
	published := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	version := func(text string, edited bool) *msg.Post {
		p := &msg.Post{Site: "forum", SitePostID: "7", Published: published, Text: text, Edited: edited}
		p.Normalize()
		return p
	}
	first, edit := version("see you there", false), version("see you there, you know where you live", true)
	scoredLine := func(p *msg.Post) []byte {
		b, err := msg.Encode(&msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rawLine := func(p *msg.Post) []byte {
		b, err := msg.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	f := func(name string, lines [][]byte, wantAdded []string, wantDuplicates int64) {
		t.Run(name, func(t *testing.T) {
			src, err := Files([]string{writeTemp(t, "in.jsonl", lines)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			eng := &addCounter{}
			st, err := Run(context.Background(), src, Options{Window: time.Minute}, &Lane{Name: "t", Engine: eng, Scorer: keywordScorer{}})
			if err != nil {
				t.Fatal(err)
			}
			if len(eng.added) != len(wantAdded) {
				t.Fatalf("engine given %v, want %v", eng.added, wantAdded)
			}
			for i := range wantAdded {
				if eng.added[i] != wantAdded[i] {
					t.Fatalf("engine given %v, want %v", eng.added, wantAdded)
				}
			}
			if st.Duplicates != wantDuplicates {
				t.Errorf("%d duplicates, want %d", st.Duplicates, wantDuplicates)
			}
		})
	}
	f("an exact copy of a post is dropped",
		[][]byte{scoredLine(first), scoredLine(first)}, []string{first.DedupID()}, 1)
	f("an edit of a scored post is replayed after the post",
		[][]byte{scoredLine(first), scoredLine(edit)}, []string{first.DedupID(), edit.DedupID()}, 0)
	f("an edit of a raw post is replayed after the post",
		[][]byte{rawLine(first), rawLine(edit)}, []string{first.DedupID(), edit.DedupID()}, 0)
	f("a copy of an edit is dropped",
		[][]byte{scoredLine(first), scoredLine(edit), scoredLine(edit)}, []string{first.DedupID(), edit.DedupID()}, 1)
}
