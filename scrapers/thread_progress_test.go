package scrapers_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/scrapers"
)

// A thread whose later page fails (a 5xx, a page over max_body_bytes, a
// page the engine cannot read) keeps the pages read before it: the next
// round goes on from the last page read, not from where the thread's read
// began. Before, every round re-read every page before the failing one,
// up to max_pages_per_round requests per poll for one thread, as long as
// the page kept failing.
func TestAThreadPageThatFailsKeepsThePagesReadBeforeIt(t *testing.T) {
	latest := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC).Unix()
	var mu sync.Mutex
	hits := map[string]int{}
	post := func(id int) string {
		return fmt.Sprintf(`<article class="message" data-content="post-%d" data-author="user%d">
<div class="message-attribution-main"><time data-time="%d"></time></div>
<div class="message-body"><div class="bbWrapper">post number %d</div></div></article>`, id, id, latest-int64(100*(5-id)), id)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		page := func(body string) {
			// Pages that do not change answer a conditional request
			// with a 304, as a cache in front of a forum does.
			tag := fmt.Sprintf(`"%x"`, len(body)+len(r.URL.Path))
			if r.Header.Get("If-None-Match") == tag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", tag)
			_, _ = fmt.Fprintf(w, `<!DOCTYPE html><html id="XF"><body><div class="p-body-main"><h1 class="p-title-value">Long</h1>%s</div></body></html>`, body)
		}
		switch r.URL.Path {
		case "/forums/general.2/":
			page(fmt.Sprintf(`<div class="structItem structItem--thread"><div class="structItem-title"><a href="/threads/long.1/" data-tp-primary="on">Long</a></div>
<div class="structItem-cell--meta"><dl><dd>3</dd></dl></div><time class="structItem-latestDate" data-time="%d"></time></div>`, latest))
		case "/threads/long.1/":
			page(`<link rel="next" href="/threads/long.1/page-2">` + post(1))
		case "/threads/long.1/page-2":
			page(`<link rel="next" href="/threads/long.1/page-3">` + post(2))
		case "/threads/long.1/page-3":
			http.Error(w, "database error", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	cfg := config.Default().Scrape
	cfg.RateLimit.Delay = 0
	cfg.Backfill.MaxAge = 100 * 365 * 24 * time.Hour
	cfg.Backfill.MaxPages = 10
	cfg.MaxPagesPerRound = 10
	cfg.RequestTimeout = 5 * time.Second
	site := config.Site{Name: "long", Engine: "xenforo", URL: srv.URL + "/", Entries: []string{"forums/general.2/"}, AllowPrivate: true}
	cfg.Sites = []config.Site{site}
	var posts []msg.Post
	sink := func(_ context.Context, ps []msg.Post) error {
		mu.Lock()
		defer mu.Unlock()
		posts = append(posts, ps...)
		return nil
	}
	c, err := scrapers.NewCrawler(&cfg, site, redistest.New(t), sink, scrapers.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	take := func() (map[string]int, int) {
		mu.Lock()
		defer mu.Unlock()
		h, n := hits, len(posts)
		hits, posts = map[string]int{}, nil
		return h, n
	}
	for round := 1; round <= 3; round++ {
		if _, err := c.Round(context.Background()); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		h, n := take()
		if h["/threads/long.1/page-3"] != 1 {
			t.Errorf("round %d: the failing page asked for %d times, want 1 (retried each round)", round, h["/threads/long.1/page-3"])
		}
		if round == 1 {
			if n != 2 {
				t.Errorf("round 1: %d posts, want the 2 before the failing page", n)
			}
			continue
		}
		if h["/threads/long.1/"] != 0 {
			t.Errorf("round %d: the thread's first page read again (%d requests), want the read to go on from page 2", round, h["/threads/long.1/"])
		}
		if n != 0 {
			t.Errorf("round %d: %d posts again, want none", round, n)
		}
	}
}
