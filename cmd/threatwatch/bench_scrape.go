package main

import (
	"context"
	"fmt"
	"time"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/bench"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/scrapers/scrapetest"
)

// benchScrapeCrawl runs the scrapers against live local sites (a
// XenForo-style forum and a Telegram-style channel) while posts appear,
// writing posts to the posts topic, and reports requests per new post and
// the delay from a post's appearance to its acknowledgement on the topic.
// Each case takes about 15 s; --n is not used.
func benchScrapeCrawl(ctx context.Context, b *benchEnv) ([]bench.Result, error) {
	p := b.proc
	topic := p.topic(p.cfg.Topics.Posts)
	prod := pipeline.NewProducer(p.bus, "scrape-bench", nil, p.log)
	defer prod.Close()
	sink := func(ctx context.Context, ps []msg.Post) error {
		outs := make([]pipeline.Output, len(ps))
		for i := range ps {
			outs[i] = pipeline.Output{Topic: topic, Msg: &ps[i]}
		}
		return prod.Send(ctx, outs...)
	}
	cases := []struct {
		name      string
		style     scrapetest.Style
		postEvery time.Duration
	}{
		{"xenforo busy", scrapetest.XenForo, 400 * time.Millisecond},
		{"xenforo sparse", scrapetest.XenForo, 4 * time.Second},
		{"telegram busy", scrapetest.Telegram, 400 * time.Millisecond},
	}
	var out []bench.Result
	for _, c := range cases {
		res, err := scrapetest.Crawl(ctx, scrapetest.CrawlOptions{
			Style: c.style, Threads: 40, PostsPer: 30, Poll: 2 * time.Second, Jitter: 0.2,
			Delay: 100 * time.Millisecond, PostEvery: c.postEvery, Duration: 12 * time.Second,
			Store: p.store, Sink: sink, Log: p.log,
		})
		if err != nil {
			return out, fmt.Errorf("%s: %w", c.name, err)
		}
		if res.Received != res.NewPosts {
			return out, fmt.Errorf("%s: only %d of %d new posts reached the topic", c.name, res.Received, res.NewPosts)
		}
		out = append(out, bench.Result{
			Name: fmt.Sprintf("scrape %s: %.2f req/post (%.2f excl. 304), delay p50 %v p95 %v max %v (poll 2s; %.0f%% <= poll+1s)",
				c.name, res.RequestsPerPost(), res.FullRequestsPerPost(), res.Quantile(0.5).Round(time.Millisecond),
				res.Quantile(0.95).Round(time.Millisecond), res.Quantile(1).Round(time.Millisecond), 100*res.WithinBound()),
			Messages: res.NewPosts, Elapsed: res.Elapsed,
		})
	}
	return out, nil
}
