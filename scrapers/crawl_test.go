package scrapers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// xfAddPost appends a copy of post `like` to a XenForo thread page, with
// a new id, text and time.
func xfAddPost(t *testing.T, page []byte, like, id int, text string, at time.Time) []byte {
	t.Helper()
	s := string(page)
	start := strings.Index(s, `<article class="message message--post js-post js-inlineModContainer  " data-author`)
	for start >= 0 && !strings.Contains(s[start:start+200], fmt.Sprintf(`data-content="post-%d"`, like)) {
		n := strings.Index(s[start+1:], `<article class="message message--post`)
		if n < 0 {
			start = -1
			break
		}
		start += 1 + n
	}
	if start < 0 {
		t.Fatalf("post %d not on the page", like)
	}
	end := start + strings.Index(s[start:], "\n</article>\n") + len("\n</article>\n")
	art := s[start:end]
	art = strings.ReplaceAll(art, fmt.Sprint(like), fmt.Sprint(id))
	b0, b1 := strings.Index(art, `<div class="bbWrapper">`)+len(`<div class="bbWrapper">`), strings.Index(art, "</div>\n\t\t\t\t\t\t\t</div>")
	art = art[:b0] + text + art[b1:]
	art = xfTimeRE.ReplaceAllString(art, fmt.Sprintf(`data-time="%d"`, at.Unix()))
	return []byte(s[:end] + art + s[end:])
}

var xfTimeRE = mustRE(`data-time="\d+"`)

// xfBumpLatest changes a thread row's latest-post time on the listing.
func xfBumpLatest(t *testing.T, page []byte, threadID int, at time.Time) []byte {
	t.Helper()
	s := string(page)
	i := strings.Index(s, fmt.Sprintf("js-threadListItem-%d", threadID))
	if i < 0 {
		t.Fatalf("thread %d not on the listing", threadID)
	}
	j := i + strings.Index(s[i:], `class="structItem-latestDate u-dt"`)
	k := j + strings.Index(s[j:], "</time>")
	seg := xfTimeRE.ReplaceAllString(s[j:k], fmt.Sprintf(`data-time="%d"`, at.Unix()))
	return []byte(s[:j] + seg + s[k:])
}

func ids(posts []msg.Post) []string {
	out := make([]string, len(posts))
	for i, p := range posts {
		out[i] = p.SitePostID
		if p.Edited {
			out[i] += "(edited)"
		}
		if p.Backfill {
			out[i] += "(backfill)"
		}
	}
	return out
}

func doRound(t *testing.T, h *harness) RoundStats {
	t.Helper()
	st, err := h.c.Round(context.Background())
	if err != nil {
		t.Fatalf("round: %v", err)
	}
	return st
}

