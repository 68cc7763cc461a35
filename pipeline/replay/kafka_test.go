package replay

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// produceScenarios writes the posts of scenario files to a topic the way
// the classify stage does (keyed by site), each stamped with the time it
// was fetched, as a live stream would be.
func produceScenarios(t *testing.T, c *kafkatest.Cluster, topic string, names ...string) int {
	t.Helper()
	w := c.Bus.Writer(topic, busWriterOptions())
	defer w.Close()
	n := 0
	for _, name := range names {
		var batch []kafka.Message
		for _, l := range readScenario(t, name) {
			l = bytes.TrimSpace(l)
			s, err := msg.DecodeLenient[msg.Scored](l)
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, kafka.Message{Key: []byte(s.Key()), Value: append([]byte(nil), l...), Time: s.Post.Fetched})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := w.WriteMessages(ctx, batch...); err != nil {
			cancel()
			t.Fatalf("cannot produce: %v", err)
		}
		n += len(batch)
		// The classify stage's watermarks lie between the posts on every
		// partition; stamped when written (here, after the last post),
		// they are not data and do not end a range.
		last := batch[len(batch)-1].Time
		b, err := msg.EncodeWatermark(&msg.Watermark{Stage: "classify", Topic: "posts", Through: map[int]time.Time{0: last}, Written: last})
		if err != nil {
			t.Fatal(err)
		}
		var marks []kafka.Message
		for p := range 3 {
			m := bus.ControlMessage(topic, p, msg.ControlWatermark, b)
			m.Topic, m.Time = "", time.Now()
			marks = append(marks, m)
		}
		if err := w.WriteMessages(ctx, marks...); err != nil {
			cancel()
			t.Fatalf("cannot produce: %v", err)
		}
		cancel()
	}
	return n
}

func replayTopic(t *testing.T, c *kafkatest.Cluster, topic string, tr TopicRange) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src, err := Topic(ctx, c.Bus, topic, tr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	eng, _ := NewAggregateEngine(cfg.Aggregate)
	var ab, lb bytes.Buffer
	aw, lw := NewAlertWriter(&ab), NewLevelWriter(&lb)
	var res result
	o := Options{From: tr.From, To: tr.To, Tail: 24 * time.Hour, OnBadLine: func(le *msg.LineError) { res.bad = append(res.bad, le.Error()) }}
	o.FromAggregate(cfg.Aggregate)
	st, err := Run(ctx, src, o, &Lane{Name: "kafka", Engine: eng, Sinks: []Sink{aw, lw}})
	if err != nil {
		t.Fatal(err)
	}
	aw.Flush()
	lw.Flush()
	res.alerts, res.levels, res.stats = ab.Bytes(), lb.Bytes(), st
	return res
}

