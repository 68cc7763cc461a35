package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

type parseError struct{ text string }

func (e parseError) Error() string { return "cannot parse " + e.text }

// A panic's value may quote the post it was handling: its dead letter's
// headers and error and the stage's log name the panic's type and where
// it happened, never the value. The post itself is in the dead letter's
// body, as every dead letter's original is.
func TestAHandlerPanicKeepsThePostsTextOutOfHeadersAndLogs(t *testing.T) {
	const secret = "Clara Sorrenti lives at 12 Main Street"
	p := &msg.Post{Schema: msg.SchemaPost, ID: "s:1", Site: "s", SitePostID: "1", Text: secret}
	in, err := msg.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		panic func(p *msg.Post)
		want  []string // in the tw-error header
	}{
		{"a string quoting the post", func(p *msg.Post) { panic("cannot score " + p.Text) }, []string{"string", "panic_internal_test.go"}},
		{"an error quoting the post", func(p *msg.Post) { panic(fmt.Errorf("bad post %q", p.Text)) }, []string{"*errors.errorString", "panic_internal_test.go"}},
		{"an error value quoting the post", func(p *msg.Post) { panic(parseError{p.Text}) }, []string{"pipeline.parseError", "panic_internal_test.go"}},
		{"a runtime error", func(p *msg.Post) {
			var ids []string
			_ = ids[len(p.Text)]
		}, []string{"index out of range [38] with length 0", "panic_internal_test.go"}},
		{"a nil pointer", func(p *msg.Post) {
			var none *msg.Scored
			p.Text = none.Post.Text
		}, []string{"nil pointer dereference", "panic_internal_test.go"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			handler := HandlerFunc[*msg.Post](func(_ context.Context, p *msg.Post, _ Meta) ([]Output, error) {
				tc.panic(p)
				return nil, nil
			})
			r := &runner[msg.Post, *msg.Post]{
				d:   Deps{Metrics: NewMetrics(nil), Topics: config.Topics{DeadLetter: "dead-letter"}, Config: config.Runner{MaxAttempts: 1}},
				s:   Stage[msg.Post, *msg.Post]{Name: "classify", Handler: handler},
				log: slog.New(slog.NewTextHandler(&logs, nil)),
			}
			pd, err := r.prepare(context.Background(), []kafka.Message{{Topic: "posts", Offset: 7, Value: in}})
			if err != nil {
				t.Fatal(err)
			}
			if len(pd.outs) != 1 {
				t.Fatalf("%d outputs, want the dead letter", len(pd.outs))
			}
			out := pd.outs[0]
			var header string
			for _, h := range out.Headers {
				if strings.Contains(string(h.Value), "Sorrenti") {
					t.Errorf("header %s quotes the post: %q", h.Key, h.Value)
				}
				if h.Key == "tw-error" {
					header = string(h.Value)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(header, w) {
					t.Errorf("tw-error %q does not say %q", header, w)
				}
			}
			dl, err := msg.Decode[msg.DeadLetter](out.Value)
			if err != nil {
				t.Fatal(err)
			}
			if dl.Reason != "panic" || dl.Error != header || !bytes.Equal(dl.Value, in) {
				t.Errorf("dead letter reason %q, error %q, original kept %v; want panic, the header's error and the original",
					dl.Reason, dl.Error, bytes.Equal(dl.Value, in))
			}
			if strings.Contains(logs.String(), "Sorrenti") {
				t.Errorf("the log quotes the post:\n%s", logs.String())
			}
		})
	}
}
