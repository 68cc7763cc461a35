package main

import "context"

func cmdServe(ctx context.Context, e *env, args []string) error {
	return stageCommand("serve")(ctx, e, args)
}
func runServeStage(ctx context.Context, p *process) error { return notBuilt("the API server") }