func TestCrawlIncremental(t *testing.T) {
	ctx := context.Background()
	_ = ctx
	setup := func(t *testing.T) (*testSite, *harness) {
		ts := newTestSite(t, "xenforo")
		h := newHarness(t, "xenforo", ts, nil)
		doRound(t, h)
		if got := ids(h.posts()); strings.Join(got, ",") != "120(backfill),101(backfill),102(backfill),104(backfill),105(backfill)" {
			t.Fatalf("first crawl got %v", got)
		}
		h.reset()
		ts.requestLog()
		return ts, h
	}
	t.Run("a new post is read with one listing and one thread request", func(t *testing.T) {
		ts, h := setup(t)
		now := time.Now()
		ts.set("/threads/stream-tonight.12/", xfAddPost(t, ts.page("/threads/stream-tonight.12/"), 120, 121, "Moved the stream to his street. Be there.", now))
		ts.set("/forums/general.2/", xfBumpLatest(t, ts.page("/forums/general.2/"), 12, now))
		st := doRound(t, h)
		if got := ids(h.posts()); strings.Join(got, ",") != "121" {
			t.Fatalf("got %v, want the new post only, not backfill", got)
		}
		if p := h.posts()[0]; p.Text != "Moved the stream to his street. Be there." || p.ThreadID != "12" || p.Thread != "Stream tonight" || !p.Published.Equal(now.Truncate(time.Second)) {
			t.Errorf("post fields: %+v", p)
		}
		if log := ts.requestLog(); len(log) != 2 || st.Requests != 2 {
			t.Errorf("requests %v (stats %d), want the listing and thread 12", log, st.Requests)
		}
	})
	t.Run("an unchanged site costs one conditional request per entry", func(t *testing.T) {
		ts, h := setup(t)
		c0 := ts.cond.Load()
		st := doRound(t, h)
		if len(h.posts()) != 0 || st.Requests != 1 || st.NotModified != 1 || ts.cond.Load() != c0+1 {
			t.Errorf("posts %v, stats %+v, conditional %d", ids(h.posts()), st, ts.cond.Load()-c0)
		}
	})
	t.Run("an edited post is emitted again once, marked edited", func(t *testing.T) {
		ts, h := setup(t)
		p2 := strings.Replace(string(ts.page("/threads/where-does-he-live.10/page-2")), "not posting it here.", "posting it here after all: 12 Elm Street.", 1)
		ts.set("/threads/where-does-he-live.10/page-2", []byte(p2))
		ts.set("/forums/general.2/", xfBumpLatest(t, ts.page("/forums/general.2/"), 10, time.Now()))
		doRound(t, h)
		got := h.posts()
		if len(got) != 1 || got[0].SitePostID != "105" || !got[0].Edited || !strings.Contains(got[0].Text, "after all") {
			t.Fatalf("got %v", ids(got))
		}
		h.reset()
		ts.set("/forums/general.2/", xfBumpLatest(t, ts.page("/forums/general.2/"), 10, time.Now().Add(time.Minute)))
		doRound(t, h)
		if len(h.posts()) != 0 {
			t.Errorf("unchanged edit emitted again: %v", ids(h.posts()))
		}
	})
	t.Run("a deleted post emits nothing and breaks nothing", func(t *testing.T) {
		ts, h := setup(t)
		p := string(ts.page("/threads/where-does-he-live.10/page-2"))
		i := strings.Index(p, `<article class="message message--post js-post js-inlineModContainer  " data-author="Raven" data-content="post-104"`)
		j := i + strings.Index(p[i:], "\n</article>\n") + len("\n</article>\n")
		ts.set("/threads/where-does-he-live.10/page-2", []byte(p[:i]+p[j:]))
		ts.set("/forums/general.2/", xfBumpLatest(t, ts.page("/forums/general.2/"), 10, time.Now()))
		st := doRound(t, h)
		if len(h.posts()) != 0 || st.Errors != 0 {
			t.Errorf("posts %v, stats %+v", ids(h.posts()), st)
		}
	})
	t.Run("a new page of a thread is followed from the cursor page", func(t *testing.T) {
		ts, h := setup(t)
		p2 := strings.Replace(string(ts.page("/threads/where-does-he-live.10/page-2")), `<link rel="prev"`, `<link rel="next" href="/threads/where-does-he-live.10/page-3" />`+"\n\t"+`<link rel="prev"`, 1)
		ts.set("/threads/where-does-he-live.10/page-2", []byte(p2))
		p3 := xfAddPost(t, ts.page("/threads/where-does-he-live.10/page-2"), 105, 106, "Page three, new post.", time.Now())
		p3 = []byte(strings.NewReplacer(`data-content="post-104"`, `data-content="post-x"`, `data-content="post-105"`, `data-content="post-y"`, `<link rel="next" href="/threads/where-does-he-live.10/page-3" />`, "").Replace(string(p3)))
		ts.set("/threads/where-does-he-live.10/page-3", p3)
		ts.set("/forums/general.2/", xfBumpLatest(t, ts.page("/forums/general.2/"), 10, time.Now()))
		doRound(t, h)
		if got := ids(h.posts()); strings.Join(got, ",") != "106" {
			t.Fatalf("got %v", got)
		}
		log := strings.Join(ts.requestLog(), " ")
		if strings.Contains(log, "/threads/where-does-he-live.10/ ") || !strings.Contains(log, "page-2") || !strings.Contains(log, "page-3") {
			t.Errorf("requests %s: want the cursor page and the new one, not page 1", log)
		}
	})
	t.Run("an empty thread and a vanished thread are not errors", func(t *testing.T) {
		ts, h := setup(t)
		ts.hook = func(w http.ResponseWriter, r *http.Request) bool {
			if strings.Contains(r.URL.Path, "stream-tonight") {
				http.Error(w, "gone", http.StatusGone)
				return true
			}
			return false
		}
		ts.set("/forums/general.2/", xfBumpLatest(t, xfBumpLatest(t, ts.page("/forums/general.2/"), 12, time.Now()), 11, time.Now()))
		st := doRound(t, h)
		if len(h.posts()) != 0 || h.c.Health().State != HealthOK {
			t.Errorf("posts %v, stats %+v, health %+v", ids(h.posts()), st, h.c.Health())
		}
	})
}

