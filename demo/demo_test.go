package demo

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/classifiers"
	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/scrapers"
)

func TestTimeline(t *testing.T) {
	a, b := Build(7, Options{}), Build(7, Options{})
	t.Run("the same seed gives the same world", func(t *testing.T) {
		if !reflect.DeepEqual(a, b) {
			t.Fatal("two builds of seed 7 differ")
		}
	})
	t.Run("another seed gives another world", func(t *testing.T) {
		if reflect.DeepEqual(a.Posts, Build(8, Options{}).Posts) {
			t.Fatal("seeds 7 and 8 give the same posts")
		}
	})
	t.Run("the campaign unfolds in story order, spreading to the second site", func(t *testing.T) {
		first := map[Phase]time.Duration{}
		sites := map[Phase]map[string]bool{}
		for _, p := range a.Posts {
			if p.Clock != Campaign {
				continue
			}
			if at, ok := first[p.Phase]; !ok || p.Offset < at {
				first[p.Phase] = p.Offset
			}
			if sites[p.Phase] == nil {
				sites[p.Phase] = map[string]bool{}
			}
			sites[p.Phase][p.Site] = true
		}
		story := []Phase{PhaseTarget, PhaseDox, PhaseSwat, PhaseThreat, PhaseSpread}
		for i := 1; i < len(story); i++ {
			if !(first[story[i-1]] < first[story[i]]) {
				t.Errorf("%s (%v) does not come before %s (%v)", story[i-1], first[story[i-1]], story[i], first[story[i]])
			}
		}
		if !sites[PhaseTarget][SiteForum] || !sites[PhaseSpread][SiteChannel] {
			t.Errorf("the campaign should start on %s and spread to %s: %v", SiteForum, SiteChannel, sites)
		}
		if !sites[PhaseNews][SiteForum] || !sites[PhaseGaming][SiteForum] {
			t.Error("the hard negatives (news, gaming) are missing")
		}
	})
	t.Run("every site has history reaching back further than a day", func(t *testing.T) {
		for _, s := range Sites {
			oldest := time.Duration(0)
			for _, p := range a.Posts {
				if p.Site == s && p.Offset < oldest {
					oldest = p.Offset
				}
			}
			if oldest > -25*time.Hour {
				t.Errorf("%s's history reaches back only %v", s, -oldest)
			}
		}
	})
	t.Run("post numbers increase in publication order on each site", func(t *testing.T) {
		sched := Schedule{Origin: time.Unix(1_800_000_000, 0), CampaignStart: time.Unix(1_800_000_100, 0), Speed: 60}
		last := map[string]int64{}
		lastAt := map[string]time.Time{}
		for _, p := range a.Posts {
			at, _ := sched.At(p)
			if p.No <= last[p.Site] || (p.Clock != History && at.Before(lastAt[p.Site])) {
				t.Fatalf("%s post %d out of order", p.Site, p.No)
			}
			last[p.Site], lastAt[p.Site] = p.No, at
		}
	})
	t.Run("the doxxing posts carry the target's fictional address and phone", func(t *testing.T) {
		var addr, phone bool
		for _, p := range a.Posts {
			if p.Phase == PhaseDox || p.Phase == PhaseSpread {
				addr = addr || strings.Contains(p.Text, TargetAddress)
				phone = phone || strings.Contains(p.Text, TargetPhone)
			}
		}
		if !addr || !phone {
			t.Errorf("address posted: %v, phone posted: %v", addr, phone)
		}
	})
	t.Run("personal data is fictional", func(t *testing.T) {
		phone := regexp.MustCompile(`\(?\d{3}\)?[ -]?\d{3}-\d{4}`)
		for _, p := range a.Posts {
			for _, m := range phone.FindAllString(p.Text+" "+p.Quote, -1) {
				if !regexp.MustCompile(`555-01\d\d$`).MatchString(m) {
					t.Errorf("phone number %q is not in the fictional 555-01xx range", m)
				}
			}
		}
	})
}

