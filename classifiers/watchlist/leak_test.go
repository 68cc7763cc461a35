package watchlist

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/classifiers"
	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/obs/obstest"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// leakNeedles are the plain values of testdata/leak.yaml and the forms the
// watchlist normalizes them to, lower case (the scan is case-insensitive).
var leakNeedles = []string{
	"clara sorrenti", "clarasorrenti", "clara.sorrenti",
	"claras_99", "claras99",
	"keffals",
	"clara whitlock",
	"123 main avenue", "123 main ave", "main avenue", "springfield, il", "62704",
	"+1 (555) 010-4477", "+15550104477", "15550104477", "5550104477", "555) 010-4477", "010-4477",
	"clara.sorrenti@gmail.com", "clarasorrenti@gmail.com",
	"abc-1234", "abc1234",
	"marco sorrenti",
	"canter point logistics",
}

// leakVariants are the details as the posts write them, lower case. They
// are in the posts (and so in the posts topic and in Scored.Post), but must
// not be anywhere else: not in snippets, entities, logs, Redis or metrics.
var leakVariants = []string{
	"123 main av", "555.010.4477", "abc 1234", "marco  sorrenti", "canter-point logistics",
	"clara.sorr.enti+dox@googlemail.com", "keffáls", "claras-99", "clára sorrenti", "clára whitlock",
}

// leakPosts carry every detail, each written differently from the file.
var leakPosts = []string{
	"found her: 123 Main Av. #4, cell 555.010.4477, drives a silver civic abc 1234",
	"her brother is MARCO  SORRENTI and she works at Canter-Point Logistics, nights",
	"mail clara.sorr.enti+dox@googlemail.com and tell Keffáls we know. also ClaraS-99 lol",
	"Clára Sorrenti (used to be Clára Whitlock) is streaming",
}

