package scrapers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/temoto/robotstxt"

	"github.com/threatwatch/threatwatch/config"
)

func TestLenientRobots(t *testing.T) {
	for _, tc := range []struct {
		name, robots string
		allowed      []string
		blocked      []string
		delay        time.Duration
	}{
		{name: "a file the parser takes is kept as it is",
			robots:  "User-agent: *\nDisallow: /private/\nCrawl-delay: 2\n",
			allowed: []string{"/public"}, blocked: []string{"/private/x"}, delay: 2 * time.Second},
		{name: "a Crawl-delay before any User-agent",
			robots:  "Crawl-delay: 10\nUser-agent: *\nDisallow: /private/\n",
			allowed: []string{"/public"}, blocked: []string{"/private/x"}},
		{name: "a Crawl-delay that is not a number",
			robots:  "User-agent: *\nCrawl-delay: ten\nDisallow: /private/\n",
			allowed: []string{"/public"}, blocked: []string{"/private/x"}},
		{name: "a rule before any User-agent belongs to no group",
			robots:  "Disallow: /\n\nUser-agent: *\nDisallow: /private/\r\nCrawl-delay: 0.5 # be gentle\n",
			allowed: []string{"/public"}, blocked: []string{"/private/x"}, delay: 500 * time.Millisecond},
		{name: "only rules before any User-agent: nothing applies",
			robots:  "Disallow: /private/\n",
			allowed: []string{"/public", "/private/x"}},
		{name: "a huge Crawl-delay is bounded",
			robots:  "User-agent: *\nCrawl-delay: 1e300\n",
			allowed: []string{"/public"}, delay: maxCrawlDelay},
		{name: "a soft 404 page in HTML",
			robots:  "<!DOCTYPE html><html><body><h1>Not found: the page /robots.txt</h1></body></html>\n",
			allowed: []string{"/public"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clean := lenientRobots([]byte(tc.robots))
			r, err := robotstxt.FromBytes(clean)
			if err != nil {
				t.Fatalf("the parser refuses the cleaned file %q: %v", clean, err)
			}
			g := r.FindGroup("ThreatWatch/1.0")
			for _, p := range tc.allowed {
				if !g.Test(p) {
					t.Errorf("%s is blocked", p)
				}
			}
			for _, p := range tc.blocked {
				if g.Test(p) {
					t.Errorf("%s is allowed", p)
				}
			}
			if d := crawlDelay(clean, "ThreatWatch/1.0"); d != tc.delay {
				t.Errorf("Crawl-delay %v, want %v", d, tc.delay)
			}
		})
	}
}

// FuzzLenientRobots holds the cleaning to what it is for: the parser
// takes whatever comes out, and a file it already took is not changed.
func FuzzLenientRobots(f *testing.F) {
	for _, s := range []string{
		"User-agent: *\nDisallow: /private/\n",
		"Crawl-delay: 10\nUser-agent: *\nDisallow: /x\n",
		"User-agent: *\nCrawl-delay: ten\n",
		"Disallow: /\nAllow: /a\nUser-agent: a\nUser-agent: b\nDisallow: /c*$\n\nUser-agent: *\nCrawl-delay: 1\n",
		"\xef\xbb\xbfUser-agent:*\rDisallow:/p\r\nSitemap: https://forum.example/s.xml # x\n",
		"User-agent: *\nCrawl-delay: : 5\nHost: forum.example\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, before := robotstxt.FromBytes(body)
		clean := lenientRobots(body)
		if _, err := robotstxt.FromBytes(clean); err != nil {
			t.Fatalf("the parser refuses the cleaned %q (from %q): %v", clean, body, err)
		}
		if before == nil && !bytes.Equal(clean, body) {
			t.Fatalf("a file the parser took was changed: %q -> %q", body, clean)
		}
	})
}

