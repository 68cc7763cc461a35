package api

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// TestStaleSaysWhetherASiteIsQuietOrDark: the aggregator marks a level
// stale when no post with a threat signal was counted in its last step,
// which is most steps of a site crawled without trouble (the demo's three
// sites were all "stale" while they were crawled and their levels rose).
// The site's health says which stale it is: quiet (the level is current)
// or dark (its scraper cannot read it).
func TestStaleSaysWhetherASiteIsQuietOrDark(t *testing.T) {
	h := newHarness(t, nil)
	t0 := h.now.Add(-time.Hour)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	live := func(m int) msg.Level { return msg.Level{Time: at(m), Level: 6, Baseline: 2, Name: "elevated"} }
	quiet := func(m int) msg.Level {
		return msg.Level{Time: at(m), Level: 5, Baseline: 2, Name: "elevated", Stale: true}
	}
	health := func(m int, state string, stale bool) msg.Level {
		return msg.Level{Time: at(m), Name: "scraper_" + state, Stale: stale}
	}
	// As the JSON says it, for the dashboard.
	const StaleQuiet, StaleScraper = "quiet", "scraper"
	for i, c := range []struct {
		name       string
		applied    []msg.Level
		wantStale  bool
		wantReason string
	}{
		{"a live level", []msg.Level{live(0)}, false, ""},
		{"a level with no new threat in its step", []msg.Level{live(0), quiet(1)}, true, StaleQuiet},
		{"a quiet site's next live level", []msg.Level{quiet(1), live(2)}, false, ""},
		{"a scraper outage", []msg.Level{live(0), health(1, "unreachable", true)}, true, StaleScraper},
		{"the clock's stale levels during an outage", []msg.Level{live(0), health(1, "unreachable", true), quiet(2), quiet(3)}, true, StaleScraper},
		{"an outage of a quiet site", []msg.Level{quiet(0), health(1, "blocked", true)}, true, StaleScraper},
		{"a recovery of a quiet site", []msg.Level{quiet(0), health(1, "blocked", true), health(2, "ok", false)}, false, ""},
		{"a quiet level after a recovery", []msg.Level{health(1, "blocked", true), health(2, "ok", false), quiet(3)}, true, StaleQuiet},
	} {
		t.Run(c.name, func(t *testing.T) {
			site := fmt.Sprintf("site-%d", i)
			for _, l := range c.applied {
				l.Site = site
				h.level(l)
			}
			// Read as JSON, as the dashboard reads it.
			var res struct {
				Site struct {
					Health map[string]any `json:"health"`
				} `json:"site"`
			}
			h.getJSON("/api/v1/sites/"+site, config.RoleViewer, &res)
			got := res.Site.Health
			reason, _ := got["stale_reason"].(string)
			if got["stale"] != c.wantStale || reason != c.wantReason {
				t.Fatalf("health %v; want stale %v, stale_reason %q", got, c.wantStale, c.wantReason)
			}
		})
	}
}

// TestTheRawSeriesIsTrimmedToItsRetention: the raw tier is trimmed when a
// point opens a new hour (not at every point), still within an hour of
// its retention.
func TestTheRawSeriesIsTrimmedToItsRetention(t *testing.T) {
	h := newHarness(t, nil)
	m := h.srv.model
	raw := m.k("lv", seriesKey("forum", ""))
	count := func() int64 {
		t.Helper()
		n, err := h.store.ZCount(context.Background(), raw, "-inf", "+inf").Result()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		return n
	}
	old := h.now.Add(-time.Hour)
	for i := range 3 {
		h.level(msg.Level{Site: "forum", Time: old.Add(time.Duration(i) * time.Minute), Level: 1, Name: "normal"})
	}
	if n := count(); n != 3 {
		t.Fatalf("%d raw points inside the retention, want the 3 applied", n)
	}
	// A week later, the next point opens a new hour.
	later := h.now.Add(m.RawRetention)
	m.now = func() time.Time { return later }
	h.level(msg.Level{Site: "forum", Time: later, Level: 2, Name: "normal"})
	h.level(msg.Level{Site: "forum", Time: later.Add(5 * time.Second), Level: 2, Name: "normal"})
	if n := count(); n != 2 {
		t.Fatalf("%d raw points, want the 2 inside the retention", n)
	}
}
