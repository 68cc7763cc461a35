package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/store"
	"github.com/threatwatch/threatwatch/scrapers"
)

// cmdScrape runs the scrape stage, or with --once one round of one site
// into a JSON-lines file, for debugging a site's config.
func cmdScrape(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := newFlags(e, "scrape", "[--config FILE] | --once --site NAME [--output FILE|-]")
	once := fs.Bool("once", false, "crawl one site once, as a first crawl with a fresh state, and write its posts as JSON lines (no Kafka, no shared Redis state)")
	siteName := fs.String("site", "", "the site to crawl with --once (scrape.sites[].name)")
	output := fs.String("output", "-", "where --once writes posts: a file, or - for standard output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if !*once {
		if *siteName != "" {
			return fmt.Errorf("%w: --site needs --once", errUsage)
		}
		return runStages(ctx, e, *cfgPath, "scrape")
	}
	if *siteName == "" {
		return fmt.Errorf("%w: --once needs --site NAME", errUsage)
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	return scrapeOnce(ctx, e, cfg, *siteName, *output)
}

func scrapeOnce(ctx context.Context, e *env, cfg *config.Config, name, output string) error {
	log := newLogger(e, cfg.Log)
	found := false
	for i, s := range cfg.Scrape.Sites {
		if s.Name != name {
			continue
		}
		// Show every post the pages hold, however old: the point is to see
		// what the site config extracts. The page bound still applies.
		eff := cfg.Scrape.Effective(s)
		s.Backfill = &config.Backfill{MaxAge: 100 * 365 * 24 * time.Hour, MaxPages: eff.Backfill.MaxPages}
		s.Disabled = false
		cfg.Scrape.Sites[i], found = s, true
	}
	if !found {
		return fmt.Errorf("%w: no site named %q in scrape.sites", errUsage, name)
	}
	// A private embedded store: a debugging run must not mark posts seen
	// in the production crawl state, or the stage would never send them.
	st, err := store.Open(config.Redis{KeyPrefix: "once:"}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer st.Close()
	w, closeOut, err := openOutput(e, output)
	if err != nil {
		return fmt.Errorf("cannot open output: %w", err)
	}
	jw := msg.NewWriter(w)
	sink := func(_ context.Context, posts []msg.Post) error {
		for i := range posts {
			if err := jw.Write(&posts[i]); err != nil {
				return err
			}
		}
		return jw.Flush()
	}
	r, err := scrapers.NewRunner(&cfg.Scrape, st, sink, scrapers.Options{Log: log})
	if err != nil {
		_ = closeOut()
		return err
	}
	stats, err := r.Once(ctx, name)
	if ferr := jw.Flush(); err == nil {
		err = ferr
	}
	if cerr := closeOut(); err == nil && cerr != nil {
		err = fmt.Errorf("cannot write output: %w", cerr)
	}
	fmt.Fprintf(e.stderr, "site %s: %d posts from %d pages (%d requests, %d not modified, %d errors)\n",
		name, stats.Posts, stats.Pages, stats.Requests, stats.NotModified, stats.Errors)
	return err
}

// runScrapeStage runs every configured site continuously, writing posts to
// the posts topic and the sites' health (a stale Level while a site cannot
// be read) to the levels topic.
func runScrapeStage(ctx context.Context, p *process) error {
	posts, levels := p.topic(p.cfg.Topics.Posts), p.topic(p.cfg.Topics.Levels)
	prod := pipeline.NewProducer(p.bus, "scrape", p.metrics, p.log)
	defer prod.Close()
	sink := func(ctx context.Context, ps []msg.Post) error {
		outs := make([]pipeline.Output, len(ps))
		for i := range ps {
			outs[i] = pipeline.Output{Topic: posts, Msg: &ps[i]}
		}
		err := prod.Send(ctx, outs...)
		if class, reason := pipeline.Classify(err); err != nil && class == pipeline.PermanentClass && (reason == "refused" || reason == "too_large") {
			// The others are written; these never will be.
			return fmt.Errorf("%w: %w", scrapers.ErrRefused, err)
		}
		return err
	}
	health := func(ctx context.Context, h scrapers.Health) error {
		return prod.Send(ctx, pipeline.Output{Topic: levels, Msg: h.Level()})
	}
	r, err := scrapers.NewRunner(&p.cfg.Scrape, p.store, sink, scrapers.Options{
		Metrics: scrapers.NewMetrics(p.obs.Registry), Log: p.log.With("stage", "scrape"), Health: health,
	})
	if err != nil {
		return err
	}
	return r.Run(ctx)
}