func TestRobotsTxtAtTheFetcher(t *testing.T) {
	ctx := context.Background()
	serve := func(t *testing.T, robots string) (*httptest.Server, func() []time.Time) {
		var mu sync.Mutex
		var at []time.Time
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/robots.txt" {
				_, _ = w.Write([]byte(robots))
				return
			}
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			_, _ = w.Write([]byte("ok"))
		}))
		t.Cleanup(srv.Close)
		return srv, func() []time.Time { mu.Lock(); defer mu.Unlock(); return append([]time.Time(nil), at...) }
	}
	t.Run("one sloppy line no longer makes a site unreadable, and its rules still hold", func(t *testing.T) {
		srv, _ := serve(t, "Crawl-delay: 10\nUser-agent: *\nDisallow: /private/\n")
		f := testFetcher(t, nil)
		if _, err := f.Get(ctx, srv.URL+"/public", Validators{}); err != nil {
			t.Fatalf("public page: %v", err)
		}
		if _, err := f.Get(ctx, srv.URL+"/private/x", Validators{}); fetchErrReason(err) != "robots" {
			t.Fatalf("disallowed page: %v, want a robots refusal", err)
		}
	})
	t.Run("Crawl-delay spaces requests to the host beyond the site's own rate limit", func(t *testing.T) {
		srv, arrivals := serve(t, "User-agent: TW-test\nCrawl-delay: 0.15\n\nUser-agent: *\nCrawl-delay: 0\n")
		f := testFetcher(t, func(c *config.Scrape, s *config.Site) { s.UserAgent = "TW-test/1"; s.RateLimit.Delay = 0 })
		for range 4 {
			if _, err := f.Get(ctx, srv.URL+"/p", Validators{}); err != nil {
				t.Fatal(err)
			}
		}
		at := arrivals()
		if len(at) != 4 {
			t.Fatalf("server saw %d page requests", len(at))
		}
		if span := at[3].Sub(at[0]); span < 3*150*time.Millisecond-10*time.Millisecond {
			t.Errorf("4 requests spanned %v, want >= 3 x 150ms", span)
		}
		if g := testutil.ToFloat64(f.metrics.CrawlDelay.WithLabelValues(f.site.Name)); g != 0.15 {
			t.Errorf("crawl delay gauge %v, want 0.15", g)
		}
	})
	t.Run("another agent's Crawl-delay does not apply", func(t *testing.T) {
		srv, _ := serve(t, "User-agent: OtherBot\nCrawl-delay: 5\n")
		f := testFetcher(t, func(c *config.Scrape, s *config.Site) { s.UserAgent = "TW-test/1" })
		if _, err := f.Get(ctx, srv.URL+"/p", Validators{}); err != nil {
			t.Fatal(err)
		}
		if d := f.lim.hostCrawlDelay(hostOf(t, srv.URL)); d != 0 {
			t.Errorf("crawl delay %v, want 0", d)
		}
	})
	t.Run("a site that ignores robots.txt ignores its Crawl-delay", func(t *testing.T) {
		srv, _ := serve(t, "User-agent: *\nCrawl-delay: 5\n")
		f := testFetcher(t, func(c *config.Scrape, s *config.Site) { s.IgnoreRobotsTxt = true })
		for range 2 {
			if _, err := f.Get(ctx, srv.URL+"/p", Validators{}); err != nil {
				t.Fatal(err)
			}
		}
		if d := f.lim.hostCrawlDelay(hostOf(t, srv.URL)); d != 0 {
			t.Errorf("crawl delay %v, want 0", d)
		}
	})
}

func hostOf(t *testing.T, u string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req.URL.Host
}

// BenchmarkLenientRobots cleans the largest robots.txt read (500 KiB of
// rules) that the parser refuses for its first line: the worst case,
// paid once per host every 12 hours.
func BenchmarkLenientRobots(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("Crawl-delay: 5\nUser-agent: *\n")
	for i := 0; sb.Len() < maxRobotsBytes; i++ {
		fmt.Fprintf(&sb, "Disallow: /private/%d/\n", i)
	}
	body := []byte(sb.String()[:maxRobotsBytes])
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		_ = lenientRobots(body)
	}
}

// A robots.txt cut off by a read error fails colly's request; it must not
// change the host's Crawl-delay either (here, to none).
func TestRobotsBodyCutOffKeepsTheDelay(t *testing.T) {
	f := testFetcher(t, nil)
	f.lim.SetCrawlDelay("forum.example", f.site.Name, 3*time.Second)
	cut := io.MultiReader(strings.NewReader("User-agent: *\nCrawl-delay: 0\n"), iotest.ErrReader(errors.New("connection reset")))
	b := &robotsBody{r: io.NopCloser(cut), f: f, host: "forum.example", limHost: "forum.example"}
	if _, err := io.ReadAll(b); err == nil {
		t.Fatal("the read error was not passed on to colly")
	}
	if d := f.lim.hostCrawlDelay("forum.example"); d != 3*time.Second {
		t.Errorf("crawl delay %v after a cut-off robots.txt, want it kept at 3s", d)
	}
}

