package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sync/errgroup"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/demo"
	"github.com/threatwatch/threatwatch/pipeline/api"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/replay"
)

// The demo runs the real stages (the stages table) in this process against
// the simulated sites of package demo: the scrapers crawl them like any
// forum, the classifiers score what they find, the aggregate stage computes
// levels and fires alerts, the notify stage delivers them to a file, and
// serve runs the dashboard. Only the config is the demo's: the sites, and
// an aggregate step short enough to watch levels move.

// demoPoll is how often the demo sites are polled.
const demoPoll = 2 * time.Second

func cmdDemo(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := newFlags(e, "demo", "[--config FILE] [--speed N] [--seed N] [--out DIR] [--view MODE] [--tail D] [--dashboard ADDR] [--backfill-timeout D]\n\n"+
		"Runs a simulated harassment campaign through the real pipeline: three local sites (a forum, an\n"+
		"imageboard, a Telegram-style channel) served on loopback, crawled, scored and aggregated live.\n"+
		"With --config, the demo runs on that config's Kafka and Redis instead of the embedded ones, which makes\n"+
		"it a smoke test of a deployment: its topics, consumer groups and Redis keys get a demo-<time> prefix\n"+
		"there, and are left in place afterwards (delete them by that prefix).")
	speed := fs.Float64("speed", 60, "campaign clock speed: campaign minutes per real minute (the campaign lasts 180 campaign minutes)")
	seed := fs.Uint64("seed", 1, "seed of the simulated world (the same seed tells the same story)")
	out := fs.String("out", "threatwatch-demo", "`DIR` for the replay report, the alerts, the notifications, the config and the log")
	tail := fs.Duration("tail", 15*time.Second, "keep watching this long after the campaign ends")
	dashboard := fs.String("dashboard", "127.0.0.1:0", "address of the dashboard (port 0: a free one)")
	view := fs.String("view", "auto", "live view: auto (redraw on a terminal, else lines), lines, or none")
	backfillWait := fs.Duration("backfill-timeout", 2*time.Minute, "how long to wait for the sites' history to be crawled, scored and aggregated before the campaign starts anyway")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if !(*speed >= 1 && *speed <= 10000) {
		return fmt.Errorf("%w: --speed %v, want 1..10000", errUsage, *speed)
	}
	switch *view {
	case "auto", "lines", "none":
	default:
		return fmt.Errorf("%w: --view %q, want auto, lines or none", errUsage, *view)
	}
	if err := os.MkdirAll(*out, 0o750); err != nil {
		return fmt.Errorf("cannot create the output directory: %w", err)
	}
	logPath := filepath.Join(*out, "demo.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("cannot create the demo log: %w", err)
	}
	defer logFile.Close()

	// The world.
	tl := demo.Build(*seed, demo.Options{})
	srv := demo.NewServer(tl, time.Now().UTC(), *speed, nil, nil)
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSrv()
	if err := srv.Start(srvCtx); err != nil {
		return err
	}
	defer srv.Close()

	// The config: the given one (or the embedded defaults) plus the demo.
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	token, err := demoConfig(cfg, srv, *dashboard, *out)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("the demo config is invalid: %w", err)
	}
	if err := writeConfigFile(filepath.Join(*out, "demo-config.yaml"), cfg); err != nil {
		return err
	}

	pe := &env{stdin: e.stdin, stdout: e.stdout, stderr: logFile, getenv: e.getenv}
	fmt.Fprintf(e.stderr, "threatwatch demo: starting the pipeline (log: %s)\n", logPath)
	p, err := openProcess(ctx, pe, cfg)
	if err != nil {
		return err
	}
	defer p.close()

	runCtx, stopStages := context.WithCancel(ctx)
	defer stopStages()
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return p.obs.Serve(gctx, cfg.HTTP.Listen) })
	var mu sync.Mutex
	missing := map[string]bool{}
	for _, s := range stages {
		g.Go(func() error {
			err := s.run(gctx, p)
			if errors.Is(err, errNotBuilt) {
				mu.Lock()
				missing[s.name] = true
				mu.Unlock()
				return nil
			}
			if err != nil && gctx.Err() == nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			return nil
		})
	}
	stopAll := func() error {
		stopStages()
		done := make(chan error, 1)
		go func() { done <- g.Wait() }()
		select {
		case err := <-done:
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		case <-time.After(cfg.Runner.ShutdownTimeout + 5*time.Second):
			return errors.New("the stages did not stop in time")
		}
	}
	// A stage that is not built returns at once; give them a moment.
	select {
	case <-time.After(time.Second):
	case <-gctx.Done():
	}
	mu.Lock()
	var absent []string
	for _, s := range stages {
		if missing[s.name] {
			absent = append(absent, s.name)
		}
	}
	mu.Unlock()
	if gctx.Err() != nil && ctx.Err() == nil {
		err := stopAll()
		return fmt.Errorf("the pipeline stopped: %w (see %s)", err, logPath)
	}
	for _, need := range []string{"scrape", "classify", "aggregate"} {
		if missing[need] {
			_ = stopAll()
			fmt.Fprintf(e.stderr, "\nthreatwatch demo: this build lacks pipeline stages the demo needs: %s.\n", strings.Join(absent, ", "))
			fmt.Fprintf(e.stderr, "The simulated sites were up at %s, %s and %s, but the pipeline cannot run without those stages.\n",
				srv.URL(demo.SiteForum), srv.URL(demo.SiteChannel), srv.URL(demo.SiteBoard))
			return notBuilt("the demo (missing stages: " + strings.Join(absent, ", ") + ")")
		}
	}
	for _, s := range absent {
		fmt.Fprintf(e.stderr, "note: the %s stage is not built yet; the demo runs without it\n", s)
	}

	// Watch the levels and alerts topics, as any consumer would.
	w := newDemoWatch(tl, srv, missing["serve"], cfg.Serve.PublicURL, token)
	alertsFile, err := os.Create(filepath.Join(*out, "alerts.jsonl"))
	if err != nil {
		_ = stopAll()
		return fmt.Errorf("cannot create the alerts file: %w", err)
	}
	defer alertsFile.Close()
	w.alertsOut = msg.NewWriter(alertsFile)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	var wg sync.WaitGroup
	for _, topic := range []string{cfg.Topics.Name(cfg.Topics.Levels), cfg.Topics.Name(cfg.Topics.Alerts)} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.consume(watchCtx, p.bus, topic)
		}()
	}

	// Let the first crawl backfill the sites' history, and the pipeline
	// score and aggregate it, before the story starts: the baselines learn
	// from it.
	fmt.Fprintf(e.stderr, "threatwatch demo: crawling %d hours of the sites' history (the baselines learn from it)...\n", int(tl.History.Hours()))
	deadline := time.Now().Add(*backfillWait)
	ready := func() bool {
		return p.crawled(demo.Sites) && p.counts().caughtUp() && (missing["serve"] || p.consoleCaughtUp(ctx, cfg))
	}
	for !ready() && time.Now().Before(deadline) && ctx.Err() == nil && gctx.Err() == nil {
		time.Sleep(250 * time.Millisecond)
	}
	if c := p.counts(); !ready() && ctx.Err() == nil {
		fmt.Fprintf(e.stderr, "warning: the history was not processed within %v (%.0f posts scraped, %.0f scored, %.0f aggregated); starting the campaign anyway\n",
			*backfillWait, c.scraped, c.scored, c.aggregated)
	} else {
		fmt.Fprintf(e.stderr, "threatwatch demo: %.0f posts of history scraped, scored and aggregated; the campaign starts now\n", c.scraped)
	}
	start := time.Now()
	srv.StartCampaign(start)
	end := srv.Schedule().CampaignEnd(tl).Add(*tail)

	mode := *view
	if mode == "auto" {
		mode = "lines"
		if isTerminal(e.stdout) {
			mode = "redraw"
		}
	}
	if mode == "lines" && !missing["serve"] {
		fmt.Fprintf(e.stdout, "dashboard: %s/  (sign in with token %s)\n", cfg.Serve.PublicURL, token)
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-gctx.Done():
			runErr = fmt.Errorf("the pipeline stopped (see %s)", logPath)
			break loop
		case now := <-tick.C:
			w.render(e.stdout, mode, now, p.counts())
			if now.After(end) {
				break loop
			}
		}
	}
	// Let the pipeline finish what the sites published last.
	drain := time.Now().Add(30 * time.Second)
	for ctx.Err() == nil && gctx.Err() == nil && !p.counts().caughtUp() && time.Now().Before(drain) {
		time.Sleep(250 * time.Millisecond)
	}
	if ctx.Err() == nil && gctx.Err() == nil {
		time.Sleep(2 * cfg.Aggregate.TickEvery) // the last levels and alerts reach the view
	}
	if mode != "none" {
		w.render(e.stdout, mode, time.Now(), p.counts())
	}
	stopWatch()
	wg.Wait()
	_ = w.alertsOut.Flush()
	// The live aggregator's clock went on with the wall clock past the
	// last post (a spike can fire on a tick after it): the replay runs its
	// clock to here too.
	stopped := time.Now()
	if err := stopAll(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return runErr
	}

	// The replay report of what just happened: the scored topic, read back
	// from the broker through the replay code (the engine threatwatch
	// replay runs), while this process still holds the connection.
	fmt.Fprintln(e.stdout)
	w.summary(e.stdout)
	rctx := ctx
	if ctx.Err() != nil {
		// Interrupted: still write the report of what happened so far.
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
	}
	fmt.Fprintf(e.stdout, "\nReplaying the scored topic through the aggregate and alert code...\n")
	if err := demoReplay(rctx, e, p, cfg, *out, stopped); err != nil {
		return fmt.Errorf("cannot write the replay report: %w", err)
	}
	if err := demoExport(rctx, p, cfg, filepath.Join(*out, demoScoredFile)); err != nil {
		return fmt.Errorf("cannot write the scored posts: %w", err)
	}
	fmt.Fprintf(e.stdout, "\nWritten to %s/: report.html (the replay report), alerts.jsonl (alerts as they fired live),\n"+
		"notifications.jsonl (what the notify stage delivered), replay-alerts.jsonl (the replay's alerts), demo-config.yaml, demo.log,\n"+
		"and %s (the scored posts, raw text of the fictional posts included) to replay again:\n"+
		"  threatwatch replay --config %s --tail 1m %s\n", *out, demoScoredFile,
		filepath.Join(*out, "demo-config.yaml"), filepath.Join(*out, demoScoredFile))
	return nil
}

