package main

import (
	"context"
	"fmt"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
	"github.com/threatwatch/threatwatch/pipeline/notify/sinks"
)

func cmdNotify(ctx context.Context, e *env, args []string) error {
	return stageCommand("notify")(ctx, e, args)
}

// runNotifyStage delivers the alerts topic to the configured receivers. It
// writes no topic: its outputs are notifications, its state is in Redis.
func runNotifyStage(ctx context.Context, p *process) error {
	st, err := notify.New(p.cfg.Notify, sinks.All(), alertstate.New(p.store), notify.Options{
		Log: p.log, Registerer: p.obs.Registry,
	})
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			p.log.Warn("cannot close sinks", "stage", "notify", "err", err)
		}
	}()
	return pipeline.Run(ctx, p.deps(), pipeline.Stage[msg.Alert, *msg.Alert]{
		Name:      "notify",
		Input:     p.topic(p.cfg.Topics.Alerts),
		Handler:   st,
		TickEvery: p.cfg.Notify.Tick,
	})
}

// checkNotify builds every configured receiver without sending, so
// `config check` reports bad sink settings (which the config package
// cannot decode: each sink package owns its settings) with field paths.
func checkNotify(cfg *config.Config) error {
	return notify.Check(cfg.Notify, sinks.All())
}
