package aggregate

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// TestACampaignReadLateAfterAScraperOutagePagesWhenItIsRead: while the
// scraper cannot read a site (the site down under load, the scraper
// blocked or crashed), the aggregator's clock goes on with the wall
// clock, as it must for a site that falls silent. When the scraper is
// back it reads the gap all at once, in thread order: every post more
// than grace old arrives behind the site's windows and only went into
// its history, so a campaign that peaked during the outage never paged.
// A complete hour that late posts lift over the site's spike bar,
// against the baseline of that hour, now pages when it is read (once),
// saying which hour and how late; the episode resolves as any other.
func TestACampaignReadLateAfterAScraperOutagePagesWhenItIsRead(t *testing.T) {
	const (
		down = 4*day + 10*time.Hour // the scraper stops reading
		back = 4*day + 13*time.Hour // and reads the gap at once
	)
	f := func(name string, campaign float64, backfill bool, backAt time.Duration, wantPage bool) {
		t.Run(name, func(t *testing.T) {
			s := newStream(7)
			s.feed("forum", 0, down, 20, 0.8, true, nil)
			before := s.sorted()
			gap := newStream(8)
			gap.feed("forum", down, backAt, 20, 0.8, true, nil)
			if campaign > 0 {
				gap.feed("forum", down+time.Hour, down+2*time.Hour, campaign, 0.9, false, nil)
			}
			read := at(backAt)
			late := gap.posts
			// Read thread by thread: the order of the gap is no order of time.
			rand.New(rand.NewPCG(3, 3)).Shuffle(len(late), func(i, j int) { late[i], late[j] = late[j], late[i] })
			for _, p := range late {
				p.Post.ID = "gap-" + p.Post.ID
				p.Post.Fetched = read
				p.Post.Backfill = backfill
			}
			after := newStream(9)
			after.feed("forum", backAt, backAt+day, 20, 0.8, true, nil)

			e, _ := NewEngine(defaults())
			outs := drive(e, before, down)
			if n := len(onsets(outs)); n != 0 {
				t.Fatalf("the normal days paged %d times", n)
			}
			// The outage: the wall clock ticks on, nothing is read.
			for tick := down; tick <= backAt; tick += 15 * time.Second {
				outs = append(outs, e.Advance(at(tick))...)
			}
			lateBefore := e.Stats().Late
			for _, p := range late {
				outs = append(outs, e.Add(p)...)
			}
			if !backfill && e.Stats().Late-lateBefore < int64(len(late))/2 {
				t.Fatalf("only %d of %d gap posts were late: the test does not test lateness", e.Stats().Late-lateBefore, len(late))
			}
			outs = append(outs, drive(e, after.sorted(), backAt+day)...)
			on := onsets(outs)
			if !wantPage {
				if len(on) != 0 {
					t.Fatalf("paged %v, want nothing", times(on))
				}
				return
			}
			if len(on) != 1 {
				t.Fatalf("paged %d times (%v), want once", len(on), times(on))
			}
			a := on[0]
			if a.Labels["alertname"] != alert.NameSiteSpike || a.Labels["site"] != "forum" {
				t.Errorf("labels %v", a.Labels)
			}
			if !a.EventTime.Equal(read) {
				t.Errorf("paged at %v, want when the gap was read, %v", a.EventTime, read)
			}
			hour := at(down + time.Hour).Format(time.RFC3339)
			if a.Annotations["late_hour"] != hour || a.Annotations["late_by"] == "" {
				t.Errorf("annotations %v, want late_hour %s and late_by", a.Annotations, hour)
			}
			// It pages as soon as the hour's posts read so far reach the
			// bar, as the windows would have: not the whole hour's level.
			if a.Level <= 2*a.Baseline || a.Baseline <= 0 {
				t.Errorf("level %v against baseline %v: not a spike", a.Level, a.Baseline)
			}
			if len(a.Evidence) == 0 || a.Evidence[0].At.Before(at(down+time.Hour)) || !a.Evidence[0].At.Before(at(down+2*time.Hour)) {
				t.Errorf("evidence %+v, want a post of the campaign hour first", a.Evidence)
			}
			res := alerts(outs, msg.StatusResolved)
			if len(res) != 1 || res[0].Fingerprint != a.Fingerprint || res[0].EventTime.After(read.Add(2*time.Hour+5*time.Minute)) {
				t.Errorf("resolutions %v, want the episode resolved within two hours", times(res))
			}
		})
	}
	f("a campaign hour during a three-hour outage pages when the gap is read", 200, false, back, true)
	f("an ordinary gap does not page", 0, false, back, false)
	f("a campaign in a first crawl's backfill does not page", 200, true, back, false)
	f("a campaign read more than catch_up after it happened does not page", 200, false, down+8*time.Hour, false)
}

