package scrapers

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gocolly/colly/v2"

	"github.com/threatwatch/threatwatch/config"
)

// FetchError says why a fetch failed, in the terms the crawler acts on.
type FetchError struct {
	// Reason is a metric label: unreachable, http_4xx, http_5xx, throttled,
	// challenge, too_large, forbidden_address, robots, redirects.
	Reason string
	// Status is the HTTP status, 0 when no response came.
	Status int
	// RetryAfter is the wait a 429/503 asked for.
	RetryAfter time.Duration
	URL        string
	Err        error
}

// Error names the page by its host and a hash of its path: thread URLs on
// these sites often carry a victim's name, and errors end up in logs.
func (e *FetchError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("cannot fetch %s: %s (HTTP %d)", RedactURL(e.URL), e.Reason, e.Status)
	}
	return fmt.Sprintf("cannot fetch %s: %s: %v", RedactURL(e.URL), e.Reason, e.Err)
}

// RedactURL keeps a URL's scheme and host and replaces its path and query
// with a short hash: enough to tell pages apart in logs, without the names
// a thread's slug can carry.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "[url]"
	}
	rest := u.RequestURI()
	if rest == "/" || rest == "" {
		return u.Scheme + "://" + u.Host + "/"
	}
	h := sha256.Sum256([]byte(rest))
	return u.Scheme + "://" + u.Host + "/[path:" + hex.EncodeToString(h[:4]) + "]"
}

func (e *FetchError) Unwrap() error { return e.Err }

// Unreachable reports a failure that says the host is away (no answer, a
// 5xx, a timeout), which is what makes the crawler try a mirror.
func (e *FetchError) Unreachable() bool {
	return e.Reason == "unreachable" || e.Reason == "http_5xx" || e.Reason == "challenge"
}

// Sentinels inside FetchError.Err.
var (
	ErrTooLarge  = errors.New("response body larger than scrape.max_body_bytes")
	ErrBackoff   = errors.New("host asked to back off (Retry-After)")
	ErrRedirects = errors.New("too many redirects")
	// ErrChallenge is a bot-protection challenge page (Cloudflare,
	// DDoS-Guard) where the site's page should be: waiting does not get
	// past it; a proxy the site lets through, cookies or the site's
	// permission do.
	ErrChallenge = errors.New("the site answers with a bot challenge the scraper does not pass")
)

// Validators are a page's conditional-request validators.
type Validators struct {
	ETag         string `json:"e,omitempty"`
	LastModified string `json:"l,omitempty"`
}

// Response is one fetched page.
type Response struct {
	URL         *url.URL
	Status      int
	Body        []byte
	ContentType string
	// Charset names the encoding the body was converted from when the page
	// declared it in its markup, by a byte-order mark or as a single-byte
	// charset in the header ("" when the body came as UTF-8, or colly
	// converted it by the header).
	Charset string
	// NotModified is a 304: the page is as it was at Validators.
	NotModified bool
	Validators  Validators
}

// HostLimiter spaces requests per host across every site of a process and
// holds hosts that asked to back off. Colly's own LimitRule sleeps its delay
// after each response while holding the slot, which would add the delay to
// every page's latency; this limiter waits only when two requests to one
// host come closer than the delay.
type HostLimiter struct {
	mu    sync.Mutex
	hosts map[string]*hostState
	// MaxWait is the longest a request waits for a host held by a
	// Retry-After; a host held for longer fails the request with
	// ErrBackoff instead. The spacing of requests (rate_limit.delay,
	// Crawl-delay) is always waited out.
	MaxWait time.Duration
}

type hostState struct {
	next time.Time
	// last is the latest slot given: a request waits the host's gap from
	// it.
	last         time.Time
	blockedUntil time.Time
	// The host's limits are the strictest of every site that uses it, so
	// that two sites on one host never together ask more of it than the
	// strictest allows, whichever of them starts or reads robots.txt
	// first. Configured limits only tighten (the config is fixed for the
	// process); Crawl-delays are kept per site, as each site's robots.txt
	// group says and as it is read again.
	parallelism int
	delay       time.Duration
	randomDelay time.Duration
	crawlDelays map[string]time.Duration
	inflight    int
	// freed is closed, and replaced, when a request gives its slot back.
	freed chan struct{}
}