func TestCrawlRestartResumes(t *testing.T) {
	ts := newTestSite(t, "xenforo")
	h := newHarness(t, "xenforo", ts, nil)
	// The sink fails on the first page: nothing may be marked seen.
	h.fail = errors.New("broker away")
	if _, err := h.c.Round(context.Background()); err == nil || !errors.Is(err, errSink) {
		t.Fatalf("round with a failing sink: %v", err)
	}
	h.fail = nil
	doRound(t, h)
	first := ids(h.posts())
	if len(first) != 5 {
		t.Fatalf("after the sink recovered got %v, want all 5 posts", first)
	}
	// A new process on the same Redis: nothing is re-emitted.
	h2 := &harness{t: t, cfg: h.cfg, store: h.store}
	h2.build(h.cfg.Sites[0])
	st := doRound(t, h2)
	if len(h2.posts()) != 0 || st.NotModified != 1 {
		t.Fatalf("restarted crawler emitted %v (stats %+v)", ids(h2.posts()), st)
	}
	now := time.Now()
	ts.set("/threads/stream-tonight.12/", xfAddPost(t, ts.page("/threads/stream-tonight.12/"), 120, 122, "After the restart.", now))
	ts.set("/forums/general.2/", xfBumpLatest(t, ts.page("/forums/general.2/"), 12, now))
	doRound(t, h2)
	if got := ids(h2.posts()); strings.Join(got, ",") != "122" {
		t.Fatalf("after restart got %v, want only the new post", got)
	}
}

