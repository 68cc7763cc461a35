package pipeline_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// A shutdown that cuts a batch short leaves the whole batch to be
// redelivered, dead letters included: written then, an undecodable input
// would be dead-lettered again when the batch comes back, and a redrive
// would replay it twice.
func TestAShutdownThatCutsABatchShortDeadLettersEachInputOnce(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	posts, scored, dlq := c.Topic("posts"), c.Topic("scored"), c.Topic("dead-letter")
	d := deps(c, nil)
	d.Config.ShutdownTimeout = 200 * time.Millisecond // the stuck input is cut short
	d.Config.BatchLinger = time.Second                // the three inputs make one batch

	var stuck atomic.Bool
	var calls, handled atomic.Int64
	handler := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
		calls.Add(1)
		if p.SitePostID == "0" {
			// The first batch writes: the writer is warm, as in a stage
			// that has been running a while, when the shutdown comes.
			return []pipeline.Output{{Topic: scored, Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"}}}, nil
		}
		if stuck.Load() {
			return nil, fmt.Errorf("cannot reach the dependency: %w", context.DeadlineExceeded)
		}
		handled.Add(1)
		return nil, nil
	})
	stage := pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler}

	ctx, cancel := context.WithCancel(context.Background())
	done := runStage(t, ctx, d, stage)
	produce(t, c, posts, post("s", 0))
	if got := readTopic(t, c, scored, 1, 20*time.Second); len(got) != 1 {
		t.Fatalf("%d scored, want post 0", len(got))
	}
	// Offsets: 1 undecodable, 2 a post the first run cannot get through,
	// 3 undecodable.
	stuck.Store(true)
	produceRaw(t, c, posts, `{not json`)
	produce(t, c, posts, post("s", 2))
	produceRaw(t, c, posts, `{not json either`)
	waitHandled(&calls, 2)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("first run ended with %v, want nil", err)
	}

	stuck.Store(false)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	done2 := runStage(t, ctx2, d, stage)
	waitHandled(&handled, 1)
	cancel2()
	if err := <-done2; err != nil {
		t.Fatalf("second run ended with %v, want nil", err)
	}

	perOffset := map[int64]int{}
	for _, m := range readTopic(t, c, dlq, 1<<30, 2*time.Second) {
		dl, err := msg.Decode[msg.DeadLetter](m.Value)
		if err != nil {
			t.Fatalf("dead letter does not decode: %v", err)
		}
		perOffset[dl.Offset]++
	}
	if perOffset[1] != 1 || perOffset[3] != 1 || len(perOffset) != 2 {
		t.Fatalf("dead letters per source offset %v, want one each of offsets 1 and 3", perOffset)
	}
}
