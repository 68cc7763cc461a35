package pipeline_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// wmRecorder is a downstream stage that records the watermarks it is
// handed, per partition, and counts the data it receives.
type wmRecorder struct {
	mu   sync.Mutex
	last map[int]time.Time
	data atomic.Int64
}

func (w *wmRecorder) Handle(_ context.Context, _ *msg.Scored, _ pipeline.Meta) ([]pipeline.Output, error) {
	w.data.Add(1)
	return nil, nil
}

func (w *wmRecorder) Watermark(_ context.Context, meta pipeline.Meta, through time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		w.last = map[int]time.Time{}
	}
	w.last[meta.Partition] = through
	return nil
}

func (w *wmRecorder) snapshot() map[int]time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[int]time.Time, len(w.last))
	for k, v := range w.last {
		out[k] = v
	}
	return out
}

// TestAStageBehindHoldsTheWatermarkItPassesOn: the stage upstream writes
// its watermark to every partition of its output. While it is stuck on a
// post, the watermark stays at or before the time that post entered the
// pipeline, on every partition downstream, however much wall-clock time
// passes; once the post is through, it moves on to the wall clock. The
// stage downstream reads the watermarks beside the data, never as data.
func TestAStageBehindHoldsTheWatermarkItPassesOn(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 2})
	posts, scored := c.Topic("posts"), c.Topic("scored")
	reg := prometheus.NewRegistry()
	d := deps(c, reg)
	d.Config.WatermarkEvery = 150 * time.Millisecond
	d.Config.RetryMax = 50 * time.Millisecond
	d.Config.ShutdownTimeout = 200 * time.Millisecond

	var release atomic.Bool
	up := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, meta pipeline.Meta) ([]pipeline.Output, error) {
		if p.Site == "stuck" && !release.Load() {
			return nil, fmt.Errorf("the dependency is away: %w", context.DeadlineExceeded)
		}
		return []pipeline.Output{{Topic: scored, Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{msg.SignalThreat: 0}}, Arrival: meta.Time}}, nil
	})
	rec := &wmRecorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	upDone := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: up, WatermarkTo: scored})
	downDone := runStage(t, ctx, d, pipeline.Stage[msg.Scored, *msg.Scored]{Name: "aggregate", Input: scored, Handler: rec})

	waitFor := func(what string, ok func(map[int]time.Time) bool) map[int]time.Time {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			s := rec.snapshot()
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the watermarks downstream are %v", what, s)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Idle and caught up: every partition downstream gets a watermark
	// close to the wall clock.
	start := time.Now()
	waitFor("idle", func(s map[int]time.Time) bool {
		return len(s) == 2 && !s[0].Before(start) && !s[1].Before(start)
	})

	produce(t, c, posts, post("stuck", 1))
	got := readTopic(t, c, posts, 1, 10*time.Second)
	if len(got) != 1 {
		t.Fatalf("read %d posts back, want 1", len(got))
	}
	entered := got[0].Time
	// Stuck: let a second of watermarks pass; none may go past the post.
	time.Sleep(time.Second)
	for p, at := range rec.snapshot() {
		if at.After(entered) {
			t.Errorf("partition %d downstream: watermark %v, past the post the stage is stuck on (entered %v)", p, at, entered)
		}
	}
	if n := rec.data.Load(); n != 0 {
		t.Fatalf("%d posts passed on while the stage was stuck", n)
	}

	release.Store(true)
	after := time.Now()
	waitFor("released", func(s map[int]time.Time) bool {
		return len(s) == 2 && s[0].After(after) && s[1].After(after)
	})
	if n := rec.data.Load(); n != 1 {
		t.Errorf("%d posts downstream, want 1", n)
	}
	if n := testutil.ToFloat64(d.Metrics.DeadLettered.WithLabelValues("aggregate", "control")); n != 0 {
		t.Errorf("%v watermarks dead-lettered", n)
	}
	if ts := testutil.ToFloat64(d.Metrics.WatermarkAge.WithLabelValues("classify")); ts < float64(after.Unix()) {
		t.Errorf("threatwatch_stage_watermark_written_timestamp_seconds = %v, before the release at %v", ts, after.Unix())
	}
	cancel()
	<-upDone
	<-downDone
}

// wmForwarder is a middle stage: it passes scored posts on, holds state
// per partition (an Assignee, as the aggregate stage is) and reads
// watermarks.
type wmForwarder struct {
	out string
	wmRecorder
}

func (f *wmForwarder) Handle(_ context.Context, s *msg.Scored, meta pipeline.Meta) ([]pipeline.Output, error) {
	return []pipeline.Output{{Topic: f.out, Msg: s, Arrival: meta.Time}}, nil
}