// NewHostLimiter returns an empty limiter.
func NewHostLimiter() *HostLimiter {
	return &HostLimiter{hosts: map[string]*hostState{}, MaxWait: 30 * time.Second}
}

// stateLocked returns host's state; l.mu must be held.
func (l *HostLimiter) stateLocked(host string) *hostState {
	h := l.hosts[host]
	if h == nil {
		h = &hostState{freed: make(chan struct{}), crawlDelays: map[string]time.Duration{}}
		l.hosts[host] = h
	}
	return h
}

// registerLocked tightens host's limits to r where r is stricter; l.mu
// must be held.
func (h *hostState) registerLocked(r config.RateLimit) {
	par := max(r.Parallelism, 1)
	if h.parallelism == 0 || par < h.parallelism {
		h.parallelism = par
	}
	h.delay = max(h.delay, r.Delay)
	h.randomDelay = max(h.randomDelay, r.RandomDelay)
}

// gapLocked is the least time between two requests to the host before any
// random delay: the longest of the configured delays and of the sites'
// Crawl-delays. l.mu must be held.
func (h *hostState) gapLocked() time.Duration {
	gap := h.delay
	for _, d := range h.crawlDelays {
		gap = max(gap, d)
	}
	return gap
}

// Register declares that a site with rate limit r sends requests to host,
// so that the host's limits are the strictest of its sites before any of
// them asks. Wait registers its rate limit too, for hosts a site reaches
// without declaring them (a redirect's target).
func (l *HostLimiter) Register(host string, r config.RateLimit) {
	l.mu.Lock()
	l.stateLocked(host).registerLocked(r)
	l.mu.Unlock()
}

// limits returns host's parallelism and least gap between requests.
func (l *HostLimiter) limits(host string) (parallelism int, gap time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.stateLocked(host)
	return max(h.parallelism, 1), h.gapLocked()
}

// hostCrawlDelay returns the longest Crawl-delay any site read for host.
func (l *HostLimiter) hostCrawlDelay(host string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d time.Duration
	for _, c := range l.stateLocked(host).crawlDelays {
		d = max(d, c)
	}
	return d
}

// Wait takes a slot for one request to host by a site with rate limit r;
// call release when done.
func (l *HostLimiter) Wait(ctx context.Context, host string, r config.RateLimit) (release func(), err error) {
	l.mu.Lock()
	h := l.stateLocked(host)
	h.registerLocked(r)
	for h.inflight >= max(h.parallelism, 1) {
		freed := h.freed
		l.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		l.mu.Lock()
	}
	h.inflight++
	var once sync.Once
	release = func() {
		once.Do(func() {
			l.mu.Lock()
			h.inflight--
			close(h.freed)
			h.freed = make(chan struct{})
			l.mu.Unlock()
		})
	}
	now := time.Now()
	at := h.next
	if h.blockedUntil.After(at) {
		at = h.blockedUntil
	}
	if at.Before(now) {
		at = now
	}
	gap := h.gapLocked()
	if h.randomDelay > 0 {
		gap += rand.N(h.randomDelay)
	}
	if t := h.last.Add(gap); t.After(at) {
		at = t
	}
	// Only a hold (Retry-After) fails fast. Spacing is waited out however
	// long: failed, a Crawl-delay over MaxWait left every request after a
	// round's first failing, and a forum's threads were never read.
	if held := h.blockedUntil.Sub(now); held > l.MaxWait {
		l.mu.Unlock()
		release()
		return nil, fmt.Errorf("%w: %s for %v more", ErrBackoff, host, held.Round(time.Second))
	}
	wait := at.Sub(now)
	h.next, h.last = at.Add(gap), at
	l.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			release()
			return nil, ctx.Err()
		}
		// A timer fires late on a busy machine: the next request's gap
		// runs from when this one goes out, not from its slot, or the
		// two would come closer than the gap.
		l.mu.Lock()
		if sent := time.Now(); sent.After(h.last) {
			h.next, h.last = h.next.Add(sent.Sub(h.last)), sent
		}
		l.mu.Unlock()
	}
	return release, nil
}

