package main

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/aggregate"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

func cmdAggregate(ctx context.Context, e *env, args []string) error {
	return stageCommand("aggregate")(ctx, e, args)
}

// repartitionTopic is the topic between the site and target halves of the
// aggregate stage: threatening posts keyed by target.
func repartitionTopic(p *process) string { return repartitionName(p.cfg.Topics) }

// repartitionName is the full name of the aggregate stage's repartition
// topic under topics t.
func repartitionName(t config.Topics) string { return t.Name(t.Scored + "-by-target") }

// runAggregateStage runs scored -> levels + alerts: per-site levels from the
// scored topic, and per-target levels from the repartition topic the site
// half fills, each under the stage runner with checkpoints in Redis.
func runAggregateStage(ctx context.Context, p *process) error {
	cfg := p.cfg.Aggregate
	repart := repartitionTopic(p)
	if cfg.Targets.On() {
		if err := p.bus.EnsureTopics(ctx, repart); err != nil {
			return err
		}
	}
	opts := aggregate.StageOptions{
		Levels: p.topic(p.cfg.Topics.Levels), Alerts: p.topic(p.cfg.Topics.Alerts),
		Store: p.store, Log: p.log, Registerer: p.obs.Registry, History: p.bus, DedupTTL: p.cfg.Runner.DedupTTL,
		WatermarkEvery: p.cfg.Runner.WatermarkEvery,
	}
	siteOpts := opts
	siteOpts.Name, siteOpts.Scope = "aggregate", aggregate.Sites
	if cfg.Targets.On() {
		siteOpts.Repartition = repart
	}
	sites, err := aggregate.NewStage(cfg, siteOpts)
	if err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return pipeline.Run(gctx, p.deps(), pipeline.Stage[msg.Scored, *msg.Scored]{
			Name: siteOpts.Name, Input: p.topic(p.cfg.Topics.Scored), Handler: sites, TickEvery: cfg.TickEvery,
			// The target half's clock waits for this half's watermark
			// (itself no later than the classify stage's).
			WatermarkTo: siteOpts.Repartition,
			// A post can be on the topic twice (the classify stage crashed
			// between writing and marking, a producer retried): count it once.
			Dedup: true,
		})
	})
	if cfg.Targets.On() {
		tgtOpts := opts
		tgtOpts.Name, tgtOpts.Scope = "aggregate-targets", aggregate.Targets
		targets, err := aggregate.NewStage(cfg, tgtOpts)
		if err != nil {
			return fmt.Errorf("aggregate: %w", err)
		}
		g.Go(func() error {
			return pipeline.Run(gctx, p.deps(), pipeline.Stage[aggregate.TargetPost, *aggregate.TargetPost]{
				Name: tgtOpts.Name, Input: repart, Handler: aggregate.TargetStage{Stage: targets}, TickEvery: cfg.TickEvery,
				// The site half re-publishes a batch it crashed in: count it once.
				Dedup: true,
			})
		})
	}
	return g.Wait()
}
