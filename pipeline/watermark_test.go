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

// stuckRig is a classify-like stage that passes posts from posts to scored
// and is stuck (its dependency away) on a post of the site "stuck" until
// released, under a runner that writes its watermark every 150 ms.
type stuckRig struct {
	t             *testing.T
	c             *kafkatest.Cluster
	d             pipeline.Deps
	posts, scored string
	release       atomic.Bool
}

func newStuckRig(t *testing.T) *stuckRig {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 2})
	r := &stuckRig{t: t, c: c, d: deps(c, prometheus.NewRegistry()), posts: c.Topic("posts"), scored: c.Topic("scored")}
	r.d.Config.WatermarkEvery = 150 * time.Millisecond
	r.d.Config.RetryMax = 50 * time.Millisecond
	r.d.Config.ShutdownTimeout = 200 * time.Millisecond
	return r
}

// classify is the stage's spec.
func (r *stuckRig) classify() pipeline.Stage[msg.Post, *msg.Post] {
	up := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, meta pipeline.Meta) ([]pipeline.Output, error) {
		if p.Site == "stuck" && !r.release.Load() {
			return nil, fmt.Errorf("the dependency is away: %w", context.DeadlineExceeded)
		}
		return []pipeline.Output{{Topic: r.scored, Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{msg.SignalThreat: 0}}, Arrival: meta.Time}}, nil
	})
	return pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: r.posts, Handler: up, WatermarkTo: r.scored}
}

// waitFor waits until last's watermarks satisfy ok.
func (r *stuckRig) waitFor(last *wmRecorder, what string, ok func(map[int]time.Time) bool) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok(last.snapshot()) {
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: the watermarks of the last stage are %v", what, last.snapshot())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run checks the watermarks last reads: close to the wall clock while
// all is idle, at or before the stuck post's entry for a second of
// watermarks while the stage is stuck on it, and past its release once
// it is through. It returns when the release was.
func (r *stuckRig) run(last *wmRecorder) time.Time {
	r.t.Helper()
	start := time.Now()
	r.waitFor(last, "idle", func(s map[int]time.Time) bool {
		return len(s) == 2 && !s[0].Before(start) && !s[1].Before(start)
	})
	produce(r.t, r.c, r.posts, post("stuck", 1))
	got := readTopic(r.t, r.c, r.posts, 1, 10*time.Second)
	if len(got) != 1 {
		r.t.Fatalf("read %d posts back, want 1", len(got))
	}
	entered := got[0].Time
	time.Sleep(time.Second)
	for p, at := range last.snapshot() {
		if at.After(entered) {
			r.t.Errorf("partition %d of the last stage: watermark %v, past the post the first stage is stuck on (entered %v)", p, at, entered)
		}
	}
	if n := last.data.Load(); n != 0 {
		r.t.Fatalf("%d posts passed on while the stage was stuck", n)
	}
	r.release.Store(true)
	after := time.Now()
	r.waitFor(last, "released", func(s map[int]time.Time) bool {
		return len(s) == 2 && s[0].After(after) && s[1].After(after)
	})
	if n := last.data.Load(); n != 1 {
		r.t.Errorf("%d posts reached the last stage, want 1", n)
	}
	return after
}

// TestAStageBehindHoldsTheWatermarkItPassesOn: the stage upstream writes
// its watermark to every partition of its output. While it is stuck on a
// post, the watermark stays at or before the time that post entered the
// pipeline, on every partition downstream, however much wall-clock time
// passes; once the post is through, it moves on to the wall clock. The
// stage downstream reads the watermarks beside the data, never as data.
func TestAStageBehindHoldsTheWatermarkItPassesOn(t *testing.T) {
	r := newStuckRig(t)
	rec := &wmRecorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	upDone := runStage(t, ctx, r.d, r.classify())
	downDone := runStage(t, ctx, r.d, pipeline.Stage[msg.Scored, *msg.Scored]{Name: "aggregate", Input: r.scored, Handler: rec})
	after := r.run(rec)
	if n := testutil.ToFloat64(r.d.Metrics.DeadLettered.WithLabelValues("aggregate", "control")); n != 0 {
		t.Errorf("%v watermarks dead-lettered", n)
	}
	if ts := testutil.ToFloat64(r.d.Metrics.WatermarkAge.WithLabelValues("classify")); ts < float64(after.Unix()) {
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
	r := newStuckRig(t)
	byTarget := r.c.Topic("scored-by-target")
	if err := r.c.Bus.EnsureTopics(context.Background(), byTarget); err != nil {
		t.Fatal(err)
	}
	last := &wmRecorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := []<-chan error{
		runStage(t, ctx, r.d, r.classify()),
		runStage(t, ctx, r.d, pipeline.Stage[msg.Scored, *msg.Scored]{Name: "aggregate", Input: r.scored, Handler: &wmForwarder{out: byTarget}, WatermarkTo: byTarget}),
		runStage(t, ctx, r.d, pipeline.Stage[msg.Scored, *msg.Scored]{Name: "aggregate-targets", Input: byTarget, Handler: last}),
	}
	r.run(last)
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
	waitCounted(d.Metrics.DeadLettered.WithLabelValues("aggregate", "control"), 2)
	if n := testutil.ToFloat64(d.Metrics.DeadLettered.WithLabelValues("aggregate", "control")); n != 2 {
		t.Errorf("%v control messages dead-lettered, want the 2 bad ones", n)
	}
	if got := rec.snapshot(); len(got) != 1 {
		t.Errorf("watermarks taken: %v, want the good one", got)
	}
	cancel()
	<-done
}
