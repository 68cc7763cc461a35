package pipeline_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

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

	// Counted once each: the first run set them aside in a batch it never
	// wrote.
	if n := testutil.ToFloat64(d.Metrics.DeadLettered.WithLabelValues("classify", "invalid")); n != 2 {
		t.Errorf("dead_letters_total{reason=invalid} = %v, want 2", n)
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

// checkpointsHeld is a stateful handler whose checkpoint, while held,
// waits for the shutdown: its batch's outputs are written and its offsets
// never committed.
type checkpointsHeld struct {
	pipeline.HandlerFunc[*msg.Post]
	held  atomic.Bool
	calls atomic.Int64
}

func (c *checkpointsHeld) Checkpoint(ctx context.Context, _ map[int]int64) error {
	c.calls.Add(1)
	if c.held.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// A shutdown timeout that falls between a batch's write and its commit
// leaves its dead letters written and its inputs to be redelivered, and
// they are written again then (delivery is at least once). Each copy
// carries the id of the first (tw-dead-letter-id), so a reader can drop
// the repeat, and the process counts each input once, when its offset is
// committed.
func TestAShutdownBetweenWriteAndCommitRewritesDeadLettersUnderTheSameIDCountedOnce(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	posts, dlq := c.Topic("posts"), c.Topic("dead-letter")
	d := deps(c, nil)
	d.Config.ShutdownTimeout = 200 * time.Millisecond
	d.Config.BatchLinger = time.Second // the three inputs make one batch
	h := &checkpointsHeld{HandlerFunc: func(context.Context, *msg.Post, pipeline.Meta) ([]pipeline.Output, error) { return nil, nil }}
	h.held.Store(true)
	stage := pipeline.Stage[msg.Post, *msg.Post]{Name: "aggregate", Input: posts, Handler: h}
	// Offsets: 0 and 2 undecodable, 1 a post.
	produceRaw(t, c, posts, `{not json`)
	produce(t, c, posts, post("s", 1))
	produceRaw(t, c, posts, `{not json either`)

	ctx, cancel := context.WithCancel(context.Background())
	done := runStage(t, ctx, d, stage)
	waitHandled(&h.calls, 1) // written, held at its checkpoint
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("first run ended with %v, want nil", err)
	}
	if n := testutil.ToFloat64(d.Metrics.DeadLettered.WithLabelValues("aggregate", "invalid")); n != 0 {
		t.Errorf("dead_letters_total{reason=invalid} = %v after a batch that was not committed, want 0", n)
	}

	h.held.Store(false)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	done2 := runStage(t, ctx2, d, stage)
	waitHandled(&h.calls, 2)
	dead := readTopic(t, c, dlq, 4, 20*time.Second)
	cancel2()
	if err := <-done2; err != nil {
		t.Fatalf("second run ended with %v, want nil", err)
	}
	if n := testutil.ToFloat64(d.Metrics.DeadLettered.WithLabelValues("aggregate", "invalid")); n != 2 {
		t.Errorf("dead_letters_total{reason=invalid} = %v, want 2: each input once", n)
	}

	copies := map[string]int{}
	for _, m := range dead {
		id := ""
		for _, hd := range m.Headers {
			if hd.Key == "tw-dead-letter-id" {
				id = string(hd.Value)
			}
		}
		copies[id]++
	}
	want := map[string]int{}
	for _, off := range []int{0, 2} {
		want["aggregate/"+posts+"/0/"+strconv.Itoa(off)] = 2
	}
	if fmt.Sprint(copies) != fmt.Sprint(want) {
		t.Errorf("dead letters by tw-dead-letter-id %v, want two copies of each input's, under its id: %v", copies, want)
	}
}
