package scrapers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A robots.txt that redirects to another host (a CDN, the www. name), at
// /robots.txt or another path, holds the rules of the host it was asked
// of (RFC 9309, 2.3.1.2): colly files them under that host, and so must
// the Crawl-delay and the copy that redirects from that host are checked
// against.
func TestARobotsTxtRedirectedToAnotherHostRulesTheHostAskedOf(t *testing.T) {
	for _, target := range []string{"/robots.txt", "/static/robots-live.txt"} {
		t.Run("to "+target, func(t *testing.T) { testRobotsRedirect(t, target) })
	}
}

func testRobotsRedirect(t *testing.T, target string) {
	rules := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == target {
			_, _ = w.Write([]byte("User-agent: *\nDisallow: /private/\nCrawl-delay: 0.2\n"))
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer rules.Close()
	site, private := siteWithPrivate(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, rules.URL+target, http.StatusMovedPermanently)
	})
	f := testFetcher(t, nil)
	ctx := context.Background()
	if _, err := f.Get(ctx, site.URL+"/public", Validators{}); err != nil {
		t.Fatalf("public page: %v", err)
	}
	if _, err := f.Get(ctx, site.URL+"/private/1", Validators{}); fetchErrReason(err) != "robots" {
		t.Fatalf("a disallowed page asked for directly: %v, want a robots refusal", err)
	}
	if d := f.lim.hostCrawlDelay(hostOf(t, site.URL)); d != 200*time.Millisecond {
		t.Errorf("the site's host has Crawl-delay %v, want 200ms from its redirected robots.txt", d)
	}
	if d := f.lim.hostCrawlDelay(hostOf(t, rules.URL)); d != 0 {
		t.Errorf("the robots.txt's host got Crawl-delay %v, want none: its own robots.txt was never asked for", d)
	}
	if _, err := f.Get(ctx, site.URL+"/go?to=/private/2", Validators{}); fetchErrReason(err) != "robots" {
		t.Errorf("a redirect into /private/: %v, want a robots refusal", err)
	}
	if n := private.Load(); n != 0 {
		t.Errorf("the disallowed pages were fetched %d times", n)
	}
}
