package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/obs"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// metricValue reads a gauge or counter of the process's registry by name
// and stage.
func metricValue(t *testing.T, o *obs.Server, name, stage string) (float64, bool) {
	t.Helper()
	mfs, err := o.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "stage" && l.GetValue() == stage {
					if c := m.GetCounter(); c != nil {
						return c.GetValue(), true
					}
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// The classify and aggregate stages as the process runs them: while the
// classify stage is stopped, the aggregate stage's clock stays where the
// classify stage's last watermark left it (both halves: the target half
// hears of it through the site half), also across a restart of the
// aggregate stage, and it joins the wall clock again once the classify
// stage is back.
func TestTheAggregateClockWaitsForAStoppedClassifyStage(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 2})
	log := slog.New(slog.DiscardHandler)
	cfg := kc.Config
	cfg.Runner.WatermarkEvery = 200 * time.Millisecond
	cfg.Aggregate.TickEvery = 100 * time.Millisecond
	o := obs.New(log)
	p := &process{cfg: cfg, log: log, bus: kc.Bus, store: redistest.New(t), obs: o, metrics: pipeline.NewMetrics(nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	classify := func() (stop func()) {
		cctx, ccancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		// A process of its own, as it would be in production: its
		// metrics registry is not the aggregate stage's.
		cp := *p
		cp.obs = obs.New(log)
		go func() { done <- runClassifyStage(cctx, &cp) }()
		return func() {
			ccancel()
			if err := <-done; err != nil {
				t.Errorf("classify stage stopped with %v", err)
			}
		}
	}
	aggregate := func() (stop func()) {
		actx, acancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- runAggregateStage(actx, p) }()
		return func() {
			acancel()
			if err := <-done; err != nil {
				t.Errorf("aggregate stage stopped with %v", err)
			}
		}
	}
	stopAggregate := aggregate()
	defer func() { stopAggregate() }()
	stopClassify := classify()

	// A threatening post about a person on each site, so both halves
	// hold state for every partition they have.
	prod := pipeline.NewProducer(kc.Bus, "test", nil, log)
	var outs []pipeline.Output
	for _, site := range []string{"a.example", "b.example", "c.example", "d.example"} {
		post := &msg.Post{Site: site, SitePostID: "1", Text: "Dana Kowalski, I am going to kill you.", Published: time.Now().Add(-time.Minute)}
		post.Normalize()
		outs = append(outs, pipeline.Output{Topic: kc.Topic(cfg.Topics.Posts), Msg: post})
	}
	if err := prod.Send(ctx, outs...); err != nil {
		t.Fatal(err)
	}
	_ = prod.Close()

	behind := func(stage string) float64 {
		v, _ := metricValue(t, o, "threatwatch_aggregate_clock_behind_seconds", stage)
		return v
	}
	waitBehind := func(what string, ok func(site, target float64) bool) {
		t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		for !ok(behind("aggregate"), behind("aggregate-targets")) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the clocks are %.1f s (sites) and %.1f s (targets) behind the wall clock", what, behind("aggregate"), behind("aggregate-targets"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Live: every post through both halves, the watermark every 200 ms,
	// the clocks at most three intervals behind it.
	deadline := time.Now().Add(45 * time.Second)
	for {
		n, _ := metricValue(t, o, "threatwatch_aggregate_posts_total", "aggregate-targets")
		if n >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v posts reached the target half, want 4", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// and the classify stage's watermarks written and read.
	for testutil.ToFloat64(p.metrics.WatermarkAge.WithLabelValues("classify")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the classify stage wrote no watermark")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	waitBehind("live", func(s, tg float64) bool { return s < 1 && tg < 1 })
	stopClassify()
	stopped := time.Now()
	waitBehind("classify stopped", func(s, tg float64) bool { return s > 2 && tg > 2 })
	if d := time.Since(stopped).Seconds(); behind("aggregate") > d+1 {
		t.Errorf("the clock is %.1f s behind, %.1f s after the classify stage stopped", behind("aggregate"), d)
	}
	// The aggregate stage restarts meanwhile: both halves wait from the
	// watermark saved with their checkpoints, the target half for the one
	// the site half saved, not for the site half's own progress.
	stopAggregate()
	stopAggregate = aggregate()
	time.Sleep(2 * time.Second) // ten watermark intervals
	waitBehind("aggregate stage restarted", func(s, tg float64) bool {
		d := time.Since(stopped).Seconds()
		return s > d-2 && tg > d-2 // held: about d less the three intervals the hold allows
	})
	stopClassify = classify()
	defer stopClassify()
	waitBehind("classify back", func(s, tg float64) bool { return s < 1 && tg < 1 })
}
