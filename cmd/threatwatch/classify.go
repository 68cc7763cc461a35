package main

import "context"

func cmdClassify(ctx context.Context, e *env, args []string) error {
	return stageCommand("classify")(ctx, e, args)
}
func runClassifyStage(ctx context.Context, p *process) error    { return notBuilt("the classify stage") }
func cmdScore(ctx context.Context, e *env, args []string) error { return notBuilt("score") }
func cmdEval(ctx context.Context, e *env, args []string) error  { return notBuilt("eval") }
