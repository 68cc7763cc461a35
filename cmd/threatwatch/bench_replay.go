package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/threatwatch/threatwatch/classifiers"
	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/bench"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/replay"
)

// benchReplay measures replay from files: re-aggregation of n pre-scored
// posts end to end (read, parse, order, dedup, aggregate, detect, write
// alerts and levels), and a rescoring replay of raw posts through the
// classifiers on every core. The broker is not used.
func benchReplay(ctx context.Context, b *benchEnv) ([]bench.Result, error) {
	dir, err := os.MkdirTemp("", "threatwatch-bench-replay-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfg := b.proc.cfg
	old := debug.SetGCPercent(400) // as threatwatch replay does
	defer debug.SetGCPercent(old)

	scored := filepath.Join(dir, "scored.jsonl")
	if err := writeBenchFile(scored, func(w *bufio.Writer) error { return replay.SyntheticScored(w, b.n, 200, 1) }); err != nil {
		return nil, err
	}
	reagg, err := timeReplay(ctx, "replay re-aggregate (file)", scored, dir, cfg.Aggregate, nil)
	if err != nil {
		return nil, err
	}

	nRaw := min(b.n, 20000)
	raw := filepath.Join(dir, "posts.jsonl")
	if err := writeBenchFile(raw, func(w *bufio.Writer) error {
		mw := msg.NewWriter(w)
		for _, p := range classifiers.SamplePosts(nRaw, 3, 7) {
			if err := mw.Write(p); err != nil {
				return err
			}
		}
		return mw.Flush()
	}); err != nil {
		return nil, err
	}
	c, err := classifiers.New(cfg.Classify, classifiers.WithClock(func() time.Time { return time.Time{} }))
	if err != nil {
		return nil, err
	}
	rescore, err := timeReplay(ctx, fmt.Sprintf("replay rescore (%d cores)", runtime.GOMAXPROCS(0)), raw, dir, cfg.Aggregate, c)
	if err != nil {
		return nil, err
	}
	return []bench.Result{reagg, rescore}, nil
}

func writeBenchFile(path string, fill func(*bufio.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := fill(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func timeReplay(ctx context.Context, name, input, dir string, agg config.Aggregate, scorer replay.Scorer) (bench.Result, error) {
	src, err := replay.Files([]string{input}, nil)
	if err != nil {
		return bench.Result{}, err
	}
	eng, err := replay.NewAggregateEngine(agg)
	if err != nil {
		return bench.Result{}, err
	}
	af, err := os.Create(filepath.Join(dir, "alerts.jsonl"))
	if err != nil {
		return bench.Result{}, err
	}
	defer af.Close()
	lf, err := os.Create(filepath.Join(dir, "levels.jsonl"))
	if err != nil {
		return bench.Result{}, err
	}
	defer lf.Close()
	aw, lw := replay.NewAlertWriter(af), replay.NewLevelWriter(lf)
	o := replay.Options{}
	o.FromAggregate(agg)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	cpu0 := bench.CPUTime()
	start := time.Now()
	lane := &replay.Lane{Name: "bench", Engine: eng, Sinks: []replay.Sink{aw, lw}}
	if scorer != nil {
		lane.Scorer = scorer
	}
	st, err := replay.Run(ctx, src, o, lane)
	if err == nil {
		err = aw.Flush()
	}
	if err == nil {
		err = lw.Flush()
	}
	if err != nil {
		return bench.Result{}, err
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms1)
	n := int(st.Records)
	return bench.Result{
		Name: name, Messages: n, Elapsed: elapsed,
		AllocsPerOp: float64(ms1.Mallocs-ms0.Mallocs) / float64(max(n, 1)),
		BytesPerOp:  float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(max(n, 1)),
		CPUPerOp:    (bench.CPUTime() - cpu0) / time.Duration(max(n, 1)),
	}, nil
}
