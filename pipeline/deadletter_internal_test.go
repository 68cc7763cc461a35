package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"strings"
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

// Every dead letter carries an id of where its original came from
// (tw-dead-letter-id, the body's DedupID): a batch redelivered after its
// dead letters were written writes them again, and the copies must be
// told apart from other dead letters by whoever reads the topic.
func TestADeadLetterCarriesTheStableIDOfItsSource(t *testing.T) {
	r := &runner[msg.Post, *msg.Post]{
		d:   Deps{Metrics: NewMetrics(nil), Topics: config.Topics{DeadLetter: "dead-letter"}},
		s:   Stage[msg.Post, *msg.Post]{Name: "classify"},
		log: slog.New(slog.DiscardHandler),
	}
	id := func(km kafka.Message, cause error) string {
		t.Helper()
		out := r.deadLetter(km, cause)
		dl, err := msg.Decode[msg.DeadLetter](out.Value)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range out.Headers {
			if h.Key == "tw-dead-letter-id" {
				got = append(got, string(h.Value))
			}
		}
		if len(got) != 1 || got[0] != dl.DedupID() {
			t.Fatalf("tw-dead-letter-id headers %q, want one, the body's id %q", got, dl.DedupID())
		}
		return got[0]
	}
	km := kafka.Message{Topic: "posts", Partition: 2, Offset: 4, Value: []byte(`{not json`)}
	first := id(km, Permanent("invalid", errors.New("cannot decode")))
	if first != "classify/posts/2/4" {
		t.Errorf("id %q, want stage/topic/partition/offset", first)
	}
	// Redelivered, it may fail another way: it is the same message set aside.
	if again := id(km, errors.New("retries exhausted")); again != first {
		t.Errorf("redelivered: id %q, want the first one's %q", again, first)
	}
	next := km
	next.Offset = 5
	if other := id(next, Permanent("invalid", errors.New("cannot decode"))); other == first {
		t.Errorf("the next offset's dead letter has the same id %q", other)
	}
}

// A post with neither published nor fetched time, already in a topic
// (written by a producer that does not validate), is dead-lettered as
// invalid, its error naming both fields, and never reaches the handler.
func TestAPostWithoutATimeIsDeadLetteredNotHandled(t *testing.T) {
	var handled []string
	handler := HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, _ Meta) ([]Output, error) {
		handled = append(handled, p.ID)
		return nil, nil
	})
	r := &runner[msg.Post, *msg.Post]{
		d:   Deps{Metrics: NewMetrics(nil), Topics: config.Topics{DeadLetter: "dead-letter"}},
		s:   Stage[msg.Post, *msg.Post]{Name: "classify", Handler: handler},
		log: slog.New(slog.DiscardHandler),
	}
	batch := []kafka.Message{
		{Topic: "posts", Offset: 0, Value: []byte(`{"schema":"post/1","id":"s:0","site":"s","text":"x","fetched":"2026-03-01T12:00:00Z"}`)},
		{Topic: "posts", Offset: 1, Value: []byte(`{"schema":"post/1","id":"s:1","site":"s","text":"x"}`)},
		{Topic: "posts", Offset: 2, Value: []byte(`{"schema":"post/1","id":"s:2","site":"s","text":"x","published":"2026-03-01T12:00:00Z"}`)},
	}
	pd, err := r.prepare(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(handled) != 2 || handled[0] != "s:0" || handled[1] != "s:2" {
		t.Errorf("handled %v, want the two posts with a time", handled)
	}
	if len(pd.outs) != 1 || len(pd.done) != 3 {
		t.Fatalf("%d outputs, %d to commit; want one dead letter and all three committed", len(pd.outs), len(pd.done))
	}
	dl, err := msg.Decode[msg.DeadLetter](pd.outs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if dl.Offset != 1 || dl.Reason != "invalid" || !strings.Contains(dl.Error, "published") || !strings.Contains(dl.Error, "fetched") {
		t.Errorf("dead letter of offset %d, reason %q, error %q; want offset 1, invalid, naming published and fetched", dl.Offset, dl.Reason, dl.Error)
	}
}
