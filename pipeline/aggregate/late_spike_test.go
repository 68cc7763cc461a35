package aggregate

import (
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

// TestALateCampaignInTheHourInProgressPagesWhenTheHourEnds: a scraper
// down from 10:05 to 10:55 reads a campaign of 10:05-10:25 late, in the
// hour still in progress, which the late judgement leaves to the windows;
// but the windows cannot count late posts. The hour is judged when it
// ends.
func TestALateCampaignInTheHourInProgressPagesWhenTheHourEnds(t *testing.T) {
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
	if on := onsets(outs); len(on) != 0 {
		t.Fatalf("paged %v before the hour ended", times(on))
	}
	outs = drive(e, after.sorted(), back+6*time.Hour)
	on := onsets(outs)
	if len(on) != 1 {
		t.Fatalf("paged %d times (%v), want once when the hour ended", len(on), times(on))
	}
	hourEnd := at(4*day + 11*time.Hour)
	if a := on[0]; a.EventTime.Before(hourEnd) || a.EventTime.After(hourEnd.Add(5*time.Minute)) ||
		a.Annotations["late_hour"] != at(4*day+10*time.Hour).Format(time.RFC3339) {
		t.Errorf("paged at %v with annotations %v, want when the hour ended, for 10:00", a.EventTime.Sub(t0), a.Annotations)
	}
}
