// Package bench measures whole-pipeline figures over a real broker
// connection. `threatwatch bench` and the go test benchmarks share it.
package bench

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Result is one measurement.
type Result struct {
	Name        string
	Messages    int
	Elapsed     time.Duration
	AllocsPerOp float64
	BytesPerOp  float64
	// CPUPerOp is the process's user+system CPU time per message (broker
	// included when it is embedded): unlike throughput it holds up when
	// the machine is shared.
	CPUPerOp time.Duration
	// Note is printed after the figures: a comparison with another result.
	Note string
}

// PerSecond is the throughput.
func (r Result) PerSecond() float64 { return float64(r.Messages) / r.Elapsed.Seconds() }

func (r Result) String() string {
	s := fmt.Sprintf("%-28s %9d msgs  %8.3fs  %10.0f msgs/s  %7.1f allocs/msg  %8.0f B/msg  %6.1f µs CPU/msg",
		r.Name, r.Messages, r.Elapsed.Seconds(), r.PerSecond(), r.AllocsPerOp, r.BytesPerOp, float64(r.CPUPerOp.Nanoseconds())/1e3)
	if r.Note != "" {
		s += "  " + r.Note
	}
	return s
}

// Posts makes n posts of about size bytes of JSON each, spread over sites.
func Posts(n, size, sites int) []*msg.Post {
	filler := strings.Repeat("lorem ipsum dolor sit amet ", size/27+1)
	out := make([]*msg.Post, n)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range out {
		p := &msg.Post{
			Site: fmt.Sprintf("site-%d", i%sites), SitePostID: fmt.Sprint(i), Engine: "bench",
			Published: t0.Add(time.Duration(i) * time.Second), Fetched: t0.Add(time.Duration(i) * time.Second),
		}
		p.Normalize()
		b, _ := msg.Encode(p)
		if pad := size - len(b); pad > 0 {
			p.Text = filler[:pad]
			p.ContentHash = ""
			p.Normalize()
		}
		out[i] = p
	}
	return out
}

// PassThrough measures the stage runner's own cost: n posts of size bytes
// are written to the posts topic, then a stage that decodes each and writes
// it on unchanged to the scored topic runs until all n are committed.
func PassThrough(ctx context.Context, b *bus.Bus, cfg *config.Config, n, size int) (Result, error) {
	in, out := cfg.Topics.Name(cfg.Topics.Posts), cfg.Topics.Name("bench-out")
	if err := b.EnsureTopics(ctx, in, out, cfg.Topics.Name(cfg.Topics.DeadLetter)); err != nil {
		return Result{}, err
	}
	prod := pipeline.NewProducer(b, "bench", nil, slog.New(slog.DiscardHandler))
	posts := Posts(n, size, 64)
	for i := 0; i < len(posts); i += 1000 {
		batch := make([]pipeline.Output, 0, 1000)
		for _, p := range posts[i:min(i+1000, len(posts))] {
			batch = append(batch, pipeline.Output{Topic: in, Msg: p})
		}
		if err := prod.Send(ctx, batch...); err != nil {
			return Result{}, err
		}
	}
	_ = prod.Close()

	reg := prometheus.NewRegistry()
	m := pipeline.NewMetrics(reg)
	d := pipeline.Deps{Bus: b, Metrics: m, Log: slog.New(slog.DiscardHandler), Config: cfg.Runner, Topics: cfg.Topics}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	handler := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
		return []pipeline.Output{{Topic: out, Msg: p}}, nil
	})
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	cpu0 := CPUTime()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		done <- pipeline.Run(rctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "bench-passthrough", Input: in, Handler: handler})
	}()
	for {
		got := testutil.ToFloat64(m.Out.WithLabelValues("bench-passthrough", out))
		if int(got) >= n {
			break
		}
		select {
		case err := <-done:
			return Result{}, fmt.Errorf("runner stopped early: %v", err)
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	cpu := CPUTime() - cpu0
	runtime.ReadMemStats(&ms1)
	cancel()
	<-done
	return Result{
		Name: fmt.Sprintf("runner pass-through %dB", size), Messages: n, Elapsed: elapsed,
		AllocsPerOp: float64(ms1.Mallocs-ms0.Mallocs) / float64(n),
		BytesPerOp:  float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(n),
		CPUPerOp:    cpu / time.Duration(n),
	}, nil
}

// CPUTime is the user+system CPU time this process has used.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