// SetCrawlDelay sets the least gap between two requests to host that
// site's robots.txt group asks for (0: none beyond the rate limits). The
// host keeps the longest of its sites' Crawl-delays.
func (l *HostLimiter) SetCrawlDelay(host, site string, d time.Duration) {
	l.mu.Lock()
	l.stateLocked(host).crawlDelays[site] = d
	l.mu.Unlock()
}

// Block holds host until t (a Retry-After).
func (l *HostLimiter) Block(host string, until time.Time) {
	l.mu.Lock()
	h := l.stateLocked(host)
	if until.After(h.blockedUntil) {
		h.blockedUntil = until
	}
	l.mu.Unlock()
}

// limiterHost is the host a URL's requests count against in the
// HostLimiter: one name for one server, however the config or a link
// spells it ("Forum.Example", "forum.example:443", "forum.example."), so
// that sites sharing it share its limits.
func limiterHost(u *url.URL) string {
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	return net.JoinHostPort(h, port)
}

// Fetcher is the one polite colly collector setup every engine shares. A
// Fetcher serves one site and one goroutine.
type Fetcher struct {
	site    config.Site
	cfg     *config.Scrape
	lim     *HostLimiter
	guard   *guard
	metrics *Metrics
	log     *slog.Logger
	col     *colly.Collector
	built   time.Time
	// robotsMu guards the two fields below, which the transport sets.
	robotsMu sync.Mutex
	// lastRobots is each host's robots.txt as last read in full, used
	// while a later fetch of it fails and to check where redirects lead.
	// A site's mirrors are hosts of their own.
	lastRobots map[string]robotsCopy
	// robotsRetryAt is when to ask again for a robots.txt that failed with
	// no copy to use (zero: none failed): colly then disallows everything
	// until its cache is rebuilt.
	robotsRetryAt time.Time
	cur           atomic.Pointer[context.Context]
	// Requests counts requests sent (robots.txt included), for tests and
	// benchmarks.
	Requests atomic.Int64
	onRetry  func(host string, d time.Duration)
	// overCap is set when the page's body, as sent, ran past the cap. Get
	// cannot tell from what colly hands it: a body converted by its
	// Content-Type charset can come back shorter than it was (UTF-16), a
	// cut page then passing as whole.
	overCap atomic.Bool
}

// ctxDeclaredType keeps, in a request's colly context, a Content-Type
// header hidden from colly's conversion.
const ctxDeclaredType = "declared-content-type"

// robotsTTL is how long a collector (and its robots.txt cache, which colly
// never expires) lives before it is rebuilt.
const robotsTTL = 12 * time.Hour

// robotsRetry is how soon a robots.txt that failed (5xx, 429) with no
// earlier copy to use is asked for again, unless its Retry-After asks for
// longer (up to scrape.max_retry_after, as for pages). Until then the host is disallowed, as RFC
// 9309 says; colly alone would keep that for robotsTTL.
var robotsRetry = 10 * time.Minute

