package aggregate

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// TestABacklogReadBetweenTwoTicksKeepsItsPostsTimes: the runner ticks
// every tick_every (15 s) of wall time, and between two ticks a stage
// catching up works through as many batches as it can: at 100,000 posts a
// second that is hours of a backlog. A post is clamped when it is dated
// more than max_future ahead of the engine's clock, which only ticks move:
// every backlog post more than 10 minutes after the last tick before the
// outage was squashed to that one moment. A site's ordinary traffic then
// read as a spike and paged, and a campaign paged before it had begun.
// What a post cannot be ahead of is when the scraper read it.
func TestABacklogReadBetweenTwoTicksKeepsItsPostsTimes(t *testing.T) {
	for _, c := range []struct {
		name     string
		down     time.Duration
		campaign time.Duration // 0: none
		pages    int
	}{
		{"a site's ordinary traffic during a 6-hour outage does not page", 6 * time.Hour, 0, 0},
		{"a campaign 2 hours into a 4-hour outage pages at its own time", 4 * time.Hour, 2 * time.Hour, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := unitStage(t)
			ctx := context.Background()
			base := t0.Add(5 * day)
			off := int64(0)
			var fired []*msg.Alert
			collect := func(outs []pipeline.Output) {
				for _, o := range outs {
					if a, ok := o.Msg.(*msg.Alert); ok && a.Status == msg.StatusFiring {
						fired = append(fired, a)
					}
				}
			}
			handle := func(at time.Time, score float64) {
				t.Helper()
				// Read by the scraper as it appeared; in the pipeline a second later.
				outs, err := s.Handle(ctx, threatPost(fmt.Sprint(off), "forum", at, score), pipeline.Meta{Partition: 0, Offset: off, Time: at.Add(time.Second)})
				if err != nil {
					t.Fatal(err)
				}
				collect(outs)
				off++
			}
			tick := func(now time.Time) {
				t.Helper()
				outs, err := s.Tick(ctx, now)
				if err != nil {
					t.Fatal(err)
				}
				collect(outs)
			}
			// Four days live: a post every 10 minutes, a tick after each.
			for m := time.Duration(0); m < 4*day; m += 10 * time.Minute {
				handle(base.Add(-4*day+m), 0.8)
				tick(base.Add(-4*day + m + 2*time.Second))
			}
			// Down from base; back at base+down, the whole backlog is read
			// before the next tick.
			for m := time.Duration(0); m < c.down; m += 10 * time.Minute {
				handle(base.Add(m), 0.8)
				if c.campaign != 0 && m == c.campaign {
					for k := range 120 {
						handle(base.Add(m+time.Duration(k)*30*time.Second), 0.9)
					}
				}
			}
			now := base.Add(c.down)
			for range 8 {
				tick(now)
				now = now.Add(15 * time.Second)
			}
			if len(fired) != c.pages {
				t.Fatalf("paged %d times (at %v), want %d", len(fired), times(fired), c.pages)
			}
			if c.pages > 0 {
				if at := fired[0].EventTime; at.Before(base.Add(c.campaign)) || at.After(base.Add(c.campaign+45*time.Minute)) {
					t.Errorf("paged at %v into the outage, want within the first 45 minutes of the campaign at %v", at.Sub(base), c.campaign)
				}
			}
			if n := s.parts[0].eng.Stats().Future; n != 0 {
				t.Errorf("%d backlog posts clamped as dated in the future", n)
			}
		})
	}
}

