package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/kafkatest"
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
