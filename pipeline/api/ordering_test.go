package api

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// TestScraperHealthIsOrderedByItsTime applies a site's levels and health
// signals in the order a restore may read them back (several workers, any
// order): the site must end as it would have had they come in order. An
// old "unreachable" read back last used to mark a recovered site stale
// until its next live level.
func TestScraperHealthIsOrderedByItsTime(t *testing.T) {
	h := newHarness(t, nil)
	t0 := h.now.Add(-time.Hour)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	live := func(m int) msg.Level {
		return msg.Level{Time: at(m), Level: 6, Baseline: 2, Name: "elevated"}
	}
	health := func(m int, state string, stale bool) msg.Level {
		return msg.Level{Time: at(m), Name: "scraper_" + state, Stale: stale}
	}
	for i, c := range []struct {
		name      string
		applied   []msg.Level
		wantStale bool
		wantState string // "" for no scraper report
	}{
		{"a recovery read back before the outage it ended", []msg.Level{live(0), health(2, "ok", false), health(1, "unreachable", true)}, false, "ok"},
		{"a recovery read back before the outage, on a site known only from its health", []msg.Level{health(2, "ok", false), health(1, "unreachable", true)}, false, "ok"},
		{"an outage after a recovery, in order", []msg.Level{live(0), health(1, "ok", false), health(2, "unreachable", true)}, true, "unreachable"},
		{"the same outage read twice", []msg.Level{live(0), health(1, "markup_changed", true), health(1, "markup_changed", true)}, true, "markup_changed"},
		{"a newer outage read back before an older recovery", []msg.Level{live(0), health(3, "blocked", true), health(2, "ok", false)}, true, "blocked"},
		{"an outage read back after the live level that ended it", []msg.Level{live(3), health(1, "unreachable", true)}, false, ""},
		{"an outage and then the live level that ended it, in order", []msg.Level{health(1, "unreachable", true), live(3)}, false, ""},
		{"an outage after the last live level", []msg.Level{live(0), health(1, "unreachable", true)}, true, "unreachable"},
		{"a live level read back after a newer outage", []msg.Level{health(5, "unreachable", true), live(3)}, true, "unreachable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			site := "site-" + string(rune('a'+i))
			for _, l := range c.applied {
				l.Site = site
				h.level(l)
			}
			var res struct{ Site SiteDetail }
			h.getJSON("/api/v1/sites/"+site, config.RoleResponder, &res)
			got := res.Site.Health
			if got.Stale != c.wantStale || got.Scraper["state"] != c.wantState {
				t.Fatalf("health: stale %v, scraper %v; want stale %v, scraper state %q", got.Stale, got.Scraper, c.wantStale, c.wantState)
			}
			if !c.wantStale && !got.StaleSince.IsZero() {
				t.Errorf("not stale, but stale since %v", got.StaleSince)
			}
		})
	}
}

// TestALevelAndAHealthSignalAppliedAtOnceLoseNothing applies a site's
// latest level and latest scraper report at the same moment, as a
// restore's workers or two replicas may: the site must end with both. Each
// write used to put back the summary it had read, dropping the other's
// change.
func TestALevelAndAHealthSignalAppliedAtOnceLoseNothing(t *testing.T) {
	h := newHarness(t, nil)
	const sites = 150
	t0 := h.now.Add(-time.Hour)
	for s := range sites {
		site := fmt.Sprintf("site-%03d", s)
		h.level(msg.Level{Site: site, Time: t0, Level: 1, Baseline: 1, Name: "normal"})
		h.level(msg.Level{Site: site, Time: t0.Add(time.Second), Name: "scraper_ok"})
	}
	var g errgroup.Group
	for s := range sites {
		site := fmt.Sprintf("site-%03d", s)
		start := make(chan struct{})
		for _, l := range []msg.Level{
			{Schema: msg.SchemaLevel, Site: site, Time: t0.Add(time.Minute), Level: 7, Baseline: 1, Name: "elevated"},
			{Schema: msg.SchemaLevel, Site: site, Time: t0.Add(time.Minute), Name: "scraper_mirror"},
		} {
			g.Go(func() error {
				<-start
				_, err := h.srv.model.ApplyLevel(t.Context(), &l)
				return err
			})
		}
		close(start)
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	h.srv.model.cache.invalidate()
	var res struct{ Sites []SiteSummary }
	h.getJSON("/api/v1/sites", config.RoleResponder, &res)
	lost := 0
	for _, s := range res.Sites {
		if s.Level != 7 || s.Health.Scraper["state"] != "mirror" {
			lost++
			t.Logf("%s: level %v, scraper %v; want level 7, scraper state mirror", s.Site, s.Level, s.Health.Scraper)
		}
	}
	if lost > 0 || len(res.Sites) != sites {
		t.Fatalf("%d of %d sites lost the level or the scraper report", lost, len(res.Sites))
	}
}
