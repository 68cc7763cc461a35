package pipeline_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
)

// A topic that takes smaller messages than the client's limit
// (max.message.bytes 4000). Send used to retry what the broker refuses
// for good until its context ended, and a scraper waited there for ever:
// a batch of posts that fit alone but not together is now written one by
// one, and a post refused alone is a permanent error at once.
func TestAProducerGivesUpOnlyWhatTheBrokerRefusesAlone(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	small := c.Topic("small")
	cl, release := c.Bus.Client()
	res, err := cl.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: small, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "4000"}},
	}}})
	release()
	if err == nil {
		err = res.Errors[small]
	}
	if err != nil {
		t.Fatal(err)
	}
	prod := pipeline.NewProducer(c.Bus, "scrape", nil, slog.New(slog.DiscardHandler))
	defer prod.Close()
	sizes := func(ns ...int) []pipeline.Output {
		var outs []pipeline.Output
		for i, n := range ns {
			p := post("s", i)
			p.Text = strings.Repeat("x", n)
			p.ContentHash = ""
			outs = append(outs, pipeline.Output{Topic: small, Msg: p})
		}
		return outs
	}
	written := 0
	f := func(name string, outs []pipeline.Output, wantRefused bool, wantWritten int) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := prod.Send(ctx, outs...)
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("Send retried until its context ended: %v", err)
			case wantRefused:
				if class, reason := pipeline.Classify(err); class != pipeline.PermanentClass || reason != "refused" {
					t.Fatalf("Send = %v (class %v, reason %q), want a permanent refusal", err, class, reason)
				}
				if strings.Contains(err.Error(), "xxxx") {
					t.Errorf("the error quotes the post: %.200s", err)
				}
			case err != nil:
				t.Fatalf("Send = %v, want every message written", err)
			}
			written += wantWritten
			if got := readTopic(t, c, small, written, 20*time.Second); len(got) != written {
				t.Errorf("%d messages on the topic, want %d", len(got), written)
			}
		})
	}
	f("posts that fit alone but not together are written one by one", sizes(1500, 1500, 1500), false, 3)
	f("a post refused alone is a permanent error and the others are written", sizes(1500, 6000, 1500), true, 2)
}
