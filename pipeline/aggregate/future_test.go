package aggregate

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/msg"
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
