package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/threatwatch/threatwatch/classifiers"
	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/replay"
)

// replayScorer builds the classifiers a replay scores raw posts with. Their
// clock is fixed: ScoredAt must not bring the wall clock into a replay.
// Watchlist enrichment needs the live store and is not part of a replay.
func replayScorer(cfg config.Classify) (replay.Scorer, error) {
	return classifiers.New(cfg, classifiers.WithClock(func() time.Time { return time.Time{} }))
}

// replayRedact redacts snippets and thread titles in the report.
var replayRedact = classifiers.Redact

// replayGC lets the heap grow to five times the live data between
// collections (unless GOGC says otherwise): a replay's live heap is small
// and bounded, and at the default the collector took a large share of a
// re-aggregation's CPU.
func replayGC(e *env) {
	if e.getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

// maxBadShown bounds the bad lines printed one by one; the rest are counted.
const maxBadShown = 50

// timeFlag parses --from/--to: RFC 3339, or a UTC date with an optional time.
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(s string) error {
	// A space for the T, and a zone after hours and minutes without
	// seconds, are how people write times; refusing them sent analysts
	// working in a local zone back to convert to UTC by hand.
	v := s
	if len(v) > 10 && v[10] == ' ' {
		v = v[:10] + "T" + v[11:]
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			f.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("%q is not a time (want RFC 3339 or YYYY-MM-DD[THH:MM[:SS]][ZONE], UTC when no zone is given)", s)
}

// checkRange refuses an empty [from, to): the command would read the
// whole input and report success for nothing.
func checkRange(from, to timeFlag) error {
	if !from.t.IsZero() && !to.t.IsZero() && !from.t.Before(to.t) {
		return fmt.Errorf("%w: --from %s is not before --to %s: the range [from, to) is empty", errUsage, fmtT(from.t), fmtT(to.t))
	}
	return nil
}

// namedPath is a file a flag names.
type namedPath struct{ flag, path string }

// checkOutputsApart refuses an output that is one of the inputs, or the
// same file as another output: outputs are created (emptied) before the
// inputs are read, so such a typo destroyed the history it was to replay,
// and two outputs in one file cut each other's lines.
func checkOutputsApart(outs []namedPath, inputs []string) error {
	same := func(a, b string) bool {
		if aa, err := filepath.Abs(a); err == nil {
			if bb, err := filepath.Abs(b); err == nil && aa == bb {
				return true
			}
		}
		sa, errA := os.Stat(a)
		sb, errB := os.Stat(b)
		return errA == nil && errB == nil && os.SameFile(sa, sb)
	}
	for i, o := range outs {
		if o.path == "" || o.path == "-" {
			continue
		}
		for _, in := range inputs {
			if in != "-" && same(o.path, in) {
				return fmt.Errorf("%w: %s %s is an input of this replay: it would be overwritten before it is read", errUsage, o.flag, o.path)
			}
		}
		for _, p := range outs[:i] {
			if p.path != "" && p.path != "-" && same(o.path, p.path) {
				return fmt.Errorf("%w: %s and %s name the same file %s: give each its own", errUsage, p.flag, o.flag, o.path)
			}
		}
	}
	return nil
}

// laterDefault is a duration flag whose default is worked out after the
// flags are parsed; it is negative until set, and --help then prints no
// "(default -1ns)" beside the default its usage describes.
type laterDefault struct{ d *time.Duration }

func (f laterDefault) String() string {
	if f.d == nil || *f.d < 0 {
		return ""
	}
	return f.d.String()
}

func (f laterDefault) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	// Negative is how the flag says unset: taken as given, a typo'd
	// minus would silently become the default.
	if d < 0 {
		return fmt.Errorf("%v is negative", d)
	}
	*f.d = d
	return nil
}

// checkNonNegative refuses a negative duration flag: none of them means
// anything below zero, and each used to be read as something else.
func checkNonNegative(flags map[string]time.Duration) error {
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		if d := flags[name]; d < 0 {
			return fmt.Errorf("%w: %s %v is negative", errUsage, name, d)
		}
	}
	return nil
}

// badLinePrinter prints the first bad lines and counts the rest.
type badLinePrinter struct {
	w     io.Writer
	shown int
}

func (b *badLinePrinter) print(le *msg.LineError) {
	b.shown++
	if b.shown <= maxBadShown {
		fmt.Fprintf(b.w, "skipped %v\n", le)
	}
}

