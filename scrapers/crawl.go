package scrapers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// Sink hands posts on. It returns only when they are durable (acknowledged
// by the brokers, written to the file): the crawler records them as seen
// only after it returns.
type Sink func(ctx context.Context, posts []msg.Post) error

// ErrRefused, wrapped in a Sink's error, says the sink handed on what it
// could and refused the rest for good (a post over the topic's message
// size): retried, the same page would fail at every round. The crawler
// records the posts as read and counts them as dropped ("refused").
var ErrRefused = errors.New("refused for good")

// HealthSink receives a site's health when it changes, and every round
// while the site is stale.
type HealthSink func(ctx context.Context, h Health) error

// Options are a crawler's or runner's optional parts.
type Options struct {
	Metrics *Metrics
	Log     *slog.Logger
	// Limiter is shared by every site of a process; nil: a private one.
	Limiter *HostLimiter
	Health  HealthSink
	// Now replaces the clock in tests.
	Now func() time.Time
}

// RoundStats counts one round's work.
type RoundStats struct {
	Requests    int64
	Pages       int
	NotModified int
	Posts       int
	Edited      int
	Errors      int
}

// Crawler walks one site incrementally: its entries each round, the
// threads whose listing marker changed from where it stopped last time,
// emitting posts not seen before (or whose content hash changed).
type Crawler struct {
	cfg    *config.Scrape
	site   config.Site
	engine string
	eng    Engine
	f      *Fetcher
	st     *State
	sink   Sink
	m      *Metrics
	log    *slog.Logger
	bases  []*url.URL
	health *healthTracker
	now    func() time.Time
	rounds int
	// skewed is set while the site's new posts are dated hours away from
	// when they were read, so the warning is logged once.
	skewed bool
}