// NewFetcher builds the fetcher of one site (site as returned by
// config.Scrape.Effective).
func NewFetcher(cfg *config.Scrape, site config.Site, lim *HostLimiter, m *Metrics) (*Fetcher, error) {
	if lim == nil {
		lim = NewHostLimiter()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	var proxy *url.URL
	if site.Proxy.IsSet() {
		u, err := url.Parse(site.Proxy.Value())
		if err != nil {
			return nil, errors.New("cannot parse the proxy URL") // never echo it: credentials
		}
		proxy = u
	}
	g, err := newGuard(site.AllowPrivate, proxy)
	if err != nil {
		return nil, err
	}
	// Every host of the site is declared before anything is fetched, so
	// that a stricter site's limits hold on a host it shares with another
	// from the first request, whichever site starts first.
	for _, b := range append([]string{site.URL}, site.Mirrors...) {
		if u, err := url.Parse(b); err == nil && u.Host != "" {
			lim.Register(limiterHost(u), site.RateLimit)
		}
	}
	f := &Fetcher{site: site, cfg: cfg, lim: lim, guard: g, metrics: m, log: slog.Default()}
	if err := f.build(proxy); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *Fetcher) build(proxy *url.URL) error {
	dialer := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second, Control: f.guard.control}
	tr := &http.Transport{
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    15 * time.Second,
		ResponseHeaderTimeout:  f.cfg.RequestTimeout,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 256 << 10,
		ForceAttemptHTTP2:      true,
	}
	// The proxy is set on our own transport, not through colly's
	// SetProxyFunc, which would replace the transport and drop the guarded
	// dialer. Environment proxies are ignored on purpose: a site's route is
	// its config.
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	c := colly.NewCollector(
		colly.UserAgent(f.site.UserAgent),
		colly.AllowURLRevisit(),
		colly.MaxBodySize(int(f.cfg.MaxBodyBytes)+1), // one byte past the cap shows truncation
		colly.ParseHTTPErrorResponse(),
		// No DetectCharset: statistical detection misreads UTF-8 JSON. A
		// charset the header declares is converted by colly (but for a
		// single-byte one, below), one the page declares by decodeBody.
	)
	// A single-byte charset in the header is hidden from colly, which
	// would turn a UTF-8 page served as iso-8859-1 into mojibake, and left
	// to decodeBody, which first checks whether the page is UTF-8. The
	// header is put back once colly has the body.
	c.OnResponseHeaders(func(r *colly.Response) {
		ct := r.Headers.Get("Content-Type")
		if enc, _ := singleByteCharset(ct); enc != nil {
			mt, _, _ := mime.ParseMediaType(ct)
			r.Ctx.Put(ctxDeclaredType, ct)
			r.Headers.Set("Content-Type", mt)
		}
	})
	restoreType := func(r *colly.Response) {
		if r == nil || r.Ctx == nil || r.Headers == nil {
			return
		}
		if ct := r.Ctx.Get(ctxDeclaredType); ct != "" {
			r.Headers.Set("Content-Type", ct)
		}
	}
	// Colly ignores robots.txt by default; say explicitly that we do not.
	c.IgnoreRobotsTxt = f.site.IgnoreRobotsTxt
	// No client timeout: it would run while the transport waits for the
	// host's slot, and a Crawl-delay longer than it failed every page as
	// unreachable. The transport times each request from its slot.
	c.SetRequestTimeout(0)
	c.WithTransport(&guardedTransport{f: f, next: tr})
	maxRedirects := f.cfg.MaxRedirects
	c.SetRedirectHandler(func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return ErrRedirects
		}
		// The client drops only Authorization and Cookie when a redirect
		// leaves the site's domain; the site's configured headers are
		// secrets too (Discourse's Api-Key, X-Api-Key, ...) and must not
		// reach whatever host a redirect names.
		if !sameSiteHost(via[0].URL, req.URL) {
			for k := range f.site.Headers {
				req.Header.Del(k)
			}
		}
		if !f.site.IgnoreRobotsTxt && !f.robotsAllow(req.URL) {
			return fmt.Errorf("redirect to %s: %w", RedactURL(req.URL.String()), colly.ErrRobotsTxtBlocked)
		}
		// The transport checks the target too; checking here gives the
		// clearer error before any connection.
		return f.guard.checkURL(req.Context(), req.URL)
	})
	if err := c.Limit(&colly.LimitRule{DomainGlob: "*", Parallelism: max(f.site.RateLimit.Parallelism, 1)}); err != nil {
		return fmt.Errorf("cannot set the limit rule: %w", err)
	}
	c.OnResponse(func(r *colly.Response) {
		restoreType(r)
		r.Ctx.Put("resp", r)
	})
	c.OnError(func(r *colly.Response, err error) {
		restoreType(r)
		if r != nil && r.Ctx != nil {
			r.Ctx.Put("resp", r)
		}
	})
	f.col, f.built = c, time.Now()
	return nil
}

// guardedTransport is where every request of the collector passes, the
// robots.txt fetch and each redirect hop included: it checks the target,
// waits for the host's slot, and bounds decompression.
type guardedTransport struct {
	f    *Fetcher
	next http.RoundTripper
}

