package scrapers

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/threatwatch/threatwatch/config"
)

func testFetcher(t *testing.T, mod func(*config.Scrape, *config.Site)) *Fetcher {
	t.Helper()
	cfg := testScrapeConfig()
	site := config.Site{Name: "t", Engine: "rss", URL: "http://127.0.0.1/", AllowPrivate: true}
	if mod != nil {
		mod(cfg, &site)
	}
	f, err := NewFetcher(cfg, cfg.Effective(site), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func fetchErrReason(err error) string {
	var fe *FetchError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return ""
}

func TestPoliteness(t *testing.T) {
	ctx := context.Background()
	t.Run("requests to one host keep the configured spacing", func(t *testing.T) {
		var mu sync.Mutex
		var at []time.Time
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/robots.txt" {
				mu.Lock()
				at = append(at, time.Now())
				mu.Unlock()
			}
			_, _ = w.Write([]byte("ok"))
		}))
		defer srv.Close()
		f := testFetcher(t, func(c *config.Scrape, s *config.Site) { s.RateLimit.Delay = 80 * time.Millisecond })
		for i := 0; i < 5; i++ {
			if _, err := f.Get(ctx, srv.URL+"/p", Validators{}); err != nil {
				t.Fatal(err)
			}
		}
		if len(at) != 5 {
			t.Fatalf("server saw %d requests", len(at))
		}
		// The server stamps arrivals, which jitter with scheduling on a
		// busy machine; the span of all five cannot.
		if span := at[4].Sub(at[0]); span < 4*80*time.Millisecond-10*time.Millisecond {
			t.Errorf("5 requests spanned %v, want >= 4 x 80ms", span)
		}
		for i := 1; i < len(at); i++ {
			if gap := at[i].Sub(at[i-1]); gap < 50*time.Millisecond {
				t.Errorf("requests %d and %d came %v apart, want about 80ms", i-1, i, gap)
			}
		}
	})
	t.Run("the configured User-Agent, headers and cookies are sent and validators make requests conditional", func(t *testing.T) {
		var got []http.Header
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/robots.txt" {
				return
			}
			got = append(got, r.Header.Clone())
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Last-Modified", "Sat, 10 Jan 2026 12:00:00 GMT")
			_, _ = w.Write([]byte("page"))
		}))
		defer srv.Close()
		f := testFetcher(t, func(c *config.Scrape, s *config.Site) {
			s.UserAgent = "TW-test/1"
			s.Headers = map[string]config.Secret{"X-Api-Key": config.NewSecret("k1")}
			s.Cookies = map[string]config.Secret{"session": config.NewSecret("s3cr3t")}
		})
		r1, err := f.Get(ctx, srv.URL+"/p", Validators{})
		if err != nil || r1.Validators.ETag != `"v1"` || r1.Validators.LastModified == "" {
			t.Fatalf("%+v %v", r1, err)
		}
		r2, err := f.Get(ctx, srv.URL+"/p", r1.Validators)
		if err != nil || !r2.NotModified {
			t.Fatalf("%+v %v", r2, err)
		}
		if len(got) != 2 {
			t.Fatalf("%d requests", len(got))
		}
		h := got[1]
		if h.Get("User-Agent") != "TW-test/1" || h.Get("X-Api-Key") != "k1" || h.Get("Cookie") != "session=s3cr3t" ||
			h.Get("If-None-Match") != `"v1"` || h.Get("If-Modified-Since") != "Sat, 10 Jan 2026 12:00:00 GMT" {
			t.Errorf("headers %v", h)
		}
		if got[0].Get("If-None-Match") != "" {
			t.Errorf("first request was conditional")
		}
	})
	t.Run("robots.txt is honoured unless the site overrides it", func(t *testing.T) {
		var hits atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/robots.txt" {
				_, _ = w.Write([]byte("User-agent: *\nDisallow: /private/\n"))
				return
			}
			hits.Add(1)
			_, _ = w.Write([]byte("x"))
		}))
		defer srv.Close()
		f := testFetcher(t, nil)
		if _, err := f.Get(ctx, srv.URL+"/private/x", Validators{}); fetchErrReason(err) != "robots" || hits.Load() != 0 {
			t.Fatalf("disallowed path: %v, %d hits", err, hits.Load())
		}
		if _, err := f.Get(ctx, srv.URL+"/public", Validators{}); err != nil {
			t.Fatal(err)
		}
		f2 := testFetcher(t, func(c *config.Scrape, s *config.Site) { s.IgnoreRobotsTxt = true })
		if _, err := f2.Get(ctx, srv.URL+"/private/x", Validators{}); err != nil {
			t.Fatalf("override: %v", err)
		}
	})
	t.Run("429 with Retry-After holds the host without asking again", func(t *testing.T) {
		var hits atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/robots.txt" {
				return
			}
			hits.Add(1)
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusTooManyRequests)
		}))
		defer srv.Close()
		f := testFetcher(t, nil)
		_, err := f.Get(ctx, srv.URL+"/a", Validators{})
		var fe *FetchError
		if !errors.As(err, &fe) || fe.Reason != "throttled" || fe.RetryAfter != 120*time.Second {
			t.Fatalf("got %v", err)
		}
		start := time.Now()
		_, err = f.Get(ctx, srv.URL+"/b", Validators{})
		if !errors.Is(err, ErrBackoff) || hits.Load() != 1 || time.Since(start) > time.Second {
			t.Fatalf("second request: %v, %d hits, took %v", err, hits.Load(), time.Since(start))
		}
	})
	t.Run("a short Retry-After is waited out", func(t *testing.T) {
		var hits atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/robots.txt" {
				return
			}
			if hits.Add(1) == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok"))
		}))
		defer srv.Close()
		f := testFetcher(t, nil)
		if _, err := f.Get(ctx, srv.URL+"/a", Validators{}); fetchErrReason(err) != "throttled" {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := f.Get(ctx, srv.URL+"/a", Validators{}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Errorf("retried after %v, want the 1s asked for", d)
		}
	})
	t.Run("jittered waits never exceed the poll interval", func(t *testing.T) {
		for i := 0; i < 1000; i++ {
			d := wait(time.Minute, 0.2)
			if d > time.Minute || d < 48*time.Second {
				t.Fatalf("wait %v outside [48s, 60s]", d)
			}
		}
	})
}