func (f *wmForwarder) Missing([]int) []int                              { return nil }
func (f *wmForwarder) Resume(context.Context, string, int, int64) error { return nil }

// TestAWatermarkPassesThroughAStageThatIsCaughtUp: a stage that reads
// watermarks passes on no later a one than it read, however caught up it
// is itself: the target half of the aggregate stage waits for the
// classify stage through the site half.
func TestAWatermarkPassesThroughAStageThatIsCaughtUp(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 2})
	posts, scored, byTarget := c.Topic("posts"), c.Topic("scored"), c.Topic("scored-by-target")
	d := deps(c, prometheus.NewRegistry())
	d.Config.WatermarkEvery = 150 * time.Millisecond
	d.Config.RetryMax = 50 * time.Millisecond
	d.Config.ShutdownTimeout = 200 * time.Millisecond

	var release atomic.Bool
	up := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, meta pipeline.Meta) ([]pipeline.Output, error) {
		if p.Site == "stuck" && !release.Load() {
			return nil, fmt.Errorf("the dependency is away: %w", context.DeadlineExceeded)
		}
		return []pipeline.Output{{Topic: scored, Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{msg.SignalThreat: 0}}, Arrival: meta.Time}}, nil
	})
	if err := c.Bus.EnsureTopics(context.Background(), byTarget); err != nil {
		t.Fatal(err)
	}
	mid := &wmForwarder{out: byTarget}
	last := &wmRecorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := []<-chan error{
		runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: up, WatermarkTo: scored}),
		runStage(t, ctx, d, pipeline.Stage[msg.Scored, *msg.Scored]{Name: "aggregate", Input: scored, Handler: mid, WatermarkTo: byTarget}),
		runStage(t, ctx, d, pipeline.Stage[msg.Scored, *msg.Scored]{Name: "aggregate-targets", Input: byTarget, Handler: last}),
	}
	waitFor := func(r *wmRecorder, what string, ok func(map[int]time.Time) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok(r.snapshot()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the watermarks are %v", what, r.snapshot())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	start := time.Now()
	waitFor(last, "idle", func(s map[int]time.Time) bool {
		return len(s) == 2 && s[0].After(start) && s[1].After(start)
	})

	produce(t, c, posts, post("stuck", 1))
	got := readTopic(t, c, posts, 1, 10*time.Second)
	if len(got) != 1 {
		t.Fatalf("read %d posts back, want 1", len(got))
	}
	entered := got[0].Time
	time.Sleep(time.Second)
	for p, at := range last.snapshot() {
		if at.After(entered) {
			t.Errorf("partition %d of the last topic: watermark %v, past the post the first stage is stuck on (entered %v)", p, at, entered)
		}
	}
	release.Store(true)
	after := time.Now()
	waitFor(last, "released", func(s map[int]time.Time) bool {
		return len(s) == 2 && s[0].After(after) && s[1].After(after)
	})
	if n := last.data.Load(); n != 1 {
		t.Errorf("%d posts reached the last stage, want 1", n)
	}
	cancel()
	for _, ch := range done {
		<-ch
	}
}

// A control message that cannot be read (a broken body, a kind this
// version does not know) is set aside like any poison message, and the
// posts after it are handled.
func TestABadControlMessageIsDeadLetteredAndTheStreamGoesOn(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	scored := c.Topic("scored")
	d := deps(c, prometheus.NewRegistry())
	w := c.Bus.MultiWriter(bus.WriterOptions{})
	defer w.Close()
	good, err := msg.EncodeWatermark(&msg.Watermark{Stage: "classify", Topic: "posts", Through: map[int]time.Time{0: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMessages(context.Background(),
		bus.ControlMessage(scored, 0, msg.ControlWatermark, []byte(`{"schema":"watermark/1","topic":`)),
		bus.ControlMessage(scored, 0, "pause", []byte(`{}`)),
		bus.ControlMessage(scored, 0, msg.ControlWatermark, good),
	); err != nil {
		t.Fatal(err)
	}
	produce(t, c, scored, &msg.Scored{Post: *post("forum", 1), Scores: map[msg.Signal]float64{msg.SignalThreat: 0}})
	rec := &wmRecorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runStage(t, ctx, d, pipeline.Stage[msg.Scored, *msg.Scored]{Name: "aggregate", Input: scored, Handler: rec})
	deadline := time.Now().Add(20 * time.Second)
	for rec.data.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the post after the control messages was not handled")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := testutil.ToFloat64(d.Metrics.DeadLettered.WithLabelValues("aggregate", "control")); n != 2 {
		t.Errorf("%v control messages dead-lettered, want the 2 bad ones", n)
	}
	if got := rec.snapshot(); len(got) != 1 {
		t.Errorf("watermarks taken: %v, want the good one", got)
	}
	cancel()
	<-done
}
