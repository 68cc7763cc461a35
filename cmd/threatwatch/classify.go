package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/threatwatch/threatwatch/classifiers"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

func cmdClassify(ctx context.Context, e *env, args []string) error {
	return stageCommand("classify")(ctx, e, args)
}

// enricherFactory builds one enricher for the classify stage from the
// process (its config, store, logger).
type enricherFactory func(ctx context.Context, p *process) (classifiers.Enricher, error)

// classifyEnrichers lists the enrichers the classify stage runs after the
// built-in scorers, one line each (the watchlist adds its own here).
var classifyEnrichers = []enricherFactory{watchlistEnricher}

// classifyMetrics are the classify stage's own metrics.
type classifyMetrics struct {
	scored   prometheus.Counter
	score    *prometheus.HistogramVec
	duration prometheus.Histogram
	script   *prometheus.CounterVec
	cut      *prometheus.CounterVec
}

func newClassifyMetrics(reg prometheus.Registerer) *classifyMetrics {
	m := &classifyMetrics{
		scored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "threatwatch_classify_posts_scored_total", Help: "Posts scored by the classify stage.",
		}),
		score: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "threatwatch_classify_score_ratio", Help: "Scores given, per signal.",
			Buckets: []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1},
		}, []string{"signal"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "threatwatch_classify_score_duration_seconds", Help: "Time to score one post.",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 14),
		}),
		script: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_classify_posts_by_script_total",
			Help: "Posts scored, by site and by the script most of their letters are in (latin, none, cyrillic, han, kana, hangul, arabic, hebrew, greek, devanagari, thai, other). The classifiers read English: posts in any script but latin and none score near zero whatever they say.",
		}, []string{"site", "script"}),
		cut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "threatwatch_classify_posts_cut_total",
			Help: "Scored posts cut to fit one Kafka message, by reason: text (the post's text or quotes were over the scrapers' caps and were cut to them, as the classifiers read no further) or entities (the post named more than 100 people and handles; protected people and targets were kept first).",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.scored, m.score, m.duration, m.script, m.cut)
	}
	return m
}

// newClassifier builds the process's classifier with its enrichers.
func newClassifier(ctx context.Context, p *process) (*classifiers.Classifier, error) {
	var opts []classifiers.Option
	for _, f := range classifyEnrichers {
		en, err := f(ctx, p)
		if err != nil {
			return nil, err
		}
		opts = append(opts, classifiers.WithEnrichers(en))
	}
	return classifiers.New(p.cfg.Classify, opts...)
}

// classifyHandler scores one post and emits it on the scored topic.
type classifyHandler struct {
	c   *classifiers.Classifier
	out string
	m   *classifyMetrics
	log *slog.Logger

	mu sync.Mutex
	// sites are the site labels given out so far, at most maxScriptSites.
	sites map[string]bool
	// warned holds when each site last had a warning about posts in a
	// script the classifiers do not read.
	warned map[string]time.Time
}

// maxScriptSites bounds the site label of the script metric (and the
// warnings' memory): sites come from the posts, and a replayed stream or
// a producer's file can name any number of them. Sites past the bound are
// counted as "_other".
const maxScriptSites = 1000

// siteLabel returns site, or "_other" once maxScriptSites other sites have
// been seen. It is called with h.mu held.
func (h *classifyHandler) siteLabel(site string) string {
	if h.sites[site] {
		return site
	}
	if len(h.sites) >= maxScriptSites {
		return "_other"
	}
	if h.sites == nil {
		h.sites = map[string]bool{}
	}
	h.sites[site] = true
	return site
}

// unreadWarnEvery spaces the warnings about a site's unread posts: the
// metric counts each post, the log says once in a while that it happens.
const unreadWarnEvery = time.Hour

// noteScript counts a post by its script and warns, at most once an hour
// per site, when the classifiers cannot read it. The log names the site
// and the script, never the post's text.
func (h *classifyHandler) noteScript(p *msg.Post) {
	script := classifiers.Script(p.Text)
	h.mu.Lock()
	site := h.siteLabel(p.Site)
	warn := !classifiers.Reads(script) && h.log != nil && h.warningDue(site)
	h.mu.Unlock()
	h.m.script.WithLabelValues(site, script).Inc()
	if warn {
		h.log.Warn("posts in a script the classifiers do not read: their scores stay near zero whatever they say (see threatwatch_classify_posts_by_script_total)",
			"stage", "classify", "site", site, "script", script, "post", p.ID)
	}
}