func TestGuards(t *testing.T) {
	ctx := context.Background()
	t.Run("special addresses are refused", func(t *testing.T) {
		f := func(ip string, want bool) {
			t.Helper()
			if got := forbiddenIP(netip.MustParseAddr(ip)); got != want {
				t.Errorf("forbiddenIP(%s) = %v", ip, got)
			}
		}
		f("127.0.0.1", true)
		f("10.1.2.3", true)
		f("172.16.0.1", true)
		f("192.168.1.1", true)
		f("169.254.169.254", true)
		f("100.64.0.1", true)
		f("0.0.0.0", true)
		f("::1", true)
		f("fe80::1", true)
		f("fd00::1", true)
		f("::ffff:127.0.0.1", true)
		f("64:ff9b::a00:1", true)
		f("224.0.0.1", true)
		f("93.184.216.34", false)
		f("2606:2800:220:1:248:1893:25c8:1946", false)
	})
	t.Run("a loopback site is refused without allow_private, before any connection", func(t *testing.T) {
		var hits atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
		defer srv.Close()
		f := testFetcher(t, func(c *config.Scrape, s *config.Site) { s.AllowPrivate = false })
		_, err := f.Get(ctx, srv.URL+"/", Validators{})
		if fetchErrReason(err) != "forbidden_address" || hits.Load() != 0 {
			t.Fatalf("got %v, %d hits", err, hits.Load())
		}
		for _, u := range []string{"http://localhost:1/", "http://127.1:1/", "http://[::1]:1/", "http://169.254.169.254/latest/meta-data/"} {
			if _, err := f.Get(ctx, u, Validators{}); fetchErrReason(err) != "forbidden_address" {
				t.Errorf("%s: %v", u, err)
			}
		}
	})
	t.Run("the dial check refuses a name that resolves to loopback", func(t *testing.T) {
		g, _ := newGuard(false, nil)
		if err := g.control("tcp", "127.0.0.1:80", nil); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("got %v", err)
		}
		if err := g.control("tcp", "93.184.216.34:443", nil); err != nil {
			t.Errorf("public address refused: %v", err)
		}
	})
	t.Run("behind a proxy the target is resolved and checked on each request and redirect", func(t *testing.T) {
		var leaked atomic.Int64
		// A forward proxy on loopback (like Tor's port): it serves
		// public.example itself, which redirects into loopback.
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Hostname() {
			case "public.example":
				if r.URL.Path == "/robots.txt" {
					return
				}
				http.Redirect(w, r, "http://internal.example/admin", http.StatusFound)
			default:
				leaked.Add(1)
				_, _ = w.Write([]byte("internal secrets"))
			}
		}))
		defer proxy.Close()
		f := testFetcher(t, func(c *config.Scrape, s *config.Site) {
			s.AllowPrivate = false
			s.Proxy = config.NewSecret(proxy.URL)
		})
		f.guard.lookup = func(_ context.Context, host string) ([]netip.Addr, error) {
			switch host {
			case "public.example":
				return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
			case "internal.example":
				return []netip.Addr{netip.MustParseAddr("10.0.0.5")}, nil
			}
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		if _, err := f.Get(ctx, "http://internal.example/x", Validators{}); fetchErrReason(err) != "forbidden_address" {
			t.Errorf("direct: %v", err)
		}
		if _, err := f.Get(ctx, "http://public.example/start", Validators{}); fetchErrReason(err) != "forbidden_address" {
			t.Errorf("redirect: %v", err)
		}
		if leaked.Load() != 0 {
			t.Errorf("the proxy was asked for an internal host %d times", leaked.Load())
		}
	})
	t.Run("bodies over the cap are refused, with or without Content-Length", func(t *testing.T) {
		big := bytes.Repeat([]byte("a"), 64<<10)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/robots.txt":
				return // none: the pages are what is refused
			case "/chunked":
				w.(http.Flusher).Flush() // no Content-Length
			default:
				// Set, or the server would send 64 KiB chunked too.
				w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			}
			_, _ = w.Write(big)
		}))
		defer srv.Close()
		// Refused early for its Content-Length or found over the cap while
		// read, a page is dropped the same way, and counted so.
		for _, p := range []string{"/sized", "/chunked"} {
			f := testFetcher(t, func(c *config.Scrape, s *config.Site) { c.MaxBodyBytes = 32 << 10 })
			if _, err := f.Get(ctx, srv.URL+p, Validators{}); fetchErrReason(err) != "too_large" {
				t.Errorf("%s: %v", p, err)
			}
			if got := testutil.ToFloat64(f.metrics.Drops.WithLabelValues("t", "too_large")); got != 1 {
				t.Errorf("%s: drops{reason=too_large} = %v, want 1", p, got)
			}
		}
		f2 := testFetcher(t, func(c *config.Scrape, s *config.Site) { c.MaxBodyBytes = 64 << 10 })
		if r, err := f2.Get(ctx, srv.URL+"/chunked", Validators{}); err != nil || len(r.Body) != 64<<10 {
			t.Errorf("a body exactly at the cap: %v", err)
		}
	})
	t.Run("a gzip bomb stops at the cap", func(t *testing.T) {
		var zb bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&zb, gzip.BestCompression)
		chunk := make([]byte, 1<<20)
		for i := 0; i < 64; i++ { // 64 MB of zeros, ~64 KB compressed
			_, _ = zw.Write(chunk)
		}
		_ = zw.Close()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write(zb.Bytes())
		}))
		defer srv.Close()
		for _, explicit := range []bool{false, true} {
			f := testFetcher(t, func(c *config.Scrape, s *config.Site) {
				c.MaxBodyBytes = 1 << 20
				if explicit { // the transport then leaves decoding to us
					s.Headers = map[string]config.Secret{"Accept-Encoding": config.NewSecret("gzip")}
				}
			})
			start := time.Now()
			_, err := f.Get(ctx, srv.URL+"/bomb", Validators{})
			if fetchErrReason(err) != "too_large" {
				t.Errorf("explicit=%v: %v", explicit, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("explicit=%v: took %v", explicit, d)
			}
		}
	})
	t.Run("invalid UTF-8 is repaired", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte("ok \xff\xfe bad \x00 nul"))
		}))
		defer srv.Close()
		r, err := testFetcher(t, nil).Get(ctx, srv.URL+"/", Validators{})
		if err != nil || !utf8.Valid(r.Body) || bytes.IndexByte(r.Body, 0) >= 0 || !strings.HasPrefix(string(r.Body), "ok ") {
			t.Fatalf("%q %v", r.Body, err)
		}
	})
	t.Run("redirect chains are bounded", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/robots.txt" {
				return
			}
			http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
		}))
		defer srv.Close()
		f := testFetcher(t, func(c *config.Scrape, s *config.Site) { c.MaxRedirects = 3 })
		if _, err := f.Get(ctx, srv.URL+"/r", Validators{}); !errors.Is(err, ErrRedirects) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestCleanURLEncodesOnlyInvalidBytes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://forum.example/threads/12/?page=2", "https://forum.example/threads/12/?page=2"},
		{"https://forum.example/t/caf\u00e9?q=\u00fcber", "https://forum.example/t/caf%C3%A9?q=\u00fcber"},
		{"https://forum.example/?\xd3", "https://forum.example/?%D3"},
		{"https://forum.example/t?a=\xff\xfeb#p\xc3", "https://forum.example/t?a=%FF%FEb#p%EF%BF%BD"},
		{"https://forum.example/%FF/thread/1", "https://forum.example/%EF%BF%BD/thread/1"},
	} {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		c := cleanURL(u)
		got := c.String()
		if got != tc.want || !utf8.ValidString(got) || !utf8.ValidString(c.Path) || !utf8.ValidString(c.Fragment) {
			t.Errorf("cleanURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Two sites on one host share its spacing, and each site's delay is the
// least gap it asked for between any two requests to that host: a site
// with a 1 s delay sent its request a moment after a 10 s site's, which
// then came right after it, two requests together on a host one site had
// asked to space by 10 s.
func TestTwoSitesOnOneHostKeepTheLongerDelay(t *testing.T) {
	ctx := context.Background()
	l := NewHostLimiter()
	slow := config.RateLimit{Delay: 200 * time.Millisecond, Parallelism: 1}
	fast := config.RateLimit{Delay: 0, Parallelism: 1}
	var at []time.Time
	for _, r := range []config.RateLimit{slow, fast, slow, fast} {
		release, err := l.Wait(ctx, "forum.example", r)
		if err != nil {
			t.Fatal(err)
		}
		at = append(at, time.Now())
		release()
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 190*time.Millisecond {
			t.Errorf("request %d came %v after request %d; want the slow site's 200ms", i+1, gap, i)
		}
	}
}