// TestAPostDatedAheadOfItsFetchIsClampedOnANewPartition: a partition with
// no checkpoint gets an engine whose clock is zero until the first tick,
// so its first post was never clamped: one post dated years ahead (a
// board whose date the scraper misread) moved its site's event time
// there, every later post of the site was late, and the site could never
// page again, not even for a protected person's address.
func TestAPostDatedAheadOfItsFetchIsClampedOnANewPartition(t *testing.T) {
	s, _ := unitStage(t)
	ctx := context.Background()
	now := t0.Add(5 * day)
	bad := threatPost("misdated", "forum", now.AddDate(3, 0, 0), 0.8)
	bad.Post.Fetched = now
	if _, err := s.Handle(ctx, bad, pipeline.Meta{Partition: 0, Offset: 0, Time: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tick(ctx, now.Add(15*time.Second)); err != nil {
		t.Fatal(err)
	}
	dox := threatPost("dox", "forum", now.Add(time.Minute), 0.6)
	dox.Entities = []msg.Entity{{Kind: msg.EntityProtected, Name: "wl-0042", Ref: "wl-0042", Target: true}}
	dox.Evidence = []msg.Span{{Signal: msg.SignalDoxxing, Kind: "watchlist:address", Snippet: "she lives at [ADDRESS]"}}
	outs, err := s.Handle(ctx, dox, pipeline.Meta{Partition: 0, Offset: 1, Time: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	fired := 0
	for _, o := range outs {
		if a, ok := o.Msg.(*msg.Alert); ok && a.Status == msg.StatusFiring && a.Labels["rule"] == "protected_person_exposed" {
			fired++
		}
	}
	if fired != 1 {
		t.Errorf("a protected person's address after a misdated post paged %d times, want 1", fired)
	}
	st := s.parts[0].eng.Stats()
	if st.Future != 1 || st.Late != 0 {
		t.Errorf("stats %+v, want the misdated post clamped and none late", st)
	}
}

// TestAScraperWhoseClockRunsFastIsClampedToTheStagesClock: a post was
// clamped against the later of the engine's clock and its own fetch
// time. A scraper whose clock runs fast stamps both ahead (a relative
// date, "2 minutes ago", is read against that clock too), so its posts
// passed unclamped, moved their site's event time hours ahead, and every
// honest post after them was late: the site could not page. No scraper
// can have read a post after the stage's own wall clock, give or take a
// minute of skew.
func TestAScraperWhoseClockRunsFastIsClampedToTheStagesClock(t *testing.T) {
	for _, c := range []struct {
		name    string
		ahead   time.Duration // the scraper's clock ahead of the stage's
		clamped int
	}{
		{"a scraper 3 hours fast is clamped", 3 * time.Hour, 2},
		{"a scraper a year fast is clamped", 365 * day, 2},
		{"a scraper 30 seconds fast is within the skew", 30 * time.Second, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			const text = "she lives at 12 Elm Street and I will be there"
			wall := t0.Add(5 * day)
			var logs bytes.Buffer
			reg := prometheus.NewRegistry()
			s, err := NewStage(defaults(), StageOptions{Name: "agg", Store: redistest.New(t), Levels: "levels", Alerts: "alerts",
				Registerer: reg, Log: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return wall }})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			off := int64(0)
			handle := func(p *msg.Scored) {
				t.Helper()
				if _, err := s.Handle(ctx, p, pipeline.Meta{Partition: 0, Offset: off, Time: p.Post.Fetched}); err != nil {
					t.Fatal(err)
				}
				off++
			}
			handle(threatPost("honest-0", "forum", wall.Add(-time.Minute), 0.8))
			if _, err := s.Tick(ctx, wall); err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				fast := threatPost(fmt.Sprint("fast-", i), "forum", wall.Add(c.ahead-2*time.Minute), 0.8)
				fast.Post.Fetched = wall.Add(c.ahead)
				fast.Post.Text = text
				handle(fast)
			}
			if w := s.parts[0].eng.keys["s:forum"].L.Watermark; w.After(wall.Add(time.Minute + defaults().MaxFuture)) {
				t.Errorf("the site's event time moved %v ahead of the stage's clock", w.Sub(wall))
			}
			// Honest posts, a minute apart, a tick after each.
			for i := range 20 {
				wall = wall.Add(time.Minute)
				handle(threatPost(fmt.Sprint("honest-", i+1), "forum", wall.Add(-10*time.Second), 0.8))
				if _, err := s.Tick(ctx, wall); err != nil {
					t.Fatal(err)
				}
			}
			st := s.parts[0].eng.Stats()
			if st.Late != 0 || st.Future != int64(c.clamped) {
				t.Errorf("stats %+v, want %d clamped and none late", st, c.clamped)
			}
			if n := testutil.ToFloat64(s.met.clamped.WithLabelValues("agg")); n != float64(c.clamped) {
				t.Errorf("future_posts_total %v, want %d", n, c.clamped)
			}
			lines := strings.Count(logs.String(), "dated ahead")
			if want := min(c.clamped, 1); lines != want {
				t.Errorf("%d log lines about posts dated ahead, want %d (rate-limited):\n%s", lines, want, logs.String())
			}
			if strings.Contains(logs.String(), "Elm") {
				t.Errorf("a post's text reached the log:\n%s", logs.String())
			}
		})
	}
}

// TestAPostWithoutAFetchTimeIsClampedToTheStagesClock: the stage bounded
// a post's fetch time by its wall clock, but a post with no fetch time
// (its producer set only the published time) was clamped against the
// engine's clock alone, which is zero on a partition before its first
// tick: a post dated a year ahead moved its site a year ahead, and every
// honest post after it was late.
func TestAPostWithoutAFetchTimeIsClampedToTheStagesClock(t *testing.T) {
	f := func(name string, ahead time.Duration, clamped int64) {
		t.Run(name, func(t *testing.T) {
			wall := t0.Add(5 * day)
			s, err := NewStage(defaults(), StageOptions{Name: "agg", Store: redistest.New(t), Levels: "levels", Alerts: "alerts",
				Registerer: prometheus.NewRegistry(), Now: func() time.Time { return wall }})
			if err != nil {
				t.Fatal(err)
			}
			p := threatPost("undated-fetch", "forum", wall.Add(ahead), 0.8)
			p.Post.Fetched = time.Time{}
			if _, err := s.Handle(context.Background(), p, pipeline.Meta{Partition: 0, Offset: 0, Time: wall}); err != nil {
				t.Fatal(err)
			}
			w := s.parts[0].eng.keys["s:forum"].L.Watermark
			if limit := wall.Add(clockSkew + defaults().MaxFuture); w.After(limit) {
				t.Errorf("the site's event time moved %v ahead of the stage's clock", w.Sub(wall))
			}
			if want := wall.Add(ahead); clamped == 0 && !w.Equal(want) {
				t.Errorf("the site's event time is %v, want the post's own %v", w.Sub(wall), ahead)
			}
			if got := s.parts[0].eng.Stats().Future; got != clamped {
				t.Errorf("%d posts clamped, want %d", got, clamped)
			}
		})
	}
	f("a post dated a year ahead is clamped", 365*day, 1)
	f("a post dated three hours ahead is clamped", 3*time.Hour, 1)
	f("a post dated a few minutes ahead keeps its time", 5*time.Minute, 0)
	f("a post dated in the past keeps its time", -time.Hour, 0)
}
