package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// The dead-letter topic takes smaller messages than the client's limit
// (max.message.bytes 4000), and a dead letter copies its original: the
// broker refuses the dead letter of a large input for good. It used to be
// logged as lost while its input was committed, so nothing pointed at the
// input any more. It is now written without the copy, saying where the
// original is.
func TestADeadLetterTheBrokerRefusesIsWrittenWithoutItsCopy(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	posts := c.Topic("posts")
	d := deps(c, nil)
	d.Topics.DeadLetter = "small-dead-letter"
	dlq := c.Topic(d.Topics.DeadLetter)
	cl, release := c.Bus.Client()
	res, err := cl.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: dlq, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "4000"}},
	}}})
	release()
	if err == nil {
		err = res.Errors[dlq]
	}
	if err != nil {
		t.Fatal(err)
	}
	handler := pipeline.HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
		return nil, pipeline.Permanent("rejected", errors.New("this post can never be scored"))
	})
	big := post("s", 1)
	big.Text = strings.Repeat("x", 3500)
	produce(t, c, posts, post("s", 0), big)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler})

	dead := readTopic(t, c, dlq, 2, 20*time.Second)
	if len(dead) != 2 {
		t.Fatalf("%d dead letters, want one for each input", len(dead))
	}
	for _, m := range dead {
		dl, err := msg.Decode[msg.DeadLetter](m.Value)
		if err != nil {
			t.Fatal(err)
		}
		switch dl.Offset {
		case 0:
			if len(dl.Value) == 0 {
				t.Error("the small input's dead letter lost its copy")
			}
		case 1:
			if len(dl.Value) != 0 || dl.Reason != "rejected" || !strings.Contains(dl.Error, posts+"/0/1") {
				t.Errorf("the large input's dead letter: reason %q, error %q, %d bytes copied; want reason rejected, no copy, and where the original is",
					dl.Reason, dl.Error, len(dl.Value))
			}
		default:
			t.Errorf("dead letter of offset %d", dl.Offset)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
