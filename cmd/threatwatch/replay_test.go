package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

	// Live, the aggregate stage had each site's history when --from came;
	// a replay from a date must too, or it starts with empty baselines and
	// cannot page until every site has learnt again (a day by default).
	t.Run("a replay from a date fires what the whole history fires after it", func(t *testing.T) {
		const from = "2026-03-04T12:00:00Z"
		onsets := func(file string) []string {
			t.Helper()
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				a, err := msg.Decode[msg.Alert]([]byte(line))
				if err != nil {
					t.Fatal(err)
				}
				if a.Status == msg.StatusFiring && a.StartsAt.Equal(a.EventTime) && a.EventTime.Format(time.RFC3339) >= from {
					out = append(out, a.Labels["alertname"]+" "+a.Labels["site"]+a.Labels["target"]+" "+a.EventTime.Format(time.RFC3339))
				}
			}
			return out
		}
		if code, _, stderr := run(t, "", "replay", "--progress", "never", "--alerts", p("all.jsonl"), campaignScenario); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		code, _, stderr := run(t, "", "replay", "--progress", "never", "--from", from, "--alerts", p("from.jsonl"), campaignScenario)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		want, got := onsets(p("all.jsonl")), onsets(p("from.jsonl"))
		if len(want) == 0 {
			t.Fatal("the campaign fired nothing after --from: the test proves nothing")
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("--from %s fired\n  %s\nthe whole history fires after it\n  %s", from, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
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
