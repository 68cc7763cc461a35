package aggregate

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// outageScenario is four days of a forum's hostile normal, then a scraper
// outage from 10:00 to 13:00 of the fifth day during which a campaign of
// n posts an hour ran from start for an hour. With read, the gap is read
// late, in random order, when the scraper is back; without, every post
// arrives in time (the scraper never went down). It returns the pages.
func outageScenario(t *testing.T, start time.Duration, n float64, read bool) []*msg.Alert {
	t.Helper()
	return outageScenarioRestart(t, start, n, read, -1)
}

// outageScenarioRestart is outageScenario with the engine restored from
// its snapshot, as a restarted aggregator is, once restart late posts of
// the gap were read (-1: never).
func outageScenarioRestart(t *testing.T, start time.Duration, n float64, read bool, restart int) []*msg.Alert {
	t.Helper()
	const (
		down = 4*day + 10*time.Hour
		back = 4*day + 13*time.Hour
	)
	s := newStream(7)
	s.feed("forum", 0, down, 20, 0.8, true, nil)
	gap := newStream(8)
	gap.feed("forum", down, back, 20, 0.8, true, nil)
	gap.feed("forum", start, start+time.Hour, n, 0.9, false, nil)
	after := newStream(9)
	after.feed("forum", back, back+day, 20, 0.8, true, nil)
	e, _ := NewEngine(defaults())
	if !read {
		all := append(append(s.posts, gap.posts...), after.posts...)
		return onsets(drive(e, (&stream{posts: all}).sorted(), back+day))
	}
	outs := drive(e, s.sorted(), down)
	for tick := down; tick <= back; tick += 15 * time.Second {
		outs = append(outs, e.Advance(at(tick))...)
	}
	late := gap.posts
	rand.New(rand.NewPCG(3, 3)).Shuffle(len(late), func(i, j int) { late[i], late[j] = late[j], late[i] })
	for _, p := range late {
		p.Post.ID = "gap-" + p.Post.ID
		p.Post.Fetched = at(back)
	}
	for i, p := range late {
		if i == restart {
			b, err := e.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			e, _ = NewEngine(defaults())
			if err := e.Restore(b); err != nil {
				t.Fatal(err)
			}
		}
		outs = append(outs, e.Add(p)...)
	}
	outs = append(outs, drive(e, after.sorted(), back+day)...)
	return onsets(outs)
}

// TestACampaignSplitByAClockHourPagesWhenReadLate: the late judgement
// looked at clock hours only, so a campaign read late after an outage
// that ran from 10:30 to 11:30 counted as two halves, each under the
// spike bar, and never paged, although the live windows page on it when
// the scraper reads it in time. Every hour-long span starting on a
// quarter hour is judged now: late, it pages as it does live, and what
// does not page live does not page late either.
func TestACampaignSplitByAClockHourPagesWhenReadLate(t *testing.T) {
	for _, c := range []struct {
		name  string
		start time.Duration // of the campaign, after 00:00 of the fifth day
		n     float64       // its posts
		pages int
		span  time.Duration // the start of the span the late page names
	}{
		{"on the clock hour", 11 * time.Hour, 100, 1, 11 * time.Hour},
		{"across the clock hour", 10*time.Hour + 30*time.Minute, 100, 1, 10*time.Hour + 30*time.Minute},
		{"a smaller one across the clock hour", 10*time.Hour + 30*time.Minute, 80, 1, 10*time.Hour + 30*time.Minute},
		{"across the hour, off the quarter", 10*time.Hour + 40*time.Minute, 100, 1, 10*time.Hour + 45*time.Minute},
		{"under the bar live is under it late", 10*time.Hour + 30*time.Minute, 50, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if live := outageScenario(t, 4*day+c.start, c.n, false); len(live) != c.pages {
				t.Fatalf("read in time it paged %d times, want %d: the scenario does not test what it says", len(live), c.pages)
			}
			late := outageScenario(t, 4*day+c.start, c.n, true)
			if len(late) != c.pages {
				t.Fatalf("read late it paged %d times (%v), want %d", len(late), times(late), c.pages)
			}
			if c.pages == 0 {
				return
			}
			a := late[0]
			if want := at(4*day + 13*time.Hour); !a.EventTime.Equal(want) {
				t.Errorf("paged at %v, want when the gap was read, %v", a.EventTime.Sub(t0), want.Sub(t0))
			}
			if got, want := a.Annotations["late_hour"], at(4*day+c.span).Format(time.RFC3339); got != want {
				t.Errorf("late_hour %s, want %s", got, want)
			}
			if a.Level <= 2*a.Baseline {
				t.Errorf("level %v against baseline %v: not a spike", a.Level, a.Baseline)
			}
		})
	}
}

// TestALateSpanIsJudgedAlikeAcrossARestart: the sub-hour totals a key
// keeps while it reads late posts are part of its checkpoint, so an
// aggregator restarted halfway through the backlog pages as one that was
// not.
func TestALateSpanIsJudgedAlikeAcrossARestart(t *testing.T) {
	start := 4*day + 10*time.Hour + 30*time.Minute
	want := outageScenario(t, start, 80, true)
	if len(want) != 1 {
		t.Fatalf("uninterrupted, it paged %d times, want once", len(want))
	}
	for _, restart := range []int{1, 40, 80} {
		got := outageScenarioRestart(t, start, 80, true, restart)
		if len(got) != 1 || got[0].Annotations["late_hour"] != want[0].Annotations["late_hour"] || got[0].Level != want[0].Level {
			t.Errorf("restarted after %d late posts: paged %v, want once as without a restart (late_hour %s, level %v)",
				restart, times(got), want[0].Annotations["late_hour"], want[0].Level)
		}
	}
}

// TestALateSpansPageCarriesTheSpansStrongestPosts: a span judged late
// paged with one post as its evidence, the one whose reading tipped it
// over the bar; on-call had nothing else of the campaign to look at.
// The strongest posts read late into the span come with it now (the
// tipping post first), as a live page carries its window's.
func TestALateSpansPageCarriesTheSpansStrongestPosts(t *testing.T) {
	start := 4*day + 10*time.Hour + 30*time.Minute
	for _, n := range []float64{80, 140} {
		on := outageScenario(t, start, n, true)
		if len(on) != 1 {
			t.Fatalf("n=%v: paged %d times, want once", n, len(on))
		}
		a := on[0]
		span, err := time.Parse(time.RFC3339, a.Annotations["late_hour"])
		if err != nil {
			t.Fatal(err)
		}
		want := defaults().Evidence
		if len(a.Evidence) != want {
			t.Errorf("n=%v: %d posts of evidence, want %d", n, len(a.Evidence), want)
		}
		seen := map[string]bool{}
		for _, c := range a.Evidence {
			if c.At.Before(span) || !c.At.Before(span.Add(time.Hour)) {
				t.Errorf("n=%v: evidence post at %v, outside the span from %v", n, c.At.Sub(t0), span.Sub(t0))
			}
			if c.Weight < 0.9 {
				t.Errorf("n=%v: evidence post of weight %v: not one of the campaign's (0.9)", n, c.Weight)
			}
			if seen[c.PostID] {
				t.Errorf("n=%v: post %s twice in the evidence", n, c.PostID)
			}
			seen[c.PostID] = true
		}
	}
}
