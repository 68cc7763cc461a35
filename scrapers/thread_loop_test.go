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

// A thread whose pager leads back to a page already read (page 2's "next"
// is page 1: a broken template, a session parameter) ends there: it is
// read once and marked complete, not walked round and round up to the
// page budget and then re-read at the full budget every round.
func TestAThreadWhosePagesLoopIsReadOnceAndMarkedComplete(t *testing.T) {
	latest := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC).Unix()
	var mu sync.Mutex
	threadPages := 0
	post := func(id int) string {
		return fmt.Sprintf(`<article class="message" data-content="post-%d" data-author="user%d">
<div class="message-attribution-main"><time data-time="%d"></time></div>
<div class="message-body"><div class="bbWrapper">post number %d</div></div></article>`, id, id, latest-int64(100*(3-id)), id)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := func(body string) {
			_, _ = fmt.Fprintf(w, `<!DOCTYPE html><html id="XF"><body><div class="p-body-main">%s</div></body></html>`, body)
		}
		switch r.URL.Path {
		case "/robots.txt":
			http.NotFound(w, r)
		case "/forums/general.2/":
			page(fmt.Sprintf(`<div class="structItem structItem--thread"><div class="structItem-title"><a href="/threads/loop.1/" data-tp-primary="on">Loop</a></div>
<div class="structItem-cell--meta"><dl><dd>1</dd></dl></div><time class="structItem-latestDate" data-time="%d"></time></div>`, latest))
		case "/threads/loop.1/":
			mu.Lock()
			threadPages++
			mu.Unlock()
			page(`<h1 class="p-title-value">Loop</h1><link rel="next" href="/threads/loop.1/page-2">` + post(1))
		case "/threads/loop.1/page-2":
			mu.Lock()
			threadPages++
			mu.Unlock()
			page(`<h1 class="p-title-value">Loop</h1><link rel="next" href="/threads/loop.1/">` + post(2))
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
	site := config.Site{Name: "loop", Engine: "xenforo", URL: srv.URL + "/", Entries: []string{"forums/general.2/"}, AllowPrivate: true}
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
	read := func() int { mu.Lock(); defer mu.Unlock(); n := threadPages; threadPages = 0; return n }
	if _, err := c.Round(context.Background()); err != nil {
		t.Fatalf("first round: %v", err)
	}
	if n := read(); n != 2 {
		t.Errorf("first round read %d thread pages, want 2 (the loop ends at a page already read)", n)
	}
	mu.Lock()
	if len(posts) != 2 {
		t.Errorf("first round emitted %d posts, want 2", len(posts))
	}
	mu.Unlock()
	for round := 2; round <= 3; round++ {
		if _, err := c.Round(context.Background()); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if n := read(); n != 0 {
			t.Errorf("round %d re-read %d pages of a thread whose listing marker did not move, want 0", round, n)
		}
	}
}

// The same holds for a listing's pager on a site's first crawl, which
// otherwise read the loop to backfill.max_pages.
func TestAListingWhosePagesLoopIsReadOnce(t *testing.T) {
	latest := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC).Unix()
	var mu sync.Mutex
	listingPages := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		row := func(id int, next string) {
			mu.Lock()
			listingPages++
			mu.Unlock()
			_, _ = fmt.Fprintf(w, `<!DOCTYPE html><html id="XF"><head><link rel="next" href="%s"></head><body><div class="p-body-main">
<div class="structItem structItem--thread"><div class="structItem-title"><a href="/threads/t.%d/" data-tp-primary="on">T</a></div>
<div class="structItem-cell--meta"><dl><dd>0</dd></dl></div><time class="structItem-latestDate" data-time="%d"></time></div></div></body></html>`, next, id, latest)
		}
		switch r.URL.Path {
		case "/forums/general.2/":
			row(1, "/forums/general.2/page-2")
		case "/forums/general.2/page-2":
			row(2, "/forums/general.2/")
		case "/threads/t.1/", "/threads/t.2/":
			_, _ = fmt.Fprintf(w, `<!DOCTYPE html><html id="XF"><body><div class="p-body-main"><article class="message" data-content="post-%s" data-author="a">
<div class="message-attribution-main"><time data-time="%d"></time></div><div class="message-body"><div class="bbWrapper">hello</div></div></article></div></body></html>`, r.URL.Path[len("/threads/t."):len(r.URL.Path)-1], latest)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cfg := config.Default().Scrape
	cfg.RateLimit.Delay = 0
	cfg.Backfill.MaxAge = 100 * 365 * 24 * time.Hour
	cfg.Backfill.MaxPages = 10
	cfg.RequestTimeout = 5 * time.Second
	site := config.Site{Name: "loop", Engine: "xenforo", URL: srv.URL + "/", Entries: []string{"forums/general.2/"}, AllowPrivate: true}
	cfg.Sites = []config.Site{site}
	sink := func(context.Context, []msg.Post) error { return nil }
	c, err := scrapers.NewCrawler(&cfg, site, redistest.New(t), sink, scrapers.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Round(context.Background()); err != nil {
		t.Fatalf("first round: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if listingPages != 2 {
		t.Errorf("the first crawl read %d listing pages, want 2 (the loop ends at a page already read)", listingPages)
	}
}
