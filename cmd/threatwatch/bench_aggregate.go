package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/aggregate"
	"github.com/threatwatch/threatwatch/pipeline/bench"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// aggregatePosts makes n scored posts over 200 sites at 200 posts/s of
// event time: one in ten threatening and naming one of 5,000 targets.
func aggregatePosts(n int) []*msg.Scored {
	t0 := time.Now().UTC().Add(-time.Duration(n) * 5 * time.Millisecond).Truncate(time.Second)
	out := make([]*msg.Scored, n)
	for i := range out {
		s := &msg.Scored{
			Schema: msg.SchemaScored,
			Post: msg.Post{Schema: msg.SchemaPost, ID: "bench-" + strconv.Itoa(i), Site: "site-" + strconv.Itoa(i%200),
				Published: t0.Add(time.Duration(i) * 5 * time.Millisecond)},
			Scores: map[msg.Signal]float64{msg.SignalDoxxing: 0.1, msg.SignalSwatting: 0.02, msg.SignalThreat: 0.2},
		}
		if i%10 == 0 {
			s.Scores[msg.SignalThreat] = 0.85
			s.Entities = []msg.Entity{{Kind: msg.EntityPerson, Name: "someone", Ref: "person " + strconv.Itoa((i/10)%5000), Target: true}}
		}
		out[i] = s
	}
	return out
}

// benchAggregate measures the aggregation engine alone (levels, spike
// detection and alerts, one goroutine), then the aggregate stage over the
// bus: scored topic -> levels and alerts, with Redis checkpoints.
func benchAggregate(ctx context.Context, b *benchEnv) ([]bench.Result, error) {
	cfg := b.proc.cfg
	posts := aggregatePosts(b.n)
	eng, err := aggregate.NewEngine(cfg.Aggregate)
	if err != nil {
		return nil, err
	}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	cpu0 := bench.CPUTime()
	start := time.Now()
	for _, p := range posts {
		eng.Advance(p.Post.Published)
		eng.Add(p)
	}
	engine := bench.Result{Name: "aggregate engine step", Messages: len(posts), Elapsed: time.Since(start), CPUPerOp: (bench.CPUTime() - cpu0) / time.Duration(len(posts))}
	runtime.ReadMemStats(&ms1)
	engine.AllocsPerOp = float64(ms1.Mallocs-ms0.Mallocs) / float64(len(posts))
	engine.BytesPerOp = float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(len(posts))
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// The stage, on its own topics so the figures are not mixed with a
	// running pipeline's.
	in := cfg.Topics.Name("bench-aggregate-scored")
	levels, alerts := cfg.Topics.Name("bench-aggregate-levels"), cfg.Topics.Name("bench-aggregate-alerts")
	if err := b.proc.bus.EnsureTopics(ctx, in, levels, alerts, cfg.Topics.Name(cfg.Topics.DeadLetter)); err != nil {
		return nil, err
	}
	prod := pipeline.NewProducer(b.proc.bus, "bench", nil, slog.New(slog.DiscardHandler))
	for i := 0; i < len(posts); i += 1000 {
		batch := make([]pipeline.Output, 0, 1000)
		for _, p := range posts[i:min(i+1000, len(posts))] {
			batch = append(batch, pipeline.Output{Topic: in, Msg: p})
		}
		if err := prod.Send(ctx, batch...); err != nil {
			return nil, err
		}
	}
	_ = prod.Close()
	name := fmt.Sprintf("bench-aggregate-%d", time.Now().UnixNano())
	st, err := aggregate.NewStage(cfg.Aggregate, aggregate.StageOptions{Name: name, Scope: aggregate.Sites,
		Levels: levels, Alerts: alerts, Store: b.proc.store, Log: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	if err != nil {
		return nil, err
	}
	parts, err := b.proc.bus.Partitions(ctx, in)
	if err != nil {
		return nil, err
	}
	d := b.proc.deps()
	d.Metrics = pipeline.NewMetrics(nil)
	d.Log = slog.New(slog.DiscardHandler)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	cpu0 = bench.CPUTime()
	start = time.Now()
	done := make(chan error, 1)
	go func() {
		// As the aggregate stage runs: deduplicating its input by id.
		done <- pipeline.Run(rctx, d, pipeline.Stage[msg.Scored, *msg.Scored]{Name: name, Input: in, Handler: st, Dedup: true})
	}()
	for {
		applied := 0
		for _, p := range parts {
			v, err := b.proc.store.HGet(ctx, aggregate.CheckpointKey(b.proc.store, name, in, p), "_offset").Int()
			if err == nil {
				applied += v + 1
			}
		}
		if applied >= len(posts) {
			break
		}
		select {
		case err := <-done:
			return nil, fmt.Errorf("aggregate stage stopped early: %v", err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	stage := bench.Result{Name: "aggregate stage scored->levels", Messages: len(posts), Elapsed: time.Since(start), CPUPerOp: (bench.CPUTime() - cpu0) / time.Duration(len(posts))}
	runtime.ReadMemStats(&ms1)
	stage.AllocsPerOp = float64(ms1.Mallocs-ms0.Mallocs) / float64(len(posts))
	stage.BytesPerOp = float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(len(posts))
	cancel()
	<-done
	return []bench.Result{engine, stage}, nil
}
