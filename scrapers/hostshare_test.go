package scrapers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
)

// Two configured sites on one host (two boards of one forum, a feed and
// the forum it comes from) share the host's politeness, and the strictest
// of them holds whichever site asks first: the host's parallelism was that
// of the first site to ask, and its Crawl-delay that of the robots.txt
// group of the site that read the file last, so a site whose own group
// says nothing wiped the Crawl-delay another site's group asked for.
func TestSitesSharingAHostGetTheStrictestLimits(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			_, _ = w.Write([]byte("User-agent: slowbot\nCrawl-delay: 0.05\n\nUser-agent: *\nAllow: /\n"))
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	host := mustParseURL(t, srv.URL).Host

	type siteSpec struct {
		name, agent string
		rate        config.RateLimit
	}
	eager := siteSpec{"eager", "fastbot", config.RateLimit{Parallelism: 4}}
	strict := siteSpec{"strict", "slowbot", config.RateLimit{Parallelism: 1}}
	for _, tc := range []struct {
		name    string
		order   []siteSpec
		wantPar int
		wantGap time.Duration
	}{
		{"the eager site asks first", []siteSpec{eager, strict}, 1, 50 * time.Millisecond},
		{"the strict site asks first", []siteSpec{strict, eager}, 1, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			lim := NewHostLimiter()
			cfg := testScrapeConfig()
			var fs []*Fetcher
			for _, s := range tc.order {
				site := config.Site{Name: s.name, Engine: "rss", URL: srv.URL + "/", AllowPrivate: true, UserAgent: s.agent, RateLimit: s.rate}
				f, err := NewFetcher(cfg, cfg.Effective(site), lim, nil)
				if err != nil {
					t.Fatal(err)
				}
				fs = append(fs, f)
			}
			for i, f := range fs {
				if _, err := f.Get(ctx, srv.URL+"/", Validators{}); err != nil {
					t.Fatalf("site %s: %v", tc.order[i].name, err)
				}
			}
			par, gap := lim.limits(host)
			if par != tc.wantPar || gap != tc.wantGap {
				t.Errorf("host limits: parallelism %d, gap %v; want %d, %v", par, gap, tc.wantPar, tc.wantGap)
			}
		})
	}
}

// The strictest of the configured rate limits holds from the start, before
// the stricter site has sent anything, and a site's own robots.txt read
// again with a shorter Crawl-delay shortens it: the host's limits are the
// strictest of what each site asks for now, not a ratchet.
func TestHostLimitsStrictestOfEachSite(t *testing.T) {
	lim := NewHostLimiter()
	lim.Register("forum.example", config.RateLimit{Delay: time.Second, Parallelism: 3})
	lim.Register("forum.example", config.RateLimit{Delay: 2 * time.Second, Parallelism: 2})
	lim.Register("forum.example", config.RateLimit{Delay: 0, Parallelism: 5})
	if par, gap := lim.limits("forum.example"); par != 2 || gap != 2*time.Second {
		t.Errorf("after registering: parallelism %d, gap %v; want 2, 2s", par, gap)
	}
	lim.SetCrawlDelay("forum.example", "a", 5*time.Second)
	lim.SetCrawlDelay("forum.example", "b", 3*time.Second)
	if _, gap := lim.limits("forum.example"); gap != 5*time.Second {
		t.Errorf("Crawl-delays 5s and 3s: gap %v, want 5s", gap)
	}
	lim.SetCrawlDelay("forum.example", "a", 0)
	if _, gap := lim.limits("forum.example"); gap != 3*time.Second {
		t.Errorf("site a's robots.txt now without a Crawl-delay: gap %v, want 3s", gap)
	}
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// heldUntil is when a Retry-After on host ends (zero: none).
func (l *HostLimiter) heldUntil(host string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stateLocked(host).blockedUntil
}

// One server is one host to the limiter however a site's URL spells it:
// a site configured as "https://Forum.Example/" and one as
// "https://forum.example:443/" share the strictest limits.
func TestOneHostHoweverSpelled(t *testing.T) {
	lim := NewHostLimiter()
	cfg := testScrapeConfig()
	for _, s := range []struct {
		url string
		par int
	}{{"https://Forum.Example/", 4}, {"https://forum.example:443/", 1}, {"https://forum.example./", 3}} {
		site := config.Site{Name: s.url, Engine: "rss", URL: s.url, RateLimit: config.RateLimit{Parallelism: s.par}}
		if _, err := NewFetcher(cfg, cfg.Effective(site), lim, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"https://forum.example/", "https://FORUM.example/x", "https://forum.example:443/"} {
		if par, _ := lim.limits(limiterHost(mustParseURL(t, u))); par != 1 {
			t.Errorf("%s: parallelism %d, want 1", u, par)
		}
	}
	if a, b := limiterHost(mustParseURL(t, "http://forum.example/")), limiterHost(mustParseURL(t, "https://forum.example/")); a == b {
		t.Errorf("http and https share the limiter name %q", a)
	}
}