func (b *badLinePrinter) summary() {
	if b.shown > maxBadShown {
		fmt.Fprintf(b.w, "skipped %d more bad lines (not shown)\n", b.shown-maxBadShown)
	}
}

// isTerminal reports whether w is a terminal, for the progress bar.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func cmdReplay(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := newFlags(e, "replay", "[flags] FILE|DIR...   or   --topic scored|posts --from T --to T\n\n"+
		"Runs history through the aggregation and alert code (never paging anyone) and writes what\n"+
		"would have happened. Inputs: JSON lines of posts or scored posts, plain, .gz or .zst.")
	compare := fs.String("compare", "", "second config `FILE`: run both and report which alerts each fires, how far apart")
	topic := fs.String("topic", "", "read this topic (posts or scored, short name) instead of files; needs kafka.brokers")
	var from, to timeFlag
	fs.Var(&from, "from", "replay posts with event time at or after this `TIME` (RFC 3339 or YYYY-MM-DD[THH:MM], UTC unless a zone follows)")
	fs.Var(&to, "to", "replay posts with event time before this `TIME`")
	slack := fs.Duration("slack", replay.DefaultSlack, "with --topic: also read messages written this long before --from and after --to (late scrapes; 0: none)")
	warmup := new(time.Duration)
	*warmup = -1 // unset: the default below, which needs the config
	fs.Var(laterDefault{warmup}, "warmup", "with --from: apply the posts of this `duration` before --from as history first, as the live stage had it (default: the history the baselines use, aggregate.baseline.days plus window and grace; 0: none)")
	tail := fs.Duration("tail", 0, "keep the event clock running this long after the last post (or --to), to see decay and resolutions")
	rescore := fs.Bool("rescore", false, "score posts that already carry scores again, with the configured classifiers")
	alertsOut := fs.String("alerts", "", "write alerts as JSON lines to `FILE` ('-': stdout)")
	levelsOut := fs.String("levels", "", "write the level series to `FILE` (JSON lines; .csv: CSV; '-': stdout)")
	reportOut := fs.String("report", "", "write a self-contained HTML report to `FILE`")
	chartsDir := fs.String("charts", "", "write one SVG chart per site into `DIR`")
	compareAlerts := fs.String("compare-alerts", "", "with --compare: write the second config's alerts to `FILE`")
	matchWindow := fs.Duration("match-window", 24*time.Hour, "with --compare: onsets of one alert this far apart still count as the same alert")
	onlyDiff := fs.Bool("differences", false, "with --compare: list only the alerts the two configurations fire differently (one only, at another time or severity)")
	workers := fs.Int("workers", 0, "decoding and scoring goroutines (default: all cores); never changes the results")
	progress := fs.String("progress", "auto", "progress bar: auto (on a terminal), always, never")
	maxCharts := fs.Int("max-charts", 40, "chart at most this many sites (most alarming first; 0: none)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkNonNegative(map[string]time.Duration{"--slack": *slack, "--tail": *tail, "--match-window": *matchWindow}); err != nil {
		return err
	}
	if *maxCharts < 0 {
		return fmt.Errorf("%w: --max-charts %d is negative", errUsage, *maxCharts)
	}
	replayGC(e)
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	var cfgB *config.Config
	if *compare != "" {
		if cfgB, err = config.Load(*compare); err != nil {
			return err
		}
	}
	if *topic == "" && len(fs.Args()) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: give input files or --topic", errUsage)
	}
	if *topic != "" && len(fs.Args()) > 0 {
		return fmt.Errorf("%w: give either input files or --topic, not both", errUsage)
	}
	if err := checkRange(from, to); err != nil {
		return err
	}
	// A second lane's alerts that no lane writes: the file would silently
	// never appear.
	if *onlyDiff && *compare == "" {
		return fmt.Errorf("%w: --differences needs --compare, the configuration to compare with", errUsage)
	}
	if *compareAlerts != "" && *compare == "" {
		return fmt.Errorf("%w: --compare-alerts needs --compare, the configuration whose alerts it writes", errUsage)
	}
	// Each output buffers on its own: two on standard output cut each
	// other's lines where a buffer fills.
	outFiles := []namedPath{{"--alerts", *alertsOut}, {"--levels", *levelsOut}, {"--report", *reportOut}, {"--compare-alerts", *compareAlerts}}
	var toStdout []string
	for _, o := range outFiles {
		if o.path == "-" {
			toStdout = append(toStdout, o.flag)
		}
	}
	if len(toStdout) > 1 {
		return fmt.Errorf("%w: %s all write to standard output ('-'): give a file to all but one", errUsage, strings.Join(toStdout, " and "))
	}
	if err := checkOutputsApart(outFiles, nil); err != nil {
		return err
	}
	// Checked before any output is created: an error after would leave an
	// earlier run's outputs emptied.
	if cfgB != nil && cfgB.Aggregate.Step != cfg.Aggregate.Step {
		return fmt.Errorf("%w: --compare config has aggregate.step %v, this one %v: both lanes share one event clock", errUsage, cfgB.Aggregate.Step, cfg.Aggregate.Step)
	}
	// The baselines' history before --from: without it every site starts
	// from nothing, and cannot page until it has learnt again.
	if *warmup < 0 {
		*warmup = cfg.Aggregate.RebuildSpan()
		if cfgB != nil {
			*warmup = max(*warmup, cfgB.Aggregate.RebuildSpan())
		}
	}
	if from.t.IsZero() {
		*warmup = 0
	}
	if *alertsOut == "" && *levelsOut == "" && *reportOut == "" && *chartsDir == "" && *compare == "" {
		fmt.Fprintln(e.stderr, "note: no --alerts, --levels, --report or --charts given: only the summary is printed")
	}

	// Input.
	var src *replay.Source
	var inputs []string
	if *topic != "" {
		b, closeBus, err := openReplayBus(ctx, e, cfg)
		if err != nil {
			return err
		}
		defer closeBus()
		full := cfg.Topics.Name(*topic)
		inputs = []string{"topic " + full}
		readFrom := from.t
		if !readFrom.IsZero() {
			readFrom = readFrom.Add(-*warmup)
		}
		if src, err = replay.Topic(ctx, b, full, replay.TopicRange{From: readFrom, To: to.t, Slack: *slack}); err != nil {
			return err
		}
	} else {
		if inputs, err = replay.ExpandInputs(fs.Args()); err != nil {
			return err
		}
		if err := checkOutputsApart(outFiles, inputs); err != nil {
			return err
		}
		if src, err = replay.Files(inputs, e.stdin); err != nil {
			return err
		}
	}

	// Lanes: the config, and the one to compare with.
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	output := func(name string) (io.Writer, error) {
		w, c, err := openOutput(e, name)
		if err != nil {
			return nil, err
		}
		closers = append(closers, c)
		return w, nil
	}
	var flushers []func() error
	lane := func(name string, c *config.Config, alertsFile, levelsFile string) (*replay.Lane, error) {
		eng, err := replay.NewAggregateEngine(c.Aggregate)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		classify := c.Classify
		l := &replay.Lane{Name: name, Engine: eng, Scorer: replay.LazyScorer(func() (replay.Scorer, error) { return replayScorer(classify) })}
		if alertsFile != "" {
			w, err := output(alertsFile)
			if err != nil {
				return nil, err
			}
			aw := replay.NewAlertWriter(w)
			l.Sinks = append(l.Sinks, aw)
			flushers = append(flushers, aw.Flush)
		}
		if levelsFile != "" {
			w, err := output(levelsFile)
			if err != nil {
				return nil, err
			}
			if strings.HasSuffix(levelsFile, ".csv") {
				lw := replay.NewLevelCSV(w)
				l.Sinks = append(l.Sinks, lw)
				flushers = append(flushers, lw.Flush)
			} else {
				lw := replay.NewLevelWriter(w)
				l.Sinks = append(l.Sinks, lw)
				flushers = append(flushers, lw.Flush)
			}
		}
		return l, nil
	}
	nameA, nameB := laneName(*cfgPath, e, "current"), laneName(*compare, nil, "other")
	if nameA == nameB {
		nameA, nameB = "A:"+nameA, "B:"+nameB
	}
	laneA, err := lane(nameA, cfg, *alertsOut, *levelsOut)
	if err != nil {
		src.Close()
		return err
	}
	coll := replay.NewCollector()
	onsetsA := replay.NewOnsets()
	laneA.Sinks = append(laneA.Sinks, coll, onsetsA)
	lanes := []*replay.Lane{laneA}
	var onsetsB *replay.Onsets
	if cfgB != nil {
		laneB, err := lane(nameB, cfgB, *compareAlerts, "")
		if err != nil {
			src.Close()
			return err
		}
		onsetsB = replay.NewOnsets()
		laneB.Sinks = append(laneB.Sinks, onsetsB)
		lanes = append(lanes, laneB)
	}

	o := replay.Options{From: from.t, To: to.t, Warmup: *warmup, Tail: *tail, Rescore: *rescore, Workers: *workers}
	// Both lanes see one deduplicated stream: the first configuration's
	// runner.dedup_ttl decides what is a copy.
	o.FromConfig(cfg)
	if cfgB != nil {
		o.Window = max(o.Window, cfgB.Aggregate.Grace)
	}
	bad := &badLinePrinter{w: e.stderr}
	o.OnBadLine = bad.print
	var prog *replay.Progress
	if *progress == "always" || (*progress == "auto" && isTerminal(e.stderr)) {
		prog = replay.NewProgress(e.stderr, 0)
		o.Progress = prog
	}
	st, err := replay.Run(ctx, src, o, lanes...)
	if prog != nil {
		prog.Stop()
	}
	bad.summary()
	for _, f := range flushers {
		if ferr := f(); ferr != nil && err == nil {
			err = fmt.Errorf("cannot write output: %w", ferr)
		}
	}
	if err != nil {
		return err
	}
	if st.Records == 0 && st.Warmup == 0 && st.OutOfRange == 0 && st.BadLines > 0 {
		// Not an empty range: an input that is not posts (an alerts file,
		// a wrong export). Exit 0 would let a script forward the report.
		return fmt.Errorf("no post replayed: every line of the input was bad (%d bad lines)", st.BadLines)
	}
	fmt.Fprintf(e.stderr, "replayed %d posts from %s, event time %s to %s, in %s (%.0f posts/s): %d scored now, %d duplicates, %d late, %d bad lines, %d out of range\n",
		st.Records, strings.Join(shorten(inputs, 3), ", "), fmtT(st.First), fmtT(st.Last), st.Elapsed.Round(time.Millisecond), st.PerSecond(),
		st.Scored, st.Duplicates, st.Late, st.BadLines, st.OutOfRange)
	if st.Warmup > 0 {
		fmt.Fprintf(e.stderr, "warm-up: %d posts of the %s before --from applied as history (their alerts and levels not written)\n", st.Warmup, *warmup)
	}
	// Where the input's history fell short of what the baselines need
	// (of the stricter of the two configurations when comparing).
	learning, history := cfg.Aggregate.Baseline.Learning, time.Duration(cfg.Aggregate.Baseline.Days)*24*time.Hour
	if cfgB != nil {
		learning = max(learning, cfgB.Aggregate.Baseline.Learning)
		history = max(history, time.Duration(cfgB.Aggregate.Baseline.Days)*24*time.Hour)
	}
	notes := st.BaselineNotes(from.t, learning, history)
	for _, n := range notes {
		fmt.Fprintf(e.stderr, "warning: %s\n", n)
	}
	for i, l := range lanes {
		n := len(onsetsA.List())
		if i == 1 {
			n = len(onsetsB.List())
		}
		fmt.Fprintf(e.stderr, "%s: %d alerts fired (%d notifications), %d level points\n", l.Name, n, l.Alerts, l.Levels)
	}

	var cmp *replay.Comparison
	if cfgB != nil {
		cmp = replay.Compare(nameA, onsetsA.List(), nameB, onsetsB.List(), *matchWindow)
		cmp.OnlyDifferences = *onlyDiff
		w := e.stdout
		if len(toStdout) > 0 {
			w = e.stderr // standard output holds the output named '-'
		}
		if err := cmp.WriteText(w); err != nil {
			return err
		}
	}
	rep := &replay.Report{
		Title: "ThreatWatch replay", Inputs: shorten(inputs, 20), Config: configSummary(nameA, cfg), Stats: st,
		Data: coll, Compare: cmp, Redact: replayRedact, MaxCharts: *maxCharts, Notes: notes,
	}
	if *maxCharts == 0 {
		rep.MaxCharts = replay.NoCharts
	}
	if *reportOut != "" {
		w, err := output(*reportOut)
		if err != nil {
			return err
		}
		if err := rep.WriteHTML(w); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "report: %s\n", *reportOut)
	}
	if *chartsDir != "" {
		paths, err := rep.WriteCharts(*chartsDir)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "charts: %d SVG files in %s\n", len(paths), *chartsDir)
	}
	for _, c := range closers {
		if err := c(); err != nil {
			return fmt.Errorf("cannot write output: %w", err)
		}
	}
	closers = nil
	return nil
}

