package main

import "context"

func cmdAggregate(ctx context.Context, e *env, args []string) error {
	return stageCommand("aggregate")(ctx, e, args)
}
func runAggregateStage(ctx context.Context, p *process) error { return notBuilt("the aggregate stage") }
