package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/aggregate"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/obs"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// A scored post can reach the scored topic twice: the classify stage
// crashed after writing a batch and before marking its ids, or a producer
// retried a write. The aggregate stage counts it once, in the site's
// level and in its target's.
func TestAggregateStageCountsARepeatedPostOnce(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	st := redistest.New(t)
	log := slog.New(slog.DiscardHandler)
	p := &process{cfg: kc.Config, log: log, bus: kc.Bus, store: st, obs: obs.New(log), metrics: pipeline.NewMetrics(nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	now := time.Now().UTC().Truncate(time.Second)
	var outs []pipeline.Output
	for i := 0; i < 3; i++ {
		post := &msg.Post{Site: "forum", SitePostID: string(rune('a' + i)), Text: "x", Published: now.Add(time.Duration(i-3) * time.Minute)}
		post.Normalize()
		sc := &msg.Scored{Schema: msg.SchemaScored, Post: *post, Scores: map[msg.Signal]float64{msg.SignalThreat: 0.9},
			Entities: []msg.Entity{{Kind: msg.EntityPerson, Name: "Jane Roe", Target: true}}}
		outs = append(outs, pipeline.Output{Topic: kc.Topic(kc.Config.Topics.Scored), Msg: sc})
	}
	outs = append(outs, outs[1]) // written twice
	prod := pipeline.NewProducer(kc.Bus, "test", nil, p.log)
	if err := prod.Send(ctx, outs...); err != nil {
		t.Fatal(err)
	}
	_ = prod.Close()

	stageCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runAggregateStage(stageCtx, p) }()
	// posts counted per stage, from the checkpoints.
	counted := func(stage, topic string) (n int64, offset int64) {
		h, err := st.HGetAll(ctx, aggregate.CheckpointKey(st, stage, topic, 0)).Result()
		if err != nil {
			t.Fatal(err)
		}
		for f, v := range h {
			if strings.HasPrefix(f, "k:") {
				var k struct {
					Level struct {
						Posts int64 `json:"posts"`
					} `json:"level"`
				}
				if err := json.Unmarshal([]byte(v), &k); err != nil {
					t.Fatal(err)
				}
				n += k.Level.Posts
			}
		}
		offset = -1
		if v, ok := h["_offset"]; ok {
			if offset, err = strconv.ParseInt(v, 10, 64); err != nil {
				t.Fatal(err)
			}
		}
		return n, offset
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, siteOff := counted("aggregate", kc.Topic(kc.Config.Topics.Scored))
		_, tgtOff := counted("aggregate-targets", repartitionTopic(p))
		// Offset 3 is the repeat: once deduplicated it leaves the
		// checkpoint at 2.
		if siteOff >= 2 && tgtOff >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stage did not checkpoint every message in time (site offset %d, target offset %d)", siteOff, tgtOff)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The target half may still be reading what the site half wrote.
	time.Sleep(time.Second)
	stop()
	if err := <-done; err != nil {
		t.Errorf("stage stopped with %v", err)
	}
	if n, _ := counted("aggregate", kc.Topic(kc.Config.Topics.Scored)); n != 3 {
		t.Errorf("the site's level counts %d posts, want 3", n)
	}
	if n, _ := counted("aggregate-targets", repartitionTopic(p)); n != 3 {
		t.Errorf("the target's level counts %d posts, want 3", n)
	}
}
