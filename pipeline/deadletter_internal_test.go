package pipeline

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// JSON holds no time past year 9999, and kafka-go hands on whatever
// timestamp another client's producer (a broken clock) gave a message:
// its dead letter goes without the timestamp rather than without being a
// dead letter at all.
func TestADeadLetterOfAMessageStampedPastYear9999IsStillADeadLetter(t *testing.T) {
	r := &runner[msg.Post, *msg.Post]{
		d:   Deps{Metrics: NewMetrics(nil), Topics: config.Topics{DeadLetter: "dead-letter"}},
		s:   Stage[msg.Post, *msg.Post]{Name: "classify"},
		log: slog.New(slog.DiscardHandler),
	}
	f := func(stamp, want time.Time) {
		t.Helper()
		km := kafka.Message{Topic: "posts", Partition: 2, Offset: 4, Key: []byte("s"), Value: []byte(`{not json`), Time: stamp,
			Headers: []kafka.Header{{Key: "traceparent", Value: []byte("00-01")}}}
		out := r.deadLetter(km, Permanent("invalid", errors.New("cannot decode")))
		dl, err := msg.Decode[msg.DeadLetter](out.Value)
		if err != nil {
			t.Fatalf("stamped %v: the dead letter is %q, not one: %v", stamp, out.Value, err)
		}
		if !dl.Time.Equal(want) || string(dl.Value) != `{not json` || dl.Offset != 4 || len(dl.Headers) != 1 {
			t.Errorf("stamped %v: dead letter %+v, want timestamp %v, the original and its headers", stamp, dl, want)
		}
	}
	f(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	f(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC))
	f(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{})
	f(time.Time{}, time.Time{})
}
