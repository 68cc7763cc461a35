package aggregate

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// TestStageRebuildsALostStateFromTheTopic: Redis loses everything, the
// aggregate checkpoints and the runner's dedup marks, while the consumer
// group keeps its committed offsets (a Redis without persistence
// restarted, a failover to a replica that had not caught up). The next
// aggregator rebuilds each partition from what the topic holds before its
// position, so it ends where an aggregator that never lost anything ends:
// the same alerts, the same saved state, and the campaign that starts
// after the loss pages. The rebuild itself writes nothing, and it restores
// the dedup marks: posts sent again after the loss (a re-crawl, since the
// crawl state was lost too) do not count twice. With aggregate.rebuild off the same loss makes the sites learn
// again, and that campaign does not page: the control that shows the test
// can fail.
func TestStageRebuildsALostStateFromTheTopic(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the in-process cluster")
	}
	for _, rebuild := range []bool{true, false} {
		t.Run("rebuild="+strconv.FormatBool(rebuild), func(t *testing.T) {
			e := newStageEnv(t)
			e.cfg.TickEvery = 0 // the runner below does not tick: neither may the rebuild
			e.cfg.Rebuild = &rebuild
			reg := prometheus.NewRegistry()
			newStage := func() *Stage {
				s, err := NewStage(e.cfg, StageOptions{Name: "aggregate", Scope: Sites, Store: e.st, History: e.c.Bus, Registerer: reg,
					DedupTTL: e.c.Config.Runner.DedupTTL, Levels: e.c.Topic(e.c.Config.Topics.Levels), Alerts: e.c.Topic(e.c.Config.Topics.Alerts)})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			// Two thirds of the history, then Redis loses the checkpoints.
			split := len(e.posts) * 2 / 3
			if last := e.posts[split-1].Post.Published; !last.Before(at(2 * day)) {
				t.Fatalf("the loss must come before charlie's campaign (2d+2h), not at %v", last.Sub(t0))
			}
			e.produce(t, e.posts[:split])
			stop := e.run(t, newStage())
			e.waitApplied(t, split)
			stop()
			seen := map[string]bool{}
			for _, m := range e.readTopic(t, e.c.Topic(e.c.Config.Topics.Alerts)) {
				seen[string(m.Value)] = true
			}
			ctx := context.Background()
			keys, err := e.st.Keys(ctx, e.st.Prefix+"*").Result()
			if err != nil || len(keys) < split {
				t.Fatalf("%d keys before the loss (%v), want the checkpoints and a dedup mark per post", len(keys), err)
			}
			if err := e.st.Del(ctx, keys...).Err(); err != nil {
				t.Fatal(err)
			}

			e.produce(t, e.posts[split-60:split]) // sent again
			e.produce(t, e.posts[split:])
			second := newStage()
			e.run(t, second)
			e.waitApplied(t, len(e.posts)+60)
			wantAlerts, _ := e.reference(t)
			got := e.readTopic(t, e.c.Topic(e.c.Config.Topics.Alerts))
			charlie := false
			for _, m := range got {
				if seen[string(m.Value)] {
					continue
				}
				a, err := msg.Decode[msg.Alert](m.Value)
				if err != nil {
					t.Fatal(err)
				}
				charlie = charlie || a.Labels["site"] == "charlie" && a.Status == msg.StatusFiring
			}
			rebuilds := testutil.ToFloat64(second.met.rebuilds.WithLabelValues("aggregate"))
			if !rebuild {
				if charlie {
					t.Error("charlie's campaign paged on a state that started from nothing: the site should still be learning")
				}
				if rebuilds != 0 {
					t.Errorf("%v rebuilds with aggregate.rebuild off", rebuilds)
				}
				return
			}
			if !charlie {
				t.Error("charlie's campaign, after the loss, did not page")
			}
			if rebuilds != 3 {
				t.Errorf("%v partitions rebuilt, want 3", rebuilds)
			}
			if n := testutil.ToFloat64(second.met.rebuilt.WithLabelValues("aggregate")); n != float64(split) {
				t.Errorf("%v messages read to rebuild, want the %d applied before the loss", n, split)
			}
			dups, err := e.st.Exists(ctx, e.st.Key("dedup", "aggregate", e.posts[0].DedupID())).Result()
			if err != nil || dups != 1 {
				t.Errorf("the first post's dedup mark after the rebuild: %d %v", dups, err)
			}
			// Every alert of the reference went out once: those before the
			// loss from the first aggregator, the rest from the second,
			// and the rebuild sent none again.
			if len(got) != len(wantAlerts) {
				t.Errorf("%d alerts on the topic, want the reference's %d (%d before the loss)", len(got), len(wantAlerts), len(seen))
			}
			e.check(t)
		})
	}
}