// warningDue reports whether site had no warning for unreadWarnEvery, and
// if so notes one now. It is called with h.mu held.
func (h *classifyHandler) warningDue(site string) bool {
	now := time.Now()
	if last, seen := h.warned[site]; seen && now.Sub(last) < unreadWarnEvery {
		return false
	}
	if h.warned == nil {
		h.warned = map[string]time.Time{}
	}
	h.warned[site] = now
	return true
}

func (h *classifyHandler) Handle(ctx context.Context, in *msg.Post, meta pipeline.Meta) ([]pipeline.Output, error) {
	if overCaps(in) {
		// The scrapers cut posts to these caps; another producer may not
		// have. The scored post carries the post: cut, it fits one message
		// with its scores, and the classifiers read no further anyway.
		p := *in
		p.Quoted = slices.Clone(in.Quoted)
		p.Clip()
		in = &p
		h.m.cut.WithLabelValues("text").Inc()
	}
	t0 := time.Now()
	s, err := h.c.Score(ctx, in)
	if err != nil {
		return nil, err
	}
	if capEntities(s, maxScoredEntities) {
		h.m.cut.WithLabelValues("entities").Inc()
	}
	h.m.duration.Observe(time.Since(t0).Seconds())
	h.m.scored.Inc()
	h.noteScript(in)
	for sig, v := range s.Scores {
		h.m.score.WithLabelValues(string(sig)).Observe(v)
	}
	return []pipeline.Output{{Topic: h.out, Msg: s, Arrival: meta.Time}}, nil
}

// overCaps reports a post whose text or quotes are over the caps the
// scrapers cut posts to (msg.Post.Clip).
func overCaps(p *msg.Post) bool {
	if len(p.Text) > msg.MaxTextBytes {
		return true
	}
	n := 0
	for _, q := range p.Quoted {
		n += len(q)
	}
	return n > msg.MaxQuotedBytes
}

// maxScoredEntities bounds the entities of one scored post. A post can
// name thousands of handles (a raid call listing the accounts to flood)
// and each costs some 70 bytes written out: uncapped, such a post's
// scored message is over the Kafka limit and is set aside on the
// dead-letter topic, scores and all.
const maxScoredEntities = 100

// capEntities keeps at most limit entities of s, protected people first,
// then targets, then the others, each kept in the order found. It reports
// whether it dropped any.
func capEntities(s *msg.Scored, limit int) bool {
	if len(s.Entities) <= limit {
		return false
	}
	keep := make([]bool, len(s.Entities))
	left := limit
	for _, pass := range []func(msg.Entity) bool{
		func(e msg.Entity) bool { return e.Kind == msg.EntityProtected },
		func(e msg.Entity) bool { return e.Target },
		func(msg.Entity) bool { return true },
	} {
		for i, e := range s.Entities {
			if left > 0 && !keep[i] && pass(e) {
				keep[i] = true
				left--
			}
		}
	}
	kept := s.Entities[:0]
	for i, e := range s.Entities {
		if keep[i] {
			kept = append(kept, e)
		}
	}
	s.Entities = kept
	return true
}

// runClassifyStage runs posts -> scored through the stage runner.
func runClassifyStage(ctx context.Context, p *process) error {
	c, err := newClassifier(ctx, p)
	if err != nil {
		return err
	}
	var reg prometheus.Registerer
	if p.obs != nil {
		reg = p.obs.Registry
	}
	h := &classifyHandler{c: c, out: p.topic(p.cfg.Topics.Scored), m: newClassifyMetrics(reg), log: p.log}
	p.log.Info("classifier ready", "stage", "classify", "classifier", classifiers.Name, "version", c.Version())
	return pipeline.Run(ctx, p.deps(), pipeline.Stage[msg.Post, *msg.Post]{
		Name: "classify", Input: p.topic(p.cfg.Topics.Posts), Handler: h, Dedup: true,
		// The aggregate stage's clock waits for this stage's watermark.
		WatermarkTo: h.out,
	})
}