// NewCrawler builds the crawler of one configured site.
func NewCrawler(cfg *config.Scrape, site config.Site, s *store.Store, sink Sink, o Options) (*Crawler, error) {
	site = cfg.Effective(site)
	eng, err := NewEngine(site)
	if err != nil {
		return nil, fmt.Errorf("site %s: %w", site.Name, err)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	f, err := NewFetcher(cfg, site, o.Limiter, o.Metrics)
	if err != nil {
		return nil, fmt.Errorf("site %s: %w", site.Name, err)
	}
	c := &Crawler{
		cfg: cfg, site: site, engine: site.Engine, eng: eng, f: f, sink: sink, m: o.Metrics,
		st:  NewState(s, site.Name, cfg.SeenTTL),
		log: o.Log.With("site", site.Name, "engine", site.Engine), now: o.Now,
	}
	for _, b := range append([]string{site.URL}, site.Mirrors...) {
		u, err := url.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("site %s: bad base URL: %w", site.Name, err)
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		c.bases = append(c.bases, u)
	}
	c.health = newHealthTracker(c, o.Health)
	return c, nil
}

// Site returns the site's effective config.
func (c *Crawler) Site() config.Site { return c.site }

// Fetcher returns the crawler's fetcher (request counts for benchmarks).
func (c *Crawler) Fetcher() *Fetcher { return c.f }

// round is the state of one pass over a site.
type round struct {
	c      *Crawler
	meta   Meta
	first  bool
	now    time.Time
	stats  RoundStats
	markup error
	// fetchErrs counts failed fetches; reached counts pages read.
	fetchErrs []error
	reached   int
	// newest is the latest published time of the round's new posts that
	// are not history.
	newest time.Time
}

// Round makes one pass over the site. It returns an error only when
// nothing of the site could be read or the state store failed; pages that
// fail on their own are logged and counted.
func (c *Crawler) Round(ctx context.Context) (RoundStats, error) {
	start := c.now()
	req0 := c.f.Count()
	meta, err := c.st.Meta(ctx)
	if err != nil {
		return RoundStats{}, err
	}
	if meta.Init.IsZero() {
		meta.Init = start
		if err := c.st.SetMeta(ctx, meta); err != nil {
			return RoundStats{}, err
		}
	}
	if meta.Base < 0 || meta.Base >= len(c.bases) {
		meta.Base = 0
	}
	c.rounds++
	// On a mirror, look at the primary again now and then.
	if meta.Base != 0 && c.rounds%10 == 0 {
		meta.Base = 0
	}
	r := &round{c: c, meta: meta, first: !meta.Done, now: start}
	var sinkErr error
	for _, e := range c.eng.Entries() {
		if err := r.listingWithFailover(ctx, e); err != nil {
			if ctx.Err() != nil {
				return r.stats, ctx.Err()
			}
			if errors.Is(err, errSink) || errors.Is(err, errState) {
				sinkErr = err
				break
			}
		}
	}
	r.stats.Requests = c.f.Count() - req0
	if sinkErr != nil {
		return r.stats, sinkErr
	}
	// The first crawl is done once it read the site at all: pages it
	// missed are read later, and their posts still count as history by
	// their dates (historyBefore).
	if r.first && r.reached > 0 {
		r.meta.Done = true
	}
	if err := c.st.SetMeta(ctx, r.meta); err != nil {
		return r.stats, err
	}
	c.m.RoundSeconds.WithLabelValues(c.site.Name).Observe(c.now().Sub(start).Seconds())
	c.checkSkew(r)
	c.health.observe(ctx, r)
	if r.reached == 0 && len(r.fetchErrs) > 0 {
		return r.stats, fmt.Errorf("site %s: %w", c.site.Name, r.fetchErrs[0])
	}
	return r.stats, nil
}

var (
	errSink  = errors.New("cannot hand posts on")
	errState = errors.New("crawl state store failed")
)

func (r *round) base() *url.URL { return r.c.bases[r.meta.Base] }

// abs resolves a stored or configured reference against the base in use.
func (r *round) abs(ref string) string {
	u, err := url.Parse(ref)
	if err != nil {
		return ""
	}
	if u.IsAbs() {
		return u.String()
	}
	if strings.HasPrefix(ref, "/") {
		// Stored cursors are root-relative so they move to a mirror.
		b := *r.base()
		b.Path, b.RawPath, b.RawQuery, b.Fragment = "", "", "", ""
		return b.ResolveReference(u).String()
	}
	return r.base().ResolveReference(u).String()
}

// rel stores a URL of any of the site's bases relative to that base, so a
// cursor survives a move to a mirror, whatever path each serves the site
// under; other URLs stay absolute. (Cursors stored root-relative by
// earlier versions still resolve, at the host's root, as they were.)
func (r *round) rel(u *url.URL) string {
	b := r.c.baseOf(u)
	if b == nil {
		return u.String()
	}
	ref, ok := underBase(b, u)
	if !ok {
		return u.RequestURI() // the base's path less its final slash
	}
	if seg, _, _ := strings.Cut(ref, "/"); ref == "" || strings.Contains(seg, ":") || strings.HasPrefix(ref, "/") {
		ref = "./" + ref // never empty ("none"), a scheme or a host
	}
	return ref
}

// baseOf returns the site base u lies under: the same host and the
// base's path as a prefix of u's (the longest, where several bases share
// the host); nil when u is under none.
func (c *Crawler) baseOf(u *url.URL) *url.URL {
	var best *url.URL
	for _, b := range c.bases {
		if !sameHost(b, u) {
			continue
		}
		p := normEscapes(b.EscapedPath())
		if up := normEscapes(u.EscapedPath()); !strings.HasPrefix(up, p) && up != strings.TrimSuffix(p, "/") {
			continue
		}
		if best == nil || len(p) > len(best.EscapedPath()) {
			best = b
		}
	}
	return best
}

// underBase reports whether u lies under base b, and its request URI below
// b's path. A link is the site's however it spells the site's URL: the
// host in any case, a default port written out or not, http or https,
// escapes in either case ("%c3%b6" is "%C3%B6", RFC 3986) or a character
// left unescaped.
func underBase(b, u *url.URL) (rest string, ok bool) {
	if !sameHost(b, u) {
		return "", false
	}
	p, up := normEscapes(b.EscapedPath()), u.EscapedPath()
	if !strings.HasPrefix(normEscapes(up), p) {
		return "", false
	}
	rest = up[len(p):] // normEscapes keeps lengths
	if u.ForceQuery || u.RawQuery != "" {
		rest += "?" + u.RawQuery
	}
	return rest, true
}

// sameHost reports whether a and b name one host: its name in any case,
// a scheme's default port the same as none.
func sameHost(a, b *url.URL) bool {
	return strings.EqualFold(a.Hostname(), b.Hostname()) && explicitPort(a) == explicitPort(b)
}

func explicitPort(u *url.URL) string {
	p := u.Port()
	if (p == "443" && strings.EqualFold(u.Scheme, "https")) || (p == "80" && strings.EqualFold(u.Scheme, "http")) {
		return ""
	}
	return p
}

// normEscapes writes a path's percent-escapes in upper case.
func normEscapes(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	b := []byte(p)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = upperHex(b[i+1]), upperHex(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func upperHex(c byte) byte {
	if c >= 'a' && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}

// inScope reports whether a link may be followed: a site served under a
// path ("https://host/forum/") is only that part of its host, and a link
// to the host outside it is another site's page. Links to other hosts
// are the engine's business (an API host, a CDN).
func (r *round) inScope(link string) bool {
	u, err := url.Parse(link)
	if err != nil {
		return false
	}
	onHost := false
	for _, b := range r.c.bases {
		onHost = onHost || sameHost(b, u)
	}
	if !onHost || r.c.baseOf(u) != nil {
		return true
	}
	r.c.m.Drops.WithLabelValues(r.c.site.Name, "out_of_scope").Inc()
	return false
}

func (r *round) listingWithFailover(ctx context.Context, entry string) error {
	err := r.listing(ctx, entry)
	var fe *FetchError
	if err == nil || !errors.As(err, &fe) || !fe.Unreachable() || len(r.c.bases) == 1 || r.reached > 0 {
		return err
	}
	for i := 1; i < len(r.c.bases); i++ {
		next := (r.meta.Base + 1) % len(r.c.bases)
		r.c.log.Warn("site not answering; trying a mirror", "mirror", r.c.bases[next].Host, "err", err)
		r.meta.Base = next
		if err = r.listing(ctx, entry); err == nil || !errors.As(err, &fe) || !fe.Unreachable() {
			return err
		}
	}
	return err
}

func (r *round) fetch(ctx context.Context, u string, v Validators) (*Response, error) {
	resp, err := r.c.f.Get(ctx, u, v)
	if err != nil {
		r.fetchErrs = append(r.fetchErrs, err)
		r.stats.Errors++
		return nil, err
	}
	r.reached++
	if resp.NotModified {
		r.stats.NotModified++
	} else {
		r.stats.Pages++
	}
	return resp, nil
}

func (r *round) parse(resp *Response, kind Kind, t *ThreadRef) (*Page, error) {
	in := &Input{Site: r.c.site.Name, URL: resp.URL, Kind: kind, Thread: t, Body: resp.Body, ContentType: resp.ContentType, Fetched: r.now}
	pg, err := safeParse(r.c.eng, in)
	if err != nil {
		reason := "bad_page"
		if errors.Is(err, ErrMarkup) {
			reason = "markup"
			r.markup = err
		}
		r.stats.Errors++
		r.c.m.Drops.WithLabelValues(r.c.site.Name, reason).Inc()
		r.c.log.Warn("cannot parse page", "kind", kind.String(), "url", RedactURL(resp.URL.String()), "err", err)
		return nil, err
	}
	return pg, nil
}

// safeParse keeps an engine bug on one hostile page from taking the
// process down.
func safeParse(e Engine, in *Input) (pg *Page, err error) {
	defer func() {
		if p := recover(); p != nil {
			pg, err = nil, fmt.Errorf("%w: engine panicked: %v", ErrBadPage, p)
		}
	}()
	pg, err = e.Parse(in)
	if err == nil && pg == nil {
		pg = &Page{}
	}
	return pg, err
}

// Bounds of how far the newest new post of a round may be dated from
// when it was read before the site's time_zone is suspected: a post is
// found within a poll interval of being written, give or take an outage.
const (
	maxSkewAhead  = 30 * time.Minute
	maxSkewBehind = time.Hour
)

// checkSkew compares the round's newest new post with when it was read. A
// board whose times are read in the wrong zone is off by whole hours on
// every post: behind, each post is late to the aggregator and never
// pages; ahead, each is clamped to its clock. Both show here first.
func (c *Crawler) checkSkew(r *round) {
	if r.newest.IsZero() {
		return
	}
	skew := r.newest.Sub(r.now)
	c.m.PostTimeSkew.WithLabelValues(c.site.Name).Set(skew.Seconds())
	off := skew > maxSkewAhead || skew < -(c.site.PollInterval+maxSkewBehind)
	if off && !c.skewed {
		zone := "UTC"
		if loc, err := siteLocation(c.site); err == nil {
			zone = loc.String()
		}
		c.log.Warn("new posts are dated hours away from when they were read; if this persists, the site's time_zone is wrong",
			"skew", skew.Round(time.Minute).String(), "time_zone", zone)
	}
	c.skewed = off
}

// historyBefore is the time before which a post found after the first
// crawl is still history (a long thread whose backfill continues): the
// first crawl's start, less a margin for the site's clock running ahead.
func (r *round) historyBefore() time.Time {
	return r.meta.Init.Add(-max(r.c.site.PollInterval, 10*time.Minute))
}

func (r *round) pageLimit() int {
	if r.first {
		return r.c.site.Backfill.MaxPages
	}
	return r.c.cfg.MaxPagesPerRound
}

func (r *round) tooOld(t time.Time) bool {
	return !t.IsZero() && t.Before(r.now.Add(-r.c.site.Backfill.MaxAge))
}

// maxBacklog bounds the cursors kept per entry where a walk over older
// listing pages was cut short; beyond it the oldest gap is given up.
const maxBacklog = 16

// listing reads one entry: its first page and, while everything on a page
// is new (a gap since the last round), the older pages. A walk cut short
// while the gap is still open (a page failed, the round's page budget ran
// out) leaves its place in the entry's backlog, and later rounds go on
// from there: the first page then holds only posts already seen, so
// nothing else would lead back to the posts beyond the cut.
func (r *round) listing(ctx context.Context, entry string) error {
	budget := r.pageLimit()
	var backlog []string
	if !r.first {
		var err error
		if backlog, err = r.c.st.Backlog(ctx, entry); err != nil {
			return fmt.Errorf("%w: %w", errState, err)
		}
	}
	var pending []string
	stored, rest := backlog, backlog
	// ahead records, before a walk reads further into a gap, where it is
	// going, with the gaps not yet walked: a process stopped in the middle
	// (a deploy, a lost lease, a crash) left nothing behind, and the posts
	// beyond the page it was reading were never read, the first page
	// holding only posts seen by then.
	ahead := func(cut string) error {
		refs := slices.Clone(pending)
		for _, c := range append([]string{cut}, rest...) {
			if !slices.Contains(refs, c) {
				refs = append(refs, c)
			}
		}
		refs = refs[:min(len(refs), maxBacklog)]
		if slices.Equal(refs, stored) {
			return nil
		}
		if err := r.c.st.SetBacklog(ctx, entry, refs); err != nil {
			return fmt.Errorf("%w: %w", errState, err)
		}
		stored = refs
		return nil
	}
	cut, err := r.walk(ctx, entry, r.abs(entry), true, &budget, ahead)
	if cut != "" {
		pending = append(pending, cut)
	}
	for i := 0; i < len(backlog); i++ {
		if err != nil || budget <= 0 {
			for _, c := range backlog[i:] {
				if !slices.Contains(pending, c) {
					pending = append(pending, c)
				}
			}
			break
		}
		rest = backlog[i+1:]
		var c string
		c, err = r.walk(ctx, entry, r.abs(backlog[i]), false, &budget, ahead)
		if c != "" && !slices.Contains(pending, c) {
			pending = append(pending, c)
		}
	}
	if r.first || slices.Equal(pending, stored) {
		return err
	}
	if len(pending) > maxBacklog {
		r.c.m.Drops.WithLabelValues(r.c.site.Name, "backlog").Add(float64(len(pending) - maxBacklog))
		r.c.log.Warn("too many unread gaps in a listing; giving up the oldest", "kept", maxBacklog, "dropped", len(pending)-maxBacklog)
		pending = pending[:maxBacklog]
	}
	if serr := r.c.st.SetBacklog(ctx, entry, pending); serr != nil {
		if err == nil || !errors.Is(err, errSink) {
			return fmt.Errorf("%w: %w", errState, serr)
		}
	}
	return err
}

// walk reads listing pages from u, the entry's first page when top, for
// at most *budget pages. It returns where it stopped while a gap was still
// open ("" when the walk ended: no older page, or one that held posts
// already seen), as a reference the round resolves with abs.
func (r *round) walk(ctx context.Context, entry, u string, top bool, budget *int, ahead func(cut string) error) (cut string, err error) {
	keep := func(u string) string {
		pu, perr := url.Parse(u)
		if r.first || perr != nil || u == "" {
			return ""
		}
		return r.rel(pu)
	}
	// A page the walk already read ends it: a pager that loops would
	// otherwise be walked to the page budget.
	read := map[string]bool{}
	for page := 0; u != ""; page++ {
		if read[pageKey(u)] {
			return "", nil
		}
		read[pageKey(u)] = true
		if *budget <= 0 {
			return keep(u), nil
		}
		*budget--
		var v Validators
		if top && page == 0 {
			var err error
			if v, err = r.c.st.Validators(ctx, entry); err != nil {
				return "", fmt.Errorf("%w: %w", errState, err)
			}
		}
		// From here a failure on a page past the first leaves the gap
		// open at this page: the posts before it were marked seen.
		open := !top || page > 0
		resp, err := r.fetch(ctx, u, v)
		if err != nil {
			var fe *FetchError
			if open && !(errors.As(err, &fe) && fe.Reason == "http_4xx") {
				return keep(u), err
			}
			return "", err
		}
		if resp.NotModified {
			return "", nil
		}
		read[pageKey(resp.URL.String())] = true
		pg, err := r.parse(resp, Listing, nil)
		if err != nil {
			return "", err
		}
		fresh, err := r.emit(ctx, pg.Posts, nil)
		if err == nil {
			var quiet int
			quiet, err = r.silent(ctx, pg.Silent)
			fresh += quiet
		}
		if err != nil {
			if open {
				return keep(u), err
			}
			return "", err
		}
		clean, changed, unpinned := true, 0, 0
		allOld := len(pg.Threads) > 0 || len(pg.Posts) > 0
		for i := range pg.Threads {
			t := &pg.Threads[i]
			if !t.Pinned {
				unpinned++
			}
			if !r.tooOld(t.Latest) || t.Latest.IsZero() {
				allOld = false
			}
			did, err := r.thread(ctx, t)
			if err != nil {
				if errors.Is(err, errSink) || errors.Is(err, errState) || ctx.Err() != nil {
					if open {
						return keep(u), err
					}
					return "", err
				}
				// The thread id is left out: a generic engine's is its URL.
				r.c.log.Warn("cannot read thread; retrying next round", "err", err)
				clean = false
				continue
			}
			if did && !t.Pinned {
				changed++
			}
		}
		for _, p := range pg.Posts {
			if !r.tooOld(p.Published) {
				allOld = false
			}
		}
		// Validators are kept only when every thread the page led to was
		// read: otherwise a 304 next round would hide the ones missed.
		if top && page == 0 && clean {
			if err := r.c.st.SetValidators(ctx, entry, resp.Validators); err != nil {
				return "", fmt.Errorf("%w: %w", errState, err)
			}
		}
		next := pg.Older
		if next == "" {
			next = pg.Next
		}
		if next == "" || !r.inScope(next) {
			return "", nil
		}
		if r.first {
			if r.c.site.Backfill.Disabled || allOld {
				return "", nil
			}
		} else {
			// After the first crawl, an older page is read only while
			// everything on this one was new: a gap since the last round.
			// Sticky threads sit on top however quiet they are; counted,
			// they hid every gap on a forum that has one.
			items := len(pg.Posts) + len(pg.Silent)
			gap := (items > 0 && fresh == items) || (unpinned > 0 && changed == unpinned)
			if !gap {
				return "", nil
			}
			if c := keep(next); c != "" {
				if err := ahead(c); err != nil {
					return c, err
				}
			}
		}
		u = next
	}
	return "", nil
}

// thread reads a thread from where the last read stopped, if its marker
// changed. It reports whether the thread was read.
func (r *round) thread(ctx context.Context, t *ThreadRef) (bool, error) {
	if t.ID == "" || t.URL == "" {
		r.c.m.Drops.WithLabelValues(r.c.site.Name, "no_id").Inc()
		return false, nil
	}
	if !r.inScope(t.URL) {
		return false, nil
	}
	ts, found, err := r.c.st.LookupThread(ctx, t.ID)
	if err == nil && !found {
		ts, err = r.adopt(ctx, t)
	}
	if err != nil {
		return false, fmt.Errorf("%w: %w", errState, err)
	}
	if t.Marker != "" && ts.Marker == t.Marker {
		return false, nil
	}
	if r.first && ts.Cursor == "" && (r.c.site.Backfill.Disabled || r.tooOld(t.Latest)) {
		// History not wanted: remember the thread, read it when it moves.
		if err := r.c.st.SetThread(ctx, t.ID, ThreadState{Marker: t.Marker}); err != nil {
			return false, fmt.Errorf("%w: %w", errState, err)
		}
		return false, nil
	}
	u, v := t.URL, Validators{}
	if ts.Cursor != "" {
		u, v = r.abs(ts.Cursor), ts.V
	}
	complete := false
	// fail keeps the pages read before a failing one: the cursor moved
	// past them, and without this every round re-read them all up to the
	// page that fails (for as long as it fails), the page budget's worth
	// of requests per poll for one thread. The cursor page's validators
	// are dropped: a 304 on it next round would end the read there, as if
	// the thread were complete, and the page after it would never be
	// asked for again.
	moved := false
	fail := func(err error) (bool, error) {
		if moved && ctx.Err() == nil {
			ts.Marker, ts.V = "", Validators{}
			if serr := r.c.st.SetThread(ctx, t.ID, ts); serr != nil && !errors.Is(err, errSink) && !errors.Is(err, errState) {
				return false, fmt.Errorf("%w: %w", errState, serr)
			}
		}
		return false, err
	}
	// A pager that leads back to a page already read (page 2's "next" is
	// page 1) ends the thread there: followed, it would be walked round
	// and round to the page limit, never be marked complete, and be read
	// at the full page limit again every round.
	read := map[string]bool{}
	for page := 0; page < r.pageLimit(); page++ {
		read[pageKey(u)] = true
		resp, err := r.fetch(ctx, u, v)
		if err != nil {
			var fe *FetchError
			if errors.As(err, &fe) && (fe.Status == http.StatusNotFound || fe.Status == http.StatusGone) {
				// The site answered: not a failure of the site.
				r.fetchErrs = r.fetchErrs[:len(r.fetchErrs)-1]
				r.stats.Errors--
				r.reached++
				// A vanished cursor page (posts deleted, pages merged):
				// start again from the first page next round; a vanished
				// thread: stop asking until its marker moves.
				next := ThreadState{}
				if ts.Cursor == "" || page > 0 {
					next.Marker = t.Marker
				}
				if err := r.c.st.SetThread(ctx, t.ID, next); err != nil {
					return false, fmt.Errorf("%w: %w", errState, err)
				}
				return true, nil
			}
			return fail(err)
		}
		if resp.NotModified {
			complete = true
			break
		}
		pg, err := r.parse(resp, Thread, t)
		if err != nil {
			return fail(err)
		}
		if t.Title == "" {
			t.Title = pg.Title
		}
		if _, err := r.emit(ctx, pg.Posts, t); err != nil {
			return fail(err)
		}
		ts.Cursor, ts.V, moved = r.rel(resp.URL), resp.Validators, true
		read[pageKey(resp.URL.String())] = true
		if pg.Next == "" || read[pageKey(pg.Next)] || !r.inScope(pg.Next) {
			complete = true
			break
		}
		u, v = pg.Next, Validators{}
	}
	ts.Marker = ""
	if complete {
		ts.Marker = t.Marker
	}
	if err := r.c.st.SetThread(ctx, t.ID, ts); err != nil {
		return false, fmt.Errorf("%w: %w", errState, err)
	}
	return true, nil
}

// adopt takes over, for a thread with no state under its id, the state
// an earlier version of the engine kept under another id (LegacyIDs): its
// place and the posts it emitted. Without it, an upgrade that changed the
// ids read every known thread again as a new one and emitted its posts
// again. Adopted, the state is under the new id, so this is done once
// per thread.
func (r *round) adopt(ctx context.Context, t *ThreadRef) (ThreadState, error) {
	l, ok := r.c.eng.(LegacyIDs)
	if !ok {
		return ThreadState{}, nil
	}
	old := l.LegacyThreadID(t.URL)
	if old == "" || old == t.ID {
		return ThreadState{}, nil
	}
	ts, _, err := r.c.st.AdoptThread(ctx, old, t.ID, func(id string) string { return l.PostIDFromLegacy(t.URL, id) })
	return ts, err
}

// pageKey is the page a URL names: without its fragment, which only
// points into the page.
func pageKey(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	pu.Fragment, pu.RawFragment = "", ""
	return pu.String()
}

// silent records a listing's items that are no posts (Page.Silent) as
// read and returns how many of them were new.
func (r *round) silent(ctx context.Context, items []ItemRef) (int, error) {
	batch := make([]msg.Post, 0, len(items))
	for _, it := range items {
		if it.SitePostID == "" {
			continue
		}
		p := msg.Post{Site: r.c.site.Name, SitePostID: it.SitePostID, ThreadID: it.ThreadID}
		p.Normalize()
		batch = append(batch, p)
	}
	if len(batch) == 0 {
		return 0, nil
	}
	prev, err := r.c.st.Seen(ctx, batch)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errState, err)
	}
	fresh := batch[:0]
	for i := range batch {
		if prev[i] == "" {
			fresh = append(fresh, batch[i])
		}
	}
	if err := r.c.st.MarkSeen(ctx, fresh); err != nil {
		return 0, fmt.Errorf("%w: %w", errState, err)
	}
	return len(fresh), nil
}

// emit completes the posts of a page, hands on those not seen before (or
// changed) and records them. It returns how many of the page's posts were
// new.
func (r *round) emit(ctx context.Context, posts []msg.Post, t *ThreadRef) (int, error) {
	c := r.c
	batch := make([]msg.Post, 0, len(posts))
	ids := map[string]bool{}
	for _, p := range posts {
		if p.SitePostID == "" {
			c.m.Drops.WithLabelValues(c.site.Name, "no_id").Inc()
			continue
		}
		if ids[p.ThreadID+"\x00"+p.SitePostID] {
			continue
		}
		ids[p.ThreadID+"\x00"+p.SitePostID] = true
		p.Site, p.Engine = c.site.Name, c.engine
		if t != nil {
			if p.ThreadID == "" {
				p.ThreadID = t.ID
			}
			if p.ThreadURL == "" {
				p.ThreadURL = t.URL
			}
			if p.Thread == "" {
				p.Thread = t.Title
			}
		}
		if p.Fetched.IsZero() {
			p.Fetched = r.now
		}
		p.Backfill = r.first || (!p.Published.IsZero() && p.Published.Before(r.historyBefore()))
		if p.Clip() {
			// A hostile or broken page can hold a post of megabytes; the
			// rest could not be scored or carried on Kafka anyway.
			c.m.Drops.WithLabelValues(c.site.Name, "text_clipped").Inc()
			c.log.Warn("post text cut to the size limit", "thread", p.ThreadID, "post", p.SitePostID, "limit_bytes", msg.MaxTextBytes)
		}
		p.ID, p.ContentHash, p.Schema = "", "", ""
		p.Normalize()
		batch = append(batch, p)
	}
	if len(batch) == 0 {
		return 0, nil
	}
	prev, err := c.st.Seen(ctx, batch)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errState, err)
	}
	out := make([]msg.Post, 0, len(batch))
	fresh := 0
	for i := range batch {
		p := &batch[i]
		switch {
		case prev[i] == "":
			fresh++
			if !r.first && !p.Backfill && p.Published.After(r.newest) {
				r.newest = p.Published
			}
			if p.Backfill && (c.site.Backfill.Disabled || r.tooOld(p.Published)) {
				continue // recorded, not handed on: history not wanted
			}
		case prev[i] == p.ContentHash:
			continue
		default:
			p.Edited = true
		}
		out = append(out, *p)
	}
	if len(out) > 0 {
		if err := c.sink(ctx, out); errors.Is(err, ErrRefused) {
			c.m.Drops.WithLabelValues(c.site.Name, "refused").Inc()
			c.log.Error("posts refused for good by the sink; recorded as read", "err", err)
		} else if err != nil {
			return fresh, fmt.Errorf("%w: %w", errSink, err)
		}
	}
	if err := c.st.MarkSeen(ctx, batch); err != nil {
		return fresh, fmt.Errorf("%w: %w", errState, err)
	}
	for i := range out {
		kind := "new"
		switch {
		case out[i].Edited:
			kind = "edited"
			r.stats.Edited++
		case out[i].Backfill:
			kind = "backfill"
		}
		c.m.Posts.WithLabelValues(c.site.Name, kind).Inc()
	}
	r.stats.Posts += len(out)
	return fresh, nil
}
