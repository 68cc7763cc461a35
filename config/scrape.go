package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Scrape configures the scrape stage: which sites are watched, with which
// engine, and how politely. Per-site fields left zero take the section's
// defaults.
type Scrape struct {
	// UserAgent is sent with every request and matched against robots.txt.
	UserAgent string `yaml:"user_agent"`
	// PollInterval is how often each site is polled. A new post reaches the
	// posts topic within one interval (plus the requests of one round).
	PollInterval time.Duration `yaml:"poll_interval"`
	// Jitter shortens each wait by a random fraction up to this (0..0.9), so
	// sites are not polled in lock step and the interval is never exceeded.
	Jitter float64 `yaml:"jitter"`
	// RequestTimeout bounds one HTTP request, body included.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxBodyBytes caps one response body after decompression; a larger
	// page is dropped and counted, never parsed half.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxRedirects bounds the redirects followed for one request.
	MaxRedirects int `yaml:"max_redirects"`
	// RateLimit is the default per-host politeness.
	RateLimit RateLimit `yaml:"rate_limit"`
	// Backfill bounds the first crawl of a site.
	Backfill Backfill `yaml:"backfill"`
	// MaxPagesPerRound bounds the pages one thread or listing is followed
	// through in one round after the first crawl (catching up a gap).
	MaxPagesPerRound int `yaml:"max_pages_per_round"`
	// LeaseTTL is how long a process holds a site without renewing it; a
	// dead process's sites are taken over after at most this.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// SeenTTL is how long the seen-set of a thread is kept after its last
	// change; a thread quiet for longer is treated as new if it revives.
	SeenTTL time.Duration `yaml:"seen_ttl"`
	// StaleAfter is how long a site may fail before it is reported
	// unreachable (a dark site must not look like a calm one).
	StaleAfter time.Duration `yaml:"stale_after"`
	// MaxRetryAfter caps how long a 429/503 Retry-After is honoured.
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
	// Sites are the watched sites.
	Sites []Site `yaml:"sites"`
}

// RateLimit is per-host politeness.
type RateLimit struct {
	// Delay is the least time between two requests to one host.
	Delay time.Duration `yaml:"delay"`
	// RandomDelay adds up to this much random extra delay.
	RandomDelay time.Duration `yaml:"random_delay"`
	// Parallelism is the most concurrent requests to one host.
	Parallelism int `yaml:"parallelism"`
}

// Backfill bounds the first crawl of a site. Posts it finds are marked
// backfill, so the aggregator does not page on history as if it were new.
type Backfill struct {
	// Disabled skips history: the first crawl only records what exists.
	Disabled bool `yaml:"disabled"`
	// MaxAge drops posts published longer ago than this.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxPages bounds the pages followed per listing and per thread.
	MaxPages int `yaml:"max_pages"`
}

