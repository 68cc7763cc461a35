package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/notify"
	"github.com/threatwatch/threatwatch/pipeline/notify/sinks"
)

func cmdNotify(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "test" {
		return cmdNotifyTest(ctx, e, args[1:])
	}
	return stageCommand("notify", "\n       threatwatch notify test [--config FILE] [--receiver NAME] [--no-resolve]\n\n"+
		"Runs the notify stage. notify test sends a test alert and its resolution to the receivers\n"+
		"directly, to check their keys and URLs (threatwatch notify test --help).")(ctx, e, args)
}

// runNotifyStage delivers the alerts topic to the configured receivers. It
// writes no topic: its outputs are notifications, its state is in Redis.
func runNotifyStage(ctx context.Context, p *process) error {
	const name = "notify"
	st, err := notify.New(p.cfg.Notify, sinks.All(), alertstate.New(p.store), notify.Options{
		Log: p.log, Registerer: p.obs.Registry, History: p.bus, AlertsTopic: p.topic(p.cfg.Topics.Alerts), Group: name,
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
		Name:      name,
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

// cmdNotifyTest sends a test alert, then its resolution, to receivers
// directly (no Kafka, no Redis, no silences), so an operator can check
// keys and URLs before the first real page.
func cmdNotifyTest(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := newFlags(e, "notify test", "[--config FILE] [--receiver NAME] [--no-resolve]")
	only := fs.String("receiver", "", "send to this receiver only (default: every receiver)")
	noResolve := fs.Bool("no-resolve", false, "leave the test alert firing (do not send its resolution)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	st, err := notify.New(cfg.Notify, sinks.All(), nil, notify.Options{Stdout: e.stdout, Log: newLogger(e, cfg.Log)})
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now().UTC()
	labels := map[string]string{"alertname": "ThreatWatchTest", "severity": "info", "site": "threatwatch-test"}
	a := &msg.Alert{
		Schema: msg.SchemaAlert, Labels: labels, Fingerprint: msg.Fingerprint(labels, now),
		Annotations: map[string]string{
			"summary":     "ThreatWatch test notification",
			"description": "Sent by `threatwatch notify test` to check this receiver. No action needed.",
		},
		Status: msg.StatusFiring, StartsAt: now, EventTime: now,
	}
	retry := notify.NewRetry(cfg.Notify.Retry)
	sent, failed := 0, 0
	for _, r := range st.Receivers() {
		if *only != "" && r.Name != *only {
			continue
		}
		sent++
		statuses := []string{msg.StatusFiring, msg.StatusResolved}
		if *noResolve {
			statuses = statuses[:1]
		}
		for _, status := range statuses {
			c := *a
			c.Status = status
			if status == msg.StatusResolved {
				c.EndsAt = time.Now().UTC()
			}
			attempts, _, err := retry.Send(ctx, r.Sink, &c)
			if err != nil {
				failed++
				fmt.Fprintf(e.stdout, "%-20s %-12s %-8s FAILED after %d attempt(s): %v\n", r.Name, r.Type, status, attempts, err)
				break
			}
			fmt.Fprintf(e.stdout, "%-20s %-12s %-8s ok\n", r.Name, r.Type, status)
		}
	}
	switch {
	case sent == 0 && *only != "":
		return fmt.Errorf("%w: no receiver named %q", errUsage, *only)
	case failed > 0:
		return errors.New("some receivers failed")
	}
	return nil
}
