package main

import "context"

func cmdScrape(ctx context.Context, e *env, args []string) error {
	return stageCommand("scrape")(ctx, e, args)
}
func runScrapeStage(ctx context.Context, p *process) error { return notBuilt("the scrapers") }
