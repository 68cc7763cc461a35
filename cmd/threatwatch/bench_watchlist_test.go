package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// `threatwatch bench watchlist` imports its list, loads it, scores the
// posts both ways alone and as the stage, and leaves nothing of the list
// in Redis.
func TestBenchWatchlistMeasuresAndCleansUp(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	st := redistest.New(t)
	p := &process{cfg: kc.Config, log: slog.New(slog.DiscardHandler), bus: kc.Bus, store: st, metrics: pipeline.NewMetrics(nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	const posts, persons = 300, 200
	res, err := benchWatchlistN(ctx, &benchEnv{proc: p, n: posts}, persons)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"watchlist import", "watchlist load", "score alone, no watchlist", "score alone, watchlist",
		"classify stage, no watchlist", "classify stage, watchlist"}
	if len(res) != len(want) {
		t.Fatalf("%d results, want %d: %v", len(res), len(want), res)
	}
	for i, r := range res {
		if r.Name != want[i] {
			t.Errorf("result %d is %q, want %q", i, r.Name, want[i])
		}
	}
	for _, r := range res[:2] {
		if !strings.Contains(r.Note, "200 persons, 2") { // 200 persons and their 2,9xx hashes
			t.Errorf("%s: %q, want the 200 persons and their hashes", r.Name, r.Note)
		}
	}
	for _, r := range res[2:] {
		if r.Messages != posts || r.CPUPerOp <= 0 {
			t.Errorf("%s: %d posts, %v CPU a post; want all %d measured", r.Name, r.Messages, r.CPUPerOp, posts)
		}
	}
	for _, r := range []int{3, 5} {
		if !strings.Contains(res[r].Note, "watchlist adds") {
			t.Errorf("%s: note %q does not compare with the run without", res[r].Name, res[r].Note)
		}
	}
	keys, err := st.Keys(ctx, st.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		t.Errorf("the bench left %d keys in Redis, e.g. %q", len(keys), keys[0])
	}
}
