package classifiers

import (
	"context"
	"testing"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/bench"
)

// BenchmarkScore scores a realistic mix (50-400 words, 3% positives) with
// all three signals, one post per op. Run with -cpu 1 for the one-core
// figure; posts/s is reported.
func BenchmarkScore(b *testing.B) {
	b.Run("ner=prose", func(b *testing.B) { benchScore(b, "prose") })
	b.Run("ner=off", func(b *testing.B) { benchScore(b, "off") })
}

func benchScore(b *testing.B, ner string) {
	cfg := config.Default().Classify
	cfg.NER = ner
	c, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	posts := SamplePosts(2000, 3, 1)
	size := 0
	for _, p := range posts {
		size += len(p.Text)
	}
	ctx := context.Background()
	b.SetBytes(int64(size / len(posts)))
	b.ReportAllocs()
	cpu0 := bench.CPUTime()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Score(ctx, posts[i%len(posts)]); err != nil {
			b.Fatal(err)
		}
	}
	// posts/s is wall time; posts/cpu-s is per second of this process's
	// CPU time, the figure that holds on a machine shared with other work.
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "posts/s")
	if cpu := bench.CPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "posts/cpu-s")
	}
}

// BenchmarkRedact redacts the same mix.
func BenchmarkRedact(b *testing.B) {
	posts := SamplePosts(2000, 3, 2)
	size := 0
	for _, p := range posts {
		size += len(p.Text)
	}
	b.SetBytes(int64(size / len(posts)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = Redact(posts[i%len(posts)].Text)
	}
}

// BenchmarkNew measures start-up: building a classifier, which loads the
// embedded weights and the prose model (loaded once per process: the
// first iteration pays for it, so run with -benchtime 1x for cold start).
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New(config.Default().Classify); err != nil {
			b.Fatal(err)
		}
	}
}
