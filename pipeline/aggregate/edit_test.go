package aggregate

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// scoredPost is a threatening post on site "forum" naming the target
// "Jane Example" (fictional), published at t0+d.
func scoredPost(id string, d time.Duration, threat, doxxing float64, edited bool) *msg.Scored {
	text := "post " + id
	if edited {
		text += " (edited)"
	}
	return &msg.Scored{Schema: msg.SchemaScored,
		Post: msg.Post{Schema: msg.SchemaPost, ID: id, Site: "forum", Published: at(d), Text: text,
			Edited: edited, ContentHash: msg.ContentHash(text, "")},
		Scores:   map[msg.Signal]float64{msg.SignalThreat: threat, msg.SignalDoxxing: doxxing},
		Entities: []msg.Entity{{Kind: msg.EntityPerson, Name: "Jane Example", Ref: "person:jane-example", Target: true}},
	}
}

func TestAnEditedPostIsCountedOnce(t *testing.T) {
	f := func(name string, posts []*msg.Scored, wantLevel float64, wantAlerts int) {
		t.Run(name, func(t *testing.T) {
			e, err := NewEngine(defaults())
			if err != nil {
				t.Fatal(err)
			}
			outs := drive(e, posts, 11*time.Minute)
			site, tgt := e.bySite["forum"].L.Win.Sum, e.byRef["person:jane-example"].L.Win.Sum
			for _, sum := range []float64{site.Live, site.Total, tgt.Live, tgt.Total} {
				if d := sum - wantLevel; d > 1e-9 || d < -1e-9 {
					t.Errorf("levels site %v/%v, target %v/%v, want %v", site.Live, site.Total, tgt.Live, tgt.Total, wantLevel)
					break
				}
			}
			if h, _ := e.bySite["forum"].L.Hist.At(hourOf(at(0))); h-wantLevel > 1e-6 || wantLevel-h > 1e-6 {
				t.Errorf("history %v, want %v", h, wantLevel)
			}
			if posts := site.Posts; int(posts) != 2 {
				t.Errorf("%d posts in the window, want 2", posts)
			}
			if got := alerts(outs, msg.StatusFiring); len(got) != wantAlerts {
				t.Errorf("%d alerts %v, want %d", len(got), labelsOf(got), wantAlerts)
			}
		})
	}
	f("two threatening posts about one person, each edited once, do not page", []*msg.Scored{
		scoredPost("a", 0, 0.9, 0, false), scoredPost("b", time.Minute, 0.9, 0, false),
		scoredPost("a", 5*time.Minute, 0.9, 0, true), scoredPost("b", 6*time.Minute, 0.9, 0, true),
	}, 1.8, 0)
	f("an edit that raises a post's weight adds the rise", []*msg.Scored{
		scoredPost("a", 0, 0.6, 0, false), scoredPost("b", time.Minute, 0.9, 0, false),
		scoredPost("a", 5*time.Minute, 0.95, 0, true),
	}, 1.85, 0)
	f("an edit that lowers a post's weight keeps the first version", []*msg.Scored{
		scoredPost("a", 0, 0.9, 0, false), scoredPost("b", time.Minute, 0.9, 0, false),
		scoredPost("a", 5*time.Minute, 0.5, 0, true),
	}, 1.8, 0)
	f("an edit of a post that weighed nothing counts in full", []*msg.Scored{
		scoredPost("a", 0, 0.1, 0, false), scoredPost("b", time.Minute, 0.9, 0, false),
		scoredPost("a", 5*time.Minute, 0.9, 0, true),
	}, 1.8, 0)
}

func TestAnEditRaisingASignalReplacesItsEvidenceAndMix(t *testing.T) {
	e, err := NewEngine(defaults())
	if err != nil {
		t.Fatal(err)
	}
	drive(e, []*msg.Scored{
		scoredPost("a", 0, 0.9, 0, false),
		// The edit adds the person's details: doxxing, same weight.
		scoredPost("a", 5*time.Minute, 0.9, 0.8, true),
	}, 11*time.Minute)
	st := e.bySite["forum"].L
	if sigs := e.signals(&st.Win.Sum); sigs[msg.SignalThreat] != 0.9 || sigs[msg.SignalDoxxing] != 0.8 || st.Win.Sum.Live != 0.9 {
		t.Errorf("signal mix %v, level %v: want threat 0.9, doxxing 0.8, level 0.9", sigs, st.Win.Sum.Live)
	}
	if len(st.Top) != 1 || st.Top[0].PostID != "a" {
		t.Errorf("evidence %+v, want the one post", st.Top)
	}
}

