package bench

import (
	"context"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
)

// BenchmarkPassThrough measures the stage runner alone over the in-process
// cluster: 1 KB JSON posts in, the same posts out, commits per batch.
func BenchmarkPassThrough(b *testing.B) {
	c := kafkatest.New(b, kafkatest.Options{Partitions: 6})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n := max(b.N, 1000)
	b.ReportAllocs()
	b.SetBytes(1024)
	b.ResetTimer()
	r, err := PassThrough(ctx, c.Bus, c.Config, n, 1024)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.PerSecond(), "msgs/s")
	b.ReportMetric(r.AllocsPerOp, "runner-allocs/msg")
	b.ReportMetric(float64(r.CPUPerOp.Nanoseconds())/1e3, "cpu-µs/msg")
}

func TestPassThroughMovesEveryMessage(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 3})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := PassThrough(ctx, c.Bus, c.Config, 2000, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if r.Messages != 2000 || r.Elapsed <= 0 {
		t.Fatalf("result %+v", r)
	}
}
