package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/bench"
	"github.com/threatwatch/threatwatch/pipeline/bus"
)

// benchmark is one whole-process measurement `threatwatch bench` can run.
type benchmark struct {
	name    string
	summary string
	run     func(ctx context.Context, p *benchEnv) ([]bench.Result, error)
}

// benchEnv is what a benchmark gets: a connected bus and the config.
type benchEnv struct {
	proc *process
	n    int
	runs int // classify stages run so far: each takes topics of its own
}

// benchmarks lists the whole-process benchmarks; one line each.
var benchmarks = []benchmark{
	{"runner", "stage runner pass-through of 1 KB posts with commits", benchRunner},
	{"scrape", "steady-state crawl of local fixture sites: requests per new post, appearance-to-topic delay", benchScrapeCrawl},
	{"classify", "scoring a realistic post mix, alone and as the posts->scored stage", benchClassify},
	{"watchlist", "what a 10,000-person watchlist adds to scoring, alone and as the classify stage, and its memory", benchWatchlist},
	{"e2e", "latency from the posts topic to the alerts topic at 1,000 posts/s (classify + aggregate; at most 30,000 posts)", benchE2E},
	{"aggregate", "aggregation throughput: the level and spike step alone, and the scored->levels stage with checkpoints", benchAggregate},
	{"replay", "replay from a file: re-aggregating pre-scored posts end to end, and rescoring raw posts", benchReplay},
}

func benchRunner(ctx context.Context, b *benchEnv) ([]bench.Result, error) {
	r, err := bench.PassThrough(ctx, b.proc.bus, b.proc.cfg, b.n, 1024)
	return []bench.Result{r}, err
}

// benchList is the Benchmarks section of --help: NAME is one of these.
func benchList() string {
	var b strings.Builder
	b.WriteString("Benchmarks:")
	width := 0
	for _, bm := range benchmarks {
		width = max(width, len(bm.name))
	}
	for _, bm := range benchmarks {
		fmt.Fprintf(&b, "\n  %-*s  %s", width, bm.name, bm.summary)
	}
	return b.String()
}

func cmdBench(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := newFlags(e, "bench", "[--config FILE] [--n N] [NAME...]   (default: all)\n\n"+benchList())
	n := fs.Int("n", 200000, "messages per benchmark")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *n < 1 {
		return fmt.Errorf("%w: --n must be at least 1", errUsage)
	}
	for _, name := range fs.Args() {
		if !slices.ContainsFunc(benchmarks, func(b benchmark) bool { return b.name == name }) {
			return fmt.Errorf("%w: no benchmark %q (see --help for the names)", errUsage, name)
		}
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	cfg.Log.Level = "warn"
	cfg.Topics.Prefix = fmt.Sprintf("%sbench-%d-", cfg.Topics.Prefix, time.Now().Unix())
	p, err := openProcess(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer p.close()
	where := "embedded in-process cluster"
	if !p.bus.Embedded {
		where = "brokers " + fmt.Sprint(p.bus.Brokers)
	}
	fmt.Fprintf(e.stdout, "threatwatch bench on %s\n", where)
	names := fs.Args()
	for _, bm := range benchmarks {
		if len(names) > 0 && !contains(names, bm.name) {
			continue
		}
		res, err := bm.run(ctx, &benchEnv{proc: p, n: *n})
		if err != nil {
			return fmt.Errorf("bench %s: %w", bm.name, err)
		}
		for _, r := range res {
			fmt.Fprintln(e.stdout, r)
		}
	}
	return nil
}

var _ = bus.ErrUnreachable
