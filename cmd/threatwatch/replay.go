package main

import "context"

func cmdReplay(ctx context.Context, e *env, args []string) error { return notBuilt("replay") }
func cmdExport(ctx context.Context, e *env, args []string) error { return notBuilt("export") }
