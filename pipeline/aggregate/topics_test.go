package aggregate

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// Moving the stages to new topics (a new topics.prefix: the way to change
// partition counts, docs/operations.md) starts the new topic's offsets at
// 0. A checkpoint of the old topic must not make the stage skip them as
// already applied until they pass the old offsets.
func TestAStageMovedToNewTopicsCountsTheirMessages(t *testing.T) {
	st := redistest.New(t)
	cfg := defaults()
	opts := StageOptions{Name: "agg", Store: st, Levels: "levels", Alerts: "alerts"}
	ctx := context.Background()
	_, post := checkpointOldTopic(t, opts, 50)

	moved, _ := NewStage(cfg, opts)
	for i := range 5 {
		if _, err := moved.Handle(ctx, post(50+i), pipeline.Meta{Topic: "v2.scored", Partition: 0, Offset: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := moved.Checkpoint(ctx, map[int]int64{0: 4}); err != nil {
		t.Fatal(err)
	}
	p := moved.parts[0]
	if p == nil {
		t.Fatal("the stage dropped the new topic's partition as handed over")
	}
	if got := p.eng.Stats().Posts; got != 5 {
		t.Errorf("counted %d of the new topic's 5 posts", got)
	}
	for topic, want := range map[string]string{"scored": "149", "v2.scored": "4"} {
		if off, err := st.HGet(ctx, CheckpointKey(st, "agg", topic, 0), "_offset").Result(); err != nil || off != want {
			t.Errorf("checkpoint of %s at %q (%v), want %s", topic, off, err, want)
		}
	}
}

// A checkpoint written before the topic was in its key is adopted for the
// topic the stage reads, saved whole under the new key, and deleted.
func TestACheckpointOfAnEarlierVersionIsAdopted(t *testing.T) {
	st := redistest.New(t)
	cfg := defaults()
	opts := StageOptions{Name: "agg", Store: st, Levels: "levels", Alerts: "alerts"}
	ctx := context.Background()
	s1, _ := NewStage(cfg, opts)
	for i, site := range []string{"a", "b", "a"} {
		if _, err := s1.Handle(ctx, threatPost(fmt.Sprint(i), site, at(time.Duration(i)*time.Minute), 0.9), pipeline.Meta{Topic: "scored", Partition: 0, Offset: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s1.Checkpoint(ctx, map[int]int64{0: 2}); err != nil {
		t.Fatal(err)
	}
	// As an earlier version left it.
	if err := st.Rename(ctx, CheckpointKey(st, "agg", "scored", 0), s1.legacyKey(0)).Err(); err != nil {
		t.Fatal(err)
	}

	s2, _ := NewStage(cfg, opts)
	// Offset 2 again (redelivered: already in the state), then a new one
	// that changes only site b.
	for _, m := range []struct {
		i    int
		site string
	}{{2, "a"}, {3, "b"}} {
		i, site := m.i, m.site
		if _, err := s2.Handle(ctx, threatPost(fmt.Sprint(i), site, at(time.Duration(i)*time.Minute), 0.9), pipeline.Meta{Topic: "scored", Partition: 0, Offset: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s2.Checkpoint(ctx, map[int]int64{0: 3}); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.Exists(ctx, s2.legacyKey(0)).Result(); n != 0 {
		t.Error("the earlier version's checkpoint is still there")
	}
	h, err := st.HGetAll(ctx, CheckpointKey(st, "agg", "scored", 0)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if h["_offset"] != "3" || h["k:"+keyName(kindSite, "a", "")] == "" || h["k:"+keyName(kindSite, "b", "")] == "" {
		t.Errorf("adopted checkpoint: offset %q, fields %d; want offset 3 and both sites (a unchanged since)", h["_offset"], len(h))
	}
	if got := s2.parts[0].eng.Stats().Posts; got != 1 {
		t.Errorf("%d posts applied after the adoption, want 1 (offset 2 was in the state)", got)
	}
}

// The stages moved to new topics in the same deployment that first ran
// this version: the only checkpoint is an earlier version's, of the old
// topic. Its offset lies past the new topic's end, so it is not adopted
// and the new topic's posts are counted.
func TestAnEarlierVersionsCheckpointOfAnotherTopicIsNotAdopted(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	st := redistest.New(t)
	ctx := context.Background()
	cfg := defaults()
	opts := StageOptions{Name: "agg", Store: st, Levels: "levels", Alerts: "alerts"}
	old, post := checkpointOldTopic(t, opts, 20)
	if err := st.Rename(ctx, CheckpointKey(st, "agg", "scored", 0), old.legacyKey(0)).Err(); err != nil {
		t.Fatal(err)
	}

	topic := kc.Topic("v2.scored")
	if err := kc.Bus.EnsureTopics(ctx, topic); err != nil {
		t.Fatal(err)
	}
	prod := pipeline.NewProducer(kc.Bus, "test", nil, slog.New(slog.DiscardHandler))
	defer prod.Close()
	var outs []pipeline.Output
	for i := range 5 {
		outs = append(outs, pipeline.Output{Topic: topic, Msg: post(20 + i)})
	}
	if err := prod.Send(ctx, outs...); err != nil {
		t.Fatal(err)
	}
	opts.History = kc.Bus // where the topic's end is read
	moved, _ := NewStage(cfg, opts)
	for i := range 5 {
		if _, err := moved.Handle(ctx, post(20+i), pipeline.Meta{Topic: topic, Partition: 0, Offset: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := moved.parts[0].eng.Stats().Posts; got != 5 {
		t.Errorf("counted %d of the new topic's 5 posts", got)
	}
	if moved.parts[0].legacy {
		t.Error("the old topic's checkpoint was adopted for the new topic")
	}
}

// checkpointOldTopic has a stage apply n posts of site s at offsets 100
// on of partition 0 of topic "scored" and save them, and returns the post
// maker the test goes on with.
func checkpointOldTopic(t *testing.T, opts StageOptions, n int) (*Stage, func(i int) *msg.Scored) {
	t.Helper()
	post := func(i int) *msg.Scored {
		return threatPost(fmt.Sprint(i), "s", at(time.Duration(i)*time.Minute), 0.9)
	}
	old, _ := NewStage(defaults(), opts)
	ctx := context.Background()
	for i := range n {
		if _, err := old.Handle(ctx, post(i), pipeline.Meta{Topic: "scored", Partition: 0, Offset: int64(100 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Checkpoint(ctx, map[int]int64{0: int64(100 + n - 1)}); err != nil {
		t.Fatal(err)
	}
	return old, post
}