func TestCrawlBackfillBounds(t *testing.T) {
	f := func(name string, mod func(*config.Scrape), want string, oldThreadRead bool) {
		t.Run(name, func(t *testing.T) {
			ts := newTestSite(t, "xenforo")
			h := newHarness(t, "xenforo", ts, nil)
			mod(h.cfg)
			h.build(h.cfg.Sites[0])
			doRound(t, h)
			if got := strings.Join(ids(h.posts()), ","); got != want {
				t.Errorf("got %s, want %s", got, want)
			}
			// Thread 9 on the listing's page 2 was last active in 2020.
			if read := strings.Contains(strings.Join(ts.requestLog(), " "), "old-news.9"); read != oldThreadRead {
				t.Errorf("thread quiet since 2020 read: %v, want %v", read, oldThreadRead)
			}
		})
	}
	f("without a tight bound every reachable thread is read", func(c *config.Scrape) {},
		"120(backfill),101(backfill),102(backfill),104(backfill),105(backfill)", true)
	f("an age bound keeps threads quiet since then out", func(c *config.Scrape) { c.Backfill.MaxAge = time.Since(time.Date(2026, 1, 10, 11, 30, 0, 0, time.UTC)) },
		"120(backfill),101(backfill),102(backfill),104(backfill),105(backfill)", false)
	f("a tighter age bound drops the older posts", func(c *config.Scrape) { c.Backfill.MaxAge = time.Since(time.Date(2026, 1, 10, 13, 30, 0, 0, time.UTC)) },
		"120(backfill),105(backfill)", false)
	f("a page bound stops inside long threads", func(c *config.Scrape) { c.Backfill.MaxPages = 1 },
		"120(backfill),101(backfill),102(backfill)", false)
	f("backfill disabled emits no history", func(c *config.Scrape) { c.Backfill.Disabled = true }, "", false)
	t.Run("after backfill disabled, a thread that moves yields only its new post", func(t *testing.T) {
		ts := newTestSite(t, "xenforo")
		h := newHarness(t, "xenforo", ts, nil)
		h.cfg.Backfill.Disabled = true
		h.build(h.cfg.Sites[0])
		doRound(t, h)
		now := time.Now().Add(time.Second)
		ts.set("/threads/stream-tonight.12/", xfAddPost(t, ts.page("/threads/stream-tonight.12/"), 120, 123, "fresh", now))
		ts.set("/forums/general.2/", xfBumpLatest(t, ts.page("/forums/general.2/"), 12, now))
		doRound(t, h)
		if got := strings.Join(ids(h.posts()), ","); got != "123" {
			t.Errorf("got %s", got)
		}
	})
}

func TestCrawlBrokenPagesAndHealth(t *testing.T) {
	t.Run("a thread failing with 500 does not stop the others and keeps the listing re-read", func(t *testing.T) {
		ts := newTestSite(t, "xenforo")
		var mu sync.Mutex
		fail := true
		ts.hook = func(w http.ResponseWriter, r *http.Request) bool {
			mu.Lock()
			defer mu.Unlock()
			if fail && strings.Contains(r.URL.Path, "where-does-he-live") {
				http.Error(w, "boom", http.StatusInternalServerError)
				return true
			}
			return false
		}
		h := newHarness(t, "xenforo", ts, nil)
		doRound(t, h)
		if got := strings.Join(ids(h.posts()), ","); got != "120(backfill)" {
			t.Fatalf("got %s", got)
		}
		mu.Lock()
		fail = false
		mu.Unlock()
		h.reset()
		doRound(t, h)
		if got := strings.Join(ids(h.posts()), ","); got != "101(backfill),102(backfill),104(backfill),105(backfill)" {
			t.Fatalf("after recovery got %s: the listing must not have been answered 304", got)
		}
	})
	t.Run("changed markup is reported as markup_changed with a stale level", func(t *testing.T) {
		ts := newTestSite(t, "xenforo")
		ts.set("/forums/general.2/", []byte("<html><body><div class='new-forum-software'>hello</div></body></html>"))
		h := newHarness(t, "xenforo", ts, nil)
		var got []Health
		h.c.health.sink = func(_ context.Context, hl Health) error { got = append(got, hl); return nil }
		doRound(t, h)
		if h.c.Health().State != HealthMarkup || len(got) != 1 || !got[0].Level().Stale || got[0].Level().Name != "scraper_markup_changed" {
			t.Fatalf("health %+v, signals %+v", h.c.Health(), got)
		}
		if v := testutil.ToFloat64(h.c.m.Drops.WithLabelValues("fx", "markup")); v != 1 {
			t.Errorf("markup drops %v", v)
		}
		if v := testutil.ToFloat64(h.c.m.Healthy.WithLabelValues("fx")); v != 0 {
			t.Errorf("healthy gauge %v", v)
		}
		hl, ok, err := ReadHealth(context.Background(), h.store, "fx")
		if err != nil || !ok || hl.State != HealthMarkup {
			t.Errorf("health in Redis: %+v %v %v", hl, ok, err)
		}
	})
	t.Run("a site that stops answering turns unreachable after stale_after", func(t *testing.T) {
		ts := newTestSite(t, "xenforo")
		h := newHarness(t, "xenforo", ts, nil)
		clock := time.Now()
		h.c.now = func() time.Time { return clock }
		doRound(t, h)
		ts.Close()
		var got []Health
		h.c.health.sink = func(_ context.Context, hl Health) error { got = append(got, hl); return nil }
		if _, err := h.c.Round(context.Background()); err == nil {
			t.Fatal("round against a closed site succeeded")
		}
		if h.c.Health().State != HealthOK {
			t.Fatalf("one failed round already %q", h.c.Health().State)
		}
		clock = clock.Add(2 * time.Minute)
		_, _ = h.c.Round(context.Background())
		if h.c.Health().State != HealthUnreachable || len(got) == 0 || !got[len(got)-1].Level().Stale {
			t.Fatalf("health %+v, signals %v", h.c.Health(), got)
		}
	})
	t.Run("a dead primary moves the site to its mirror under the same id", func(t *testing.T) {
		mirror := newTestSite(t, "xenforo")
		dead := newTestSite(t, "")
		deadURL := dead.URL
		dead.Close()
		h := newHarness(t, "xenforo", mirror, nil)
		site := h.cfg.Sites[0]
		site.URL, site.Mirrors = deadURL+"/", []string{mirror.URL + "/"}
		h.cfg.Sites[0] = site
		h.build(site)
		var got []Health
		h.c.health.sink = func(_ context.Context, hl Health) error { got = append(got, hl); return nil }
		doRound(t, h)
		if len(h.posts()) != 5 || h.c.Health().State != HealthMirror || len(got) != 1 || got[0].Level().Name != "scraper_mirror" {
			t.Fatalf("posts %v health %+v signals %+v", ids(h.posts()), h.c.Health(), got)
		}
		want := msg.PostID("fx", "101")
		found := false
		for _, p := range h.posts() {
			found = found || p.ID == want
		}
		if !found {
			t.Errorf("post ids changed on the mirror")
		}
	})
}

