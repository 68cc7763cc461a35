package aggregate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// stageEnv is a cluster, a Redis and the scenario for stage tests.
type stageEnv struct {
	c     *kafkatest.Cluster
	st    *store.Store
	cfg   config.Aggregate
	posts []*msg.Scored
}

func newStageEnv(t *testing.T) *stageEnv {
	t.Helper()
	c := kafkatest.New(t, kafkatest.Options{Partitions: 3})
	c.Config.Runner.BatchSize = 40
	c.Config.Runner.ShutdownTimeout = 200 * time.Millisecond
	cfg := defaults()
	off := false
	cfg.Targets.Enabled = &off // sites only: their order per partition is exact
	s := newStream(21)
	for _, site := range []string{"alpha", "bravo", "charlie", "delta"} {
		s.feed(site, 0, 2*day+12*time.Hour, 6, 0.8, true, nil)
	}
	s.feed("alpha", day+9*time.Hour, day+10*time.Hour, 120, 0.9, false, nil)
	s.feed("charlie", 2*day+2*time.Hour, 2*day+3*time.Hour, 90, 0.9, false, nil)
	s.feed("delta", day+20*time.Hour, day+21*time.Hour, 100, 0.9, false, nil)
	return &stageEnv{c: c, st: redistest.New(t), cfg: cfg, posts: s.sorted()}
}

