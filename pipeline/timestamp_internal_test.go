package pipeline

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// kafka-go writes a message's time as UnixNano()/1e6, which wraps past
// 2262-04-11 without an error: a post passed on with an arrival time that
// far ahead (another client's producer with a broken clock stamped it)
// must be stamped when written instead, not with a wrong date.
func TestAnArrivalTimeKafkaGoCannotWriteIsStampedWhenWritten(t *testing.T) {
	p := &msg.Post{Schema: msg.SchemaPost, ID: "s:1", Site: "s", SitePostID: "1", Text: "post 1", Fetched: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	in, err := msg.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	handler := HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, meta Meta) ([]Output, error) {
		return []Output{{Topic: "scored", Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"}, Arrival: meta.Time}}, nil
	})
	r := &runner[msg.Post, *msg.Post]{
		d:   Deps{Metrics: NewMetrics(nil), Topics: config.Topics{DeadLetter: "dead-letter"}},
		s:   Stage[msg.Post, *msg.Post]{Name: "classify", Handler: handler},
		log: slog.New(slog.DiscardHandler),
	}
	f := func(arrival, want time.Time) {
		t.Helper()
		pd, err := r.prepare(context.Background(), []kafka.Message{{Topic: "posts", Value: in, Time: arrival}})
		if err != nil {
			t.Fatal(err)
		}
		if len(pd.outs) != 1 || pd.src[0] != 0 {
			t.Fatalf("arrival %v: outputs %d (sources %v), want the scored post", arrival, len(pd.outs), pd.src)
		}
		got := pd.outs[0].Time
		if !got.Equal(want) {
			t.Errorf("arrival %v: written with time %v, want %v", arrival, got, want)
		}
		if !got.IsZero() && got.UnixNano()/1e6 != got.UnixMilli() {
			t.Errorf("arrival %v: kafka-go would write %v as a wrong timestamp", arrival, got)
		}
	}
	last := time.Date(2262, 4, 11, 23, 47, 16, 854_000_000, time.UTC)
	f(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	f(last, last)
	f(last.Add(time.Millisecond), time.Time{})
	f(time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{})
	f(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{})
	f(time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), time.Time{})
	f(time.Time{}, time.Time{})
}
