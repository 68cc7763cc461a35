package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// The replay drops duplicates for the configured runner.dedup_ttl, as the
// live stages do: the same post sent again two hours later counts once
// with the default (7 days) and twice with a dedup_ttl of one hour.
func TestReplayDeduplicatesForTheConfiguredDedupTTL(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var b strings.Builder
	line := func(p *msg.Post) {
		p.Normalize()
		l, err := msg.Encode(&msg.Scored{Post: *p, Scores: map[msg.Signal]float64{}, Classifier: "t", Version: "1"})
		if err != nil {
			t.Fatal(err)
		}
		b.Write(l)
		b.WriteByte('\n')
	}
	line(&msg.Post{Site: "forum", SitePostID: "7", Fetched: t0, Text: "see you there"})
	for i := 1; i <= 18; i++ {
		at := t0.Add(time.Duration(i) * 10 * time.Minute)
		line(&msg.Post{Site: "other", SitePostID: fmt.Sprint(i), Published: at, Text: "chatter"})
		if i == 12 {
			line(&msg.Post{Site: "forum", SitePostID: "7", Fetched: at, Text: "see you there"})
		}
	}
	in := filepath.Join(dir, "in.jsonl")
	short := filepath.Join(dir, "short.yaml")
	for p, data := range map[string]string{in: b.String(), short: "runner:\n  dedup_ttl: 1h\n"} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := func(name string, want string, args ...string) {
		t.Helper()
		code, _, stderr := run(t, "", append(append([]string{"replay", "--progress", "never"}, args...), in)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, stderr)
		}
		if !strings.Contains(stderr, want) {
			t.Errorf("%s: want %q in the summary: %s", name, want, stderr)
		}
	}
	f("the default dedup_ttl", "replayed 19 posts")
	f("the default dedup_ttl", ", 1 duplicates,")
	f("a dedup_ttl of 1h", "replayed 20 posts", "--config", short)
	f("a dedup_ttl of 1h", ", 0 duplicates,", "--config", short)
}
