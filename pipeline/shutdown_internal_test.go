package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// A batch the shutdown cuts short is redelivered whole, so it must write
// nothing: kafka-go may still send what it is handed under a cancelled
// context, and a dead letter sent now would be sent again with the
// redelivery.
func TestABatchCutShortByTheShutdownWritesAndCommitsNothing(t *testing.T) {
	good, err := msg.Encode(&msg.Post{Schema: msg.SchemaPost, ID: "s:1", Site: "s", SitePostID: "1", Fetched: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	handler := HandlerFunc[*msg.Post](func(ctx context.Context, p *msg.Post, _ Meta) ([]Output, error) {
		if p.SitePostID == "0" {
			return []Output{{Topic: "scored", Msg: &msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"}}}, nil
		}
		<-ctx.Done() // the shutdown timeout passes while this one is handled
		return nil, fmt.Errorf("cannot reach the dependency: %w", ctx.Err())
	})
	r := &runner[msg.Post, *msg.Post]{
		d:   Deps{Metrics: NewMetrics(nil), Topics: config.Topics{DeadLetter: "dead-letter"}, Config: config.Runner{MaxAttempts: 1}},
		s:   Stage[msg.Post, *msg.Post]{Name: "classify", Handler: handler},
		log: slog.New(slog.DiscardHandler),
	}
	first, err := msg.Encode(&msg.Post{Schema: msg.SchemaPost, ID: "s:0", Site: "s", SitePostID: "0", Fetched: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	batch := []kafka.Message{
		{Topic: "posts", Offset: 0, Value: first},
		{Topic: "posts", Offset: 1, Value: []byte(`{not json`)},
		{Topic: "posts", Offset: 2, Value: good},
		{Topic: "posts", Offset: 3, Value: []byte(`{not json either`)},
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pd, err := r.prepare(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if !pd.partial || len(pd.outs) != 0 || len(pd.done) != 0 || len(pd.ids) != 0 {
		t.Fatalf("cut short: partial %v, %d outputs, %d to commit, %d to mark; want partial and nothing",
			pd.partial, len(pd.outs), len(pd.done), len(pd.ids))
	}
}