func TestKafkaTopicSource(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Partitions: 3})
	topic := c.Topic(c.Config.Topics.Scored)
	// No scenario with posts later than the grace period here: an export
	// places such a post where the replay of the topic saw it, and a replay
	// of the export sorts it up to one grace period earlier (docs/replay.md).
	names := []string{"campaign", "quiet", "dupes"}
	n := produceScenarios(t, c, topic, names...)
	var files []string
	for _, name := range names {
		files = append(files, scenario(name))
	}

	t.Run("the whole topic replays like the files it was written from", func(t *testing.T) {
		got := replayTopic(t, c, topic, TopicRange{})
		want := replayFiles(t, files, nil)
		sameOutputs(t, "topic vs files", got, want)
		if len(got.bad) != 0 {
			t.Errorf("bad lines in the topic: %q", got.bad)
		}
		if got.stats.Records+got.stats.Duplicates != int64(n) {
			t.Errorf("replayed %d + %d duplicates, want all %d messages", got.stats.Records, got.stats.Duplicates, n)
		}
	})

	t.Run("a time range seeks by timestamp and replays like the same range of the files", func(t *testing.T) {
		tr := TopicRange{From: scenarioStart.Add(36 * time.Hour), To: scenarioStart.Add(84 * time.Hour), Slack: DefaultSlack}
		src, err := Topic(context.Background(), c.Bus, topic, tr)
		if err != nil {
			t.Fatal(err)
		}
		seeked := 0
		for _, in := range src.inputs {
			if ps := in.(*partitionSource); ps.start > 0 {
				seeked++
			}
		}
		src.Close()
		if seeked == 0 {
			t.Error("no partition started after its first offset: the range did not seek by timestamp")
		}
		got := replayTopic(t, c, topic, tr)
		want := replayFiles(t, files, func(o *Options) { o.From, o.To = tr.From, tr.To })
		sameOutputs(t, "topic range vs file range", got, want)
		if got.stats.Records == 0 || got.stats.First.Before(tr.From) || !got.stats.Last.Before(tr.To) {
			t.Errorf("replayed %d posts from %v to %v, want posts inside [%v, %v)", got.stats.Records, got.stats.First, got.stats.Last, tr.From, tr.To)
		}
	})

	t.Run("an export of a range replays like the range itself", func(t *testing.T) {
		tr := TopicRange{From: scenarioStart.Add(36 * time.Hour), To: scenarioStart.Add(84 * time.Hour), Slack: DefaultSlack}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		src, err := Topic(ctx, c.Bus, topic, tr)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		st, err := Export(ctx, src, Options{From: tr.From, To: tr.To, Window: 30 * time.Minute}, &out)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "export.jsonl")
		if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		exported := replayFiles(t, []string{p}, func(o *Options) { o.From, o.To = tr.From, tr.To })
		direct := replayFiles(t, files, func(o *Options) { o.From, o.To = tr.From, tr.To })
		sameOutputs(t, "export vs files", exported, direct)
		if st.Records == 0 {
			t.Error("nothing exported")
		}
	})

	t.Run("a slack of zero reads the range by timestamp exactly", func(t *testing.T) {
		// Zero was taken for unset and read as an hour: a backfill or a
		// test could not ask for no slack at all.
		from, to := scenarioStart.Add(36*time.Hour), scenarioStart.Add(84*time.Hour)
		starts := func(slack time.Duration) (start map[string]int64, stopAt time.Time) {
			src, err := Topic(context.Background(), c.Bus, topic, TopicRange{From: from, To: to, Slack: slack})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			start = map[string]int64{}
			for _, in := range src.inputs {
				ps := in.(*partitionSource)
				start[ps.name], stopAt = ps.start, ps.stopAt
			}
			return start, stopAt
		}
		none, stopNone := starts(0)
		hour, stopHour := starts(time.Hour)
		if !stopNone.Equal(to) {
			t.Errorf("with no slack the read stops at messages stamped %v, want --to %v", stopNone, to)
		}
		if !stopHour.Equal(to.Add(time.Hour)) {
			t.Errorf("with an hour of slack the read stops at %v, want %v", stopHour, to.Add(time.Hour))
		}
		later := 0
		for name, off := range none {
			if off < hour[name] {
				t.Errorf("%s: with no slack the read starts at offset %d, before %d with an hour", name, off, hour[name])
			}
			if off > hour[name] {
				later++
			}
		}
		if later == 0 {
			t.Errorf("with no slack every partition starts where it does with an hour (%v): the zero was not taken as zero", none)
		}
	})

	t.Run("a range after the last message is empty", func(t *testing.T) {
		got := replayTopic(t, c, topic, TopicRange{From: scenarioStart.Add(30 * 24 * time.Hour)})
		if got.stats.Records != 0 || len(got.alerts) != 0 {
			t.Errorf("replayed %d posts, want none", got.stats.Records)
		}
	})
}

func busWriterOptions() bus.WriterOptions {
	return bus.WriterOptions{BatchTimeout: 2 * time.Millisecond}
}