func TestRunnerOnce(t *testing.T) {
	ts := newTestSite(t, "telegram")
	h := newHarness(t, "telegram", ts, nil)
	r, err := NewRunner(h.cfg, h.store, h.sink, Options{Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Once(context.Background(), "nope"); err == nil {
		t.Error("unknown site accepted")
	}
	st, err := r.Once(context.Background(), "fx")
	if err != nil || st.Posts != 4 || len(h.posts()) != 4 {
		t.Fatalf("once: %+v %v %v", st, err, ids(h.posts()))
	}
}

func TestValidateEngines(t *testing.T) {
	c := config.Default().Scrape
	c.Sites = []config.Site{{Name: "a", Engine: "vbulletin9", URL: "https://x.example/"}, {Name: "b", Engine: "phpbb", URL: "https://x.example/"}}
	err := Validate(c)
	if err == nil || !strings.Contains(err.Error(), "scrape.sites[0].engine") || !strings.Contains(err.Error(), "scrape.sites[1].engine") {
		t.Fatalf("got %v", err)
	}
}

func TestEditedPostsPassDownstreamDedup(t *testing.T) {
	p := msg.Post{Site: "s", SitePostID: "1", Text: "a"}
	p.Normalize()
	e := msg.Post{Site: "s", SitePostID: "1", Text: "b", Edited: true}
	e.Normalize()
	if p.DedupID() == e.DedupID() || p.ID != e.ID {
		t.Fatalf("an edit must keep the post id (%s, %s) but not the dedup id (%s, %s)", p.ID, e.ID, p.DedupID(), e.DedupID())
	}
}

func TestLogsCarryNoPostTextOrNames(t *testing.T) {
	ts := newTestSite(t, "xenforo")
	ts.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "where-does-he-live") {
			http.Error(w, "boom", http.StatusBadGateway)
			return true
		}
		return false
	}
	ts.set("/threads/stream-tonight.12/", []byte("<html><body>not xenforo: Elm Street</body></html>"))
	var buf strings.Builder
	var mu sync.Mutex
	h := newHarness(t, "xenforo", ts, nil)
	c, err := NewCrawler(h.cfg, h.cfg.Sites[0], h.store, h.sink, Options{Log: slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Round(context.Background())
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "cannot parse page") || !strings.Contains(out, "cannot read thread") || !strings.Contains(out, "[path:") {
		t.Fatalf("expected warnings in the log, got %q", out)
	}
	for _, bad := range []string{"where-does-he-live", "stream-tonight", "Elm Street", "Raven", "Moth", "Anyone know"} {
		if strings.Contains(out, bad) {
			t.Errorf("log carries %q:\n%s", bad, out)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A post of megabytes (a broken or hostile page) is cut to the size limit,
// counted and handed on; uncut, it could not be carried on Kafka.
func TestCrawlClipsAHugePost(t *testing.T) {
	ts := newTestSite(t, "xenforo")
	h := newHarness(t, "xenforo", ts, nil)
	doRound(t, h)
	now := time.Now()
	ts.set("/threads/stream-tonight.12/", xfAddPost(t, ts.page("/threads/stream-tonight.12/"), 120, 123, strings.Repeat("word ", 100<<10), now))
	ts.set("/forums/general.2/", xfBumpLatest(t, ts.page("/forums/general.2/"), 12, now))
	doRound(t, h)
	var got *msg.Post
	for _, p := range h.posts() {
		if p.SitePostID == "123" {
			got = &p
		}
	}
	if got == nil {
		t.Fatalf("the huge post was not handed on: %v", ids(h.posts()))
	}
	if len(got.Text) > msg.MaxTextBytes || len(got.Text) < msg.MaxTextBytes-8 || !strings.HasPrefix(got.Text, "word word") {
		t.Errorf("text of %d bytes, want it cut to %d", len(got.Text), msg.MaxTextBytes)
	}
	if n := testutil.ToFloat64(h.c.m.Drops.WithLabelValues(h.c.site.Name, "text_clipped")); n != 1 {
		t.Errorf("text_clipped drops = %v, want 1", n)
	}
}

// A post the sink refuses for good (over the posts topic's message size)
// failed its page at every round: the round stopped there, and the posts
// after it on the page, and the pages after it, were never read. The sink
// says so with ErrRefused; the crawler records the page as read, counts
// the drop, and goes on.
func TestAPostTheSinkRefusesForGoodDoesNotStopTheCrawl(t *testing.T) {
	ts := newTestSite(t, "xenforo")
	h := newHarness(t, "xenforo", ts, nil)
	doRound(t, h)
	before := len(h.posts())
	now := time.Now()
	ts.set("/threads/stream-tonight.12/", xfAddPost(t, ts.page("/threads/stream-tonight.12/"), 120, 123, "too big for the topic", now))
	ts.set("/forums/general.2/", xfBumpLatest(t, ts.page("/forums/general.2/"), 12, now))
	h.mu.Lock()
	h.fail = fmt.Errorf("%w: the broker refuses a posts message of 2000000 bytes", ErrRefused)
	h.mu.Unlock()
	if _, err := h.c.Round(context.Background()); err != nil {
		t.Fatalf("a refused post failed the round: %v", err)
	}
	if n := testutil.ToFloat64(h.c.m.Drops.WithLabelValues(h.c.site.Name, "refused")); n != 1 {
		t.Errorf("refused drops = %v, want 1", n)
	}
	h.mu.Lock()
	h.fail = nil
	h.mu.Unlock()
	doRound(t, h)
	for _, p := range h.posts()[before:] {
		if p.SitePostID == "123" {
			t.Errorf("the refused post was handed on again next round")
		}
	}
}
