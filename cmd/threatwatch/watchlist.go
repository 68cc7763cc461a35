package main

import "context"

func cmdWatchlist(ctx context.Context, e *env, args []string) error { return notBuilt("watchlist") }