// Site is one watched site.
type Site struct {
	// Name is the site id: stable across mirrors and part of every post id.
	Name string `yaml:"name"`
	// Engine is the forum software: xenforo, phpbb, discourse, imageboard,
	// reddit, telegram, rss or generic.
	Engine string `yaml:"engine"`
	// URL is the base URL of the site (or API base, for JSON engines).
	URL string `yaml:"url"`
	// Mirrors are other base URLs serving the same site; used in order when
	// the current one stops answering.
	Mirrors []string `yaml:"mirrors"`
	// Entries are the listings polled each round, relative to the base URL:
	// forum pages (xenforo, phpbb, generic), boards (imageboard), channels
	// (telegram), communities (reddit), feed paths (rss). Each engine has a
	// default when empty (see docs/scrapers.md).
	Entries []string `yaml:"entries"`
	// Disabled keeps the site in the file without scraping it.
	Disabled bool `yaml:"disabled"`
	// PollInterval overrides scrape.poll_interval.
	PollInterval time.Duration `yaml:"poll_interval"`
	// RateLimit overrides scrape.rate_limit field by field.
	RateLimit RateLimit `yaml:"rate_limit"`
	// Backfill overrides scrape.backfill field by field.
	Backfill *Backfill `yaml:"backfill"`
	// UserAgent overrides scrape.user_agent.
	UserAgent string `yaml:"user_agent"`
	// IgnoreRobotsTxt overrides robots.txt for this site. Only for sites
	// you are entitled to crawl regardless (your own, or by agreement).
	IgnoreRobotsTxt bool `yaml:"ignore_robots_txt"`
	// AllowPrivate allows loopback, private and link-local addresses, for
	// local test and demo sites. Off, such addresses are refused on every
	// request and redirect.
	AllowPrivate bool `yaml:"allow_private"`
	// Proxy is an http://, https://, socks5:// or socks5h:// proxy URL (for
	// Tor: socks5h://127.0.0.1:9050). A secret: it may hold credentials.
	Proxy Secret `yaml:"proxy"`
	// Headers are extra request headers (secrets: they may carry tokens).
	Headers map[string]Secret `yaml:"headers"`
	// Cookies are sent with every request (secrets: session cookies).
	Cookies map[string]Secret `yaml:"cookies"`
	// ThreadPath is the imageboard thread JSON path, with {board} and {no}
	// (4chan: "{board}/thread/{no}.json", vichan: "{board}/res/{no}.json").
	ThreadPath string `yaml:"thread_path"`
	// TimeZone is the IANA zone (Europe/Moscow, America/New_York) the
	// board prints its times in, for every engine; it applies only to times
	// the page shows without an offset (XenForo 1, phpBB before 3.2, feeds
	// and generic sites with local dates, "Today at 2:00 PM"). Default UTC.
	// Wrong, every post is hours early (late to the aggregator, so it
	// never pages) or in the future.
	TimeZone string `yaml:"time_zone"`
	// Selectors configure the generic engine.
	Selectors *Selectors `yaml:"selectors"`
}

// Selectors tell the generic engine where things are on any forum's pages.
// Each is a CSS selector; an "attribute" field names the attribute to read
// instead of the text.
type Selectors struct {
	// ThreadLink matches, on a listing page, the links to threads.
	ThreadLink string `yaml:"thread_link"`
	// ThreadLatest, optional, matches inside a thread's listing row
	// something that changes when the thread gets a post (last post time,
	// reply count). Without it every listed thread is re-read each round.
	ThreadRow    string `yaml:"thread_row"`
	ThreadLatest string `yaml:"thread_latest"`
	// ListingNext matches the link to the next listing page.
	ListingNext string `yaml:"listing_next"`
	// ThreadID and ThreadIDAttr, optional, give a thread's id: the
	// attribute (empty: the text) of the element ThreadID matches inside
	// the thread's listing row (empty selector: the row itself; without
	// thread_row, read in the thread's link); digits are extracted. ThreadIDPattern, optional, is a regular
	// expression matched against a thread's URL below the site's URL
	// ("/topic/55/title?page=2") whose first group is its id. Without
	// them the id is that URL, less a XenForo-style slug (lower case, no
	// dot) before a numeric id ("/t/old-title.123" is "/t/123"), so a
	// renamed thread is no new one.
	ThreadID        string `yaml:"thread_id"`
	ThreadIDAttr    string `yaml:"thread_id_attr"`
	ThreadIDPattern string `yaml:"thread_id_pattern"`
	// ServerTime, optional, matches where pages print the board's current
	// time ("The time now is 11:58 PM", "Current time: 01-10-2026, 11:58
	// PM"): relative dates are read against it, not against our clock.
	ServerTime string `yaml:"server_time"`
	// ThreadTitle matches the thread title on a thread page.
	ThreadTitle string `yaml:"thread_title"`
	// Post matches each post container on a thread page.
	Post string `yaml:"post"`
	// PostID and PostIDAttr give a post's id: the attribute of the
	// element PostID matches inside the post (empty selector: the post
	// container itself). Digits are extracted from the value.
	PostID     string `yaml:"post_id"`
	PostIDAttr string `yaml:"post_id_attr"`
	// Author matches the author's name inside a post.
	Author string `yaml:"author"`
	// Time matches the post time; TimeAttr reads an attribute (datetime,
	// data-time, title) instead of the text; TimeFormat is a Go time layout,
	// "unix", or empty to try RFC 3339 and common forum formats.
	Time       string `yaml:"time"`
	TimeAttr   string `yaml:"time_attr"`
	TimeFormat string `yaml:"time_format"`
	// TimeZone is the IANA zone of times without an offset (default: the
	// site's time_zone, else UTC). The site's time_zone is the place for it.
	TimeZone string `yaml:"time_zone"`
	// Body matches the post body; Quote matches quote blocks inside it,
	// which are removed from the text and kept apart; QuoteAuthor, optional,
	// matches the "X said:" header inside a quote, dropped from the quote.
	Body        string `yaml:"body"`
	Quote       string `yaml:"quote"`
	QuoteHeader string `yaml:"quote_header"`
	// Permalink matches a link to the post (its href is the post URL).
	Permalink string `yaml:"permalink"`
	// NextPage matches the link to the thread's next page.
	NextPage string `yaml:"next_page"`
	// Deleted, optional, matches posts to skip (deleted or moderated).
	Deleted string `yaml:"deleted"`
}

var siteNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

func (c *Scrape) setDefaults() {
	setDefault(&c.UserAgent, "ThreatWatch/1.0 (+https://github.com/threatwatch/threatwatch; threat-signal monitoring)")
	setDefault(&c.PollInterval, 60*time.Second)
	setDefault(&c.Jitter, 0.2)
	setDefault(&c.RequestTimeout, 30*time.Second)
	setDefault(&c.MaxBodyBytes, int64(8<<20))
	setDefault(&c.MaxRedirects, 5)
	setDefault(&c.RateLimit.Delay, 2*time.Second)
	setDefault(&c.RateLimit.Parallelism, 1)
	setDefault(&c.Backfill.MaxAge, 7*24*time.Hour)
	setDefault(&c.Backfill.MaxPages, 5)
	setDefault(&c.MaxPagesPerRound, 20)
	setDefault(&c.LeaseTTL, 60*time.Second)
	setDefault(&c.SeenTTL, 90*24*time.Hour)
	setDefault(&c.StaleAfter, 10*time.Minute)
	setDefault(&c.MaxRetryAfter, time.Hour)
}

// Effective returns the site's settings with every zero field taken from
// the section's defaults.
func (c *Scrape) Effective(s Site) Site {
	setDefault(&s.PollInterval, c.PollInterval)
	setDefault(&s.UserAgent, c.UserAgent)
	setDefault(&s.RateLimit.Delay, c.RateLimit.Delay)
	setDefault(&s.RateLimit.RandomDelay, c.RateLimit.RandomDelay)
	setDefault(&s.RateLimit.Parallelism, c.RateLimit.Parallelism)
	b := c.Backfill
	if s.Backfill != nil {
		b.Disabled = s.Backfill.Disabled || b.Disabled
		setDefault(&b.MaxAge, c.Backfill.MaxAge)
		if s.Backfill.MaxAge != 0 {
			b.MaxAge = s.Backfill.MaxAge
		}
		if s.Backfill.MaxPages != 0 {
			b.MaxPages = s.Backfill.MaxPages
		}
	}
	s.Backfill = &b
	return s
}

// Site returns the site named name.
func (c *Scrape) Site(name string) (Site, bool) {
	for _, s := range c.Sites {
		if s.Name == name {
			return s, true
		}
	}
	return Site{}, false
}

