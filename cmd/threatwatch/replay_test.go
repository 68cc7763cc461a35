package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/threatwatch/threatwatch/pipeline/msg"
)

const campaignScenario = "../../pipeline/replay/testdata/scenarios/campaign.jsonl.gz"

func TestReplayCommand(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }

	t.Run("writes alerts, levels, a report and charts", func(t *testing.T) {
		code, _, stderr := run(t, "", "replay", "--alerts", p("a.jsonl"), "--levels", p("l.csv"), "--report", p("r.html"), "--charts", p("charts"), campaignScenario)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stderr, "replayed 2434 posts") {
			t.Errorf("summary missing: %s", stderr)
		}
		f, err := os.Open(p("a.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r := msg.NewReader[msg.Alert](f, "a.jsonl", false)
		n := 0
		for a, err := r.Next(); err == nil; a, err = r.Next() {
			if !a.Replay {
				t.Fatalf("alert %s is not marked as a replay", a.Fingerprint)
			}
			n++
		}
		if n == 0 {
			t.Fatal("no alerts written for the campaign")
		}
		csv, _ := os.ReadFile(p("l.csv"))
		if !strings.HasPrefix(string(csv), "time,site,target,level,baseline") {
			t.Errorf("levels CSV has no header: %.80s", csv)
		}
		html, _ := os.ReadFile(p("r.html"))
		if !strings.Contains(string(html), "<svg") {
			t.Error("report has no chart")
		}
		if _, err := os.Stat(p("charts/campaign.example.svg")); err != nil {
			t.Errorf("chart file: %v", err)
		}
	})

	t.Run("compares two configurations", func(t *testing.T) {
		strict := p("strict.yaml")
		os.WriteFile(strict, []byte("aggregate:\n  spike:\n    fire_score: 12\n    severe_score: 24\n"), 0o644)
		code, stdout, stderr := run(t, "", "replay", "--compare", strict, campaignScenario)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, "compare current vs strict:") {
			t.Errorf("no comparison printed: %s", stdout)
		}
	})

	t.Run("reports a bad line with its file and line number and goes on", func(t *testing.T) {
		in := p("bad.jsonl")
		w, _ := os.Create(in)
		bw := bufio.NewWriter(w)
		bw.WriteString(`{"id":"s:1","site":"s","published":"2026-03-02T00:00:00Z","text":"hello"}` + "\n")
		bw.WriteString("this is not json\n")
		bw.Flush()
		w.Close()
		// One raw post: scored by the real classifiers.
		code, _, stderr := run(t, "", "replay", in)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stderr, "skipped "+in+":2: ") || !strings.Contains(stderr, "replayed 1 posts") || !strings.Contains(stderr, "1 scored now") {
			t.Errorf("stderr: %s", stderr)
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"replay"},
			{"replay", "--topic", "scored", campaignScenario},
			{"replay", "--from", "last tuesday", campaignScenario},
			{"replay", "--topic", "scored"},
			{"export", "--topic", "scored"},
		} {
			if code, _, stderr := run(t, "", args...); code != 2 {
				t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
			}
		}
		if code, _, _ := run(t, "", "replay", p("missing.jsonl")); code != 1 {
			t.Errorf("a missing input: exit %d, want 1", code)
		}
	})
}