// demoScoredFile is the demo's scored topic as JSON lines, the input of
// threatwatch replay. Unlike every other file the demo writes, it holds the
// posts' raw text (personal data of the fictional target included): a
// replay scores nothing again and reads what the classifiers saw.
const demoScoredFile = "scored-raw.jsonl"

// demoExport copies the scored topic to path, as threatwatch export does:
// the embedded cluster is gone when the demo ends, and with it the topic.
func demoExport(ctx context.Context, p *process, cfg *config.Config, path string) error {
	src, err := replay.Topic(ctx, p.bus, cfg.Topics.Name(cfg.Topics.Scored), replay.TopicRange{})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		src.Close()
		return err
	}
	o := replay.Options{}
	o.FromAggregate(cfg.Aggregate)
	if _, err := replay.Export(ctx, src, o, f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// demoReplay replays the scored topic with the live aggregate config and
// writes the report and the replay's alerts into out.
func demoReplay(ctx context.Context, e *env, p *process, cfg *config.Config, out string, until time.Time) error {
	topic := cfg.Topics.Name(cfg.Topics.Scored)
	src, err := replay.Topic(ctx, p.bus, topic, replay.TopicRange{})
	if err != nil {
		return err
	}
	eng, err := replay.NewAggregateEngine(cfg.Aggregate)
	if err != nil {
		src.Close()
		return err
	}
	af, err := os.Create(filepath.Join(out, "replay-alerts.jsonl"))
	if err != nil {
		src.Close()
		return err
	}
	defer af.Close()
	aw := replay.NewAlertWriter(af)
	coll := replay.NewCollector()
	lane := &replay.Lane{Name: "demo", Engine: eng, Sinks: []replay.Sink{aw, coll}}
	o := replay.Options{To: until}
	o.FromConfig(cfg)
	st, err := replay.Run(ctx, src, o, lane)
	if err != nil {
		return err
	}
	if err := aw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "replayed %d posts from %s, event time %s to %s: %d alerts, %d level points\n",
		st.Records, topic, fmtT(st.First), fmtT(st.Last), lane.Alerts, lane.Levels)
	rep := &replay.Report{
		Title: "ThreatWatch demo: replay of the campaign", Inputs: []string{"topic " + topic},
		Config: configSummary("demo", cfg), Stats: st, Data: coll, Redact: replayRedact,
	}
	f, err := os.Create(filepath.Join(out, "report.html"))
	if err != nil {
		return err
	}
	if err := rep.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return af.Close()
}

