package aggregate

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// TestACampaignWhileTheClassifyStageIsDownPagesWhenItComesBack: the
// aggregator stays up, ticking, while the classify stage is down (or the
// broker, or a backlog holds it back). Nothing arrives meanwhile, so
// nothing is late yet; but a clock that followed the wall clock would
// move the windows past the campaign's hours, and the backlog, delivered
// later, would count toward the baseline only. The classify stage's
// watermarks stop with it, and the clock waits at the last one. Only a
// backlog older than aggregate.catch_up is history.
func TestACampaignWhileTheClassifyStageIsDownPagesWhenItComesBack(t *testing.T) {
	for _, c := range []struct {
		name       string
		down       time.Duration
		watermarks bool
		restart    bool // the aggregator restarts during the outage
		pages      int
	}{
		{"down 2h", 2 * time.Hour, true, false, 1},
		{"down 5h", 5 * time.Hour, true, false, 1},
		{"down 5h, aggregator restarted meanwhile", 5 * time.Hour, true, true, 1},
		{"down 2 days", 2 * day, true, false, 0},
		// Without watermarks (runner.watermark_every negative) the clock
		// follows the wall clock: the backlog is late, and only the late
		// judgement of its hours pages, when it is read (checkLate).
		{"down 2h, no watermarks", 2 * time.Hour, false, false, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, opts := unitStage(t)
			if c.watermarks {
				opts.WatermarkEvery = 10 * time.Second
				var err error
				if s, err = NewStage(defaults(), opts); err != nil {
					t.Fatal(err)
				}
			}
			r := newCampaignRig(t, s)
			watermark := func(through time.Time) {
				if c.watermarks {
					r.watermark(through)
				}
			}
			// Four days live: a post every 10 minutes, the classify
			// stage's watermark after it, a tick after that.
			r.live(func(now time.Time) {
				watermark(now)
				r.tick(now)
			})
			// The classify stage stops at base. The aggregator ticks on,
			// every minute, and receives nothing.
			now := r.base
			for ; now.Before(r.base.Add(c.down)); now = now.Add(time.Minute) {
				r.tick(now)
				if c.restart && now.Equal(r.base.Add(time.Hour)) {
					r.restart(opts)
				}
			}
			// Back: it works through the posts that waited on the topic
			// in batches of 20, its watermark rising with them.
			r.backlog(func(at time.Time) {
				watermark(at)
				r.tick(now)
				now = now.Add(time.Second)
			})
			// Caught up: its watermark is the wall clock again.
			for range 8 {
				watermark(now)
				r.tick(now)
				now = now.Add(15 * time.Second)
			}
			if c.pages < 0 {
				r.checkLate(r.base.Add(c.down))
				return
			}
			r.check(c.pages)
			if c.pages == 0 {
				return
			}
			if got := r.s.parts[0].eng.Clock(); now.Sub(got) > time.Minute {
				t.Errorf("caught up, the clock is %v behind the wall clock", now.Sub(got))
			}
		})
	}
}

// TestStageCrashAndResumeWithWatermarksOnTheTopic: the classify stage's
// watermarks lie between the posts on every partition. The aggregator
// reads them beside the posts, crashes and resumes through them with the
// same alerts and state as without them, saves the last with its
// checkpoint, and counts none as a post or a dead letter.
func TestStageCrashAndResumeWithWatermarksOnTheTopic(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the in-process cluster")
	}
	e := newStageEnv(t)
	topic := e.c.Topic(e.c.Config.Topics.Scored)
	w := e.c.Bus.MultiWriter(bus.WriterOptions{})
	defer w.Close()
	var last time.Time
	marks := 0
	for i := 0; i < len(e.posts); i += 300 {
		e.produce(t, e.posts[i:min(i+300, len(e.posts))])
		last = e.posts[min(i+300, len(e.posts))-1].Post.Published.Add(time.Minute)
		b, err := msg.EncodeWatermark(&msg.Watermark{Stage: "classify", Topic: "posts", Through: map[int]time.Time{0: last, 1: last.Add(time.Hour)}, Written: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		var ms []kafka.Message
		for p := range 3 {
			ms = append(ms, bus.ControlMessage(topic, p, msg.ControlWatermark, b))
		}
		if err := w.WriteMessages(context.Background(), ms...); err != nil {
			t.Fatal(err)
		}
		marks += 3
	}
	e.crashThrice(t)
	s := e.newStage(t)
	e.run(t, s)
	e.waitApplied(t, len(e.posts)+marks)
	e.check(t)
	for p := range 3 {
		v, err := e.st.HGet(context.Background(), CheckpointKey(e.st, "aggregate", topic, p), "_upstream").Result()
		if err != nil {
			t.Fatalf("partition %d: no watermark saved: %v", p, err)
		}
		if v != last.UTC().Format(time.RFC3339Nano) {
			t.Errorf("partition %d: saved watermark %s, want the lowest of the last one, %s", p, v, last.UTC().Format(time.RFC3339Nano))
		}
	}
	if dl := e.readTopic(t, e.c.Topic(e.c.Config.Topics.DeadLetter)); len(dl) != 0 {
		t.Errorf("%d messages dead-lettered", len(dl))
	}
}