func (t *guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f := t.f
	ctx := req.Context()
	if p := f.cur.Load(); p != nil {
		ctx = *p
		req = req.WithContext(ctx)
	}
	if err := f.guard.checkURL(ctx, req.URL); err != nil {
		return nil, err
	}
	release, err := f.lim.Wait(ctx, limiterHost(req.URL), f.site.RateLimit)
	if err != nil {
		return nil, err
	}
	defer release()
	f.Requests.Add(1)
	// The request's time runs from its slot and covers reading the body,
	// which the body's Close (or the time running out) ends.
	ctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err = t.check(req, resp)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelBody ends a request's context once its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// check bounds a response's body and reads a robots.txt response as the
// RoundTrip comment says.
func (t *guardedTransport) check(req *http.Request, resp *http.Response) (*http.Response, error) {
	f := t.f
	if resp.ContentLength > f.cfg.MaxBodyBytes {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: Content-Length %d", ErrTooLarge, resp.ContentLength)
	}
	// A gzip body the transport did not decode (a server that sends it
	// unasked) is decoded here, as a stream the collector reads only up to
	// the cap: a small bomb cannot inflate past max_body_bytes. Colly would
	// otherwise gunzip after its cap, unbounded.
	enc := strings.ToLower(resp.Header.Get("Content-Encoding"))
	if !resp.Uncompressed && strings.Contains(enc, "gzip") {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("bad gzip body: %w", err)
		}
		resp.Body = &gzipBody{zr: zr, raw: resp.Body}
		resp.Header.Del("Content-Encoding")
		resp.ContentLength = -1
	}
	resp.Uncompressed = true // never let colly gunzip (.xml.gz, gzip content types)
	// Every body is capped here too: colly's robots.txt fetch reads its
	// body without any limit. One byte past the cap lets Get see the
	// truncation.
	cb := &capBody{r: resp.Body, left: f.cfg.MaxBodyBytes + 1, over: &f.overCap}
	resp.Body = cb
	// The robots.txt fetch is known by the request it started as: after a
	// redirect (to a CDN, to the www. name) the rules fetched are still
	// those of the host asked of (RFC 9309), which is where colly files
	// them, so the Crawl-delay and the copy go there too.
	origin := firstRequest(req)
	if origin.URL.Path == "/robots.txt" {
		cb.over = nil // robotsBody reads its own share of it
	}
	if origin.URL.Path == "/robots.txt" && !f.site.IgnoreRobotsTxt {
		host := origin.URL.Host
		switch {
		case resp.StatusCode/100 == 2:
			resp.Body = &robotsBody{r: resp.Body, f: f, host: host, limHost: limiterHost(origin.URL)}
		case resp.StatusCode/100 == 5 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusForbidden:
			// A bot challenge in place of robots.txt is the site's
			// challenge, not its rules: the page fails as "challenge"
			// (and a site with mirrors moves to one).
			head, _ := io.ReadAll(io.LimitReader(resp.Body, 32<<10))
			if by := botChallenge(resp.StatusCode, &resp.Header, head); by != "" {
				resp.Body.Close()
				return nil, fmt.Errorf("robots.txt: %w (%s)", ErrChallenge, by)
			}
			if resp.StatusCode == http.StatusForbidden {
				// No rules to read: "allow all", as RFC 9309 says of a 4xx.
				resp.Body = struct {
					io.Reader
					io.Closer
				}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
				break
			}
			resp = f.robotsUnreachable(host, resp)
		}
	}
	return resp, nil
}

// firstRequest is the request a chain of redirects started with.
func firstRequest(req *http.Request) *http.Request {
	for req.Response != nil && req.Response.Request != nil {
		req = req.Response.Request
	}
	return req
}

