package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// The output topic takes smaller messages than the client's limit
// (max.message.bytes 4000). The broker refuses the one output over it for
// good; the stage used to retry that write for ever and stop there. Its
// input is now set aside with the broker's reason and the stream goes on.
// The others fit alone but not in one batch: the broker refuses the batch,
// and they are written one by one, every one of them.
func TestAnOutputTheBrokerRefusesSetsItsInputAsideAndTheStreamGoesOn(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	posts, out, dlq := c.Topic("posts"), c.Topic("small"), c.Topic(c.Config.Topics.DeadLetter)
	cl, release := c.Bus.Client()
	res, err := cl.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: out, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "4000"}},
	}}})
	release()
	if err == nil {
		err = res.Errors[out]
	}
	if err != nil {
		t.Fatal(err)
	}
	d := deps(c, prometheus.NewRegistry())
	d.Store = redistest.New(t)
	d.Config.RetryMax = 100 * time.Millisecond
	handler := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, meta pipeline.Meta) ([]pipeline.Output, error) {
		n := 1500
		if p.Site == "big" {
			n = 6000
		}
		s := &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{msg.SignalThreat: 0}}
		s.Post.Text = strings.Repeat("x", n)
		return []pipeline.Output{{Topic: out, Msg: s}}, nil
	})
	var in []msg.Message
	for i := range 8 {
		site := "forum"
		if i == 3 {
			site = "big"
		}
		in = append(in, post(site, i))
	}
	produce(t, c, posts, in...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler, Dedup: true})

	got := readTopic(t, c, out, 7, 30*time.Second)
	if len(got) != 7 {
		t.Fatalf("%d outputs written, want the 7 that fit", len(got))
	}
	dead := readTopic(t, c, dlq, 1, 30*time.Second)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	dl, err := msg.Decode[msg.DeadLetter](dead[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if dl.Reason != "refused" || dl.Offset != 3 || !strings.Contains(dl.Error, "too large") {
		t.Errorf("dead letter: reason %q, offset %d, error %q; want the input at offset 3, refused as too large", dl.Reason, dl.Offset, dl.Error)
	}
	waitCounted(d.Metrics.DeadLettered.WithLabelValues("classify", "refused"), 1)
	if n := testutil.ToFloat64(d.Metrics.DeadLettered.WithLabelValues("classify", "refused")); n != 1 {
		t.Errorf("dead_letters_total{reason=refused} = %v, want 1", n)
	}
	// Set aside, not marked: its redrive, once the topic takes it, is handled.
	seen, err := storeDedupSeen(t, d, "classify", in[3].DedupID())
	if err != nil {
		t.Fatal(err)
	}
	if seen {
		t.Error("the input set aside was marked as processed")
	}
	cancel()
	<-done
}

// storeDedupSeen says whether stage's dedup marks hold id.
func storeDedupSeen(t *testing.T, d pipeline.Deps, stage, id string) (bool, error) {
	t.Helper()
	seen, err := store.NewDedup(d.Store, stage, d.Config.DedupTTL).Seen(context.Background(), []string{id})
	if err != nil {
		return false, err
	}
	return seen[0], nil
}
