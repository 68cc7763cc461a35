package main

import (
	"context"
	"fmt"
)

// This file holds the subcommands whose issues are not done yet. Each
// moves to a file of its own when it is built.

func notBuilt(what string) error { return fmt.Errorf("%s: %w", what, errNotBuilt) }

func cmdScrape(ctx context.Context, e *env, args []string) error {
	return stageCommand("scrape")(ctx, e, args)
}
func runScrapeStage(ctx context.Context, p *process) error { return notBuilt("the scrapers") }

func cmdClassify(ctx context.Context, e *env, args []string) error {
	return stageCommand("classify")(ctx, e, args)
}
func runClassifyStage(ctx context.Context, p *process) error    { return notBuilt("the classify stage") }
func cmdScore(ctx context.Context, e *env, args []string) error { return notBuilt("score") }
func cmdEval(ctx context.Context, e *env, args []string) error  { return notBuilt("eval") }

func cmdAggregate(ctx context.Context, e *env, args []string) error {
	return stageCommand("aggregate")(ctx, e, args)
}
func runAggregateStage(ctx context.Context, p *process) error { return notBuilt("the aggregate stage") }

func cmdNotify(ctx context.Context, e *env, args []string) error {
	return stageCommand("notify")(ctx, e, args)
}
func runNotifyStage(ctx context.Context, p *process) error { return notBuilt("the notify stage") }

func cmdServe(ctx context.Context, e *env, args []string) error {
	return stageCommand("serve")(ctx, e, args)
}
func runServeStage(ctx context.Context, p *process) error { return notBuilt("the API server") }

func cmdReplay(ctx context.Context, e *env, args []string) error    { return notBuilt("replay") }
func cmdExport(ctx context.Context, e *env, args []string) error    { return notBuilt("export") }
func cmdWatchlist(ctx context.Context, e *env, args []string) error { return notBuilt("watchlist") }
func cmdDemo(ctx context.Context, e *env, args []string) error      { return notBuilt("demo") }