// A robots.txt that answers 5xx (or 429) is "disallow all" while it does
// (RFC 9309), but not for the twelve hours colly would cache it: the file
// is asked for again after robotsRetry, and a host whose file was read
// before keeps being crawled by that last copy.
func TestRobotsTxtThatFailsIsAskedForAgain(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	status, body := http.StatusServiceUnavailable, ""
	robotsAsked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			mu.Lock()
			st, b := status, body
			robotsAsked++
			mu.Unlock()
			w.WriteHeader(st)
			_, _ = w.Write([]byte(b))
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	set := func(st int, b string) { mu.Lock(); status, body = st, b; mu.Unlock() }
	asked := func() int { mu.Lock(); defer mu.Unlock(); return robotsAsked }

	f := testFetcher(t, nil)
	// Down, with no copy to fall back on: everything is disallowed.
	if _, err := f.Get(ctx, srv.URL+"/public", Validators{}); fetchErrReason(err) != "robots" {
		t.Fatalf("robots.txt 503 and no copy: %v, want a robots refusal", err)
	}
	// Back up: within robotsRetry nothing is asked again...
	set(http.StatusOK, "User-agent: *\nDisallow: /private/\n")
	if _, err := f.Get(ctx, srv.URL+"/public", Validators{}); fetchErrReason(err) != "robots" || asked() != 1 {
		t.Fatalf("within the retry interval: %v, robots.txt asked %d times", err, asked())
	}
	// ...after it the file is read again and its rules apply.
	f.robotsRetryAt = time.Now().Add(-time.Second)
	if _, err := f.Get(ctx, srv.URL+"/public", Validators{}); err != nil || asked() != 2 {
		t.Fatalf("after the retry interval: %v, robots.txt asked %d times", err, asked())
	}
	if _, err := f.Get(ctx, srv.URL+"/private/x", Validators{}); fetchErrReason(err) != "robots" {
		t.Fatalf("disallowed page: %v", err)
	}
	// Its next refresh fails (429 this time, which the parser would read
	// as "allow all"): the last copy's rules hold, not "disallow all".
	set(http.StatusTooManyRequests, "slow down")
	f.built = time.Now().Add(-robotsTTL - time.Second)
	if _, err := f.Get(ctx, srv.URL+"/public", Validators{}); err != nil || asked() != 3 {
		t.Fatalf("refresh failed, last copy kept: %v, robots.txt asked %d times", err, asked())
	}
	if _, err := f.Get(ctx, srv.URL+"/private/x", Validators{}); fetchErrReason(err) != "robots" {
		t.Fatalf("the last copy's Disallow was dropped: %v", err)
	}
}

// What answers in place of robots.txt decides what the page fetch says:
// a bot challenge is the site's challenge, a plain 403 has no rules (allow
// all), a 5xx or 429 disallows everything.
func TestWhatAnswersForRobotsTxt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		body   string
		reason string // of the page fetch; "" fetched
	}{
		{"Cloudflare's managed challenge", 403, map[string]string{"Cf-Mitigated": "challenge", "Server": "cloudflare"}, cfChallengePage, "challenge"},
		{"Cloudflare's 503 challenge", 503, map[string]string{"Server": "cloudflare"}, cfChallengePage, "challenge"},
		{"a plain 403", 403, nil, "Forbidden", ""},
		{"a 404", 404, nil, "Not found", ""},
		{"a 500", 500, nil, "oops", "robots"},
		{"a 429", 429, nil, "slow down", "robots"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/robots.txt" {
					_, _ = w.Write([]byte("ok"))
					return
				}
				respond(w, tc.status, tc.header, tc.body)
			}))
			defer srv.Close()
			_, err := testFetcher(t, nil).Get(context.Background(), srv.URL+"/threads/1/", Validators{})
			if got := fetchErrReason(err); got != tc.reason {
				t.Fatalf("page fetch: reason %q (%v), want %q", got, err, tc.reason)
			}
		})
	}
}

// A redirect does not lead the crawler where robots.txt forbids it: the
// target's rules apply, as for a page asked for directly.
func TestARedirectIntoADisallowedPathIsNotFollowed(t *testing.T) {
	srv, private := siteWithPrivate(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("User-agent: *\nDisallow: /private/\n"))
	})
	f := testFetcher(t, nil)
	ctx := context.Background()
	if _, err := f.Get(ctx, srv.URL+"/go?to=/public/1", Validators{}); err != nil {
		t.Fatalf("a redirect to an allowed page: %v", err)
	}
	if _, err := f.Get(ctx, srv.URL+"/go?to=/private/1", Validators{}); fetchErrReason(err) != "robots" {
		t.Fatalf("a redirect into /private/: %v, want a robots refusal", err)
	}
	if n := private.Load(); n != 0 {
		t.Fatalf("the disallowed page was fetched %d times", n)
	}
}

