package api

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// BenchmarkRestoreReadModel measures reading the levels topic back into a
// lost read model: 100 sites' levels every 5 minutes for 14 hours (16,800
// points) on two partitions, from the in-process cluster into a test
// Redis. One op is one whole restore; levels/s is the rate.
func BenchmarkRestoreReadModel(b *testing.B) {
	kc := kafkatest.New(b, kafkatest.Options{Partitions: 2})
	st := redistest.New(b)
	srv, err := New(Options{Config: testServeConfig(), Store: st, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	prod := pipeline.NewProducer(kc.Bus, "bench", nil, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	topics := kc.Config.Topics
	now := time.Now().UTC().Truncate(5 * time.Minute)
	var outs []pipeline.Output
	for step := 168; step > 0; step-- {
		for site := 0; site < 100; site++ {
			l := &msg.Level{Schema: msg.SchemaLevel, Site: fmt.Sprintf("site-%03d", site), Time: now.Add(-time.Duration(step) * 5 * time.Minute),
				Level: float64(step % 7), Baseline: 2, Name: "normal"}
			outs = append(outs, pipeline.Output{Topic: topics.Name(topics.Levels), Msg: l})
		}
	}
	if err := prod.Send(ctx, outs...); err != nil {
		b.Fatal(err)
	}
	_ = prod.Close()
	if err := kc.Bus.EnsureTopics(ctx, topics.Name(topics.Alerts)); err != nil {
		b.Fatal(err)
	}
	var levels int
	for b.Loop() {
		if err := st.Del(ctx, srv.model.restoredKey()).Err(); err != nil {
			b.Fatal(err)
		}
		if err := srv.restoreIfLost(ctx, kc.Bus, topics); err != nil {
			b.Fatal(err)
		}
		levels += len(outs)
	}
	b.ReportMetric(float64(levels)/b.Elapsed().Seconds(), "levels/s")
}
