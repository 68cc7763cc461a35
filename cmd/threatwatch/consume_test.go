package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/threatwatch/threatwatch/pipeline/bus"
	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// consume reads every partition of a topic, not only the first: with
// --max it stops once it has that many from any partitions, and with
// --idle once no partition has anything new. It used to read partition 0
// until it went idle (or for ever without --idle), so `consume --max N`
// hung while the topic held N messages, and `consume --topic alerts`
// without --idle showed one partition's alerts only.
func TestConsumeReadsEveryPartition(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 3})
	dir := t.TempDir()
	cfg := kafkaConfigFile(t, kc, dir)
	const n = 12
	var lines []string
	for i := range n {
		lines = append(lines, fmt.Sprintf(`{"schema":"alert/1","labels":{"alertname":"ThreatLevelSpike","site":"site-%d.example"},"fingerprint":"fp%d","status":"firing","startsAt":"2026-01-01T00:00:00Z","eventTime":"2026-01-01T00:00:00Z"}`, i, i))
	}
	in := filepath.Join(dir, "alerts.jsonl")
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runWithin(t, time.Minute, "produce", "--config", cfg, "--topic", "alerts", in); code != 0 {
		t.Fatalf("produce: exit %d, stderr %q", code, errOut)
	}
	if got := readTopic(t, kc, kc.Topic(kc.Config.Topics.Alerts), n, 20*time.Second); len(got) != n {
		t.Fatalf("the topic holds %d alerts, want %d", len(got), n)
	}
	count := func(out string) map[string]int {
		seen := map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			for i := range n {
				if strings.Contains(l, fmt.Sprintf(`"fingerprint":"fp%d"`, i)) {
					seen[fmt.Sprint(i)]++
				}
			}
		}
		return seen
	}
	code, out, errOut := runWithin(t, 30*time.Second, "consume", "--config", cfg, "--topic", "alerts", "--max", fmt.Sprint(n))
	if seen := count(out); code != 0 || len(seen) != n {
		t.Fatalf("--max %d: exit %d, %d distinct alerts, stderr %q", n, code, len(seen), errOut)
	}
	code, out, errOut = runWithin(t, 30*time.Second, "consume", "--config", cfg, "--topic", "alerts", "--idle", "2s")
	seen := count(out)
	if code != 0 || len(seen) != n {
		t.Fatalf("--idle: exit %d, %d distinct alerts, stderr %q", code, len(seen), errOut)
	}
	for k, v := range seen {
		if v != 1 {
			t.Errorf("alert %s written %d times", k, v)
		}
	}
}

// consume shows the data of a topic, not the watermarks the stages write
// beside it: they are neither printed nor reported as skipped.
func TestConsumeLeavesOutWatermarks(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 2})
	cfg := kafkaConfigFile(t, kc, t.TempDir())
	topic := kc.Topic(kc.Config.Topics.Scored)
	s := &msg.Scored{Post: msg.Post{Site: "forum.example", SitePostID: "1", Text: "hello", Published: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		Scores: map[msg.Signal]float64{msg.SignalThreat: 0.1}}
	s.Post.Normalize()
	v, err := msg.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	wm, err := msg.EncodeWatermark(&msg.Watermark{Stage: "classify", Topic: "posts", Through: map[int]time.Time{0: time.Now()}, Written: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	w := kc.Bus.MultiWriter(bus.WriterOptions{})
	defer w.Close()
	if err := w.WriteMessages(context.Background(),
		bus.ControlMessage(topic, 0, msg.ControlWatermark, wm),
		kafka.Message{Topic: topic, Key: []byte(s.Key()), Value: v},
		bus.ControlMessage(topic, 1, msg.ControlWatermark, wm),
	); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runWithin(t, 30*time.Second, "consume", "--config", cfg, "--topic", "scored", "--idle", "2s")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(lines[0], `"schema":"scored/1"`) {
		t.Errorf("consume printed %q, want the one scored post", out)
	}
	if strings.Contains(errOut, "skipped") || strings.Contains(out, "watermark") {
		t.Errorf("a watermark shown: stdout %q, stderr %q", out, errOut)
	}
}

// consume writes each message as it was read. It used to decode and
// encode it again, which dropped the fields this build does not know: a
// dump of a topic a newer stage writes (a compatible change adds a field
// and keeps the version), sent back with produce, lost them.
func TestConsumeKeepsFieldsItDoesNotKnow(t *testing.T) {
	kc := kafkatest.New(t, kafkatest.Options{Partitions: 1})
	cfg := kafkaConfigFile(t, kc, t.TempDir())
	topic := kc.Topic(kc.Config.Topics.Alerts)
	line := `{"schema":"alert/1","labels":{"alertname":"ThreatLevelSpike","site":"forum.example"},"fingerprint":"fp1","status":"firing","startsAt":"2026-01-01T00:00:00Z","eventTime":"2026-01-01T00:00:00Z","runbook_v2":{"url":"https://runbooks.example/spike"}}`
	w := kc.Bus.MultiWriter(bus.WriterOptions{})
	defer w.Close()
	// Written pretty-printed, as a hand-made message might be: consume
	// still gives one line.
	pretty := strings.Replace(line, `,"fingerprint"`, ",\n  \"fingerprint\"", 1)
	if err := w.WriteMessages(context.Background(), kafka.Message{Topic: topic, Key: []byte("forum.example"), Value: []byte(pretty)}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runWithin(t, 30*time.Second, "consume", "--config", cfg, "--topic", "alerts", "--max", "1")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if strings.TrimSpace(out) != line {
		t.Errorf("consume wrote\n%s\nwant the message as it was read, on one line\n%s", out, line)
	}
}