// TestRebuildTicksAsTheLiveStageDid: the rebuild replays the wall-clock
// ticks at the messages' Kafka timestamps, so a partition rebuilt from a
// topic written in real time holds what a live stage that ticked while
// the messages came holds: the same level, baseline and score, a campaign
// that fired and calmed within the span resolved, and one still going
// firing, under the fingerprint it paged with. Only messages within the
// rebuild span are read, and one the live stage could not decode is
// skipped as it was.
func TestRebuildTicksAsTheLiveStageDid(t *testing.T) {
	cfg := defaults()
	cfg.TickEvery = 5 * time.Minute // fewer ticks to simulate; the rebuild uses the same
	s := newStream(5)
	s.feed("quiet", 0, 8*day+21*time.Hour, 4, 0.8, true, nil)
	s.feed("quiet", 2*day+10*time.Hour, 2*day+11*time.Hour, 120, 0.9, false, nil) // fires, then calms
	s.feed("quiet", 8*day+20*time.Hour, 8*day+21*time.Hour, 120, 0.9, false, nil) // still firing at the end
	posts := s.sorted()
	// Written to the topic a second after each post; one message in the
	// middle is not a scored post.
	h := &kafkatest.MemTopic{}
	for i, p := range posts {
		b, err := msg.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		if i == len(posts)/2 {
			h.Add([]byte(`{"schema":"scored/1","post":`), p.Post.Published.Add(time.Second))
		}
		h.Add(b, p.Post.Published.Add(time.Second))
	}
	// The live stage: each message handled when it came, and a tick every
	// tick_every of wall-clock time, as the runner does.
	ctx := context.Background()
	st := redistest.New(t)
	live, err := NewStage(cfg, StageOptions{Name: "live", Store: st, Levels: "levels", Alerts: "alerts"})
	if err != nil {
		t.Fatal(err)
	}
	clock := h.Times[0].Truncate(cfg.TickEvery)
	var fired []*msg.Alert
	tickUntil := func(t1 time.Time) {
		for ; !clock.After(t1); clock = clock.Add(cfg.TickEvery) {
			outs, err := live.Tick(ctx, clock)
			if err != nil {
				t.Fatal(err)
			}
			fired = append(fired, alertsOf(outs)...)
		}
	}
	for off, v := range h.Values {
		tickUntil(h.Times[off])
		in, _, err := live.decode(v)
		if err != nil {
			continue // dead-lettered by the runner
		}
		outs, err := live.Handle(ctx, in, pipeline.Meta{Partition: 0, Offset: int64(off), Time: h.Times[off]})
		if err != nil {
			t.Fatal(err)
		}
		fired = append(fired, alertsOf(outs)...)
	}
	var firing, resolved int
	for _, a := range fired {
		switch a.Status {
		case msg.StatusFiring:
			firing++
		case msg.StatusResolved:
			resolved++
		}
	}
	if firing != 2 || resolved != 1 {
		t.Fatalf("scenario: the live stage sent %d firing and %d resolved, want 2 and 1", firing, resolved)
	}

	// A stage with no checkpoint gets the message after the last one.
	reb, err := NewStage(cfg, StageOptions{Name: "rebuilt", Store: st, Levels: "levels", Alerts: "alerts", History: h})
	if err != nil {
		t.Fatal(err)
	}
	end := int64(len(h.Values))
	p, err := reb.load(ctx, pipeline.Meta{Partition: 0, Offset: end, Time: h.Times[end-1].Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if p.last != end-1 {
		t.Errorf("rebuilt partition at offset %d, want %d", p.last, end-1)
	}
	if from := h.Times[end-1].Add(time.Second).Add(-cfg.RebuildSpan()); !h.Times[0].Before(from) {
		t.Fatal("scenario: the history should reach past the rebuild span")
	}
	if n := testutil.ToFloat64(reb.met.rebuilt.WithLabelValues("rebuilt")); n >= float64(end) || n == 0 {
		t.Errorf("read %v messages, want those within the span, fewer than the %d on the topic", n, end)
	}
	// What the detector sees is the live stage's: the same level, baseline
	// and score at the next step, though the rebuild never read the first
	// day and a half.
	next := h.Times[end-1].Truncate(cfg.Step).Add(cfg.Step)
	tickUntil(next.Add(-time.Nanosecond))
	lv := func(outs []Output) *msg.Level {
		for _, o := range outs {
			if o.Level != nil && o.Level.Site == "quiet" && o.Level.Target == "" {
				return o.Level
			}
		}
		t.Fatal("no level emitted for the site")
		return nil
	}
	wl, gl := lv(live.parts[0].eng.Advance(next)), lv(p.eng.Advance(next))
	if gl.Level != wl.Level || gl.Baseline != wl.Baseline || gl.Score != wl.Score || gl.Name != wl.Name {
		t.Errorf("rebuilt: level %v baseline %v score %v %q; live: %v %v %v %q", gl.Level, gl.Baseline, gl.Score, gl.Name, wl.Level, wl.Baseline, wl.Score, wl.Name)
	}
	// The campaign still going is firing in the rebuilt state under the
	// live stage's fingerprint: when it calms, its resolve closes the page.
	var resolvedFP string
	for _, a := range alerts(p.eng.Advance(next.Add(6*time.Hour)), "") {
		if a.Status == msg.StatusResolved {
			resolvedFP = a.Fingerprint
		}
	}
	if last := fired[len(fired)-1]; resolvedFP == "" || resolvedFP != last.Fingerprint || last.Status != msg.StatusFiring {
		t.Errorf("rebuilt state resolves fingerprint %q, want the live page's %q", resolvedFP, last.Fingerprint)
	}
}

func alertsOf(outs []pipeline.Output) []*msg.Alert {
	var a []*msg.Alert
	for _, o := range outs {
		if al, ok := o.Msg.(*msg.Alert); ok {
			a = append(a, al)
		}
	}
	return a
}

// BenchmarkRebuild measures a rebuild end to end: reading a partition
// back from the in-process cluster over loopback, decoding and applying
// each scored post, and putting back its dedup mark. One op is one
// rebuild from a site's week of posts (about 30,000: 300 an hour at its
// busiest); msgs/s is the rate.
func BenchmarkRebuild(b *testing.B) {
	c := kafkatest.New(b, kafkatest.Options{Partitions: 1})
	st := redistest.New(b)
	cfg := defaults()
	s := newStream(9)
	s.feed("busy", 0, 7*day, 300, 0.8, true, nil)
	posts := s.sorted()
	topic := c.Topic(c.Config.Topics.Scored)
	prod := pipeline.NewProducer(c.Bus, "bench", nil, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	for i := 0; i < len(posts); i += 1000 {
		var outs []pipeline.Output
		for _, p := range posts[i:min(i+1000, len(posts))] {
			outs = append(outs, pipeline.Output{Topic: topic, Msg: p})
		}
		if err := prod.Send(ctx, outs...); err != nil {
			b.Fatal(err)
		}
	}
	prod.Close()
	end := int64(len(posts))
	b.ResetTimer()
	var read int64
	for b.Loop() {
		stage, err := NewStage(cfg, StageOptions{Name: "bench", Store: st, Levels: "levels", Alerts: "alerts", History: c.Bus, DedupTTL: 7 * 24 * time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		p, err := stage.load(ctx, pipeline.Meta{Topic: topic, Partition: 0, Offset: end, Time: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
		if p.last != end-1 {
			b.Fatalf("rebuilt to %d", p.last)
		}
		read += end
	}
	b.ReportMetric(float64(read)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(read), "ns/msg")
}

// TestStageCatchesUpACheckpointRestoredFromABackup: Redis is restored from
// a backup taken a while ago, so each checkpoint is behind the offsets the
// group committed since. The aggregator applies what lies in between from
// the topic and ends where one that lost nothing ends; without it, those
// posts are missing from the levels for good.
func TestStageCatchesUpACheckpointRestoredFromABackup(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the in-process cluster")
	}
	for _, rebuild := range []bool{true, false} {
		t.Run("rebuild="+strconv.FormatBool(rebuild), func(t *testing.T) {
			e := newStageEnv(t)
			e.cfg.TickEvery = 0
			e.cfg.Rebuild = &rebuild
			newStage := func() *Stage {
				s, err := NewStage(e.cfg, StageOptions{Name: "aggregate", Scope: Sites, Store: e.st, History: e.c.Bus,
					Levels: e.c.Topic(e.c.Config.Topics.Levels), Alerts: e.c.Topic(e.c.Config.Topics.Alerts)})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			ctx := context.Background()
			hash := func(p int) string { return CheckpointKey(e.st, "aggregate", e.c.Topic(e.c.Config.Topics.Scored), p) }
			third := len(e.posts) / 3
			e.produce(t, e.posts[:third])
			stop := e.run(t, newStage())
			e.waitApplied(t, third)
			backup := map[int]map[string]string{}
			for p := 0; p < 3; p++ {
				h, err := e.st.HGetAll(ctx, hash(p)).Result()
				if err != nil {
					t.Fatal(err)
				}
				backup[p] = h
			}
			e.produce(t, e.posts[third:2*third])
			e.waitApplied(t, 2*third)
			stop()
			for p, h := range backup {
				if err := e.st.Del(ctx, hash(p)).Err(); err != nil {
					t.Fatal(err)
				}
				if err := e.st.HSet(ctx, hash(p), h).Err(); err != nil {
					t.Fatal(err)
				}
			}
			e.produce(t, e.posts[2*third:])
			e.run(t, newStage())
			e.waitApplied(t, len(e.posts))
			if rebuild {
				e.check(t)
				return
			}
			_, wantState := e.reference(t)
			differ := 0
			for name, b := range wantState {
				for p := 0; p < 3; p++ {
					if v, err := e.st.HGet(ctx, hash(p), "k:"+name).Result(); err == nil && v != string(b) {
						differ++
					}
				}
			}
			if differ == 0 {
				t.Error("without catching up, the saved state still matches the reference: the test cannot tell")
			}
		})
	}
}

// TestStageSavesWhatItAppliedBeforeTrailingDeadLetters: when a batch ends
// with dead letters, the offsets committed go past the last message the
// stage applied; its state must be saved all the same, or a restart
// before the next batch loses what the batch applied.
func TestStageSavesWhatItAppliedBeforeTrailingDeadLetters(t *testing.T) {
	s, opts := unitStage(t)
	cfg := s.cfg
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := s.Handle(ctx, threatPost(strconv.Itoa(i), "s", at(time.Duration(i)*time.Minute), 0.9), pipeline.Meta{Partition: 0, Offset: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Offsets 5 and 6 were dead letters: the runner commits up to 6.
	if err := s.Checkpoint(ctx, map[int]int64{0: 6}); err != nil {
		t.Fatal(err)
	}
	s2, _ := NewStage(cfg, opts)
	p, err := s2.load(ctx, pipeline.Meta{Partition: 0, Offset: 7})
	if err != nil {
		t.Fatal(err)
	}
	if k := p.eng.bySite["s"]; k == nil || k.L.Posts != 5 || p.last != 4 {
		t.Errorf("after a restart: %v, want the 5 posts applied before the dead letters, saved at offset 4", k)
	}
}

// TestStageSavesItsWholeStateWhenTheCheckpointVanishes: Redis restarts
// empty while the aggregator runs. Its next checkpoint would hold only
// the keys the batch changed, and a later restart would load a state
// without the sites that were quiet meanwhile; the stage notices that the
// checkpoint it wrote before is gone and saves the whole state.
func TestStageSavesItsWholeStateWhenTheCheckpointVanishes(t *testing.T) {
	s, opts := unitStage(t)
	st, cfg := opts.Store, s.cfg
	ctx := context.Background()
	off := int64(0)
	handle := func(site string) {
		t.Helper()
		if _, err := s.Handle(ctx, threatPost(strconv.FormatInt(off, 10), site, at(time.Duration(off)*time.Minute), 0.9), pipeline.Meta{Partition: 0, Offset: off}); err != nil {
			t.Fatal(err)
		}
		if err := s.Checkpoint(ctx, map[int]int64{0: off}); err != nil {
			t.Fatal(err)
		}
		off++
	}
	for _, site := range []string{"quiet", "busy", "busy"} {
		handle(site)
	}
	if err := st.Del(ctx, CheckpointKey(st, "agg", "", 0)).Err(); err != nil {
		t.Fatal(err)
	}
	handle("busy")
	s2, _ := NewStage(cfg, opts)
	p, err := s2.load(ctx, pipeline.Meta{Partition: 0, Offset: off})
	if err != nil {
		t.Fatal(err)
	}
	for site, want := range map[string]int64{"quiet": 1, "busy": 3} {
		if k := p.eng.bySite[site]; k == nil || k.L.Posts != want {
			t.Errorf("site %s after a restart: %v, want %d posts", site, k, want)
		}
	}
	if n := testutil.ToFloat64(s.met.resaves.WithLabelValues("agg")); n != 1 {
		t.Errorf("%v whole-state saves, want 1", n)
	}
}

// TestCatchUpPassesOverRepeatsTheRunnerSkipped: a batch ends with a post
// the runner skipped as a repeat (its id was marked processed), so the
// checkpoint stays just before it while the offsets are committed past
// it. After a restart the stage reads that gap back: the repeat must not
// count, though a post Redis lost with the checkpoint would.
func TestCatchUpPassesOverRepeatsTheRunnerSkipped(t *testing.T) {
	_, opts := unitStage(t)
	opts.DedupTTL = time.Hour
	topic := &kafkatest.MemTopic{}
	opts.History = topic
	s, err := NewStage(defaults(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []string
	for i := range 5 {
		in := threatPost(fmt.Sprint("p", i), "s", at(time.Duration(i)*time.Minute), 0.9)
		b, _ := msg.Encode(in)
		topic.Add(b, in.Post.Published)
		if _, err := s.Handle(ctx, in, pipeline.Meta{Partition: 0, Offset: int64(i)}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.DedupID())
	}
	// Offset 5 repeats post 2: the runner skipped it, checkpointed the
	// batch and marked its ids.
	b, _ := msg.Encode(threatPost("p2", "s", at(2*time.Minute), 0.9))
	topic.Add(b, at(5*time.Minute))
	if err := s.Checkpoint(ctx, map[int]int64{0: 5}); err != nil {
		t.Fatal(err)
	}
	if err := store.NewDedup(opts.Store, opts.Name, time.Hour).Mark(ctx, ids); err != nil {
		t.Fatal(err)
	}
	s2, err := NewStage(s.cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s2.load(ctx, pipeline.Meta{Partition: 0, Offset: 6})
	if err != nil {
		t.Fatal(err)
	}
	k := p.eng.bySite["s"]
	if k == nil {
		t.Fatal("the site is gone after the catch-up")
	}
	if k.L.Posts != 5 || p.last != 5 {
		t.Errorf("after the catch-up: %d posts at offset %d, want 5 posts at offset 5", k.L.Posts, p.last)
	}
}
