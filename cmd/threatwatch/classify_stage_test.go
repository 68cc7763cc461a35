package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// The classify stage reads posts, writes one scored post per post (a
// redelivered post is not scored twice) and keeps the site's order.
func TestClassifyStageScoresPostsOnceInOrder(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	p := &process{cfg: kc.Config, log: slog.New(slog.DiscardHandler), bus: kc.Bus, store: redistest.New(t), metrics: pipeline.NewMetrics(nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	texts := []string{
		"Anyone know a good mechanic in the north end?",
		"Dana Kowalski lives at 4412 Larkspur Drive, Tessaly. Her cell is (541) 555-0137, go say hi.",
		"I'm going to find you and kill you, Marek.",
	}
	prod := pipeline.NewProducer(kc.Bus, "test", nil, p.log)
	var outs []pipeline.Output
	for i, text := range texts {
		post := &msg.Post{Site: "forum", SitePostID: string(rune('a' + i)), Text: text, Fetched: time.Now().UTC()}
		post.Normalize()
		outs = append(outs, pipeline.Output{Topic: kc.Topic(kc.Config.Topics.Posts), Msg: post})
	}
	outs = append(outs, outs[1]) // redelivered
	if err := prod.Send(ctx, outs...); err != nil {
		t.Fatal(err)
	}
	_ = prod.Close()

	stageCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runClassifyStage(stageCtx, p) }()

	r := kc.Bus.PartitionReader(kc.Topic(kc.Config.Topics.Scored), 0)
	defer r.Close()
	var got []*msg.Scored
	var stamped []time.Time
	for len(got) < len(texts) {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading scored: %v (got %d)", err, len(got))
		}
		if _, ok := bus.Control(m); ok {
			continue // the stage's watermark
		}
		s, err := msg.Decode[msg.Scored](m.Value)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
		stamped = append(stamped, m.Time)
	}
	// A scored post keeps the time its post entered the posts topic.
	pr := kc.Bus.PartitionReader(kc.Topic(kc.Config.Topics.Posts), 0)
	defer pr.Close()
	for i := range stamped {
		m, err := pr.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !m.Time.Equal(stamped[i]) {
			t.Errorf("scored post %d stamped %v, its post entered at %v", i, stamped[i], m.Time)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("stage stopped with %v", err)
	}
	for i, s := range got {
		if s.Post.Text != texts[i] {
			t.Errorf("scored %d is %q, want %q", i, s.Post.Text, texts[i])
		}
	}
	if got[1].Scores[msg.SignalDoxxing] < 0.5 || got[2].Scores[msg.SignalThreat] < 0.5 || got[0].MaxScore() >= 0.5 {
		t.Errorf("scores %v %v %v", got[0].Scores, got[1].Scores, got[2].Scores)
	}
	// No fourth message: the redelivered post was deduplicated.
	short, cancelShort := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancelShort()
	if m, err := r.ReadMessage(short); err == nil {
		t.Errorf("a duplicate was scored again: %s", m.Value)
	}
}