// reference runs the posts through one engine in order: what the stage
// must produce, whatever crashes and rebalances happen.
func (e *stageEnv) reference(t *testing.T) (alerts map[string][]byte, state map[string][]byte) {
	t.Helper()
	eng, err := NewEngine(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	alerts = map[string][]byte{}
	for _, p := range e.posts {
		for _, o := range eng.Add(p) {
			if o.Alert != nil {
				b, _ := msg.Encode(o.Alert)
				alerts[o.Alert.DedupID()] = b
			}
		}
	}
	state = map[string][]byte{}
	for name := range eng.keys {
		b, _, _ := eng.KeyState(name)
		state[name] = b
	}
	return alerts, state
}

func (e *stageEnv) produce(t *testing.T, posts []*msg.Scored) {
	t.Helper()
	prod := pipeline.NewProducer(e.c.Bus, "test", nil, slog.New(slog.DiscardHandler))
	defer prod.Close()
	topic := e.c.Topic(e.c.Config.Topics.Scored)
	for i := 0; i < len(posts); i += 500 {
		var outs []pipeline.Output
		for _, p := range posts[i:min(i+500, len(posts))] {
			outs = append(outs, pipeline.Output{Topic: topic, Msg: p})
		}
		if err := prod.Send(context.Background(), outs...); err != nil {
			t.Fatal(err)
		}
	}
}

// run starts one aggregator (a stage handler under the runner), with no
// wall-clock ticks, and returns its stop function.
func (e *stageEnv) run(t *testing.T, h pipeline.Handler[*msg.Scored]) (stop func()) {
	t.Helper()
	return e.runTicking(t, h, 0, nil)
}

// runTicking is run with ticks every tick (0: none) and the runner's
// metrics registered with reg (nil: not registered).
func (e *stageEnv) runTicking(t *testing.T, h pipeline.Handler[*msg.Scored], tick time.Duration, reg prometheus.Registerer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d := pipeline.Deps{Bus: e.c.Bus, Store: e.st, Log: slog.New(slog.DiscardHandler), Config: e.c.Config.Runner, Topics: e.c.Config.Topics,
			Metrics: pipeline.NewMetrics(reg)}
		_ = pipeline.Run(ctx, d, pipeline.Stage[msg.Scored, *msg.Scored]{Name: "aggregate", Input: e.c.Topic(e.c.Config.Topics.Scored),
			Handler: h, Dedup: true, TickEvery: tick})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

func (e *stageEnv) newStage(t *testing.T) *Stage {
	t.Helper()
	s, err := NewStage(e.cfg, StageOptions{Name: "aggregate", Scope: Sites, Store: e.st,
		Levels: e.c.Topic(e.c.Config.Topics.Levels), Alerts: e.c.Topic(e.c.Config.Topics.Alerts)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readTopic reads every message of a topic (all partitions) written so far.
func (e *stageEnv) readTopic(t *testing.T, topic string) []kafka.Message {
	t.Helper()
	parts, err := e.c.Bus.Partitions(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for _, p := range parts {
		r := e.c.Bus.PartitionReader(topic, p)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
			m, err := r.ReadMessage(ctx)
			cancel()
			if err != nil {
				break
			}
			out = append(out, m)
		}
		r.Close()
	}
	return out
}

// waitApplied waits until the checkpoints hold every input message.
func (e *stageEnv) waitApplied(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		total := 0
		for p := 0; p < 3; p++ {
			v, err := e.st.HGet(context.Background(), CheckpointKey(e.st, "aggregate", e.c.Topic(e.c.Config.Topics.Scored), p), "_offset").Result()
			if err == nil {
				o, _ := strconv.Atoi(v)
				total += o + 1
			}
		}
		if total >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the stage did not apply %d messages in time", n)
}

// check compares what the stage wrote and saved with the reference.
func (e *stageEnv) check(t *testing.T) {
	t.Helper()
	wantAlerts, wantState := e.reference(t)
	if len(wantAlerts) < 4 {
		t.Fatalf("scenario too tame: %d reference alerts", len(wantAlerts))
	}
	got := map[string][]byte{}
	dups := 0
	for _, m := range e.readTopic(t, e.c.Topic(e.c.Config.Topics.Alerts)) {
		a, err := msg.Decode[msg.Alert](m.Value)
		if err != nil {
			t.Fatal(err)
		}
		id := a.DedupID()
		if prev, ok := got[id]; ok {
			dups++
			if !bytes.Equal(prev, m.Value) {
				t.Errorf("alert %s written twice with different content", id)
			}
		}
		got[id] = m.Value
	}
	for id, b := range wantAlerts {
		if g, ok := got[id]; !ok {
			t.Errorf("alert lost: %s", id)
		} else if !bytes.Equal(g, b) {
			t.Errorf("alert %s differs:\n got %s\nwant %s", id, g, b)
		}
	}
	for id := range got {
		if _, ok := wantAlerts[id]; !ok {
			t.Errorf("alert not in the reference: %s", id)
		}
	}
	t.Logf("%d alerts as in the reference; %d identical redeliveries (deduplicated downstream by id)", len(wantAlerts), dups)
	// The saved levels are the reference's, key by key.
	saved := map[string][]byte{}
	for p := 0; p < 3; p++ {
		h, err := e.st.HGetAll(context.Background(), CheckpointKey(e.st, "aggregate", e.c.Topic(e.c.Config.Topics.Scored), p)).Result()
		if err != nil {
			t.Fatal(err)
		}
		for f, v := range h {
			if name, ok := strings.CutPrefix(f, "k:"); ok {
				saved[name] = []byte(v)
			}
		}
	}
	for name, b := range wantState {
		if !bytes.Equal(saved[name], b) {
			t.Errorf("saved state of %s differs from the reference", name)
		}
	}
	if len(saved) != len(wantState) {
		t.Errorf("saved %d keys, want %d", len(saved), len(wantState))
	}
}

// crashing is a stage whose process dies after a number of checkpoints:
// outputs of the batch in hand are written, its state and offsets are not.
type crashing struct {
	*Stage
	after   int32
	n       atomic.Int32
	crashed chan struct{}
	once    sync.Once
}

func (c *crashing) Checkpoint(ctx context.Context, offsets map[int]int64) error {
	if c.n.Add(1) > c.after {
		c.once.Do(func() { close(c.crashed) })
		return errors.New("simulated crash")
	}
	return c.Stage.Checkpoint(ctx, offsets)
}

// crashThrice runs an aggregator three times, each dying after a few
// checkpoints with the outputs of its batch in hand written.
func (e *stageEnv) crashThrice(t *testing.T) {
	t.Helper()
	for round, after := range []int32{6, 10, 8} {
		c := &crashing{Stage: e.newStage(t), after: after, crashed: make(chan struct{})}
		stop := e.run(t, c)
		select {
		case <-c.crashed:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: no crash happened", round)
		}
		stop()
	}
}

func TestStageCrashAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the in-process cluster")
	}
	e := newStageEnv(t)
	e.produce(t, e.posts)
	e.crashThrice(t)
	// A fresh aggregator resumes from Redis and the committed offsets.
	e.run(t, e.newStage(t))
	e.waitApplied(t, len(e.posts))
	e.check(t)
}

func TestStageRebalanceBetweenTwoAggregators(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the in-process cluster")
	}
	e := newStageEnv(t)
	third := len(e.posts) / 3
	e.produce(t, e.posts[:third])
	stopA := e.run(t, e.newStage(t))
	e.waitApplied(t, third)

	// B joins: the partitions are split between A and B.
	e.run(t, e.newStage(t))
	e.produce(t, e.posts[third:2*third])
	e.waitApplied(t, 2*third)

	// A leaves: B takes over A's partitions from Redis.
	stopA()
	e.produce(t, e.posts[2*third:])
	e.waitApplied(t, len(e.posts))
	e.check(t)
}

// unitStage is a site stage named "agg" with the default config on a
// Redis of its own, for tests that call Handle, Tick and Checkpoint
// themselves; opts makes another stage on the same state.
func unitStage(t *testing.T) (*Stage, StageOptions) {
	t.Helper()
	opts := StageOptions{Name: "agg", Store: redistest.New(t), Levels: "levels", Alerts: "alerts"}
	s, err := NewStage(defaults(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, opts
}

// threatPost is a scored post of site, published at, with a threat score.
func threatPost(id, site string, published time.Time, score float64) *msg.Scored {
	return &msg.Scored{Schema: msg.SchemaScored, Post: msg.Post{Schema: msg.SchemaPost, ID: id, Site: site, Published: published, Fetched: published},
		Scores: map[msg.Signal]float64{msg.SignalThreat: score}}
}

// TestStageKeepsWhatItAppliedAcrossADeadLetter: a message the runner sets
// aside (it cannot be decoded) is never handed to the stage, so the next
// one comes with a gap in the offsets. That gap is not another aggregator
// having consumed in between: the posts applied before it in the same
// batch, not yet checkpointed, must stay counted.
func TestStageKeepsWhatItAppliedAcrossADeadLetter(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the in-process cluster")
	}
	e := newStageEnv(t)
	e.c.Config.Runner.BatchSize = 200
	half := len(e.posts) / 2
	e.produce(t, e.posts[:half])
	w := e.c.Bus.Writer(e.c.Topic(e.c.Config.Topics.Scored), bus.WriterOptions{})
	defer w.Close()
	for _, site := range []string{"alpha", "bravo", "charlie", "delta"} {
		// Keyed by the site: on the partition of its posts.
		if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte(site), Value: []byte(`{"schema":"scored/1","post":`)}); err != nil {
			t.Fatal(err)
		}
	}
	e.produce(t, e.posts[half:])
	e.run(t, e.newStage(t))
	e.waitApplied(t, len(e.posts)+4)
	e.check(t)
}

func TestStageSkipsRedeliveredMessages(t *testing.T) {
	st := redistest.New(t)
	cfg := defaults()
	s, err := NewStage(cfg, StageOptions{Name: "agg", Store: st, Levels: "levels", Alerts: "alerts"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	post := func(i int) *msg.Scored {
		return &msg.Scored{Schema: msg.SchemaScored, Post: msg.Post{Schema: msg.SchemaPost, ID: fmt.Sprint(i), Site: "s", Published: at(time.Duration(i) * time.Minute)},
			Scores: map[msg.Signal]float64{msg.SignalThreat: 0.9}}
	}
	for i := 0; i < 5; i++ {
		if _, err := s.Handle(ctx, post(i), pipeline.Meta{Partition: 0, Offset: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Checkpoint(ctx, map[int]int64{0: 4}); err != nil {
		t.Fatal(err)
	}
	// A new process sees offsets 3..6 again (3 and 4 were applied).
	s2, _ := NewStage(cfg, StageOptions{Name: "agg", Store: st, Levels: "levels", Alerts: "alerts"})
	for i := 3; i < 7; i++ {
		if _, err := s2.Handle(ctx, post(i), pipeline.Meta{Partition: 0, Offset: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := s2.parts[0].eng.bySite["s"].L.Posts; got != 7 {
		t.Errorf("counted %d posts, want 7 (3 and 4 not twice)", got)
	}
	// The old process checkpointing later is refused and drops the partition.
	if err := s2.Checkpoint(ctx, map[int]int64{0: 6}); err != nil {
		t.Fatal(err)
	}
	s.parts[0].last = 5
	if err := s.Checkpoint(ctx, map[int]int64{0: 5}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.parts[0]; ok {
		t.Error("a stale owner kept a partition another aggregator moved on")
	}
	off, _ := st.HGet(ctx, CheckpointKey(st, "agg", "", 0), "_offset").Result()
	if off != "6" {
		t.Errorf("saved offset %s, want 6", off)
	}
}

func TestStageRepartitionsTargetsToTheTargetStage(t *testing.T) {
	st := redistest.New(t)
	cfg := defaults()
	ctx := context.Background()
	sites, _ := NewStage(cfg, StageOptions{Name: "agg", Scope: Sites, Store: st, Levels: "levels", Alerts: "alerts", Repartition: "by-target"})
	targets, _ := NewStage(cfg, StageOptions{Name: "agg-targets", Scope: Targets, Store: st, Levels: "levels", Alerts: "alerts"})
	var fired []*msg.Alert
	for i := 0; i < 5; i++ {
		in := &msg.Scored{Schema: msg.SchemaScored,
			Post:   msg.Post{Schema: msg.SchemaPost, ID: fmt.Sprint(i), Site: fmt.Sprintf("site%d", i%2), Published: at(time.Duration(i) * 5 * time.Minute)},
			Scores: map[msg.Signal]float64{msg.SignalThreat: 0.9},
			Entities: []msg.Entity{
				{Kind: msg.EntityPerson, Name: "Jane Roe", Target: true},
				{Kind: msg.EntityPlace, Name: "Springfield"},
			},
		}
		outs, err := sites.Handle(ctx, in, pipeline.Meta{Partition: 0, Offset: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		var reparted []*TargetPost
		for _, o := range outs {
			if tp, ok := o.Msg.(*TargetPost); ok && o.Topic == "by-target" {
				reparted = append(reparted, tp)
			}
		}
		if len(reparted) != 1 {
			t.Fatalf("post %d: %d target posts, want 1", i, len(reparted))
		}
		// Through the codec, as on the topic.
		b, err := msg.Encode(reparted[0])
		if err != nil {
			t.Fatal(err)
		}
		tp, err := msg.Decode[TargetPost](b)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tp.Key(), "target:tgt-") || len(tp.Entities) != 1 {
			t.Fatalf("target post key %q entities %v", tp.Key(), tp.Entities)
		}
		touts, err := TargetStage{targets}.Handle(ctx, tp, pipeline.Meta{Partition: 1, Offset: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range touts {
			if a, ok := o.Msg.(*msg.Alert); ok {
				fired = append(fired, a)
			}
		}
	}
	if len(fired) != 1 || fired[0].Labels["alertname"] != "TargetThreatSpike" {
		t.Fatalf("want one target spike from the target stage, got %d", len(fired))
	}
	if err := targets.Checkpoint(ctx, map[int]int64{1: 4}); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.HLen(ctx, CheckpointKey(st, "agg-targets", "", 1)).Result(); n != 4 {
		t.Errorf("target checkpoint has %d fields, want _offset, _clock, _rolled and one key", n)
	}
}

// TestStageTicksDoNotRewriteQuietSites: a tick moves every site forward in
// time, but only the sites something happened to are written to Redis; a
// site that went quiet keeps its saved state, the partition saves how far
// it moved everything, and a new process that loads the partition holds
// the same state as the one that kept running.
func TestStageTicksDoNotRewriteQuietSites(t *testing.T) {
	s, opts := unitStage(t)
	st, cfg := opts.Store, s.cfg
	ctx := context.Background()
	post := func(i int, site string, d time.Duration) *msg.Scored {
		return &msg.Scored{Schema: msg.SchemaScored, Post: msg.Post{Schema: msg.SchemaPost, ID: fmt.Sprint(i), Site: site, Published: at(d)},
			Scores: map[msg.Signal]float64{msg.SignalThreat: 0.9}}
	}
	for i := 0; i < 20; i++ {
		if _, err := s.Handle(ctx, post(i, "quiet", time.Duration(i)*time.Minute), pipeline.Meta{Partition: 0, Offset: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Ticks for three hours: the quiet site's window empties and its zero
	// level goes out within the first, then nothing happens to it.
	tick := func(d time.Duration) {
		t.Helper()
		if _, err := s.Tick(ctx, at(d)); err != nil {
			t.Fatal(err)
		}
	}
	for d := 20 * time.Minute; d <= 90*time.Minute; d += cfg.Step {
		tick(d)
	}
	tick(95 * time.Minute) // saves what the last tick changed
	hash := CheckpointKey(st, "agg", "", 0)
	field := "k:" + keyName(kindSite, "quiet", "")
	before, err := st.HGet(ctx, hash, field).Result()
	if err != nil {
		t.Fatal(err)
	}
	for d := 100 * time.Minute; d <= 3*time.Hour; d += cfg.Step {
		tick(d)
	}
	tick(3*time.Hour + time.Second)
	after, _ := st.HGet(ctx, hash, field).Result()
	if after != before {
		t.Error("a quiet site was written again by ticks that changed nothing of it")
	}
	rolled, _ := st.HGet(ctx, hash, "_rolled").Result()
	if want := at(3 * time.Hour).Format(time.RFC3339Nano); rolled != want {
		t.Errorf("saved rolled time %q, want %q", rolled, want)
	}
	// A new process loads the partition: the quiet site is where the
	// running one has it.
	s2, _ := NewStage(cfg, opts)
	p, err := s2.load(ctx, pipeline.Meta{Partition: 0})
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ := p.eng.KeyState(keyName(kindSite, "quiet", ""))
	want, _, _ := s.parts[0].eng.KeyState(keyName(kindSite, "quiet", ""))
	if !bytes.Equal(got, want) {
		t.Errorf("loaded state differs from the running one:\n got %s\nwant %s", got, want)
	}
	// A checkpoint from before "_rolled" existed loads as it was saved.
	if err := st.HDel(ctx, hash, "_rolled").Err(); err != nil {
		t.Fatal(err)
	}
	p, err = s2.load(ctx, pipeline.Meta{Partition: 0})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := p.eng.KeyState(keyName(kindSite, "quiet", "")); string(got) != before {
		t.Errorf("a checkpoint without _rolled did not load as saved:\n got %s\nwant %s", got, before)
	}
}

// TestACampaignDuringAnOutagePagesWhenTheStageCatchesUp: the aggregator is
// down while a campaign runs (or a stage upstream is, or Kafka). When it
// comes back it works through the backlog, ticking between batches.
// Ticking to the wall clock would make every backlog post late, counted
// toward the baseline only, and the campaign would never page; the
// partition moves at the pace the posts entered the pipeline until it has
// caught up. A backlog older than aggregate.catch_up is history: a
// campaign long over does not page days later.
func TestACampaignDuringAnOutagePagesWhenTheStageCatchesUp(t *testing.T) {
	for _, c := range []struct {
		down time.Duration
		// resumed: the restarted stage loads the partition at a tick
		// (Resume) and ticks a while before its backlog arrives, as the
		// runner does when the reader is slow to deliver it.
		resumed bool
		pages   int
	}{
		{2 * time.Hour, false, 1},
		{5 * time.Hour, false, 1},
		{2 * day, false, 0},
		{2 * time.Hour, true, 1},
		{5 * time.Hour, true, 1},
		{2 * day, true, 0},
	} {
		name := "down " + c.down.String()
		if c.resumed {
			name += ", loaded before its backlog arrived"
		}
		t.Run(name, func(t *testing.T) {
			s, opts := unitStage(t)
			r := newCampaignRig(t, s)
			r.live(r.tick)
			now := r.base.Add(c.down)
			if c.resumed {
				r.restart(opts)
				for range 3 {
					r.tick(now)
					now = now.Add(15 * time.Second)
				}
			}
			// Down from base: another site's posts, then the campaign, wait
			// on the topic. Read back in batches of 20, a tick between each.
			r.backlog(func(time.Time) {
				r.tick(now)
				now = now.Add(time.Second)
			})
			// Caught up: the wall clock again.
			for range 8 {
				r.tick(now)
				now = now.Add(15 * time.Second)
			}
			r.check(c.pages)
		})
	}
}