// robotsUnreachable answers for a robots.txt the host failed to serve
// (5xx, 429). RFC 9309 says to assume "disallow all" then, or to use a
// copy read before; colly's parser reads a 5xx as "disallow all" but colly
// then asks it for the rules of our group only, which a "disallow all"
// file has none of, so it crawled everything, and it reads a 429 as "allow
// all". Here the answer becomes a file colly reads right: the last copy,
// or "User-agent: * / Disallow: /", after which Get asks again in
// robotsRetry, not robotsTTL.
func (f *Fetcher) robotsUnreachable(host string, resp *http.Response) *http.Response {
	f.robotsMu.Lock()
	body := f.lastRobots[host].body
	if body == nil {
		body = []byte("User-agent: *\nDisallow: /\n")
		// A 503 or 429 may say when to come back: sooner would be asking
		// a host that said it cannot take it.
		now := time.Now()
		wait := max(robotsRetry, min(retryAfter(resp.Header.Get("Retry-After"), now), f.cfg.MaxRetryAfter))
		f.robotsRetryAt = now.Add(wait)
	}
	f.robotsMu.Unlock()
	resp.Body.Close()
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: resp.Proto, ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor,
		Header: http.Header{"Content-Type": {"text/plain"}}, Body: io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)), Request: resp.Request, Uncompressed: true,
	}
}

// capBody ends a body after a number of bytes, and sets over (when not
// nil) once it has handed them all.
type capBody struct {
	r    io.ReadCloser
	left int64
	over *atomic.Bool
}

func (c *capBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left <= 0 && c.over != nil {
		c.over.Store(true)
	}
	return n, err
}

func (c *capBody) Close() error { return c.r.Close() }

type gzipBody struct {
	zr  *gzip.Reader
	raw io.ReadCloser
}

func (g *gzipBody) Read(p []byte) (int, error) { return g.zr.Read(p) }
func (g *gzipBody) Close() error {
	g.zr.Close()
	return g.raw.Close()
}

