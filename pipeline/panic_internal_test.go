package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
	p := &msg.Post{Schema: msg.SchemaPost, ID: "s:1", Site: "s", SitePostID: "1", Text: secret, Fetched: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
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

// brittle is a message whose validation panics on input it did not
// expect: a bug in decoding, which runs in the stage's loop.
type brittle struct {
	Schema string   `json:"schema"`
	ID     string   `json:"id"`
	Parts  []string `json:"parts"`
}

func (b *brittle) DedupID() string { return b.ID }
func (b *brittle) Key() string     { return b.ID }
func (b *brittle) Validate() error {
	if b.Parts[0] == "" { // no parts: index out of range
		return fmt.Errorf("%w: empty first part", msg.ErrInvalid)
	}
	return nil
}

// unencodable is an output whose encoding panics, quoting a post.
type unencodable struct{ text string }

func (u *unencodable) DedupID() string              { return "u" }
func (u *unencodable) Key() string                  { return "u" }
func (u *unencodable) Validate() error              { return nil }
func (u *unencodable) MarshalJSON() ([]byte, error) { panic("cannot encode " + u.text) }

// A panic while decoding one message or encoding what the handler made of
// it is that message's to carry, as a panic in Handle is: it is set aside
// (reason panic), counted by where, and the batch goes on. Unrecovered,
// it would kill the process, which would read the same message again at
// its restart and die again.
func TestAPanicDecodingOrEncodingOneMessageSetsItAside(t *testing.T) {
	const secret = "Clara Sorrenti lives at 12 Main Street"
	var handled []string
	handler := HandlerFunc[*brittle](func(_ context.Context, b *brittle, _ Meta) ([]Output, error) {
		handled = append(handled, b.ID)
		if b.ID == "enc" {
			return []Output{{Topic: "out", Msg: &unencodable{text: secret}}}, nil
		}
		return nil, nil
	})
	var logs bytes.Buffer
	r := &runner[brittle, *brittle]{
		d:   Deps{Metrics: NewMetrics(nil), Topics: config.Topics{DeadLetter: "dead-letter"}, Config: config.Runner{MaxAttempts: 1}},
		s:   Stage[brittle, *brittle]{Name: "classify", Handler: handler},
		log: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	batch := []kafka.Message{
		{Topic: "in", Offset: 0, Value: []byte(`{"id":"ok","parts":["a"]}`)},
		{Topic: "in", Offset: 1, Value: []byte(`{"id":"dec"}`)},
		{Topic: "in", Offset: 2, Value: []byte(`{"id":"enc","parts":["a"]}`)},
		{Topic: "in", Offset: 3, Value: []byte(`{"id":"ok2","parts":["b"]}`)},
	}
	var pd pending
	func() {
		defer func() {
			if v := recover(); v != nil {
				t.Fatalf("prepare panicked: %v", v)
			}
		}()
		var err error
		if pd, err = r.prepare(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}()
	if strings.Join(handled, " ") != "ok enc ok2" {
		t.Errorf("handled %v, want every message that decodes", handled)
	}
	if len(pd.done) != len(batch) {
		t.Errorf("%d inputs to commit, want all %d", len(pd.done), len(batch))
	}
	want := map[int64]string{1: "decod", 2: "encod"}
	for _, out := range pd.outs {
		dl, err := msg.Decode[msg.DeadLetter](out.Value)
		if err != nil {
			t.Fatalf("output %q is not a dead letter: %v", out.Value, err)
		}
		if dl.Reason != "panic" || !strings.Contains(dl.Error, want[dl.Offset]) {
			t.Errorf("dead letter of offset %d: reason %q, error %q; want panic, %q", dl.Offset, dl.Reason, dl.Error, want[dl.Offset])
		}
		delete(want, dl.Offset)
	}
	if len(want) != 0 {
		t.Errorf("no dead letter for offsets %v", want)
	}
	for _, where := range []string{"decode", "encode"} {
		if n := testutil.ToFloat64(r.d.Metrics.Panics.WithLabelValues("classify", where)); n != 1 {
			t.Errorf("panics_total{where=%q} = %v, want 1", where, n)
		}
	}
	if strings.Contains(logs.String(), "Sorrenti") {
		t.Errorf("the log quotes the post:\n%s", logs.String())
	}
}

// fetchFunc is a fetcher.
type fetchFunc func(context.Context) (kafka.Message, error)

func (f fetchFunc) FetchMessage(ctx context.Context) (kafka.Message, error) { return f(ctx) }

// A panic in the fetch loop (in the client, under FetchMessage) reaches
// the stage's loop as an error wrapping ErrPanicked, after what was
// fetched before it, and is counted: the loop then stops the stage.
func TestAPanicInTheFetchLoopIsHandedToTheStagesLoop(t *testing.T) {
	var logs bytes.Buffer
	r := &runner[msg.Post, *msg.Post]{
		d:   Deps{Metrics: NewMetrics(nil), Config: config.Runner{BatchSize: 4}},
		s:   Stage[msg.Post, *msg.Post]{Name: "classify"},
		log: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	n := 0
	f := fetchFunc(func(context.Context) (kafka.Message, error) {
		n++
		if n == 2 {
			panic(fmt.Errorf("bad record %q", "Clara Sorrenti"))
		}
		return kafka.Message{Offset: int64(n)}, nil
	})
	in := make(chan fetched, 4)
	func() {
		defer func() {
			if v := recover(); v != nil {
				t.Fatalf("the fetch loop panicked: %v", v)
			}
		}()
		r.fetchLoop(context.Background(), f, in)
	}()
	var got []fetched
	for f := range in {
		got = append(got, f)
	}
	if len(got) != 2 || got[0].err != nil || got[0].m.Offset != 1 || !errors.Is(got[1].err, ErrPanicked) || !strings.Contains(got[1].err.Error(), "fetch") {
		t.Fatalf("handed over %+v, want the message fetched, then an error wrapping ErrPanicked naming fetch", got)
	}
	if n := testutil.ToFloat64(r.d.Metrics.Panics.WithLabelValues("classify", "fetch")); n != 1 {
		t.Errorf("panics_total{where=fetch} = %v, want 1", n)
	}
	if strings.Contains(logs.String(), "Sorrenti") || strings.Contains(got[1].err.Error(), "Sorrenti") {
		t.Errorf("the panic's value reached the log or the error")
	}
}

// upstreamOnce keeps the upstream watermark of one partition and panics
// when asked about a second: a bug in the handler's Upstream.
type upstreamOnce struct {
	HandlerFunc[*msg.Post]
	asked int
	kept  time.Time
}

func (u *upstreamOnce) Upstream(int) (time.Time, bool) {
	u.asked++
	if u.asked > 1 {
		panic("cannot read the upstream watermark")
	}
	return u.kept, true
}

// A panic while the stage's loop bounds a watermark by what it read
// upstream stops the stage (where loop), and the watermark writer must
// not take the watermark as bounded: half bounded, a partition would go
// out as passed through now while the stage upstream has not got there,
// and the stages after it would close their windows early.
func TestAPanicBoundingAWatermarkDoesNotLetItOut(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h := &upstreamOnce{kept: t0}
	r := &runner[msg.Post, *msg.Post]{
		d:   Deps{Metrics: NewMetrics(nil)},
		s:   Stage[msg.Post, *msg.Post]{Name: "aggregate", Handler: h},
		log: slog.New(slog.DiscardHandler),
	}
	now := t0.Add(time.Hour)
	req := wmRequest{through: map[int]time.Time{0: now, 1: now}, done: make(chan struct{})}
	panicked := func() (panicked bool) {
		defer func() { panicked = recover() != nil }()
		r.bound(req)
		return false
	}()
	if !panicked {
		t.Fatal("bound did not panic; the test's handler is wrong")
	}
	select {
	case <-req.done:
		t.Errorf("the watermark was handed back as bounded after a panic: through %v", req.through)
	default:
	}
}
