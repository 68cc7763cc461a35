package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/obs"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// process holds what a long-running subcommand shares between its stages:
// one broker connection, one store, one metrics registry.
type process struct {
	cfg     *config.Config
	log     *slog.Logger
	bus     *bus.Bus
	store   *store.Store
	obs     *obs.Server
	metrics *pipeline.Metrics
}

// loadConfig loads the config named by path (or THREATWATCH_CONFIG).
func loadConfig(e *env, path string) (*config.Config, error) {
	if path == "" {
		path = e.getenv(config.EnvConfig)
	}
	return config.Load(path)
}

// newLogger builds the process logger from the config.
func newLogger(e *env, c config.Log) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	o := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, o))
	}
	return slog.New(slog.NewTextHandler(e.stderr, o))
}

// openProcess connects to Kafka and Redis (starting the embedded ones when
// none are configured) and waits until both answer.
func openProcess(ctx context.Context, e *env, cfg *config.Config) (*process, error) {
	log := newLogger(e, cfg.Log)
	store.SetLogger(log)
	p := &process{cfg: cfg, log: log, obs: obs.New(log)}
	p.metrics = pipeline.NewMetrics(p.obs.Registry)
	var err error
	if p.bus, err = bus.Open(cfg.Kafka, log); err != nil {
		if len(cfg.Kafka.Brokers) == 0 && errors.Is(err, syscall.EADDRINUSE) {
			// The fixed port another process (often an earlier run) holds.
			return nil, fmt.Errorf("kafka.embedded.port: %w", err)
		}
		return nil, err
	}
	if p.store, err = store.Open(cfg.Redis, log); err != nil {
		p.bus.Close()
		return nil, err
	}
	if err := p.bus.WaitReady(ctx); err != nil {
		p.close()
		return nil, err
	}
	if err := p.store.WaitReady(ctx, log); err != nil {
		p.close()
		return nil, err
	}
	if err := p.bus.EnsureTopics(ctx, cfg.Topics.All()...); err != nil {
		p.close()
		return nil, err
	}
	p.obs.AddCheck("kafka", p.bus.Ping)
	p.obs.AddCheck("redis", func(ctx context.Context) error { return p.store.Ping(ctx).Err() })
	go p.store.WatchMemory(ctx, p.obs.Registry, log, time.Minute)
	return p, nil
}

func (p *process) close() {
	if p.store != nil {
		_ = p.store.Close()
	}
	if p.bus != nil {
		p.bus.Close()
	}
}

// deps returns what the stage runner needs.
func (p *process) deps() pipeline.Deps {
	return pipeline.Deps{
		Bus: p.bus, Store: p.store, Metrics: p.metrics, Log: p.log,
		Config: p.cfg.Runner, Topics: p.cfg.Topics,
	}
}

// topic returns a topic's full name.
func (p *process) topic(short string) string { return p.cfg.Topics.Name(short) }

// stage is a long-running part of the pipeline that `run` can start.
type stage struct {
	name string
	run  func(ctx context.Context, p *process) error
}

// stages lists the pipeline's stages in flow order; `run` starts them all,
// and each has a subcommand of its own so it can be scaled on its own.
var stages = []stage{
	{"scrape", runScrapeStage},
	{"classify", runClassifyStage},
	{"aggregate", runAggregateStage},
	{"notify", runNotifyStage},
	{"serve", runServeStage},
}

// runStages runs the named stages in one process with the ops server until
// ctx ends or one fails (then all stop).
func runStages(ctx context.Context, e *env, cfgPath string, names ...string) error {
	cfg, err := loadConfig(e, cfgPath)
	if err != nil {
		return err
	}
	p, err := openProcess(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer p.close()
	if len(names) == 1 && names[0] == "serve" {
		// The console serves what Redis holds without Kafka and tells its
		// dashboards that their feed is paused; taking it out of rotation
		// would leave the SOC without it just when something is wrong.
		p.obs.AddInfo("kafka", p.bus.Ping)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// Named by its key, as serve.listen is: a process has two ports,
		// and "address already in use" alone does not say which is taken.
		if err := p.obs.Serve(gctx, cfg.HTTP.Listen); err != nil {
			return fmt.Errorf("http.listen: %w", err)
		}
		return nil
	})
	started := 0
	for _, s := range stages {
		if !contains(names, s.name) {
			continue
		}
		started++
		g.Go(func() error {
			err := s.run(gctx, p)
			if errors.Is(err, errNotBuilt) && len(names) > 1 {
				p.log.Warn("stage not built yet; skipping", "stage", s.name)
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			return nil
		})
	}
	if started == 0 {
		return fmt.Errorf("%w: no stage named %v", errUsage, names)
	}
	err = g.Wait()
	if err == nil || (ctx.Err() != nil && errors.Is(err, context.Canceled)) {
		p.log.Info("stopped cleanly")
		return nil
	}
	return err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func cmdRun(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := newFlags(e, "run", "[--config FILE]")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	names := make([]string, len(stages))
	for i, s := range stages {
		names[i] = s.name
	}
	return runStages(ctx, e, *cfgPath, names...)
}

// stageCommand is the subcommand of one stage; more, when given, is added
// to its synopsis in --help (another form the command takes).
func stageCommand(name string, more ...string) func(ctx context.Context, e *env, args []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		fs, cfgPath := newFlags(e, name, "[--config FILE]"+strings.Join(more, ""))
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if err := noArgs(fs); err != nil {
			return err
		}
		return runStages(ctx, e, *cfgPath, name)
	}
}

var _ = os.Stdout