func TestNoPlainValueReachesRedisKafkaLogsFilesOrMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	all := strings.ToLower(strings.Join(leakPosts, "\n") + "she lives at 123 main av, apt 4")
	for _, n := range leakNeedles {
		if strings.Contains(all, n) {
			t.Fatalf("test setup: the posts contain the needle %q itself", n)
		}
	}
	for _, v := range leakVariants {
		if !strings.Contains(all, v) {
			t.Fatalf("test setup: no post writes %q", v)
		}
	}
	plain, err := os.ReadFile("testdata/leak.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if found := findNeedles(plain, leakNeedles); len(found) < 10 {
		t.Fatalf("the scanner finds only %v in the plain file: it would prove nothing", found)
	}

	kafkaDir, outDir := t.TempDir(), t.TempDir()
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 2, DataDir: kafkaDir})
	srv := redistest.Start(t)
	st := redistest.Connect(t, srv)
	var logs obstest.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()

	// Import the list as `threatwatch watchlist import` does.
	wcfg := testConfig("k1")
	a, err := NewAdmin(wcfg, st)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFile(bytes.NewReader(plain), "leak.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Import(ctx, f, false); err != nil {
		t.Fatal(err)
	}
	m, err := Open(ctx, wcfg, st, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	ccfg := config.Default().Classify
	ccfg.NER = "off"
	c, err := classifiers.New(ccfg, classifiers.WithEnrichers(m))
	if err != nil {
		t.Fatal(err)
	}

	// Posts -> Kafka -> the classify stage (runner, dedup in Redis) -> scored.
	cfg := kc.Config
	posts, scored := cfg.Topics.Name(cfg.Topics.Posts), cfg.Topics.Name(cfg.Topics.Scored)
	prod := pipeline.NewProducer(kc.Bus, "test", nil, log)
	var outs []pipeline.Output
	for i, text := range leakPosts {
		p := &msg.Post{Site: "forum.example", SitePostID: string(rune('a' + i)), Text: text, Published: time.Now().UTC()}
		if i == 3 {
			p.Quoted = []string{"she lives at 123 Main Av, apt 4"}
		}
		p.Normalize()
		outs = append(outs, pipeline.Output{Topic: posts, Msg: p})
	}
	if err := prod.Send(ctx, outs...); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- pipeline.Run(sctx, pipeline.Deps{Bus: kc.Bus, Store: st, Log: log, Config: cfg.Runner, Topics: cfg.Topics, Metrics: pipeline.NewMetrics(reg)},
			pipeline.Stage[msg.Post, *msg.Post]{Name: "classify", Input: posts, Dedup: true,
				Handler: pipeline.HandlerFunc[*msg.Post](func(ctx context.Context, p *msg.Post, _ pipeline.Meta) ([]pipeline.Output, error) {
					s, err := c.Score(ctx, p)
					if err != nil {
						return nil, err
					}
					return []pipeline.Output{{Topic: scored, Msg: s}}, nil
				})})
	}()
	got := readTopic(t, ctx, kc, scored, len(leakPosts))
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Also write the scored posts to a file, as `threatwatch score` does.
	var file bytes.Buffer
	w := msg.NewWriter(&file)
	protected, doxxed := 0, 0
	for _, km := range got {
		s, err := msg.Decode[msg.Scored](km.Value)
		if err != nil {
			t.Fatal(err)
		}
		_ = w.Write(s)
		for _, e := range s.Entities {
			if e.Kind == msg.EntityProtected && e.Ref == "wl-7f3a" && e.Target {
				protected++
			}
		}
		if s.Scores[msg.SignalDoxxing] == 1 {
			doxxed++
		}
	}
	_ = w.Flush()
	if err := os.WriteFile(filepath.Join(outDir, "scored.jsonl"), file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	// The run must have matched, or finding nothing proves nothing.
	if protected != len(leakPosts) || doxxed != len(leakPosts) {
		t.Fatalf("matched %d posts as protected (want %d), %d doxxed (want all: the fourth quotes the address)", protected, len(leakPosts), doxxed)
	}

	// Scan every byte written. Outside the posts' own text, neither the
	// listed values nor the posts' spellings of them may appear.
	scan := func(where string, b []byte, variantsToo bool) {
		t.Helper()
		if len(b) == 0 {
			t.Errorf("%s: nothing to scan", where)
		}
		if found := findNeedles(b, leakNeedles); len(found) > 0 {
			t.Errorf("%s holds %q", where, found)
		}
		if found := findNeedles(b, leakVariants); variantsToo && len(found) > 0 {
			t.Errorf("%s holds the posts' %q", where, found)
		}
	}
	scan("redis", []byte(dumpRedis(t, st)), true)
	for _, topic := range allTopics(t, ctx, kc) {
		var b bytes.Buffer
		for _, km := range readTopic(t, ctx, kc, topic, -1) {
			b.Write(km.Key)
			b.Write(km.Value)
			for _, h := range km.Headers {
				b.WriteString(h.Key)
				b.Write(h.Value)
			}
		}
		if b.Len() > 0 {
			scan("kafka topic "+topic, b.Bytes(), false)
		}
	}
	// What the pipeline added to the posts: everything but their text.
	for _, km := range got {
		s, _ := msg.Decode[msg.Scored](km.Value)
		s.Post.Text, s.Post.Quoted = "", nil
		b, _ := json.Marshal(s)
		scan("scored message without the post text", b, true)
	}
	scan("logs", logs.Bytes(), true)
	mf, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var mb bytes.Buffer
	for _, f := range mf {
		_, _ = expfmt.MetricFamilyToText(&mb, f)
	}
	scan("metrics", mb.Bytes(), true)
	files := 0
	for _, dir := range []string{kafkaDir, outDir} {
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			if found := findNeedles(b, leakNeedles); len(found) > 0 {
				t.Errorf("file %s holds %q", path, found)
			}
			return nil
		})
	}
	if files < 2 {
		t.Errorf("only %d files to scan", files)
	}
}

// findNeedles returns the needles b contains, ignoring case.
func findNeedles(b []byte, needles []string) []string {
	low := bytes.ToLower(b)
	var out []string
	for _, n := range needles {
		if bytes.Contains(low, []byte(n)) {
			out = append(out, n)
		}
	}
	return out
}

func allTopics(t *testing.T, ctx context.Context, kc *kafkatest.Cluster) []string {
	t.Helper()
	cl, release := kc.Bus.Client()
	defer release()
	res, err := cl.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tp := range res.Topics {
		out = append(out, tp.Name)
	}
	if len(out) < 5 {
		t.Fatalf("topics %v", out)
	}
	return out
}

// readTopic reads every partition of topic from the start: want messages
// (waiting for them), or with want < 0 everything there is.
func readTopic(t *testing.T, ctx context.Context, kc *kafkatest.Cluster, topic string, want int) []kafka.Message {
	t.Helper()
	parts, err := kc.Bus.Partitions(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out []kafka.Message
		for _, p := range parts {
			r := kc.Bus.PartitionReader(topic, p)
			for {
				rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				km, err := r.ReadMessage(rctx)
				cancel()
				if err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Logf("read %s/%d: %v", topic, p, err)
					}
					break
				}
				out = append(out, km)
			}
			r.Close()
		}
		if want < 0 || len(out) >= want {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: %d messages, want %d", topic, len(out), want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
