package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Dead letters read back with consume are sent to the topics they came
// from, byte for byte with their keys, filtered by stage and reason; a
// dead letter naming a topic that is not the pipeline's is not followed.
func TestRedriveSendsDeadLettersBack(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	dir := t.TempDir()
	cfg := kafkaConfigFile(t, kc, dir)
	posts, scored := kc.Topic(kc.Config.Topics.Posts), kc.Topic(kc.Config.Topics.Scored)
	dead := func(stage, reason, topic string, off int64, key, value string) string {
		dl := &msg.DeadLetter{Schema: msg.SchemaDeadLetter, Stage: stage, Reason: reason, Error: "refused",
			Topic: topic, Partition: 0, Offset: off, OrigKey: []byte(key), At: time.Now().UTC()}
		if value != "" {
			dl.Value = []byte(value)
		}
		b, err := msg.Encode(dl)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	lines := []string{
		dead("classify", "schema", posts, 1, "s", `{"schema":"post/2","site":"s","site_post_id":"1","text":"from a newer writer"}`),
		dead("classify", "schema", posts, 2, "s", `{"schema":"post/2","site":"s","site_post_id":"2","text":"another"}`),
		dead("aggregate", "retries_exhausted", scored, 7, "s", `{"not":"this one"}`),
		dead("classify", "schema", "someone-elses-topic", 3, "k", `{"x":1}`),
		dead("classify", "schema", posts, 9, "s", ""), // too large to have been copied
	}
	in := filepath.Join(dir, "dead.jsonl")
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	code, _, errOut := runWithin(t, time.Minute, "redrive", "--config", cfg, "--stage", "classify", "--reason", "schema", "--dry-run", in)
	if code != 0 || !strings.Contains(errOut, "would re-send 2 messages ("+posts+": 2)") {
		t.Fatalf("dry run: exit %d, stderr %q", code, errOut)
	}
	if got := readTopic(t, kc, posts, 1, 2*time.Second); len(got) != 0 {
		t.Fatalf("a dry run wrote %d messages", len(got))
	}

	code, _, errOut = runWithin(t, time.Minute, "redrive", "--config", cfg, "--stage", "classify", "--reason", "schema", in)
	if code != 0 || !strings.Contains(errOut, "re-sent 2 messages ("+posts+": 2); 1 left out by the filters, 1 from topics that are not the pipeline's") ||
		!strings.Contains(errOut, "1 originals were too large") || !strings.Contains(errOut, posts+"/0/9") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	r := kc.Bus.PartitionReader(posts, 0)
	defer r.Close()
	r.SetOffset(kafka.FirstOffset)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, want := range []string{"from a newer writer", "another"} {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(m.Key) != "s" || !strings.Contains(string(m.Value), want) || !strings.HasPrefix(string(m.Value), `{"schema":"post/2"`) {
			t.Fatalf("message %d: key %q value %q, want the original bytes", i, m.Key, m.Value)
		}
	}
}

// The aggregate stage's target half reads the repartition topic the site
// half fills (<scored>-by-target), so its dead letters name that topic; it
// is the pipeline's own, and redrive sends them back there too.
func TestRedriveSendsTheTargetHalfsDeadLettersBackToTheRepartitionTopic(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	dir := t.TempDir()
	cfg := kafkaConfigFile(t, kc, dir)
	repart := kc.Topic(kc.Config.Topics.Scored + "-by-target")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The aggregate stage creates it at its start.
	if err := kc.Bus.EnsureTopics(ctx, repart); err != nil {
		t.Fatal(err)
	}
	dl := &msg.DeadLetter{Schema: msg.SchemaDeadLetter, Stage: "aggregate-targets", Reason: "schema", Error: "refused",
		Topic: repart, Partition: 0, Offset: 4, OrigKey: []byte("target-ref"), Value: []byte(`{"schema":"scored/2"}`), At: time.Now().UTC()}
	b, err := msg.Encode(dl)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "dead.jsonl")
	if err := os.WriteFile(in, append(b, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}

	code, _, errOut := runWithin(t, time.Minute, "redrive", "--config", cfg, "--reason", "schema", in)
	if code != 0 || !strings.Contains(errOut, "re-sent 1 messages ("+repart+": 1)") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	got := readTopic(t, kc, repart, 1, 20*time.Second)
	if len(got) != 1 || got[0] != `{"schema":"scored/2"}` {
		t.Fatalf("the repartition topic holds %q, want the original", got)
	}
}

// A redrive writes each original back with its Kafka timestamp and headers:
// the stages take a post's timestamp for when it entered the pipeline, so
// a backlog post stamped anew would pass for a fresh one. A dead letter
// from before they were kept is sent as before, stamped when written.
func TestRedriveWritesBackTheOriginalsTimestampAndHeaders(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	dir := t.TempDir()
	cfg := kafkaConfigFile(t, kc, dir)
	posts := kc.Topic(kc.Config.Topics.Posts)
	entered := time.Now().Add(-3 * time.Hour).Truncate(time.Millisecond).UTC()
	cases := []struct {
		name    string
		value   string
		time    time.Time
		headers []msg.Header
	}{
		{"a backlog post keeps when it entered the pipeline", `{"schema":"post/2","site":"s","site_post_id":"1"}`, entered, nil},
		{"a post keeps the headers its producer gave it", `{"schema":"post/2","site":"s","site_post_id":"2"}`, entered.Add(time.Minute),
			[]msg.Header{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}}},
		{"a dead letter from before timestamps were kept is stamped when sent", `{"schema":"post/2","site":"s","site_post_id":"3"}`, time.Time{}, nil},
		// kafka-go wraps a time past 2262 to a wrong date when it writes it.
		{"a timestamp kafka-go cannot write is stamped when sent", `{"schema":"post/2","site":"s","site_post_id":"4"}`, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), nil},
	}
	var lines []string
	for i, tc := range cases {
		dl := &msg.DeadLetter{Schema: msg.SchemaDeadLetter, Stage: "classify", Reason: "schema", Error: "refused",
			Topic: posts, Partition: 0, Offset: int64(i), OrigKey: []byte("s"), Value: []byte(tc.value), At: time.Now().UTC(),
			Time: tc.time, Headers: tc.headers}
		b, err := msg.Encode(dl)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	in := filepath.Join(dir, "dead.jsonl")
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if code, _, errOut := runWithin(t, time.Minute, "redrive", "--config", cfg, in); code != 0 || !strings.Contains(errOut, "re-sent 4 messages") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}

	r := kc.Bus.PartitionReader(posts, 0)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, tc := range cases {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		t.Run(tc.name, func(t *testing.T) {
			if string(m.Value) != tc.value {
				t.Fatalf("value %q, want the original %q", m.Value, tc.value)
			}
			_, writable := bus.Timestamp(tc.time)
			switch {
			case (tc.time.IsZero() || !writable) && (m.Time.Before(sent.Add(-time.Second)) || m.Time.After(time.Now().Add(time.Second))):
				t.Errorf("stamped %v, want when it was sent", m.Time)
			case !tc.time.IsZero() && writable && !m.Time.Equal(tc.time):
				t.Errorf("stamped %v, want the original's %v", m.Time, tc.time)
			}
			var want []kafka.Header
			for _, h := range tc.headers {
				want = append(want, kafka.Header{Key: h.Key, Value: h.Value})
			}
			if !slices.EqualFunc(m.Headers, want, func(a, b kafka.Header) bool { return a.Key == b.Key && string(a.Value) == string(b.Value) }) {
				t.Errorf("headers %q, want the original's %q", m.Headers, want)
			}
		})
	}
}