// TestALateCampaignInTheHourInProgressPagesOnceItsSpanHasEnded: a
// scraper down from 10:05 to 10:55 reads a campaign of 10:05-10:25 late,
// in the hour still in progress, which the late judgement left to the
// windows; but the windows cannot count late posts. The hour was then
// judged when it ended; now each span is judged once it has ended by the
// key's clock, so the spans of 9:45-10:45 and before, which hold the
// campaign and have ended when the gap is read, page then.
func TestALateCampaignInTheHourInProgressPagesOnceItsSpanHasEnded(t *testing.T) {
	const (
		down = 4*day + 10*time.Hour + 5*time.Minute
		back = 4*day + 10*time.Hour + 55*time.Minute
	)
	s := newStream(7)
	s.feed("forum", 0, down, 20, 0.8, true, nil)
	gap := newStream(8)
	gap.feed("forum", down, back, 20, 0.8, true, nil)
	gap.feed("forum", down, down+20*time.Minute, 240, 0.9, false, nil)
	for _, p := range gap.posts {
		p.Post.ID = "gap-" + p.Post.ID
		p.Post.Fetched = at(back)
	}
	after := newStream(9)
	after.feed("forum", back, back+6*time.Hour, 20, 0.8, true, nil)

	e, _ := NewEngine(defaults())
	outs := drive(e, s.sorted(), down)
	for tick := down; tick <= back; tick += 15 * time.Second {
		outs = append(outs, e.Advance(at(tick))...)
	}
	for _, p := range gap.posts {
		outs = append(outs, e.Add(p)...)
	}
	outs = append(outs, drive(e, after.sorted(), back+6*time.Hour)...)
	on := onsets(outs)
	if len(on) != 1 {
		t.Fatalf("paged %d times (%v), want once when the gap was read", len(on), times(on))
	}
	a := on[0]
	span, err := time.Parse(time.RFC3339, a.Annotations["late_hour"])
	if err != nil {
		t.Fatal(err)
	}
	if !a.EventTime.Equal(at(back)) || span.After(at(down)) || span.Add(time.Hour).After(at(back)) {
		t.Errorf("paged at %v for the span from %v, want when the gap was read, for a span holding the campaign that had ended",
			a.EventTime.Sub(t0), span.Sub(t0))
	}
}

// TestALateSpanEndingInTheNextHourIsJudgedWhenItEnds: the spans a late
// post falls in may end in the hour after the one in progress (a post of
// 10:16 read at 10:50 is in the span 10:15-11:15), and only the clock
// hour in progress was judged, when it ended. Each span is judged when
// it ends by the key's clock, over its live and late posts, and a span
// the live windows page on pages once.
func TestALateSpanEndingInTheNextHourIsJudgedWhenItEnds(t *testing.T) {
	base := t0.Add(5 * day)
	m := func(h, min int) time.Time {
		return base.Add(time.Duration(h)*time.Hour + time.Duration(min)*time.Minute)
	}
	f := func(name string, restart bool, after []int, wantAt time.Time, wantHour time.Time, wantLevel float64) {
		t.Run(name, func(t *testing.T) {
			e, _ := NewEngine(defaults())
			// A live post sets the person's clock to 10:50; two posts of
			// 10:16 and 10:18 come late (the 10:00-11:00 span holds 2.7:
			// under the 3 a target needs, and the baseline of 11:00).
			// The live windows never count them: live posts of 11:00 on
			// page by themselves only at 8 (the window 10:15-11:15 then
			// holds 8.1), the span 10:15-11:15 with the late two at 6.
			outs := e.Add(latePost("live", m(10, 50), 0.9, false))
			outs = append(outs, e.Add(latePost("late-1", m(10, 16), 0.9, false))...)
			outs = append(outs, e.Add(latePost("late-2", m(10, 18), 0.9, false))...)
			if on := onsets(outs); len(on) != 0 {
				t.Fatalf("paged %v when the late posts were read", levelsOf(on))
			}
			if restart {
				// The spans waiting to end are part of the checkpoint.
				b, err := e.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				e, _ = NewEngine(defaults())
				if err := e.Restore(b); err != nil {
					t.Fatal(err)
				}
			}
			for i, min := range after {
				outs = append(outs, e.Advance(m(11, min))...)
				outs = append(outs, e.Add(latePost(fmt.Sprint("after-", i), m(11, min), 0.9, false))...)
			}
			for tick := m(11, 0); tick.Before(m(13, 0)); tick = tick.Add(15 * time.Second) {
				outs = append(outs, e.Advance(tick)...)
			}
			on := onsets(outs)
			if wantLevel == 0 {
				if len(on) != 0 {
					t.Fatalf("paged %v %v, want nothing", times(on), levelsOf(on))
				}
				return
			}
			if len(on) != 1 {
				t.Fatalf("paged %v %v, want once", times(on), levelsOf(on))
			}
			a := on[0]
			if a.EventTime.Before(wantAt) || a.EventTime.After(wantAt.Add(time.Minute)) {
				t.Errorf("paged at %v, want at %v", a.EventTime.Sub(base), wantAt.Sub(base))
			}
			if !wantHour.IsZero() && (a.Annotations["late_hour"] != wantHour.Format(time.RFC3339) || a.Level != wantLevel) {
				t.Errorf("paged %v, want the span from %v at level %v", levelsOf(on), wantHour.Sub(base), wantLevel)
			}
		})
	}
	f("six live posts after the hour lift the span 10:15-11:15 over the bar: it pages when it ends",
		false, []int{1, 2, 3, 4, 5, 6}, m(11, 15), m(10, 15), 8.1)
	f("the span pages when it ends across a restart", true, []int{1, 2, 3, 4, 5, 6}, m(11, 15), m(10, 15), 8.1)
	f("without them nothing pages", false, nil, time.Time{}, time.Time{}, 0)
	f("five live posts after the hour leave the span under the bar", false, []int{1, 2, 3, 4, 5}, time.Time{}, time.Time{}, 0)
	f("a span the live windows page on pages once",
		false, []int{1, 2, 3, 4, 5, 6, 7, 8}, m(11, 8), time.Time{}, 1)
}