func TestAnEditIsNewInputToTheTargetStage(t *testing.T) {
	orig, edit := scoredPost("a", 0, 0.9, 0, false), scoredPost("a", 5*time.Minute, 0.95, 0, true)
	key := alert.TargetLabel("person:jane-example")
	a, b := &TargetPost{Scored: *orig, TargetKey: key}, &TargetPost{Scored: *edit, TargetKey: key}
	if a.DedupID() == b.DedupID() {
		t.Errorf("an edit has the dedup id of its first version (%s): the target stage drops it", a.DedupID())
	}
	if again := (&TargetPost{Scored: *orig, TargetKey: key}); again.DedupID() != a.DedupID() {
		t.Errorf("a redelivery has a new dedup id")
	}
}

// resent is p sent again with new content but without the edited flag
// (a scraper that does not set it, or lost what it had read).
func resent(p *msg.Scored) *msg.Scored {
	p.Post.Edited = false
	return p
}

// TestACopyOfAPostWithNewContentIsAnEditWithoutTheFlag: a post sent
// again with new content but without the edited flag was counted twice,
// once per content. A second copy of a counted post id is an edit: only
// its rise counts, on quiet keys and on busy ones alike.
func TestACopyOfAPostWithNewContentIsAnEditWithoutTheFlag(t *testing.T) {
	f := func(name string, others int, first, again, wantRise float64) {
		t.Run(name, func(t *testing.T) {
			e, err := NewEngine(defaults())
			if err != nil {
				t.Fatal(err)
			}
			posts := []*msg.Scored{scoredPost("a", 0, first, 0, false)}
			for i := range others {
				p := scoredPost(fmt.Sprint("o-", i), time.Duration(i+1)*time.Second, 0.6, 0, false)
				p.Entities = nil // the site's only: the person's key holds "a" alone
				posts = append(posts, p)
			}
			posts = append(posts, resent(scoredPost("a", 5*time.Minute, again, 0, true)))
			drive(e, posts, 6*time.Minute)
			site, tgt := e.bySite["forum"].L, e.byRef["person:jane-example"].L
			wantSite, wantTgt := max(first, again)+0.6*float64(others), max(first, again)
			if first < defaults().MinScore {
				wantTgt = again // the first copy weighed nothing: the person's key never had it
			}
			for _, c := range []struct {
				key       string
				got, want float64
			}{
				{"site level", site.Win.Sum.Live, wantSite}, {"site total", site.Win.Sum.Total, wantSite},
				{"person level", tgt.Win.Sum.Live, wantTgt}, {"person total", tgt.Win.Sum.Total, wantTgt},
			} {
				if math.Abs(c.got-c.want) > 1e-9 {
					t.Errorf("%s %v, want %v (the rise %v counted once)", c.key, c.got, c.want, wantRise)
				}
			}
			if h, _ := site.Hist.At(hourOf(at(0))); math.Abs(h-wantSite) > 1e-3 {
				t.Errorf("history %v, want %v", h, wantSite)
			}
			if n := int(site.Win.Sum.Posts); n != 1+others {
				t.Errorf("%d posts in the site's window, want %d", n, 1+others)
			}
		})
	}
	f("a copy with the same weight adds nothing", 0, 0.9, 0.9, 0)
	f("a copy that raises the weight adds the rise", 0, 0.6, 0.95, 0.35)
	f("a copy that lowers the weight keeps the first", 0, 0.9, 0.5, 0)
	f("a copy of a post that weighed nothing counts in full", 0, 0.1, 0.9, 0.9)
	f("on a busy site a copy with the same weight adds nothing", 200, 0.9, 0.9, 0)
	f("on a busy site a copy that raises the weight adds the rise", 200, 0.6, 0.95, 0.35)
}