// A watermark says only how far a stage had got when it was written: an
// old one sent back would hold the aggregate stage's clock back, and one
// from a dead letter that lost its header (written before headers were
// kept) would come back as data and be dead-lettered again at every
// redrive. Redrive leaves watermarks out and says so.
func TestRedriveLeavesOutWatermarks(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	dir := t.TempDir()
	cfg := kafkaConfigFile(t, kc, dir)
	posts, scored := kc.Topic(kc.Config.Topics.Posts), kc.Topic(kc.Config.Topics.Scored)
	wm := `{"schema":"watermark/1","stage":"classify","topic":"` + posts + `","through":{"0":"2026-03-01T12:00:10Z"},"written":"2026-03-01T12:00:10Z"}`
	control := []msg.Header{{Key: msg.ControlHeader, Value: []byte(msg.ControlWatermark)}, {Key: bus.PartitionHeader, Value: []byte("0")}}
	var lines []string
	for i, dl := range []*msg.DeadLetter{
		{Stage: "aggregate", Reason: "schema", Topic: scored, Offset: 1, Value: []byte(wm), Headers: control},
		{Stage: "aggregate", Reason: "schema", Topic: scored, Offset: 2, Value: []byte(wm)}, // from before headers were kept
		{Stage: "aggregate", Reason: "schema", Topic: scored, Offset: 3, OrigKey: []byte("s"), Value: []byte(`{"schema":"scored/2"}`)},
	} {
		dl.Error, dl.At = "refused", time.Now().UTC()
		b, err := msg.Encode(dl)
		if err != nil {
			t.Fatalf("dead letter %d: %v", i, err)
		}
		lines = append(lines, string(b))
	}
	in := filepath.Join(dir, "dead.jsonl")
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runWithin(t, time.Minute, "redrive", "--config", cfg, "--reason", "schema", in)
	if code != 0 || !strings.Contains(errOut, "re-sent 1 messages ("+scored+": 1)") || !strings.Contains(errOut, "2 watermarks left out") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if got := readTopic(t, kc, scored, 2, 3*time.Second); len(got) != 1 || got[0] != `{"schema":"scored/2"}` {
		t.Fatalf("the scored topic holds %q, want the one scored post only", got)
	}
}