// siteWithPrivate is a site whose robots.txt robots answers, with /go?to=
// redirecting where it says, /private/ pages (their fetches counted) and
// any other page "ok".
func siteWithPrivate(t *testing.T, robots http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var private atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/robots.txt":
			robots(w, r)
		case r.URL.Path == "/go":
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/private/"):
			private.Add(1)
			_, _ = w.Write([]byte("secret"))
		default:
			_, _ = w.Write([]byte("ok"))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &private
}

// A Crawl-delay longer than the limiter's MaxWait (30 s) failed every
// request after a round's first as "throttled": each round read its
// listing, reserved the next slot a Crawl-delay away, and failed every
// thread, so a forum asking for "Crawl-delay: 60" never had a thread
// read. Spacing is waited out, however long the site asks for; only a
// host held by a Retry-After longer than MaxWait fails fast.
func TestALongCrawlDelayIsWaitedOutNotFailed(t *testing.T) {
	ctx := context.Background()
	l := NewHostLimiter()
	l.MaxWait = 20 * time.Millisecond
	l.SetCrawlDelay("forum.example", "t", 100*time.Millisecond)
	for i := range 3 {
		release, err := l.Wait(ctx, "forum.example", config.RateLimit{Parallelism: 1})
		if err != nil {
			t.Fatalf("request %d: %v, want it to wait for the Crawl-delay", i+1, err)
		}
		release()
	}
	l.Block("forum.example", time.Now().Add(time.Hour))
	if _, err := l.Wait(ctx, "forum.example", config.RateLimit{Parallelism: 1}); !errors.Is(err, ErrBackoff) {
		t.Errorf("a host held for an hour: %v, want %v", err, ErrBackoff)
	}

	// Through the fetcher, where the wait is inside the request: a
	// Crawl-delay longer than the request timeout still lets each page
	// through, a Crawl-delay apart.
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			_, _ = w.Write([]byte("User-agent: *\nCrawl-delay: 0.3\n"))
			return
		}
		hits.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	f := testFetcher(t, func(c *config.Scrape, s *config.Site) {
		c.RequestTimeout = 150 * time.Millisecond
		s.RateLimit.Delay = 0
	})
	f.lim.MaxWait = 20 * time.Millisecond
	for i := range 3 {
		if _, err := f.Get(ctx, srv.URL+"/p", Validators{}); err != nil {
			t.Fatalf("page %d: %v", i+1, err)
		}
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("server saw %d page requests, want 3", n)
	}
}

// The request timeout runs from the request's slot, not from when the
// collector asked: a server that stalls, before its headers or in the
// middle of its body, still fails the page at scrape.request_timeout.
func TestAStalledServerStillTimesOut(t *testing.T) {
	ctx := context.Background()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
			return
		case "/headers":
			<-stop
		case "/body":
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("half"))
			w.(http.Flusher).Flush()
			<-stop
		}
	}))
	defer srv.Close()
	defer close(stop)
	f := testFetcher(t, func(c *config.Scrape, s *config.Site) {
		c.RequestTimeout = 200 * time.Millisecond
		s.RateLimit.Delay = 0
	})
	for _, path := range []string{"/headers", "/body"} {
		done := make(chan error, 1)
		go func() {
			_, err := f.Get(ctx, srv.URL+path, Validators{})
			done <- err
		}()
		select {
		case err := <-done:
			if fetchErrReason(err) != "unreachable" {
				t.Errorf("%s: %v, want the page to fail as unreachable", path, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the request never timed out", path)
		}
	}
}

// A robots.txt longer than the 500 KiB read was cut mid-line, and the cut
// line kept: "Allow: /forum/private-x" cut to "Allow: /fo" allows far
// more than the file does. The partial last line is dropped.
func TestARobotsTxtCutAtTheLimitLosesItsPartialLine(t *testing.T) {
	f := testFetcher(t, nil)
	var sb strings.Builder
	sb.WriteString("User-agent: *\nDisallow: /forum/\n")
	for i := 0; sb.Len() < maxRobotsBytes-10; i++ {
		fmt.Fprintf(&sb, "Disallow: /archive/%d/\n", i)
	}
	sb.WriteString("Allow: /forum/private-x\n")
	b := &robotsBody{r: io.NopCloser(strings.NewReader(sb.String())), f: f, host: "forum.example"}
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(got, []byte("\n")) || bytes.Contains(got, []byte("Allow: /fo")) {
		t.Errorf("the cut robots.txt ends %q", got[max(0, len(got)-40):])
	}
	rules, err := robotstxt.FromBytes(got)
	if err != nil {
		t.Fatal(err)
	}
	if rules.TestAgent("/forum/thread-1", "ThreatWatch") {
		t.Error("/forum/ is allowed after the cut")
	}
}
