package scrapetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/store"
	"github.com/threatwatch/threatwatch/scrapers"
)

// CrawlOptions configure a steady-state crawl measurement.
type CrawlOptions struct {
	Style Style
	// Threads and PostsPer size the site before the measurement.
	Threads, PostsPer int
	// Poll is the crawler's poll interval; Jitter its jitter.
	Poll   time.Duration
	Jitter float64
	// Delay is the per-host politeness delay between requests.
	Delay time.Duration
	// PostEvery is the mean gap between new posts during the measurement.
	PostEvery time.Duration
	// Duration is how long new posts are added.
	Duration time.Duration
	// Store holds the crawl state (a fresh site name is used each run).
	Store *store.Store
	// Sink is where posts go (a Kafka producer in `threatwatch bench`); it
	// returns when they are durable. Nil: posts are only counted.
	Sink scrapers.Sink
	Log  *slog.Logger
}

// CrawlResult is what a steady-state crawl measured.
type CrawlResult struct {
	Style    Style
	NewPosts int
	// Received is how many of them reached the sink.
	Received int
	// Requests counts requests to the site while posts were added (robots
	// excluded); NotModified those answered 304.
	Requests, NotModified int64
	// Rounds counts poll rounds in the window.
	Rounds int
	// Delays are appearance-to-sink delays of the new posts, sorted.
	Delays  []time.Duration
	Elapsed time.Duration
	Poll    time.Duration
}

// RequestsPerPost is requests / new posts, idle 304 polls included.
func (r CrawlResult) RequestsPerPost() float64 {
	return float64(r.Requests) / float64(max(r.NewPosts, 1))
}

// FullRequestsPerPost leaves out the 304 answers of idle polls.
func (r CrawlResult) FullRequestsPerPost() float64 {
	return float64(r.Requests-r.NotModified) / float64(max(r.NewPosts, 1))
}

// Quantile returns a delay quantile (0..1).
func (r CrawlResult) Quantile(q float64) time.Duration {
	if len(r.Delays) == 0 {
		return 0
	}
	return r.Delays[min(len(r.Delays)-1, int(q*float64(len(r.Delays))))]
}

// WithinBound is the fraction of new posts that arrived within one poll
// interval plus one second.
func (r CrawlResult) WithinBound() float64 {
	n := 0
	for _, d := range r.Delays {
		if d <= r.Poll+time.Second {
			n++
		}
	}
	return float64(n) / float64(max(r.NewPosts, 1))
}

func (r CrawlResult) String() string {
	return fmt.Sprintf("%s: %d new posts (%d received) in %v, %d rounds, %d requests (%d were 304) = %.2f req/post (%.2f without idle 304s); delay p50 %v p95 %v max %v; %.1f%% within poll %v + 1s",
		r.Style, r.NewPosts, r.Received, r.Elapsed.Round(time.Millisecond), r.Rounds, r.Requests, r.NotModified,
		r.RequestsPerPost(), r.FullRequestsPerPost(), r.Quantile(0.5).Round(time.Millisecond), r.Quantile(0.95).Round(time.Millisecond),
		r.Quantile(1).Round(time.Millisecond), 100*r.WithinBound(), r.Poll)
}

// Crawl runs the scrape runner against a live local site, adds posts at
// random (mostly to a few hot threads) and measures requests per new post
// and the delay from a post's appearance to its hand-off to the sink.
func Crawl(ctx context.Context, o CrawlOptions) (CrawlResult, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Store == nil {
		return CrawlResult{}, errors.New("scrapetest: Crawl needs a store")
	}
	f := NewForum(o.Style, o.Threads, o.PostsPer)
	defer f.Close()
	cfg := config.Default().Scrape
	cfg.PollInterval, cfg.Jitter = o.Poll, o.Jitter
	cfg.RateLimit.Delay = o.Delay
	cfg.Backfill.MaxAge = 100 * 365 * 24 * time.Hour
	cfg.Backfill.MaxPages = 1000
	cfg.LeaseTTL = 10 * time.Second
	name := fmt.Sprintf("bench-%s-%d", o.Style, time.Now().UnixNano())
	cfg.Sites = []config.Site{{Name: name, Engine: string(o.Style), URL: f.URL(), Entries: []string{f.Entry()}, AllowPrivate: true}}

	var mu sync.Mutex
	var delays []time.Duration
	received := 0
	sink := func(ctx context.Context, posts []msg.Post) error {
		if o.Sink != nil {
			if err := o.Sink(ctx, posts); err != nil {
				return err
			}
		}
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for _, p := range posts {
			if t, ok := f.Appeared(p.SitePostID); ok {
				delays = append(delays, now.Sub(t))
				received++
			}
		}
		return nil
	}
	r, err := scrapers.NewRunner(&cfg, o.Store, sink, scrapers.Options{Log: o.Log})
	if err != nil {
		return CrawlResult{}, err
	}
	rounds := 0
	firstDone := make(chan struct{})
	r.OnRound = func(_ string, _ scrapers.RoundStats, err error) {
		mu.Lock()
		defer mu.Unlock()
		rounds++
		if rounds == 1 {
			close(firstDone)
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	select {
	case <-firstDone: // the backfill round: not measured
	case <-ctx.Done():
		return CrawlResult{}, ctx.Err()
	case <-time.After(2 * time.Minute):
		return CrawlResult{}, errors.New("scrapetest: the first crawl did not finish")
	}
	mu.Lock()
	rounds0 := rounds
	mu.Unlock()
	req0, nm0 := f.Requests.Load(), f.NotModified.Load()
	start := time.Now()
	rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), 7))
	threads := f.Threads()
	added := 0
	for time.Since(start) < o.Duration {
		gap := time.Duration(float64(o.PostEvery) * (0.5 + rng.Float64()))
		select {
		case <-ctx.Done():
			return CrawlResult{}, ctx.Err()
		case <-time.After(gap):
		}
		t := threads[rng.IntN(min(5, len(threads)))]
		if rng.IntN(5) == 0 {
			t = threads[rng.IntN(len(threads))]
		}
		f.AddPost(t, fmt.Sprintf("new post %d: %s", added, filler(added)))
		added++
	}
	deadline := time.Now().Add(o.Poll + 10*time.Second)
	for {
		mu.Lock()
		n := received
		mu.Unlock()
		if n >= added || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	return CrawlResult{
		Style: o.Style, NewPosts: added, Received: received, Requests: f.Requests.Load() - req0, NotModified: f.NotModified.Load() - nm0,
		Rounds: rounds - rounds0, Delays: delays, Elapsed: elapsed, Poll: o.Poll,
	}, nil
}