// cmdScore scores posts from JSON lines without Kafka, in order, several
// at a time.
func cmdScore(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := newFlags(e, "score", "[--config FILE] [--workers N] [--output FILE] [--input FILE | FILE]   (posts as JSON lines in, scored posts out)")
	in := fs.String("input", "-", "posts as JSON lines, at least id and text ('-': standard input)")
	out := fs.String("output", "-", "where to write scored posts ('-': standard output)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "posts scored in parallel (output order is kept)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := inputArg(fs, in); err != nil {
		return err
	}
	if *workers < 1 {
		return fmt.Errorf("%w: --workers must be at least 1", errUsage)
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	c, err := classifiers.New(cfg.Classify)
	if err != nil {
		return err
	}
	r, name, closeIn, err := openInput(e, *in)
	if err != nil {
		return err
	}
	defer closeIn()
	w, closeOut, err := openOutput(e, *out)
	if err != nil {
		return err
	}
	mw := msg.NewWriter(w)
	// Scoring reads a post's text only: a hand-written line needs no time.
	reader := msg.NewReader[msg.UntimedPost](r, name, true)
	good, bad, incomplete := 0, 0, 0
	const batch = 256
	posts := make([]*msg.Post, 0, batch)
	results := make([]*msg.Scored, batch)
	flush := func() error {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(*workers)
		for i, p := range posts {
			g.Go(func() error {
				s, err := c.Score(gctx, p)
				results[i] = s
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		for i, p := range posts {
			if err := writeScoredLine(mw, results[i]); err != nil {
				return err
			}
			good++
			if p.Site == "" || (p.Published.IsZero() && p.Fetched.IsZero()) {
				incomplete++
			}
		}
		posts = posts[:0]
		return nil
	}
	for {
		p, err := reader.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *msg.LineError
		if errors.As(err, &le) {
			bad++
			fmt.Fprintf(e.stderr, "skipped %v\n", le)
			continue
		}
		if err != nil {
			closeOut()
			return err
		}
		posts = append(posts, &p.Post)
		if len(posts) == batch {
			if err := flush(); err != nil {
				closeOut()
				return err
			}
		}
	}
	if err := flush(); err != nil {
		closeOut()
		return err
	}
	if err := mw.Flush(); err != nil {
		closeOut()
		return err
	}
	if err := closeOut(); err != nil {
		return fmt.Errorf("cannot write %s: %w", *out, err)
	}
	if incomplete > 0 {
		fmt.Fprintf(e.stderr, "note: %d of %d posts had no time or no site: their scored lines cannot be replayed or produced to the pipeline as they are (the input needs \"site\", and \"published\" or \"fetched\")\n", incomplete, good)
	}
	fmt.Fprintf(e.stderr, "scored %d posts with %s %s; skipped %d bad lines\n", good, classifiers.Name, c.Version(), bad)
	if bad > 0 {
		return fmt.Errorf("%d lines skipped", bad)
	}
	return nil
}

// scoredLine is a scored message as score writes it: the pipeline's
// encoding, but a post's zero times are left out rather than written as
// year 1. score reads posts for their text alone (msg.UntimedPost), and
// "published":"0001-01-01..." claims a time the post never had. An absent
// time decodes to the same zero value, so every reader of msg.Scored reads
// the line as before. The field names are the schema's; only the post's
// two times move, to the end of "post".
type scoredLine struct {
	Schema string         `json:"schema"`
	Post   scoredLinePost `json:"post"`
	*msg.Scored
}

type scoredLinePost struct {
	*msg.Post
	Published time.Time `json:"published,omitzero"`
	Fetched   time.Time `json:"fetched,omitzero"`
}

// writeScoredLine writes s as one scoredLine.
func writeScoredLine(w *msg.Writer, s *msg.Scored) error {
	msg.Prepare(s)
	b, err := json.Marshal(scoredLine{
		Schema: s.Schema,
		Post:   scoredLinePost{Post: &s.Post, Published: s.Post.Published, Fetched: s.Post.Fetched},
		Scored: s,
	})
	if err != nil {
		return fmt.Errorf("cannot encode scored post: %w", err)
	}
	return w.WriteRaw(b)
}

// cmdEval measures the classifiers on a labelled file.
func cmdEval(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := newFlags(e, "eval", "[--config FILE] [--where FIELD=VALUE] [--threshold SIGNAL=V,...] [--errors] [--explain] --input LABELLED.jsonl | LABELLED.jsonl")
	in := fs.String("input", "", `labelled JSON lines: {"id","text","doxxing":0|1,"swatting":0|1,"threat":0|1}; an absent label is unlabelled`)
	where := fs.String("where", "", "evaluate only rows whose JSON field equals a value (e.g. toxic=1)")
	thr := fs.String("threshold", "", "override thresholds, e.g. threat=0.6,doxxing=0.4 (default: config classify.thresholds)")
	showErrors := fs.Bool("errors", false, "list the ids of false positives and false negatives")
	explain := fs.Bool("explain", false, "print each misclassified post's feature contributions; implies --errors (prints post text, PII redacted)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := inputArg(fs, in); err != nil {
		return err
	}
	if *in == "" {
		fs.Usage()
		return fmt.Errorf("%w: the labelled file is required (--input FILE, or as the argument)", errUsage)
	}
	// The errors are what --explain explains: asked for alone, it would
	// print nothing.
	*showErrors = *showErrors || *explain
	overrides, err := parseThresholds(*thr)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	ths := map[msg.Signal]float64{}
	for _, sig := range msg.Signals {
		ths[sig] = cfg.Classify.Thresholds.Of(string(sig))
	}
	maps.Copy(ths, overrides)
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	var keep func([]byte) bool
	if *where != "" {
		field, value, ok := strings.Cut(*where, "=")
		if !ok {
			return fmt.Errorf("%w: --where %q, want FIELD=VALUE", errUsage, *where)
		}
		keep = fieldIs(field, value)
	}
	posts, bad, err := classifiers.ReadLabelledWhere(f, *in, keep)
	if err != nil {
		return err
	}
	for _, b := range bad {
		fmt.Fprintf(e.stderr, "skipped %v\n", b)
	}
	if len(posts) == 0 {
		return fmt.Errorf("%s: %w", *in, classifiers.ErrNoLabels)
	}
	c, err := classifiers.New(cfg.Classify)
	if err != nil {
		return err
	}
	scored, err := c.ScoreLabelled(ctx, posts)
	if err != nil {
		return err
	}
	var ms []classifiers.SignalMetrics
	for _, sig := range msg.Signals {
		m := classifiers.Metrics(scored, sig, ths[sig])
		if m.N > 0 {
			ms = append(ms, m)
		}
	}
	fmt.Fprintf(e.stdout, "%s: %d posts (%d lines skipped), classifier %s %s\n\n", *in, len(posts), len(bad), classifiers.Name, c.Version())
	if err := classifiers.WriteReport(e.stdout, ms, *showErrors); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout)
	for _, m := range ms {
		neg := m.FP + m.TN
		if neg > 0 {
			fmt.Fprintf(e.stdout, "%s: %d of %d negatives flagged (false-positive rate %.2f%%)\n", m.Signal, m.FP, neg, 100*float64(m.FP)/float64(neg))
		}
	}
	if *showErrors && *explain {
		byID := map[string]classifiers.LabelledPost{}
		for _, p := range posts {
			byID[p.ID] = p
		}
		for _, m := range ms {
			for _, id := range append(append([]string(nil), m.FalsePositives...), m.FalseNegatives...) {
				fmt.Fprintf(e.stdout, "\n%s %s: %s\n  %v\n", m.Signal, id, classifiers.Redact(byID[id].Text), c.Explain(byID[id].Text)[m.Signal])
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d lines skipped", len(bad))
	}
	return nil
}

// parseThresholds reads eval's --threshold: SIGNAL=VALUE pairs separated
// by commas, each naming a known signal (a misspelt one would otherwise be
// ignored and the report show the default) with a value in (0,1].
func parseThresholds(arg string) (map[msg.Signal]float64, error) {
	ths := map[msg.Signal]float64{}
	if arg == "" {
		return ths, nil
	}
	known := make([]string, len(msg.Signals))
	for i, sig := range msg.Signals {
		known[i] = string(sig)
	}
	for _, kv := range strings.Split(arg, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || f <= 0 || f > 1 {
			return nil, fmt.Errorf("%w: --threshold %q, want SIGNAL=VALUE with a value in (0,1] (signals: %s)", errUsage, kv, strings.Join(known, ", "))
		}
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("%w: --threshold %q: unknown signal %q (signals: %s)", errUsage, kv, k, strings.Join(known, ", "))
		}
		ths[msg.Signal(k)] = f
	}
	return ths, nil
}

// fieldIs keeps the JSON lines whose field equals value (compared as
// JSON text, so toxic=1 matches "toxic": 1); lines that do not decode are
// kept for ReadLabelledWhere to report.
func fieldIs(field, value string) func([]byte) bool {
	return func(line []byte) bool {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			return true
		}
		v, ok := m[field]
		return ok && strings.Trim(string(v), `"`) == value
	}
}