// demoConfig adds the demo to cfg: the simulated sites, a short aggregate
// step (levels move every few seconds instead of every five minutes), the
// dashboard on a loopback port with a fresh responder token (redacted evidence), and a file
// receiver for notifications. It returns the dashboard token.
func demoConfig(cfg *config.Config, srv *demo.Server, dashboard, out string) (string, error) {
	// On a real cluster or Redis (--config), keep each run's posts, alerts
	// and state apart from anything else there, earlier runs included
	// (their crawl state would make this run's posts look seen).
	run := fmt.Sprintf("demo-%d", time.Now().Unix())
	if len(cfg.Kafka.Brokers) > 0 {
		cfg.Topics.Prefix = run + "-" + cfg.Topics.Prefix
		cfg.Kafka.GroupPrefix = run + "-" + cfg.Kafka.GroupPrefix
	}
	if cfg.Redis.External() {
		cfg.Redis.KeyPrefix += run + ":"
	}
	cfg.Scrape.Sites = srv.ScrapeSites(demoPoll)
	cfg.Scrape.PollInterval = demoPoll
	cfg.Scrape.Jitter = 0.1
	// The campaign runs at --speed, so a pending period of real minutes
	// would outlast it: keep the number of steps a spike must hold, as on
	// a real site, with the demo's shorter step.
	const demoStep = 5 * time.Second
	if p := cfg.Aggregate.Spike.Pending; p != nil && cfg.Aggregate.Step > 0 {
		scaled := time.Duration(int64(*p) / int64(cfg.Aggregate.Step) * int64(demoStep))
		cfg.Aggregate.Spike.Pending = &scaled
	}
	cfg.Aggregate.Step = demoStep
	cfg.Aggregate.TickEvery = 2 * time.Second
	want := []string{dashboard}
	if cfg.HTTP.Listen != "" {
		want = append(want, "127.0.0.1:0")
	}
	addrs, err := freeAddrs(want...)
	if err != nil {
		return "", err
	}
	if len(addrs) > 1 {
		cfg.HTTP.Listen = addrs[1]
	}
	addr := addrs[0]
	cfg.Serve.Listen = addr
	cfg.Serve.PublicURL = "http://" + addr
	token, err := api.NewToken()
	if err != nil {
		return "", err
	}
	cfg.Serve.Tokens = append(cfg.Serve.Tokens, config.ServeToken{Name: "demo", Role: config.RoleResponder, SHA256: api.HashToken(token)})
	var settings config.SinkSettings
	node := fmt.Sprintf("path: %q\n", filepath.Join(out, "notifications.jsonl"))
	if err := yaml.Unmarshal([]byte(node), &settings); err != nil {
		return "", fmt.Errorf("cannot build the notify receiver: %w", err)
	}
	// The default receiver prints to standard output, where the live view
	// is: the demo's notifications go to a file instead.
	var keep []config.Receiver
	for _, r := range cfg.Notify.Receivers {
		if r.Name != "stdout" {
			keep = append(keep, r)
		}
	}
	cfg.Notify.Receivers = append(keep, config.Receiver{Name: "demo-file", Type: "file", Settings: settings})
	defaults := []string{"demo-file"}
	for _, r := range cfg.Notify.DefaultReceivers {
		if r != "stdout" {
			defaults = append(defaults, r)
		}
	}
	cfg.Notify.DefaultReceivers = defaults
	cfg.Notify.ExternalURL = cfg.Serve.PublicURL
	return token, nil
}