// A batch whose dead letters were written but whose offsets the shutdown
// timeout kept from being committed is redelivered, and its dead letters
// written again, each with the id of the first (tw-dead-letter-id). Redrive
// sends each original back once: a copy dead-lettered again, by the same
// stage or by another reading the same topic, is left out and counted.
// The same place holding other bytes (a topic deleted and created again)
// is another original, and is sent.
func TestRedriveSendsEachOriginalBackOnce(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	dir := t.TempDir()
	cfg := kafkaConfigFile(t, kc, dir)
	posts := kc.Topic(kc.Config.Topics.Posts)
	at := time.Now().UTC()
	var lines []string
	for i, dl := range []*msg.DeadLetter{
		{Stage: "classify", Offset: 1, Value: []byte(`{"schema":"post/2","site_post_id":"1"}`), At: at},
		{Stage: "classify", Offset: 2, Value: []byte(`{"schema":"post/2","site_post_id":"2"}`), At: at},
		{Stage: "classify", Offset: 1, Value: []byte(`{"schema":"post/2","site_post_id":"1"}`), At: at.Add(time.Minute)}, // redelivered
		{Stage: "archive", Offset: 1, Value: []byte(`{"schema":"post/2","site_post_id":"1"}`), At: at},                   // another reader of posts
		{Stage: "classify", Offset: 2, Value: []byte(`{"schema":"post/2","site_post_id":"2b"}`), At: at},                 // the topic created again
	} {
		dl.Reason, dl.Error, dl.Topic, dl.OrigKey = "schema", "refused", posts, []byte("s")
		b, err := msg.Encode(dl)
		if err != nil {
			t.Fatalf("dead letter %d: %v", i, err)
		}
		lines = append(lines, string(b))
	}
	in := filepath.Join(dir, "dead.jsonl")
	writeFile(t, in, strings.Join(lines, "\n")+"\n")
	code, _, errOut := runWithin(t, time.Minute, "redrive", "--config", cfg, in)
	if code != 0 || !strings.Contains(errOut, "re-sent 3 messages ("+posts+": 3)") || !strings.Contains(errOut, "2 duplicates left out") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	got := readTopic(t, kc, posts, 4, 3*time.Second)
	slices.Sort(got)
	want := []string{`{"schema":"post/2","site_post_id":"1"}`, `{"schema":"post/2","site_post_id":"2"}`, `{"schema":"post/2","site_post_id":"2b"}`}
	if !slices.Equal(got, want) {
		t.Fatalf("the posts topic holds %q, want each original once: %q", got, want)
	}
}

// Redrive holds one entry per original it has sent, for the whole run: a
// dead-letter topic of millions must not cost the run gigabytes. Each
// entry is a fixed-size digest of where the original was and its bytes,
// and keeps nothing of the dead letter it came from (its topic's name
// among it). Two dead letters of the same original are one entry; the
// same place holding other bytes is another.
func TestRedriveKeepsLittleForEachOriginal(t *testing.T) {
	f := func(name string, a, b msg.DeadLetter, same bool) {
		t.Run(name, func(t *testing.T) {
			o := originals{}
			o.add(&a)
			if got := o.has(&b); got != same {
				t.Errorf("has = %v, want %v", got, same)
			}
		})
	}
	post := msg.DeadLetter{Stage: "classify", Topic: "posts", Partition: 1, Offset: 7, Value: []byte(`{"id":"1"}`)}
	other := func(edit func(*msg.DeadLetter)) msg.DeadLetter { d := post; edit(&d); return d }
	f("another stage's dead letter of it is the same original", post, other(func(d *msg.DeadLetter) { d.Stage = "archive" }), true)
	f("another offset is another original", post, other(func(d *msg.DeadLetter) { d.Offset = 8 }), false)
	f("another partition is another original", post, other(func(d *msg.DeadLetter) { d.Partition = 2 }), false)
	f("another topic is another original", post, other(func(d *msg.DeadLetter) { d.Topic = "scored" }), false)
	f("other bytes at the same place are another original", post, other(func(d *msg.DeadLetter) { d.Value = []byte(`{"id":"2"}`) }), false)

	t.Run("an entry costs tens of bytes", func(t *testing.T) {
		const n = 200_000
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		o := originals{}
		for i := range n {
			// As decoded from a line: a topic name of its own.
			o.add(&msg.DeadLetter{Stage: "classify", Topic: strings.Clone("threatwatch.posts"), Partition: i % 12, Offset: int64(i),
				Value: []byte(`{"schema":"post/2","site_post_id":"` + strconv.Itoa(i) + `"}`)})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
		runtime.KeepAlive(o)
		if len(o) != n {
			t.Fatalf("%d entries, want %d", len(o), n)
		}
		t.Logf("%d bytes per original", per)
		if per > 48 {
			t.Errorf("%d bytes kept per original, want at most 48", per)
		}
	})
}
