package scrapers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// Runner runs every enabled site of the config, each under a Redis lease
// so that several scraper processes share the sites: a site is crawled by
// one process at a time, and a dead process's sites are taken over once
// its leases expire.
type Runner struct {
	cfg   *config.Scrape
	store *store.Store
	sink  Sink
	o     Options
	owner string
	// OnRound, when set, is called after every round (tests, benchmarks).
	OnRound func(site string, s RoundStats, err error)
}

// NewRunner checks the sites and returns a runner. Nothing is fetched yet.
func NewRunner(cfg *config.Scrape, s *store.Store, sink Sink, o Options) (*Runner, error) {
	if err := Validate(*cfg); err != nil {
		return nil, err
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Limiter == nil {
		o.Limiter = NewHostLimiter()
	}
	return &Runner{cfg: cfg, store: s, sink: sink, o: o, owner: NewOwner()}, nil
}

// Run crawls every enabled site until ctx ends. A site that fails keeps
// being retried on its schedule; only a broken config stops Run.
func (r *Runner) Run(ctx context.Context) error {
	var crawlers []*Crawler
	for _, s := range r.cfg.Sites {
		if s.Disabled {
			continue
		}
		c, err := NewCrawler(r.cfg, s, r.store, r.sink, r.o)
		if err != nil {
			return err
		}
		crawlers = append(crawlers, c)
	}
	if len(crawlers) == 0 {
		r.o.Log.Warn("no sites configured (scrape.sites): the scrape stage is idle")
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	for _, c := range crawlers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runSite(ctx, c)
		}()
	}
	wg.Wait()
	return nil
}

// Once makes one round of the named site without a lease (for
// `scrape --once`); with a fresh state it is the site's first crawl.
func (r *Runner) Once(ctx context.Context, name string) (RoundStats, error) {
	s, ok := r.cfg.Site(name)
	if !ok {
		return RoundStats{}, fmt.Errorf("no site named %q in scrape.sites", name)
	}
	c, err := NewCrawler(r.cfg, s, r.store, r.sink, r.o)
	if err != nil {
		return RoundStats{}, err
	}
	return c.Round(ctx)
}

// wait returns the pause before a site's next round: the interval shortened
// by a random fraction up to jitter, so polls spread out and never come
// later than one interval apart.
func wait(interval time.Duration, jitter float64) time.Duration {
	if jitter <= 0 {
		return interval
	}
	return time.Duration(float64(interval) * (1 - jitter*rand.Float64()))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *Runner) runSite(ctx context.Context, c *Crawler) {
	site := c.site.Name
	log := c.log
	ttl := r.cfg.LeaseTTL
	for ctx.Err() == nil {
		lease, err := AcquireLease(ctx, r.store, site, r.owner, ttl)
		if err != nil {
			log.Warn("cannot take site lease; retrying", "err", err)
		}
		if lease == nil {
			if !sleep(ctx, wait(ttl/3, 0.5)) {
				return
			}
			continue
		}
		log.Info("holding site lease")
		r.o.Metrics.Leases.Inc()
		r.holdSite(ctx, c, lease)
		r.o.Metrics.Leases.Dec()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = lease.Release(rctx)
		cancel()
	}
}

// holdSite crawls the site while the lease is held, renewing it in the
// background; losing it stops the crawl within one renewal period.
func (r *Runner) holdSite(ctx context.Context, c *Crawler, lease *Lease) {
	hctx, cancel := context.WithCancel(ctx)
	// The renewals end before the lease is released: a renewal that finds
	// the key gone sets it again (Redis lost it), so one landing after the
	// release would hold the site for nobody for a TTL.
	renewing := make(chan struct{})
	defer func() { cancel(); <-renewing }()
	go func() {
		defer close(renewing)
		every := r.cfg.LeaseTTL / 3
		renewed := time.Now()
		for sleep(hctx, every) {
			// A renewal that cannot finish before the lease lapses is
			// given up then: go-redis's own retries against a Redis that
			// is away can outlast a short TTL.
			lapse := renewed.Add(r.cfg.LeaseTTL)
			rctx, rcancel := context.WithDeadline(hctx, lapse.Add(-every/2))
			ok, err := lease.Renew(rctx)
			rcancel()
			if err != nil && hctx.Err() == nil {
				c.log.Warn("cannot renew site lease", "err", err)
				if !time.Now().Before(lapse.Add(-every)) {
					// Redis away (or away from this process only) for
					// about a TTL: the lease lapses before the next try,
					// and another process may take the site. Crawling on
					// would double the requests to it.
					c.log.Warn("site lease not renewed for its TTL; stopping the crawl until it is taken again", "ttl", r.cfg.LeaseTTL)
					cancel()
					return
				}
				continue // keep trying until the TTL would lapse
			}
			renewed = time.Now()
			if !ok {
				c.log.Warn("site lease lost to another process")
				cancel()
				return
			}
		}
	}()
	failures := 0
	for hctx.Err() == nil {
		stats, err := c.Round(hctx)
		if r.OnRound != nil {
			r.OnRound(c.site.Name, stats, err)
		}
		if err != nil && hctx.Err() == nil {
			failures++
			// A dark site fails every round: warn on the first failure and
			// every tenth, the health metrics carry the rest.
			lvl := slog.LevelDebug
			if failures == 1 || failures%10 == 0 {
				lvl = slog.LevelWarn
			}
			if errors.Is(err, errSink) || errors.Is(err, errState) {
				lvl = slog.LevelError
			}
			c.log.Log(hctx, lvl, "round failed", "failures", failures, "err", err)
		} else if err == nil {
			failures = 0
		}
		if !sleep(hctx, wait(c.site.PollInterval, r.cfg.Jitter)) {
			return
		}
	}
}