// freeAddrs resolves port 0 in each addr to a free port, all different.
func freeAddrs(addrs ...string) ([]string, error) {
	// Hold every listener until all are chosen: closed one by one, two
	// ":0" requests could be handed the same port.
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	out := make([]string, 0, len(addrs))
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("cannot listen on %s: %w", addr, err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

func writeConfigFile(path string, c *config.Config) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := config.WriteYAML(f, c); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// crawled reports whether every named site has had a good scrape round,
// as the scrape stage's own metric says.
func (p *process) crawled(sites []string) bool {
	seen := map[string]bool{}
	for _, m := range p.gather("threatwatch_scrape_last_success_timestamp_seconds") {
		if m.GetGauge().GetValue() > 0 {
			seen[label(m, "site")] = true
		}
	}
	for _, s := range sites {
		if !seen[s] {
			return false
		}
	}
	return true
}

// consoleCaughtUp reports whether the console's level stage has read
// every level written so far. The history's levels (a point every
// aggregate step, 5 s in the demo) take the console a while: started
// before it caught up, the campaign ran while the dashboard still showed
// the history's day-old "learning" levels beside the terminal's current
// ones.
func (p *process) consoleCaughtUp(ctx context.Context, cfg *config.Config) bool {
	if cfg.Serve.Listen == "" {
		return true
	}
	lag, _, err := p.bus.GroupLag(ctx, api.LevelStageName(cfg.Serve.ReplicaID), cfg.Topics.Name(cfg.Topics.Levels))
	return err == nil && lag == 0
}

// counts sums the pipeline's counters for the status line.
func (p *process) counts() demoCounts {
	var c demoCounts
	for _, m := range p.gather("threatwatch_scrape_posts_total") {
		c.scraped += m.GetCounter().GetValue()
	}
	for _, m := range p.gather("threatwatch_stage_messages_in_total") {
		switch label(m, "stage") {
		case "classify":
			c.scored += m.GetCounter().GetValue()
		case "aggregate":
			c.aggregated += m.GetCounter().GetValue()
		}
	}
	for _, m := range p.gather("threatwatch_stage_consumer_lag_messages") {
		if st := label(m, "stage"); st == "classify" || st == "aggregate" {
			c.lag += m.GetGauge().GetValue()
		}
	}
	return c
}

type demoCounts struct{ scraped, scored, aggregated, lag float64 }

// caughtUp reports whether every scraped post has been scored and
// aggregated.
func (c demoCounts) caughtUp() bool {
	return c.scraped > 0 && c.scored >= c.scraped && c.aggregated >= c.scraped
}

func (p *process) gather(name string) []*dto.Metric {
	mfs, err := p.obs.Registry.Gather()
	if err != nil {
		return nil
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// demoWatch is the live view's state, fed from the levels and alerts topics.
type demoWatch struct {
	tl        *demo.Timeline
	srv       *demo.Server
	noServe   bool
	dashURL   string
	token     string
	alertsOut *msg.Writer

	mu      sync.Mutex
	levels  map[string]*msg.Level // by site
	peak    map[string]*msg.Level // highest named level seen per site
	targets map[string]*msg.Level
	alerts  []*msg.Alert
	printed int
	lastKey map[string]string
}

func newDemoWatch(tl *demo.Timeline, srv *demo.Server, noServe bool, dash, token string) *demoWatch {
	return &demoWatch{tl: tl, srv: srv, noServe: noServe, dashURL: dash, token: token,
		levels: map[string]*msg.Level{}, peak: map[string]*msg.Level{}, targets: map[string]*msg.Level{}, lastKey: map[string]string{}}
}

// consume reads a topic with a consumer group of the view's own, from the
// start, until ctx ends.
func (w *demoWatch) consume(ctx context.Context, b *bus.Bus, topic string) {
	r := b.GroupReader(fmt.Sprintf("demo-view-%d", time.Now().UnixNano()), []string{topic}, bus.ReaderOptions{StartAt: kafka.FirstOffset})
	defer r.Close()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return
		}
		dm, err := msg.DecodeAny(m.Value)
		if err != nil {
			continue
		}
		w.mu.Lock()
		switch v := dm.(type) {
		case *msg.Level:
			if v.Target != "" {
				w.targets[v.Target] = v
			} else if v.Site != "" {
				w.levels[v.Site] = v
				if rank(v.Name) >= rank(nameOf(w.peak[v.Site])) {
					w.peak[v.Site] = v
				}
			}
		case *msg.Alert:
			w.alerts = append(w.alerts, v)
			if w.alertsOut != nil {
				_ = w.alertsOut.Write(v)
			}
		}
		w.mu.Unlock()
	}
}

func nameOf(l *msg.Level) string {
	if l == nil {
		return ""
	}
	return l.Name
}

func rank(name string) int {
	switch name {
	case "learning":
		return 1
	case "normal":
		return 2
	case "elevated":
		return 3
	case "high":
		return 4
	case "severe":
		return 5
	}
	return 0
}

// storyOrder ranks the scripted phases; the view shows the furthest one
// published so far.
var storyOrder = []demo.Phase{demo.PhaseNews, demo.PhaseTarget, demo.PhaseDox, demo.PhaseSwat, demo.PhaseThreat, demo.PhaseSpread, demo.PhaseAftermath}

// story says how far the campaign has got.
func (w *demoWatch) story(now time.Time) string {
	sched := w.srv.Schedule()
	if sched.CampaignStart.IsZero() {
		return "not started"
	}
	best := -1
	for _, p := range w.tl.Posts {
		i := slices.Index(storyOrder, p.Phase)
		if p.Clock != demo.Campaign || i <= best {
			continue
		}
		if at, ok := sched.At(p); ok && !at.After(now) {
			best = i
		}
	}
	if best < 0 {
		return "ordinary chatter"
	}
	return map[demo.Phase]string{
		demo.PhaseNews:      "a news story about a swatting sentence is discussed (a hard negative)",
		demo.PhaseTarget:    "a target is named on " + demo.SiteForum,
		demo.PhaseDox:       "her address and phone number are posted on " + demo.SiteForum,
		demo.PhaseSwat:      "calls to swat her on " + demo.SiteForum,
		demo.PhaseThreat:    "threats against her on " + demo.SiteForum,
		demo.PhaseSpread:    "the campaign spreads to " + demo.SiteChannel,
		demo.PhaseAftermath: "the thread winds down",
	}[storyOrder[best]]
}

func (w *demoWatch) render(out io.Writer, mode string, now time.Time, c demoCounts) {
	if mode == "none" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	sched := w.srv.Schedule()
	campaign := time.Duration(float64(now.Sub(sched.CampaignStart)) * sched.Speed)
	campaign = min(max(campaign, 0), w.tl.CampaignLength)
	if mode == "lines" {
		w.renderLines(out, now, campaign)
		return
	}
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J")
	fmt.Fprintf(&b, "ThreatWatch demo   campaign clock %s of %s (speed %g×)\n", clock(campaign), clock(w.tl.CampaignLength), sched.Speed)
	fmt.Fprintf(&b, "story: %s\n", w.story(now))
	fmt.Fprintf(&b, "pipeline: %.0f posts scraped, %.0f scored, %.0f aggregated (consumer lag %.0f)\n", c.scraped, c.scored, c.aggregated, c.lag)
	if !w.noServe {
		fmt.Fprintf(&b, "dashboard: %s/  (sign in with token %s)\n", w.dashURL, w.token)
	}
	fmt.Fprintf(&b, "\n%-13s %-10s %8s %9s %7s  %s\n", "SITE", "ENGINE", "LEVEL", "BASELINE", "POSTS", "STATE")
	for _, s := range demo.Sites {
		l := w.levels[s]
		if l == nil {
			fmt.Fprintf(&b, "%-13s %-10s %8s %9s %7s  %s\n", s, engineOf(s), "-", "-", "-", "waiting for levels")
			continue
		}
		fmt.Fprintf(&b, "%-13s %-10s %8.1f %9.1f %7d  %s\n", s, engineOf(s), l.Level, l.Baseline, l.Posts, strings.ToUpper(l.Name))
	}
	if len(w.targets) > 0 {
		b.WriteString("\nTARGETS (hashed ids; names never leave the classifier)\n")
		keys := make([]string, 0, len(w.targets))
		for k := range w.targets {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return w.targets[keys[i]].Level > w.targets[keys[j]].Level })
		for _, k := range keys[:min(len(keys), 4)] {
			l := w.targets[k]
			fmt.Fprintf(&b, "  %-20s level %6.1f  %s\n", k, l.Level, strings.ToUpper(l.Name))
		}
	}
	b.WriteString("\nALERTS\n")
	if len(w.alerts) == 0 {
		b.WriteString("  none yet\n")
	}
	for _, a := range w.alerts[max(0, len(w.alerts)-6):] {
		b.WriteString(alertLines(a))
	}
	_, _ = io.WriteString(out, b.String())
}

// renderLines prints what changed since the last call, one line each.
func (w *demoWatch) renderLines(out io.Writer, now time.Time, campaign time.Duration) {
	for _, s := range demo.Sites {
		l := w.levels[s]
		if l == nil {
			continue
		}
		key := l.Name
		if key != w.lastKey[s] {
			w.lastKey[s] = key
			fmt.Fprintf(out, "[%s] %-12s level %.1f (baseline %.1f): %s\n", clock(campaign), s, l.Level, l.Baseline, strings.ToUpper(l.Name))
		}
	}
	if st := w.story(now); st != w.lastKey["story"] {
		w.lastKey["story"] = st
		fmt.Fprintf(out, "[%s] story: %s\n", clock(campaign), st)
	}
	for _, a := range w.alerts[w.printed:] {
		fmt.Fprintf(out, "[%s] ", clock(campaign))
		_, _ = io.WriteString(out, strings.TrimPrefix(alertLines(a), "  "))
	}
	w.printed = len(w.alerts)
}

func alertLines(a *msg.Alert) string {
	var b strings.Builder
	where := a.Labels["site"]
	if t := a.Labels["target"]; t != "" {
		where = "target " + t
	}
	fmt.Fprintf(&b, "  %s %-8s %-20s %s", strings.ToUpper(a.Status), a.Labels["severity"], a.Labels["alertname"], where)
	if s := a.Labels["signal"]; s != "" {
		fmt.Fprintf(&b, "  signal=%s", s)
	}
	if r := a.Labels["rule"]; r != "" {
		fmt.Fprintf(&b, "  rule=%s", r)
	}
	fmt.Fprintf(&b, "  level %.1f vs baseline %.1f\n", a.Level, a.Baseline)
	for _, ev := range a.Evidence[:min(len(a.Evidence), 2)] {
		if ev.Snippet != "" {
			fmt.Fprintf(&b, "      evidence: %q\n", ev.Snippet)
		}
	}
	return b.String()
}

// summary says, per site, what paged: the site itself, a target its posts
// were evidence for, or nothing. A target's alert has no site label (a
// person is followed across sites), so it is tied to a site by the posts it
// cites, whose ids begin with the site's name.
func (w *demoWatch) summary(out io.Writer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sitePages := map[string]int{}
	targetPages := map[string]int{}
	targets := map[string][]string{} // by site, in the order they paged
	for _, a := range w.alerts {
		if a.Status != msg.StatusFiring {
			continue
		}
		if s := a.Labels["site"]; s != "" {
			sitePages[s]++
			continue
		}
		tgt := a.Labels["target"]
		if tgt == "" {
			continue
		}
		for _, s := range demo.Sites {
			if !citesSite(a, s) {
				continue
			}
			targetPages[s]++
			if !slices.Contains(targets[s], tgt) {
				targets[s] = append(targets[s], tgt)
			}
		}
	}
	fmt.Fprintln(out, "Summary:")
	for _, s := range demo.Sites {
		peak := "no level yet"
		if l := w.peak[s]; l != nil {
			peak = "peak " + strings.ToUpper(l.Name)
		}
		var verdict string
		target := fmt.Sprintf("target %s (%s citing its posts)", strings.Join(targets[s], ", "), notifications(targetPages[s]))
		switch {
		case sitePages[s] > 0 && targetPages[s] > 0:
			verdict = fmt.Sprintf("PAGED: site (%s) and %s", notifications(sitePages[s]), target)
		case sitePages[s] > 0:
			verdict = fmt.Sprintf("PAGED: site (%s)", notifications(sitePages[s]))
		case targetPages[s] > 0:
			verdict = "PAGED: " + target + "; the site itself did not page"
		default:
			verdict = "did not page: neither the site nor a target"
		}
		if l := w.peak[s]; sitePages[s] == 0 && l != nil && l.Name == "learning" {
			verdict += " (the site was still learning its baseline: site spikes page only after aggregate.baseline.learning of history; target and override alerts do not wait)"
		}
		fmt.Fprintf(out, "  %-12s %-14s %s\n", s, peak, verdict)
	}
	fmt.Fprintf(out, "  %d alerts in all (site, target and override alerts)\n", len(w.alerts))
}

// citesSite reports whether alert a cites a post of site as evidence.
func citesSite(a *msg.Alert, site string) bool {
	for _, c := range a.Evidence {
		if strings.HasPrefix(c.PostID, site+":") {
			return true
		}
	}
	return false
}

func notifications(n int) string {
	if n == 1 {
		return "1 firing notification"
	}
	return fmt.Sprintf("%d firing notifications", n)
}

func engineOf(site string) string {
	switch site {
	case demo.SiteForum:
		return "xenforo"
	case demo.SiteChannel:
		return "telegram"
	}
	return "imageboard"
}

func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60)
}
