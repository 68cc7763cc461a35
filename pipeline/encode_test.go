package pipeline_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// An output that cannot be encoded (a NaN score, a time past year 9999)
// is the input's to carry, as a panic is: it used to stop the stage with
// an error, and every restart read the same input and stopped again.
func TestAnOutputThatCannotBeEncodedSetsItsInputAsideAndTheStreamGoesOn(t *testing.T) {
	f := func(name string, spoil func(*msg.Scored)) {
		t.Run(name, func(t *testing.T) {
			c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
			posts, scored, dlq := c.Topic("posts"), c.Topic("scored"), c.Topic("dead-letter")
			d := deps(c, prometheus.NewRegistry())
			bad := post("s", 2)
			handler := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
				s := &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"}
				if p.ID == bad.ID {
					spoil(s)
				}
				return []pipeline.Output{{Topic: scored, Msg: s}}, nil
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler})
			produce(t, c, posts, post("s", 1), bad, post("s", 3))

			dead := onlyPosts1And3Scored(t, c, scored, dlq, 1)
			dl, err := msg.Decode[msg.DeadLetter](dead[0].Value)
			if err != nil {
				t.Fatal(err)
			}
			if dl.Reason != "encode" || len(dl.Value) == 0 {
				t.Errorf("dead letter: reason %q, error %q, value of %d bytes; want reason encode and the input", dl.Reason, dl.Error, len(dl.Value))
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("stage: %v", err)
			}
			if n := testutil.ToFloat64(d.Metrics.DeadLettered.WithLabelValues("classify", "encode")); n != 1 {
				t.Errorf("dead_letters{reason=encode} = %v, want 1", n)
			}
		})
	}
	f("a NaN score", func(s *msg.Scored) { s.Scores[msg.SignalThreat] = math.NaN() })
	f("a time past year 9999", func(s *msg.Scored) { s.ScoredAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) })
}

// ticker emits what next returns at every tick.
type ticker struct {
	pipeline.HandlerFunc[*msg.Post]
	next func() []pipeline.Output
}

func (k ticker) Tick(context.Context, time.Time) ([]pipeline.Output, error) { return k.next(), nil }

// A tick's output that cannot be encoded is dropped and counted, as one
// over the size limit is: it used to stop the stage at every tick.
func TestATickOutputThatCannotBeEncodedIsDroppedAndTheStageGoesOn(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	posts, levels := c.Topic("posts"), c.Topic("levels")
	d := deps(c, prometheus.NewRegistry())
	n := 0
	h := ticker{
		HandlerFunc: func(context.Context, *msg.Post, pipeline.Meta) ([]pipeline.Output, error) { return nil, nil },
		next: func() []pipeline.Output {
			n++
			l := &msg.Level{Site: "s", Time: time.Date(2026, 1, 1, 0, 0, n, 0, time.UTC), Level: 1}
			if n == 1 {
				l.Score = math.Inf(1)
			}
			return []pipeline.Output{{Topic: levels, Msg: l}}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "aggregate", Input: posts, Handler: h, TickEvery: 50 * time.Millisecond})
	got := make(chan int, 1)
	go func() { got <- len(readTopic(t, c, levels, 1, 20*time.Second)) }()
	select {
	case err := <-done:
		t.Fatalf("stage stopped: %v", err)
	case k := <-got:
		if k == 0 {
			t.Fatal("no level written after the one that cannot be encoded")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("stage: %v", err)
	}
	if v := testutil.ToFloat64(d.Metrics.Errors.WithLabelValues("aggregate", "permanent")); v < 1 {
		t.Errorf("errors{class=permanent} = %v, want at least 1", v)
	}
}