// Get fetches one page politely. v, when set, makes the request
// conditional; a 304 comes back as Response.NotModified.
func (f *Fetcher) Get(ctx context.Context, rawURL string, v Validators) (*Response, error) {
	f.robotsMu.Lock()
	retry := !f.robotsRetryAt.IsZero() && time.Now().After(f.robotsRetryAt)
	f.robotsMu.Unlock()
	if time.Since(f.built) > robotsTTL || retry {
		var proxy *url.URL
		if f.site.Proxy.IsSet() {
			proxy, _ = url.Parse(f.site.Proxy.Value())
		}
		if err := f.build(proxy); err != nil {
			return nil, err
		}
		f.robotsMu.Lock()
		f.robotsRetryAt = time.Time{} // the new collector asks for the file again
		f.robotsMu.Unlock()
	}
	f.cur.Store(&ctx)
	defer f.cur.Store(nil)
	hdr := http.Header{}
	hdr.Set("User-Agent", f.site.UserAgent)
	hdr.Set("Accept", "text/html,application/xhtml+xml,application/json,application/xml;q=0.9,*/*;q=0.8")
	for k, s := range f.site.Headers {
		hdr.Set(k, s.Value())
	}
	if len(f.site.Cookies) > 0 {
		parts := make([]string, 0, len(f.site.Cookies))
		for k, s := range f.site.Cookies {
			parts = append(parts, k+"="+s.Value())
		}
		hdr.Set("Cookie", strings.Join(parts, "; "))
	}
	if v.ETag != "" {
		hdr.Set("If-None-Match", v.ETag)
	}
	if v.LastModified != "" {
		hdr.Set("If-Modified-Since", v.LastModified)
	}
	cctx := colly.NewContext()
	f.overCap.Store(false)
	err := f.col.Request(http.MethodGet, rawURL, nil, cctx, hdr)
	r, _ := cctx.GetAny("resp").(*colly.Response)
	site := f.site.Name
	if err != nil && (r == nil || r.StatusCode == 0) {
		fe := classifyFetchErr(rawURL, err)
		f.metrics.Requests.WithLabelValues(site, fe.Reason).Inc()
		if fe.Reason == "too_large" {
			// Refused early for its Content-Length: as much a page
			// dropped for its size as one found over the cap while read.
			f.metrics.Drops.WithLabelValues(site, "too_large").Inc()
		}
		return nil, fe
	}
	if r == nil {
		fe := &FetchError{Reason: "unreachable", URL: rawURL, Err: errors.New("no response")}
		f.metrics.Requests.WithLabelValues(site, fe.Reason).Inc()
		return nil, fe
	}
	f.metrics.Requests.WithLabelValues(site, strconv.Itoa(r.StatusCode)).Inc()
	final := r.Request.URL
	if by := botChallenge(r.StatusCode, r.Headers, r.Body); by != "" {
		// Before the 503 case: a challenge is not a Retry-After to wait
		// out, and must not read as "throttled".
		return nil, &FetchError{Reason: "challenge", Status: r.StatusCode, URL: rawURL, Err: fmt.Errorf("%w (%s)", ErrChallenge, by)}
	}
	switch {
	case r.StatusCode == http.StatusNotModified:
		return &Response{URL: final, Status: r.StatusCode, NotModified: true, Validators: v}, nil
	case r.StatusCode == http.StatusTooManyRequests || r.StatusCode == http.StatusServiceUnavailable:
		d := retryAfter(r.Headers.Get("Retry-After"), time.Now())
		if d <= 0 {
			d = time.Minute
		}
		d = min(d, f.cfg.MaxRetryAfter)
		f.lim.Block(limiterHost(final), time.Now().Add(d))
		if f.onRetry != nil {
			f.onRetry(final.Host, d)
		}
		return nil, &FetchError{Reason: "throttled", Status: r.StatusCode, RetryAfter: d, URL: rawURL, Err: ErrBackoff}
	case r.StatusCode >= 500:
		return nil, &FetchError{Reason: "http_5xx", Status: r.StatusCode, URL: rawURL}
	case r.StatusCode >= 400:
		return nil, &FetchError{Reason: "http_4xx", Status: r.StatusCode, URL: rawURL}
	case r.StatusCode >= 300:
		return nil, &FetchError{Reason: "redirects", Status: r.StatusCode, URL: rawURL, Err: ErrRedirects}
	}
	ct := r.Headers.Get("Content-Type")
	if f.overCap.Load() || int64(len(r.Body)) > f.cfg.MaxBodyBytes {
		// The cap holds for the page as sent and, since engines read it
		// in UTF-8, as converted: colly has already converted a multi-byte
		// charset the header names (Shift_JIS grows by half); decodeBody
		// converts a single-byte one (windows-1251 doubles), checked below.
		err := ErrTooLarge
		if enc, _ := singleByteCharset(ct); !f.overCap.Load() && headerCharset(ct) && enc == nil {
			err = fmt.Errorf("%w: %d bytes once converted to UTF-8", ErrTooLarge, len(r.Body))
		}
		f.metrics.Drops.WithLabelValues(site, "too_large").Inc()
		return nil, &FetchError{Reason: "too_large", URL: rawURL, Err: err}
	}
	f.metrics.Bytes.WithLabelValues(site).Add(float64(len(r.Body)))
	if mislabelledUTF8(r.Body, ct) {
		// Logged so that a site's misconfiguration shows; never the text.
		f.log.DebugContext(ctx, "page in UTF-8 under a single-byte header charset, read as UTF-8", "site", site, "content_type", ct)
	}
	body, from := decodeBody(r.Body, ct)
	if int64(len(body)) > f.cfg.MaxBodyBytes {
		// A charset the page declares, or invalid bytes repaired (each one
		// a three-byte U+FFFD), grow the page past the cap only now.
		f.metrics.Drops.WithLabelValues(site, "too_large").Inc()
		how := "repaired as UTF-8"
		if from != "" {
			how = "converted from " + from + " to UTF-8"
		}
		return nil, &FetchError{Reason: "too_large", URL: rawURL, Err: fmt.Errorf("%w: %d bytes once %s", ErrTooLarge, len(body), how)}
	}
	return &Response{
		URL: cleanURL(final), Status: r.StatusCode, Body: body, Charset: from,
		ContentType: ct,
		Validators:  Validators{ETag: r.Headers.Get("ETag"), LastModified: r.Headers.Get("Last-Modified")},
	}, nil
}

// Count returns the requests this fetcher has sent.
func (f *Fetcher) Count() int64 { return f.Requests.Load() }

