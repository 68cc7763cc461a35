package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// A dead letter keeps its original's Kafka timestamp and headers, whatever
// set it aside: redriven, a backlog post must not pass for a fresh one, and
// a control message must not come back as data.
func TestADeadLetterKeepsItsOriginalsTimestampAndHeaders(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	posts, dlq := c.Topic("posts"), c.Topic("dead-letter")
	d := deps(c, nil)
	handler := pipeline.HandlerFunc[*msg.Post](func(context.Context, *msg.Post, pipeline.Meta) ([]pipeline.Output, error) {
		return nil, pipeline.Permanent("rejected", errors.New("this post can never be scored"))
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runStage(t, ctx, d, pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Handler: handler})

	refused, err := msg.Encode(post("s", 1))
	if err != nil {
		t.Fatal(err)
	}
	entered := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
	control := bus.ControlMessage("", 0, msg.ControlWatermark, []byte(`{"schema":"watermark/1"}`)).Headers
	cases := []struct {
		name    string
		value   []byte
		headers []kafka.Header
		time    time.Time
		reason  string
	}{
		{"a post the handler refuses", refused, nil, entered, "rejected"},
		{"a post that does not decode", []byte(`{not json`), nil, entered.Add(time.Minute), "invalid"},
		{"a watermark that cannot be read", []byte(`{"schema":"watermark/1"}`), control, entered.Add(2 * time.Minute), "control"},
	}
	w := c.Bus.Writer(posts, bus.WriterOptions{})
	for _, tc := range cases {
		km := kafka.Message{Key: []byte("s"), Value: tc.value, Headers: tc.headers, Time: tc.time}
		if err := w.WriteMessages(ctx, km); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()

	dead := readTopic(t, c, dlq, len(cases), 30*time.Second)
	if len(dead) != len(cases) {
		t.Fatalf("%d dead letters, want %d", len(dead), len(cases))
	}
	for _, m := range dead {
		dl, err := msg.Decode[msg.DeadLetter](m.Value)
		if err != nil {
			t.Fatalf("dead letter does not decode: %v (%.80q)", err, m.Value)
		}
		if dl.Offset < 0 || int(dl.Offset) >= len(cases) {
			t.Fatalf("dead letter of offset %d, want one of the %d written", dl.Offset, len(cases))
		}
		tc := cases[dl.Offset]
		t.Run(tc.name, func(t *testing.T) {
			if dl.Reason != tc.reason {
				t.Errorf("reason %q, want %q", dl.Reason, tc.reason)
			}
			if !dl.Time.Equal(tc.time) {
				t.Errorf("timestamp %v, want the original's %v", dl.Time, tc.time)
			}
			var want []msg.Header
			for _, h := range tc.headers {
				want = append(want, msg.Header{Key: h.Key, Value: h.Value})
			}
			if !slices.EqualFunc(dl.Headers, want, func(a, b msg.Header) bool { return a.Key == b.Key && string(a.Value) == string(b.Value) }) {
				t.Errorf("headers %q, want the original's %q", dl.Headers, want)
			}
		})
	}
	cancel()
	<-done
}
