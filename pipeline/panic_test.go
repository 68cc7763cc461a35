package pipeline_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/obs/obstest"
)

// panickyCheckpoints is a stateful handler whose Checkpoint panics with a
// value that quotes a post.
type panickyCheckpoints struct {
	pipeline.HandlerFunc[*msg.Post]
}

func (panickyCheckpoints) Checkpoint(context.Context, map[int]int64) error {
	panic("cannot checkpoint Clara Sorrenti lives at 12 Main Street")
}

// A panic outside a handler's Handle (the batch writer, a checkpoint, one
// of the goroutines the runner starts beside its loop, the loop itself) is
// a bug, not a message to set aside: the stage stops with an error that
// wraps ErrPanicked and names where, logged with the stack and counted,
// instead of crashing the process with a trace. The panic's value, which
// may quote a post, is named by its type only.
func TestAPanicOutsideHandleStopsTheStageWithAClearError(t *testing.T) {
	handle := func(scored string) pipeline.HandlerFunc[*msg.Post] {
		return func(_ context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
			return []pipeline.Output{{Topic: scored, Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"}}}, nil
		}
	}
	cases := []struct {
		name  string
		where string
		// set breaks the stage: a metric left nil is a programming error
		// in the runner's own code, in the goroutine that updates it.
		set func(d *pipeline.Deps, s *pipeline.Stage[msg.Post, *msg.Post], scored string)
	}{
		{"in a stateless stage's batch writer", "write", func(d *pipeline.Deps, s *pipeline.Stage[msg.Post, *msg.Post], scored string) {
			d.Metrics.Out = nil
		}},
		{"in a stateful stage's checkpoint", "write", func(d *pipeline.Deps, s *pipeline.Stage[msg.Post, *msg.Post], scored string) {
			s.Handler = panickyCheckpoints{handle(scored)}
		}},
		{"in the stage's loop", "loop", func(d *pipeline.Deps, s *pipeline.Stage[msg.Post, *msg.Post], scored string) {
			d.Metrics.In = nil
		}},
		{"in the group-lag watcher", "group_lag", func(d *pipeline.Deps, s *pipeline.Stage[msg.Post, *msg.Post], scored string) {
			d.Metrics.GroupLag = nil
			d.GroupLagEvery = 50 * time.Millisecond
		}},
		{"in the watermark writer", "watermark", func(d *pipeline.Deps, s *pipeline.Stage[msg.Post, *msg.Post], scored string) {
			d.Metrics.Watermark = nil
			d.Config.WatermarkEvery = 50 * time.Millisecond
			s.WatermarkTo = scored
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
			posts, scored := c.Topic("posts"), c.Topic("scored")
			d := deps(c, nil)
			var logs obstest.Buffer
			d.Log = slog.New(slog.NewTextHandler(&logs, nil))
			stage := pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handle(scored)}
			tc.set(&d, &stage, scored)
			produce(t, c, posts, post("s", 1))

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := runStage(t, ctx, d, stage)
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the stage did not stop")
			}
			if !errors.Is(err, pipeline.ErrPanicked) || !strings.Contains(err.Error(), "stage classify") || !strings.Contains(err.Error(), tc.where) {
				t.Errorf("stage ended with %v, want an error wrapping ErrPanicked naming the stage and %q", err, tc.where)
			}
			if n := testutil.ToFloat64(d.Metrics.Panics.WithLabelValues("classify", tc.where)); n != 1 {
				t.Errorf("threatwatch_stage_panics_total{where=%q} = %v, want 1", tc.where, n)
			}
			out := logs.String()
			if !strings.Contains(out, "stack=") || !strings.Contains(out, "where="+tc.where) {
				t.Errorf("the panic was not logged with where it happened and its stack:\n%.2000s", out)
			}
			if strings.Contains(out, "Sorrenti") || strings.Contains(err.Error(), "Sorrenti") {
				t.Errorf("the panic's value reached the log or the error:\n%v\n%.2000s", err, out)
			}
		})
	}
}
