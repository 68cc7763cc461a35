package main

import "context"

func cmdNotify(ctx context.Context, e *env, args []string) error {
	return stageCommand("notify")(ctx, e, args)
}
func runNotifyStage(ctx context.Context, p *process) error { return notBuilt("the notify stage") }
