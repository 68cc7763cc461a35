package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/threatwatch/threatwatch/classifiers"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/bench"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// benchClassify measures the classify stage over the broker: n posts of a
// realistic mix (50-400 words, 3% positives) are written to the posts
// topic, then the classify stage runs until all n scored posts are
// committed. It also reports scoring alone, without the broker.
func benchClassify(ctx context.Context, b *benchEnv) ([]bench.Result, error) {
	posts := classifiers.SamplePosts(min(b.n, 50000), 3, 7)
	c, err := classifiers.New(b.proc.cfg.Classify)
	if err != nil {
		return nil, err
	}

	alone, err := scoreAlone(ctx, posts, c, "classify score (1 goroutine)")
	if err != nil {
		return nil, err
	}
	stage, err := classifyStage(ctx, b, posts, c, "classify stage posts->scored")
	if err != nil {
		return nil, err
	}
	return []bench.Result{alone, stage}, nil
}

// scoreAlone scores posts with c on one goroutine, without the broker.
func scoreAlone(ctx context.Context, posts []*msg.Post, c *classifiers.Classifier, name string) (bench.Result, error) {
	runtime.GC()
	return measure(name, len(posts), func() error {
		for _, p := range posts {
			if _, err := c.Score(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// measure runs f once and reports it as n messages: time, CPU and
// allocations per message.
func measure(name string, n int, f func() error) (bench.Result, error) {
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0, start := bench.CPUTime(), time.Now()
	if err := f(); err != nil {
		return bench.Result{}, err
	}
	r := bench.Result{Name: name, Messages: n, Elapsed: time.Since(start), CPUPerOp: (bench.CPUTime() - cpu0) / time.Duration(n)}
	runtime.ReadMemStats(&ms1)
	r.AllocsPerOp = float64(ms1.Mallocs-ms0.Mallocs) / float64(n)
	r.BytesPerOp = float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(n)
	return r, nil
}

// classifyStage writes posts to the posts topic, then runs the classify
// stage with c until every scored post is committed. Each call uses topics
// of its own, so that runs do not read each other's posts.
func classifyStage(ctx context.Context, b *benchEnv, posts []*msg.Post, c *classifiers.Classifier, name string) (bench.Result, error) {
	cfg := *b.proc.cfg
	b.runs++
	cfg.Topics.Prefix = fmt.Sprintf("%sc%d-", cfg.Topics.Prefix, b.runs)
	n := len(posts)
	in, out := cfg.Topics.Name(cfg.Topics.Posts), cfg.Topics.Name(cfg.Topics.Scored)
	if err := b.proc.bus.EnsureTopics(ctx, in, out, cfg.Topics.Name(cfg.Topics.DeadLetter)); err != nil {
		return bench.Result{}, err
	}
	prod := pipeline.NewProducer(b.proc.bus, "bench", nil, slog.New(slog.DiscardHandler))
	for i := 0; i < n; i += 1000 {
		batch := make([]pipeline.Output, 0, 1000)
		for _, p := range posts[i:min(i+1000, n)] {
			batch = append(batch, pipeline.Output{Topic: in, Msg: p})
		}
		if err := prod.Send(ctx, batch...); err != nil {
			return bench.Result{}, err
		}
	}
	_ = prod.Close()
	reg := prometheus.NewRegistry()
	m := pipeline.NewMetrics(reg)
	d := pipeline.Deps{Bus: b.proc.bus, Metrics: m, Log: slog.New(slog.DiscardHandler), Config: cfg.Runner, Topics: cfg.Topics}
	h := &classifyHandler{c: c, out: out, m: newClassifyMetrics(nil)}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	cpu0 := bench.CPUTime()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		done <- pipeline.Run(rctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "bench-classify", Input: in, Handler: h})
	}()
	for int(testutil.ToFloat64(m.Out.WithLabelValues("bench-classify", out))) < n {
		select {
		case err := <-done:
			return bench.Result{}, fmt.Errorf("classify stage stopped early: %v", err)
		case <-ctx.Done():
			return bench.Result{}, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	stage := bench.Result{Name: name, Messages: n, Elapsed: time.Since(start), CPUPerOp: (bench.CPUTime() - cpu0) / time.Duration(n)}
	runtime.ReadMemStats(&ms1)
	stage.AllocsPerOp = float64(ms1.Mallocs-ms0.Mallocs) / float64(n)
	stage.BytesPerOp = float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(n)
	cancel()
	<-done
	return stage, nil
}
