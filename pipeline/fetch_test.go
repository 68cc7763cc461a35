package pipeline_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// A refusal only an operator can lift (the stage's ACL on its input was
// revoked) stops the stage with that error, even when it comes while a
// batch is filling: it used to be swallowed there, and the stage then
// returned nil and stopped consuming while its process ran on, reported
// as healthy.
func TestARefusalWhileABatchFillsStopsTheStageWithTheError(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	if c.Fake == nil {
		t.Skip("needs the in-process cluster for fault injection")
	}
	posts := c.Topic("posts")
	d := deps(c, nil)
	// A long linger: the refusal, which comes right after the first
	// message, arrives while the batch is filling.
	d.Config.BatchLinger = 3 * time.Second
	produce(t, c, posts, post("s", 1))

	// Every fetch past the first message is refused.
	c.Fake.ControlKey(int16(kmsg.Fetch), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.Fake.KeepControl()
		req := kr.(*kmsg.FetchRequest)
		refuse := false
		for _, tp := range req.Topics {
			for _, p := range tp.Partitions {
				refuse = refuse || p.FetchOffset >= 1
			}
		}
		if !refuse {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		for _, tp := range req.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = tp.Topic, tp.TopicID
			for _, p := range tp.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = int16(kafka.TopicAuthorizationFailed)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})

	var handled atomic.Int64
	handler := pipeline.HandlerFunc[*msg.Post](func(context.Context, *msg.Post, pipeline.Meta) ([]pipeline.Output, error) {
		handled.Add(1)
		return nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler})
	select {
	case err := <-done:
		if !errors.Is(err, kafka.TopicAuthorizationFailed) {
			t.Fatalf("stage returned %v after handling %d, want the refusal", err, handled.Load())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stage went on after a refusal only an operator can lift")
	}
	if n := handled.Load(); n != 1 {
		t.Errorf("handled %d messages, want the 1 fetched before the refusal", n)
	}
	// What was handled before the refusal is committed, not handled again.
	got, err := c.Bus.Committed(context.Background(), "classify", posts)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 1 {
		t.Errorf("committed offset %d, want 1", got[0])
	}
}
