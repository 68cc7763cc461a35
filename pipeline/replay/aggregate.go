package replay

import (
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/aggregate"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// NewAggregateEngine returns the live aggregation and alert engine
// (pipeline/aggregate) for cfg, its alerts marked as replays. It is the
// engine every replay runs: live and replay share this code.
func NewAggregateEngine(cfg config.Aggregate) (Engine, error) {
	e, err := aggregate.NewEngine(cfg)
	if err != nil {
		return nil, err
	}
	e.SetReplay(true)
	return &aggregateEngine{e: e}, nil
}

type aggregateEngine struct {
	e *aggregate.Engine
}

func (a *aggregateEngine) convert(outs []aggregate.Output) []Output {
	if len(outs) == 0 {
		return nil
	}
	res := make([]Output, len(outs))
	for i, o := range outs {
		res[i] = Output(o)
	}
	return res
}

func (a *aggregateEngine) Add(s *msg.Scored) []Output { return a.convert(a.e.Add(s)) }

func (a *aggregateEngine) Advance(now time.Time) []Output { return a.convert(a.e.Advance(now)) }

// FromAggregate sets the options that follow the aggregate configuration:
// the clock steps with the aggregate step, and each input is reordered
// within the grace period (a post later than that is late live too).
func (o *Options) FromAggregate(cfg config.Aggregate) {
	o.Step = cfg.Step
	o.Window = cfg.Grace
}

// FromConfig sets the options that follow a configuration: those of
// FromAggregate, and the dedup window, runner.dedup_ttl, for which the live
// stages remember a post id (a post sent again within it counts once).
func (o *Options) FromConfig(cfg *config.Config) {
	o.FromAggregate(cfg.Aggregate)
	o.DedupWindow = cfg.Runner.DedupTTL
}