func classifyFetchErr(u string, err error) *FetchError {
	// A *url.Error repeats the full URL (the robots.txt one, a redirect
	// target) in its message; keep only what went wrong.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("%s %s: %w", ue.Op, RedactURL(ue.URL), ue.Err)
	}
	fe := &FetchError{Reason: "unreachable", URL: u, Err: err}
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		fe.Reason = "forbidden_address"
	case errors.Is(err, ErrTooLarge):
		fe.Reason = "too_large"
	case errors.Is(err, ErrBackoff):
		fe.Reason = "throttled"
	case errors.Is(err, ErrRedirects):
		fe.Reason = "redirects"
	case errors.Is(err, colly.ErrRobotsTxtBlocked):
		fe.Reason = "robots"
	case errors.Is(err, ErrChallenge):
		fe.Reason = "challenge"
	case errors.Is(err, context.Canceled):
		fe.Reason = "canceled"
	}
	return fe
}

// botChallenge names the bot protection whose challenge page a response
// is, "" when it is none. Cloudflare marks its challenges with the
// cf-mitigated header; older ones, and DDoS-Guard's, are a 403 or 503
// from the protection's server with its challenge script in the page.
func botChallenge(status int, h *http.Header, body []byte) string {
	if h == nil {
		return ""
	}
	if strings.EqualFold(h.Get("Cf-Mitigated"), "challenge") {
		return "cloudflare"
	}
	if status != http.StatusForbidden && status != http.StatusServiceUnavailable && status != http.StatusTooManyRequests {
		return ""
	}
	head := body[:min(len(body), 32<<10)]
	server := strings.ToLower(h.Get("Server"))
	switch {
	case strings.Contains(server, "cloudflare") && (bytes.Contains(head, []byte("/cdn-cgi/challenge-platform/")) ||
		bytes.Contains(head, []byte("cf-chl")) || bytes.Contains(head, []byte("<title>Just a moment...</title>"))):
		return "cloudflare"
	case strings.Contains(server, "ddos-guard") && (bytes.Contains(head, []byte("ddos-guard")) || bytes.Contains(head, []byte("DDoS-Guard"))):
		return "ddos-guard"
	}
	return ""
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil {
		return time.Duration(max(n, 0)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return t.Sub(now)
	}
	return 0
}

// cleanURL makes a page URL one whose parts are valid UTF-8. Engines derive
// thread ids and permalinks from the page's URL, and those must be valid
// UTF-8 like every other field of a post. A redirect's Location may carry
// raw bytes (url.Parse keeps them in the query): they are percent-encoded.
// A path may decode to bytes that are not UTF-8 ("/%FF/thread/1"): those
// become U+FFFD, as in page bodies. A valid URL is returned as it is, so
// ids stay what the site's own links give.
func cleanURL(u *url.URL) *url.URL {
	if !utf8.ValidString(u.Path) || !utf8.ValidString(u.Fragment) {
		c := *u
		c.Path, c.RawPath = strings.ToValidUTF8(u.Path, "\uFFFD"), ""
		c.Fragment, c.RawFragment = strings.ToValidUTF8(u.Fragment, "\uFFFD"), ""
		u = &c
	}
	s := u.String()
	if utf8.ValidString(s) {
		return u
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			fmt.Fprintf(&b, "%%%02X", s[i])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	c, err := url.Parse(b.String())
	if err != nil {
		return u
	}
	return c
}

// repairUTF8 replaces invalid UTF-8 and NUL bytes, which downstream JSON
// and tokenizers choke on.
func repairUTF8(b []byte) []byte {
	if utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 {
		return b
	}
	b = bytes.ToValidUTF8(b, []byte("\uFFFD"))
	return bytes.ReplaceAll(b, []byte{0}, []byte(" "))
}

// sameSiteHost reports whether a redirect from initial to dest stays on
// initial's host or one of its subdomains: the rule the HTTP client
// applies to Authorization and Cookie, applied to the site's own headers.
func sameSiteHost(initial, dest *url.URL) bool {
	ih := strings.TrimSuffix(strings.ToLower(initial.Hostname()), ".")
	dh := strings.TrimSuffix(strings.ToLower(dest.Hostname()), ".")
	if ih == dh {
		return true
	}
	if _, err := netip.ParseAddr(dh); err == nil {
		return false
	}
	return strings.HasSuffix(dh, "."+ih)
}
