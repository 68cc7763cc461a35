package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
)

// produce writes every good line to the topic and skips the bad ones, and
// says so in its exit status: a script loading a file must see that part
// of it did not arrive.
func TestProduceWritesGoodLinesAndFailsOnBadOnes(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	dir := t.TempDir()
	cfg := kafkaConfigFile(t, kc, dir)
	in := filepath.Join(dir, "posts.jsonl")
	lines := `{"site":"s","site_post_id":"1","text":"first","fetched":"2026-01-01T00:00:00Z"}` + "\n" +
		"not json\n" +
		`{"site":"s","site_post_id":"2","text":"` + strings.Repeat("a", 17<<20) + `"}` + "\n" +
		`{"site":"s","site_post_id":"3","text":"third","fetched":"2026-01-01T00:00:00Z"}` + "\n"
	if err := os.WriteFile(in, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runWithin(t, time.Minute, "produce", "--config", cfg, "--topic", "posts", in)
	if code != 1 || !strings.Contains(errOut, "posts.jsonl:2:") || !strings.Contains(errOut, "posts.jsonl:3: line longer than") ||
		!strings.Contains(errOut, "wrote 2 messages") || !strings.Contains(errOut, "skipped 2 bad lines") {
		t.Fatalf("exit %d, stderr %.500q", code, errOut)
	}
	got := readTopic(t, kc, kc.Topic(kc.Config.Topics.Posts), 2, 20*time.Second)
	if len(got) != 2 || !strings.Contains(got[0], `"text":"first"`) || !strings.Contains(got[1], `"text":"third"`) {
		t.Fatalf("posts topic: %.300q", got)
	}

	// A post kafka-go cannot send: produce fails at once and says why. It
	// used to retry it forever.
	huge := filepath.Join(dir, "huge.jsonl")
	if err := os.WriteFile(huge, []byte(`{"site":"s","site_post_id":"9","fetched":"2026-01-01T00:00:00Z","text":"`+strings.Repeat("a ", 600<<10)+`"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runWithin(t, time.Minute, "produce", "--config", cfg, "--topic", "posts", huge); code != 1 || !strings.Contains(errOut, "over the 921600-byte limit") {
		t.Errorf("a post over the message limit: exit %d, stderr %.300q", code, errOut)
	}

	good := filepath.Join(dir, "good.jsonl")
	if err := os.WriteFile(good, []byte(`{"site":"s","site_post_id":"4","text":"fourth","fetched":"2026-01-01T00:00:00Z"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "", "produce", "--config", cfg, "--topic", "posts", good); code != 0 || !strings.Contains(errOut, "wrote 1 messages") {
		t.Fatalf("a clean file: exit %d, stderr %q", code, errOut)
	}
}

// kafkaConfigFile writes a config reaching kc's brokers and topics into dir.
func kafkaConfigFile(t *testing.T, kc *kafkatest.Cluster, dir string) string {
	t.Helper()
	cfg := filepath.Join(dir, "tw.yaml")
	yml := "kafka:\n  brokers: [" + strings.Join(kc.Config.Kafka.Brokers, ", ") + "]\n" +
		"topics:\n  prefix: " + kc.Config.Topics.Prefix + "\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// --backfill marks copied history so the aggregate stage counts it toward
// the baselines and does not page for its old campaigns.
func TestProduceBackfillMarksPostsAndScoredPosts(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	dir := t.TempDir()
	cfg := kafkaConfigFile(t, kc, dir)
	in := filepath.Join(dir, "scored.jsonl")
	line := `{"schema":"scored/1","post":{"schema":"post/1","site":"s","site_post_id":"1","text":"x","published":"2026-01-01T00:00:00Z"},"scores":{"threat":0.9}}`
	if err := os.WriteFile(in, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "", "produce", "--config", cfg, "--topic", "scored", "--backfill", in); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	posts := filepath.Join(dir, "posts.jsonl")
	if err := os.WriteFile(posts, []byte(`{"site":"s","site_post_id":"2","text":"y","fetched":"2026-01-01T00:00:00Z"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "", "produce", "--config", cfg, "--topic", "posts", "--backfill", posts); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, topic := range []string{kc.Config.Topics.Scored, kc.Config.Topics.Posts} {
		got := readTopic(t, kc, kc.Topic(topic), 1, 20*time.Second)
		if len(got) != 1 || !strings.Contains(got[0], `"backfill":true`) {
			t.Errorf("%s: %.300q, want the message marked backfill", topic, got)
		}
	}
}

// Copying history into the topics of a new topics.prefix comes before any
// stage has created them: produce creates the pipeline's topics as a
// stage would. It used to retry its writes to a missing topic for ever.
func TestProduceCreatesTheTopicsOfANewPrefix(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tw.yaml")
	yml := "kafka:\n  brokers: [" + strings.Join(kc.Config.Kafka.Brokers, ", ") + "]\n  partitions: 2\n" +
		"topics:\n  prefix: " + kc.Config.Topics.Prefix + "v2.\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "posts.jsonl")
	if err := os.WriteFile(in, []byte(`{"site":"s","site_post_id":"1","text":"x","fetched":"2026-01-01T00:00:00Z"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runWithin(t, time.Minute, "produce", "--config", cfg, "--topic", "posts", in); code != 0 {
		t.Fatalf("exit %d, stderr %.300q", code, errOut)
	}
	if got := readTopic(t, kc, kc.Config.Topics.Prefix+"v2.posts", 1, 20*time.Second); len(got) != 1 {
		t.Fatalf("v2.posts holds %d messages, want 1", len(got))
	}
	parts, err := kc.Bus.Partitions(t.Context(), kc.Config.Topics.Prefix+"v2.alerts")
	if err != nil || len(parts) != 2 {
		t.Errorf("v2.alerts: partitions %v (%v), want the configured 2", parts, err)
	}
}

// --topic takes the pipeline's short names. A typo ("post") used to be
// written as a new topic of its own, its lines read as dead letters, and
// reported as written; now it is refused before Kafka is reached.
func TestProduceRefusesATopicThatIsNotThePipelines(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "tw.yaml")
	// Nothing listens on port 1: a produce that reaches for Kafka waits for ever.
	writeFile(t, cfg, "kafka:\n  brokers: [127.0.0.1:1]\n")
	f := func(topic, want string) {
		t.Helper()
		code, _, errOut := runWithin(t, 20*time.Second, "produce", "--config", cfg, "--topic", topic, "-")
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("--topic %q: exit %d, stderr %q; want 2 and %q", topic, code, errOut, want)
		}
	}
	f("post", `unknown topic "post"`)
	f("post", "posts, scored, levels, alerts, dead-letter")
	f("scored-by-target", `unknown topic "scored-by-target"`)
}

// produce and consume cannot start an embedded cluster of their own (it
// would be empty): the error says how to reach the one a process runs.
func TestProduceAndConsumeSayHowToReachAnEmbeddedCluster(t *testing.T) {
	for _, args := range [][]string{{"produce", "--topic", "posts", "-"}, {"consume", "--topic", "alerts"}} {
		code, _, errOut := runWithin(t, 20*time.Second, args...)
		if code != 2 || !strings.Contains(errOut, "kafka.brokers") || !strings.Contains(errOut, "kafka.embedded.port") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a way to reach a running embedded cluster", args, code, errOut)
		}
	}
}

// A post with neither published nor fetched time has no place in any
// window downstream: msg check and produce refuse it by line number,
// naming the fields, as they refuse a post with no id, and write the rest.
func TestMsgCheckAndProduceRefuseAPostWithoutATime(t *testing.T) {
	lines := `{"site":"s","site_post_id":"1","text":"x","published":"2026-01-01T00:00:00Z"}` + "\n" +
		`{"site":"s","site_post_id":"2","text":"no time"}` + "\n" +
		`{"site":"s","site_post_id":"3","text":"y","fetched":"2026-01-01T00:00:00Z"}` + "\n"
	const want = "posts.jsonl:2: invalid message: post has neither published nor fetched time"

	dir := t.TempDir()
	in := filepath.Join(dir, "posts.jsonl")
	writeFile(t, in, lines)
	code, _, errOut := runWithin(t, 20*time.Second, "msg", "check", "--type", "post", in)
	if code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "2 valid post messages, 1 bad lines") {
		t.Errorf("msg check: exit %d, stderr %q; want 1 and %q", code, errOut, want)
	}

	kc := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	cfg := kafkaConfigFile(t, kc, dir)
	code, _, errOut = runWithin(t, time.Minute, "produce", "--config", cfg, "--topic", "posts", in)
	if code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "wrote 2 messages") {
		t.Errorf("produce: exit %d, stderr %q; want 1 and %q", code, errOut, want)
	}
	got := readTopic(t, kc, kc.Topic(kc.Config.Topics.Posts), 2, 20*time.Second)
	if len(got) != 2 || strings.Contains(strings.Join(got, ""), "no time") {
		t.Errorf("posts topic: %.300q, want posts 1 and 3 only", got)
	}
}