func (c *Scrape) validate(path string) error {
	var p Problems
	if strings.TrimSpace(c.UserAgent) == "" {
		p.Add(path+".user_agent", ErrRequired, "")
	}
	if c.PollInterval < time.Second {
		p.Addf(path+".poll_interval", ErrOutOfRange, "%v, want >= 1s", c.PollInterval)
	}
	if c.Jitter < 0 || c.Jitter > 0.9 {
		p.Addf(path+".jitter", ErrOutOfRange, "%v, want 0..0.9", c.Jitter)
	}
	if c.RequestTimeout <= 0 {
		p.Add(path+".request_timeout", ErrOutOfRange, "want > 0")
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 1<<30 {
		p.Addf(path+".max_body_bytes", ErrOutOfRange, "%d, want 1024..1073741824", c.MaxBodyBytes)
	}
	if c.MaxRedirects < 0 || c.MaxRedirects > 20 {
		p.Addf(path+".max_redirects", ErrOutOfRange, "%d, want 0..20", c.MaxRedirects)
	}
	validateRate(&p, path+".rate_limit", c.RateLimit)
	if c.Backfill.MaxAge < 0 {
		p.Add(path+".backfill.max_age", ErrOutOfRange, "want >= 0")
	}
	if c.Backfill.MaxPages < 1 || c.Backfill.MaxPages > 10000 {
		p.Addf(path+".backfill.max_pages", ErrOutOfRange, "%d, want 1..10000", c.Backfill.MaxPages)
	}
	if c.MaxPagesPerRound < 1 || c.MaxPagesPerRound > 10000 {
		p.Addf(path+".max_pages_per_round", ErrOutOfRange, "%d, want 1..10000", c.MaxPagesPerRound)
	}
	if c.LeaseTTL < time.Second {
		p.Addf(path+".lease_ttl", ErrOutOfRange, "%v, want >= 1s", c.LeaseTTL)
	}
	if c.SeenTTL < time.Hour {
		p.Addf(path+".seen_ttl", ErrOutOfRange, "%v, want >= 1h", c.SeenTTL)
	}
	if c.StaleAfter <= 0 {
		p.Add(path+".stale_after", ErrOutOfRange, "want > 0")
	}
	if c.MaxRetryAfter <= 0 {
		p.Add(path+".max_retry_after", ErrOutOfRange, "want > 0")
	}
	names := map[string]int{}
	for i, s := range c.Sites {
		sp := fmt.Sprintf("%s.sites[%d]", path, i)
		if !siteNameRE.MatchString(s.Name) {
			p.Addf(sp+".name", ErrInvalidEnum, "%q, want lower-case letters, digits, '.', '_' or '-' (1..63)", s.Name)
		} else if j, dup := names[s.Name]; dup {
			p.Addf(sp+".name", ErrInvalidEnum, "%q is also the name of sites[%d]", s.Name, j)
		}
		names[s.Name] = i
		if s.Engine == "" {
			p.Add(sp+".engine", ErrRequired, "")
		}
		validateBaseURL(&p, sp+".url", s.URL, true)
		for j, m := range s.Mirrors {
			validateBaseURL(&p, fmt.Sprintf("%s.mirrors[%d]", sp, j), m, true)
		}
		for j, e := range s.Entries {
			if u, err := url.Parse(e); err != nil || (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https") {
				p.Addf(fmt.Sprintf("%s.entries[%d]", sp, j), ErrInvalidEnum, "%q is not a relative or http(s) URL", e)
			}
		}
		if s.PollInterval != 0 && s.PollInterval < time.Second {
			p.Addf(sp+".poll_interval", ErrOutOfRange, "%v, want >= 1s", s.PollInterval)
		}
		validateRate(&p, sp+".rate_limit", s.RateLimit)
		if b := s.Backfill; b != nil {
			if b.MaxAge < 0 {
				p.Add(sp+".backfill.max_age", ErrOutOfRange, "want >= 0")
			}
			if b.MaxPages < 0 || b.MaxPages > 10000 {
				p.Addf(sp+".backfill.max_pages", ErrOutOfRange, "%d, want 0..10000", b.MaxPages)
			}
		}
		if s.Proxy.IsSet() {
			u, err := url.Parse(s.Proxy.Value())
			if err != nil || u.Host == "" {
				p.Add(sp+".proxy", ErrInvalidEnum, "not a URL") // never echo: it may hold credentials
			} else {
				switch u.Scheme {
				case "http", "https", "socks5", "socks5h":
				default:
					p.Addf(sp+".proxy", ErrInvalidEnum, "scheme %q, want http, https, socks5 or socks5h", u.Scheme)
				}
			}
		}
		for k := range s.Headers {
			if k == "" || strings.ContainsAny(k, " :\r\n\t") {
				p.Addf(sp+".headers", ErrInvalidEnum, "%q is not a header name", k)
			}
		}
		for k := range s.Cookies {
			if k == "" || strings.ContainsAny(k, " =;,\r\n\t") {
				p.Addf(sp+".cookies", ErrInvalidEnum, "%q is not a cookie name", k)
			}
		}
		if s.ThreadPath != "" && (!strings.Contains(s.ThreadPath, "{no}")) {
			p.Add(sp+".thread_path", ErrInvalidEnum, "must contain {no}")
		}
		if s.TimeZone != "" {
			if _, err := time.LoadLocation(s.TimeZone); err != nil {
				p.Addf(sp+".time_zone", ErrInvalidEnum, "%v", err)
			}
			if sel := s.Selectors; sel != nil && sel.TimeZone != "" && sel.TimeZone != s.TimeZone {
				p.Addf(sp+".selectors.time_zone", ErrInvalidEnum, "%q disagrees with time_zone %q: set one", sel.TimeZone, s.TimeZone)
			}
		}
		if s.Engine == "generic" {
			validateSelectors(&p, sp+".selectors", s.Selectors)
		} else if s.Selectors != nil && s.Engine != "" {
			p.Addf(sp+".selectors", ErrInvalidEnum, "only the generic engine takes selectors, not %q", s.Engine)
		}
	}
	return p.Err()
}

func validateRate(p *Problems, path string, r RateLimit) {
	if r.Delay < 0 {
		p.Add(path+".delay", ErrOutOfRange, "want >= 0")
	}
	if r.RandomDelay < 0 {
		p.Add(path+".random_delay", ErrOutOfRange, "want >= 0")
	}
	if r.Parallelism < 0 || r.Parallelism > 64 {
		p.Addf(path+".parallelism", ErrOutOfRange, "%d, want 1..64", r.Parallelism)
	}
}

func validateBaseURL(p *Problems, path, s string, required bool) {
	if s == "" {
		if required {
			p.Add(path, ErrRequired, "")
		}
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Addf(path, ErrInvalidEnum, "%q is not an absolute http(s) URL", s)
		return
	}
	if u.User != nil {
		p.Add(path, ErrInvalidEnum, "credentials in the URL: use headers or cookies (secrets)")
	}
}

func validateSelectors(p *Problems, path string, s *Selectors) {
	if s == nil {
		p.Add(path, ErrRequired, "the generic engine needs selectors")
		return
	}
	for name, v := range map[string]string{"post": s.Post, "body": s.Body} {
		if strings.TrimSpace(v) == "" {
			p.Add(path+"."+name, ErrRequired, "")
		}
	}
	if s.PostID == "" && s.PostIDAttr == "" && s.Permalink == "" {
		p.Add(path+".post_id_attr", ErrRequired, "a post needs an id: post_id/post_id_attr or permalink")
	}
	if s.TimeZone != "" {
		if _, err := time.LoadLocation(s.TimeZone); err != nil {
			p.Addf(path+".time_zone", ErrInvalidEnum, "%v", err)
		}
	}
}
