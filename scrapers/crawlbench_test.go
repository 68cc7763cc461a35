package scrapers_test

import (
	"context"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/scrapers/scrapetest"
)

// BenchmarkSteadyCrawl runs the scrape runner against a live local site
// while posts appear, with posts written to a Kafka topic (in-process
// cluster), and reports requests per new post and the delay from a post's
// appearance to its acknowledgement on the posts topic. One iteration takes
// about 15 s per case: run with -benchtime=1x.
func BenchmarkSteadyCrawl(b *testing.B) {
	if testing.Short() {
		b.Skip("steady-state crawl takes ~15 s per case")
	}
	cases := []struct {
		name      string
		style     scrapetest.Style
		postEvery time.Duration
	}{
		// About five new posts per 2 s poll, mostly in a few hot threads.
		{"xenforo-busy", scrapetest.XenForo, 400 * time.Millisecond},
		// About one new post per two polls: the worst case for a forum
		// engine, which needs the listing and the thread page per post.
		{"xenforo-sparse", scrapetest.XenForo, 4 * time.Second},
		{"telegram-busy", scrapetest.Telegram, 400 * time.Millisecond},
	}
	for _, c := range cases {
		style := c.style
		b.Run(c.name, func(b *testing.B) {
			kc := kafkatest.New(b, kafkatest.Options{})
			prod := pipeline.NewProducer(kc.Bus, "scrape", nil, nil)
			defer prod.Close()
			topic := kc.Topic(kc.Config.Topics.Posts)
			sink := func(ctx context.Context, ps []msg.Post) error {
				outs := make([]pipeline.Output, len(ps))
				for i := range ps {
					outs[i] = pipeline.Output{Topic: topic, Msg: &ps[i]}
				}
				return prod.Send(ctx, outs...)
			}
			for i := 0; i < b.N; i++ {
				res, err := scrapetest.Crawl(context.Background(), scrapetest.CrawlOptions{
					Style: style, Threads: 40, PostsPer: 30, Poll: 2 * time.Second, Jitter: 0.2,
					Delay: 100 * time.Millisecond, PostEvery: c.postEvery, Duration: 12 * time.Second,
					Store: redistest.New(b), Sink: sink,
				})
				if err != nil {
					b.Fatal(err)
				}
				b.Log(res)
				b.ReportMetric(res.RequestsPerPost(), "req/post")
				b.ReportMetric(res.FullRequestsPerPost(), "req/post-excl-304")
				b.ReportMetric(float64(res.Quantile(0.5).Milliseconds()), "delay-p50-ms")
				b.ReportMetric(float64(res.Quantile(0.95).Milliseconds()), "delay-p95-ms")
				b.ReportMetric(float64(res.Quantile(1).Milliseconds()), "delay-max-ms")
				b.ReportMetric(100*res.WithinBound(), "%within-poll+1s")
				if res.Received != res.NewPosts {
					b.Errorf("%d of %d new posts reached the topic", res.Received, res.NewPosts)
				}
			}
		})
	}
}
