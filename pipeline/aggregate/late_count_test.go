package aggregate

import (
	"fmt"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// latePost is a threatening post about one person, published at,
// optionally an edit of an earlier one with the same id.
func latePost(id string, published time.Time, score float64, edited bool) *msg.Scored {
	p := threatPost(id, "forum", published, score)
	p.Post.Edited = edited
	p.Entities = []msg.Entity{{Kind: msg.EntityPerson, Name: "Jane Roe", Target: true}}
	return p
}

// TestALatePostCountsOnceInTheSpansItIsJudgedIn: the first post a key
// reads late starts its quarter-hour totals from its window, which
// already held the post when it fell in the window (more than grace but
// less than the window behind): it was then added a second time, and the
// spans holding it were judged one post heavier. Three threatening posts
// of 0.9 about one person (2.7, under the 3 a target needs) read 40
// minutes late paged as "level 3.6".
func TestALatePostCountsOnceInTheSpansItIsJudgedIn(t *testing.T) {
	base := t0.Add(5 * day)
	f := func(name string, late int, wantLevel float64) {
		t.Run(name, func(t *testing.T) {
			e, _ := NewEngine(defaults())
			// A live post sets the person's event time to 11:00.
			outs := e.Add(latePost("live", base.Add(11*time.Hour), 0.9, false))
			for i := range late {
				outs = append(outs, e.Add(latePost(fmt.Sprint("late-", i), base.Add(10*time.Hour+time.Duration(20+2*i)*time.Minute), 0.9, false))...)
			}
			outs = append(outs, e.Advance(base.Add(13*time.Hour))...)
			on := onsets(outs)
			if wantLevel == 0 {
				if len(on) != 0 {
					t.Fatalf("paged %v at level %v, want nothing", times(on), on[0].Level)
				}
				return
			}
			if len(on) != 1 || on[0].Labels["alertname"] != alert.NameTargetSpike || on[0].Level != wantLevel {
				t.Fatalf("paged %v %v, want one target page at level %v", times(on), levelsOf(on), wantLevel)
			}
		})
	}
	f("three posts of 0.9 read 40 minutes late do not page", 3, 0)
	f("four posts of 0.9 read 40 minutes late page at 3.6", 4, 3.6)
}

// TestALatePostsEditCountsItsRiseInTheSpansItIsJudgedIn: an edit that
// raises a post read late (an address added) went into the hourly
// history but not into the quarter-hour totals, so a span across two
// clock hours never saw the rise.
func TestALatePostsEditCountsItsRiseInTheSpansItIsJudgedIn(t *testing.T) {
	base := t0.Add(5 * day)
	e, _ := NewEngine(defaults())
	// A post at midnight, then none until 11:40: the person's normal is
	// nothing. A post of 10:30, more than the window behind 11:40, starts
	// the quarter-hour totals.
	outs := e.Add(latePost("first", base, 0.9, false))
	outs = append(outs, e.Add(latePost("live", base.Add(11*time.Hour+40*time.Minute), 0.9, false))...)
	outs = append(outs, e.Add(latePost("early", base.Add(10*time.Hour+30*time.Minute), 0.5, false))...)
	// Three posts of 10:50-10:54, then each edited from 0.6 to 0.8: the
	// span from 10:45 holds 0.9 + 3 x 0.8 = 3.3, over the 3 a target
	// needs (the clock hours hold 2.9 and 0.9).
	for _, edited := range []bool{false, true} {
		score := 0.6
		if edited {
			score = 0.8
		}
		for i := range 3 {
			outs = append(outs, e.Add(latePost(fmt.Sprint("late-", i), base.Add(10*time.Hour+time.Duration(50+2*i)*time.Minute), score, edited))...)
		}
	}
	outs = append(outs, e.Advance(base.Add(13*time.Hour))...)
	on := onsets(outs)
	if len(on) != 1 || on[0].Annotations["late_hour"] != base.Add(10*time.Hour+45*time.Minute).Format(time.RFC3339) || on[0].Level != 3.3 {
		t.Fatalf("paged %v %v, want the span from 10:45 at level 3.3", times(on), levelsOf(on))
	}
}

func levelsOf(as []*msg.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%v (%s)", a.Level, a.Annotations["late_hour"]))
	}
	return out
}