func cmdExport(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := newFlags(e, "export", "--topic scored|posts [--config FILE] [--from T] [--to T] [--slack D] [--progress WHEN] [--output FILE] > file.jsonl\n\n"+
		"Copies a slice of a topic to JSON lines (unchanged), in event-time order, for a replay elsewhere.")
	topic := fs.String("topic", "scored", "short topic name: scored or posts")
	var from, to timeFlag
	fs.Var(&from, "from", "export posts with event time at or after this `TIME` (RFC 3339 or YYYY-MM-DD[THH:MM], UTC unless a zone follows)")
	fs.Var(&to, "to", "export posts with event time before this `TIME`")
	slack := fs.Duration("slack", replay.DefaultSlack, "also read messages written this long before --from and after --to (late scrapes; 0: none)")
	out := fs.String("output", "-", "write to `FILE` ('-': stdout)")
	progress := fs.String("progress", "auto", "progress bar: auto (on a terminal), always, never")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkNonNegative(map[string]time.Duration{"--slack": *slack}); err != nil {
		return err
	}
	if len(fs.Args()) > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	if err := checkRange(from, to); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	b, closeBus, err := openReplayBus(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer closeBus()
	full := cfg.Topics.Name(*topic)
	src, err := replay.Topic(ctx, b, full, replay.TopicRange{From: from.t, To: to.t, Slack: *slack})
	if err != nil {
		return err
	}
	w, closeOut, err := openOutput(e, *out)
	if err != nil {
		src.Close()
		return err
	}
	bad := &badLinePrinter{w: e.stderr}
	o := replay.Options{From: from.t, To: to.t, OnBadLine: bad.print}
	o.FromAggregate(cfg.Aggregate)
	var prog *replay.Progress
	if *progress == "always" || (*progress == "auto" && isTerminal(e.stderr)) {
		prog = replay.NewProgress(e.stderr, 0)
		o.Progress = prog
	}
	st, err := replay.Export(ctx, src, o, w)
	if prog != nil {
		prog.Stop()
	}
	bad.summary()
	if cerr := closeOut(); err == nil && cerr != nil {
		err = fmt.Errorf("cannot write output: %w", cerr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "exported %d posts from %s, event time %s to %s (%d bad, %d out of range)\n",
		st.Records, full, fmtT(st.First), fmtT(st.Last), st.BadLines, st.OutOfRange)
	return nil
}

// openReplayBus connects to the configured cluster for reading a topic. The
// embedded cluster is empty in a new process unless it persists to a data
// directory, so without brokers or a data dir there is nothing to read.
func openReplayBus(ctx context.Context, e *env, cfg *config.Config) (*bus.Bus, func(), error) {
	if len(cfg.Kafka.Brokers) == 0 && cfg.Kafka.Embedded.DataDir == "" {
		return nil, nil, fmt.Errorf("%w: reading a topic needs kafka.brokers (or kafka.embedded.data_dir of a stopped embedded cluster)", errUsage)
	}
	log := newLogger(e, cfg.Log)
	b, err := bus.Open(cfg.Kafka, log)
	if err != nil {
		return nil, nil, err
	}
	if err := b.WaitReady(ctx); err != nil {
		b.Close()
		return nil, nil, err
	}
	return b, b.Close, nil
}

func laneName(path string, e *env, def string) string {
	if path == "" && e != nil {
		path = e.getenv(config.EnvConfig)
	}
	if path == "" {
		return def
	}
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

func configSummary(name string, c *config.Config) string {
	a := c.Aggregate
	return fmt.Sprintf("config %s: step %s, window %s, baseline %d days, fire at z ≥ %g and ≥ %g× baseline",
		name, a.Step, a.Window, a.Baseline.Days, a.Spike.FireScore, a.Spike.FireRatio)
}

func shorten(list []string, n int) []string {
	if len(list) <= n {
		return list
	}
	out := append([]string(nil), list[:n]...)
	return append(out, fmt.Sprintf("and %d more", len(list)-n))
}

func fmtT(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