// clock is a settable wall clock for the server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// TestScrapersReadTheSites crawls the demo sites with the real scrapers:
// the first crawl must find every post published so far (as backfill),
// and later rounds the campaign's posts as they appear (as new posts),
// with the texts, quotes, authors and times the timeline has.
func TestScrapersReadTheSites(t *testing.T) {
	tl := Build(1, Options{History: 26 * time.Hour, SteadyPerHour: 12})
	origin := time.Now().UTC().Truncate(time.Second)
	clk := &clock{t: origin}
	srv := NewServer(tl, origin, 60, clk.now, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	st := redistest.New(t)
	cfg := config.Default().Scrape
	var mu sync.Mutex
	got := map[string]map[string]msg.Post{}
	sink := func(_ context.Context, posts []msg.Post) error {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range posts {
			if got[p.Site] == nil {
				got[p.Site] = map[string]msg.Post{}
			}
			got[p.Site][p.SitePostID] = p
		}
		return nil
	}
	sites := srv.ScrapeSites(time.Second)
	cfg.Sites = sites
	if err := scrapers.Validate(cfg); err != nil {
		t.Fatalf("the demo sites are not a valid scrape config: %v", err)
	}
	log := slog.New(slog.DiscardHandler)
	crawlers := map[string]*scrapers.Crawler{}
	for _, s := range sites {
		c, err := scrapers.NewCrawler(&cfg, s, st, sink, scrapers.Options{Log: log, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		crawlers[s.Name] = c
	}
	round := func(t *testing.T) {
		t.Helper()
		for _, name := range Sites {
			if _, err := crawlers[name].Round(ctx); err != nil {
				t.Fatalf("round of %s: %v", name, err)
			}
		}
	}
	// check compares what the scrapers emitted with what the server shows.
	check := func(t *testing.T, wantBackfill func(Post) bool) {
		t.Helper()
		for _, site := range Sites {
			want := srv.posts(site, "")
			if len(got[site]) != len(want) {
				t.Errorf("%s: scraped %d posts, the site shows %d", site, len(got[site]), len(want))
			}
			for _, v := range want {
				id := sitePostID(v)
				p, ok := got[site][id]
				if !ok {
					t.Errorf("%s: post %s (%s) not scraped", site, id, v.Phase)
					continue
				}
				if p.Text != v.Text {
					t.Errorf("%s %s: text %q, want %q", site, id, p.Text, v.Text)
				}
				if (v.Quote != "") != (len(p.Quoted) > 0) || (v.Quote != "" && !strings.Contains(p.QuotedText(), v.Quote)) {
					t.Errorf("%s %s: quoted %q, want %q", site, id, p.Quoted, v.Quote)
				}
				if !p.Published.Equal(v.At) {
					t.Errorf("%s %s: published %v, want %v", site, id, p.Published, v.At)
				}
				if p.Author == "" || p.URL == "" || p.ThreadID == "" {
					t.Errorf("%s %s: author %q, url %q, thread %q: want all set", site, id, p.Author, p.URL, p.ThreadID)
				}
				if p.Backfill != wantBackfill(v.Post) {
					t.Errorf("%s %s (%s): backfill %v", site, id, v.Phase, p.Backfill)
				}
			}
		}
	}
	t.Run("the first crawl backfills every site's history", func(t *testing.T) {
		round(t)
		check(t, func(Post) bool { return true })
		if len(got[SiteChannel]) <= pageSize {
			t.Errorf("the channel's older pages were not followed: %d posts", len(got[SiteChannel]))
		}
	})
	t.Run("campaign posts are scraped as new posts as the campaign clock runs", func(t *testing.T) {
		start := origin.Add(2 * time.Second)
		srv.StartCampaign(start)
		// Walk the campaign to its end in a few rounds.
		for _, frac := range []float64{0.25, 0.5, 0.75, 1} {
			clk.set(start.Add(time.Duration(frac * float64(tl.CampaignLength) / 60)).Add(time.Second))
			round(t)
		}
		check(t, func(p Post) bool { return p.Clock == History })
		phases := map[Phase]bool{}
		for _, p := range srv.posts(SiteChannel, "") {
			phases[p.Phase] = true
		}
		if !phases[PhaseSpread] {
			t.Error("the spread to the channel never appeared")
		}
	})
}

func sitePostID(v visible) string {
	switch v.Site {
	case SiteBoard:
		return "b/" + itoa(v.No)
	case SiteChannel:
		return Channel + "/" + itoa(v.No)
	}
	return itoa(v.No)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestClassifiersSeeTheStory scores the timeline's posts with the real
// classifiers: the campaign must read as doxxing, swatting and threats, the
// hard negatives must not, and the steady channel must read as threatening
// (a hostile normal, not a quiet one).
func TestClassifiersSeeTheStory(t *testing.T) {
	c, err := classifiers.New(config.Default().Classify)
	if err != nil {
		t.Fatal(err)
	}
	tl := Build(3, Options{})
	th := config.Default().Classify.Thresholds
	type tally struct{ n, hit int }
	hits := map[Phase]*tally{}
	var worst []string
	for _, p := range tl.Posts {
		s, err := c.Score(context.Background(), &msg.Post{Schema: msg.SchemaPost, ID: "x", Site: p.Site, Text: p.Text, Quoted: quoted(p)})
		if err != nil {
			t.Fatal(err)
		}
		if hits[p.Phase] == nil {
			hits[p.Phase] = &tally{}
		}
		h := hits[p.Phase]
		h.n++
		want := map[Phase]msg.Signal{PhaseDox: msg.SignalDoxxing, PhaseSwat: msg.SignalSwatting, PhaseThreat: msg.SignalThreat}[p.Phase]
		switch {
		case want != "":
			if s.Score(want) >= threshold(th, want) {
				h.hit++
			} else {
				worst = append(worst, string(p.Phase)+": "+p.Text)
			}
		case p.Phase == PhaseHostile || p.Phase == PhaseSpread:
			if s.MaxScore() >= 0.5 {
				h.hit++
			}
		default: // chatter, gaming, news, target, aftermath
			if s.MaxScore() >= 0.5 {
				h.hit++
				worst = append(worst, string(p.Phase)+" scored "+fmtScores(s.Scores)+": "+p.Text)
			}
		}
	}
	sort.Strings(worst)
	worst = slices.Compact(worst)
	rate := func(ph Phase) float64 {
		h := hits[ph]
		if h == nil || h.n == 0 {
			return 0
		}
		return float64(h.hit) / float64(h.n)
	}
	for _, ph := range []Phase{PhaseDox, PhaseSwat, PhaseThreat} {
		if r := rate(ph); r < 0.75 {
			t.Errorf("%s posts detected: %.0f%%, want at least 75%%", ph, 100*r)
		}
	}
	if r := rate(PhaseSpread); r < 0.6 {
		t.Errorf("spread posts threatening: %.0f%%, want at least 60%%", 100*r)
	}
	if r := rate(PhaseHostile); r < 0.4 {
		t.Errorf("the steady channel's posts threatening: %.0f%%, want at least 40%% (its normal must be hostile)", 100*r)
	}
	for _, ph := range []Phase{PhaseChatter, PhaseGaming, PhaseNews} {
		if r := rate(ph); r > 0.1 {
			t.Errorf("hard negatives of %s scoring >= 0.5: %.0f%%, want at most 10%%", ph, 100*r)
		}
	}
	if t.Failed() {
		for _, w := range worst {
			t.Log(w)
		}
	}
}

func quoted(p Post) []string {
	if p.Quote == "" {
		return nil
	}
	return []string{p.Quote}
}

func threshold(th config.Thresholds, s msg.Signal) float64 {
	switch s {
	case msg.SignalDoxxing:
		return th.Doxxing
	case msg.SignalSwatting:
		return th.Swatting
	}
	return th.Threat
}

func fmtScores(m map[msg.Signal]float64) string {
	var parts []string
	for _, s := range msg.Signals {
		parts = append(parts, fmt.Sprintf("%s=%.2f", s, m[s]))
	}
	return strings.Join(parts, " ")
}
